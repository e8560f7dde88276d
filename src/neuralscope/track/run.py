"""The Run API: log scalars, histograms, images, text and result objects during training.

``run.log`` validates and enqueues (microseconds); a background thread writes to the run's
SQLite store (:mod:`neuralscope.track.store`). What happens to bad input:

* a value that is not a number (a string, a list, a tensor with several elements) is
  **refused** with :class:`LogValueError` naming the key and what to use instead;
* NaN or Inf is **stored** as logged and **flagged** (a note in the run and a diagnostic);
* a step lower than the previous step of the same series is **stored** in logging order and
  **flagged** (a note names the series and the steps);
* a name that is empty, longer than 200 characters or holds control characters is
  **refused** with :class:`LogNameError` (``/`` groups names, any other printable
  character is fine);
* a directory that cannot be created or written is refused when the run is opened, with
  :class:`~neuralscope.track.store.RunStorageError`, before training starts;
* a second process opening the run for writing gets
  :class:`~neuralscope.errors.RunLockedError`.
"""
from __future__ import annotations

import atexit
import io
import os
import socket
import time
from time import time as _time
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import NeuralscopeError
from ..histogram import histogram
from ..result import jsonable
from .store import LogNameError, RunLock, RunReader, RunStorageError, StoreWriter, check_series_name

__all__ = ["Run", "LogValueError", "LogNameError", "check_series_name"]


class LogValueError(NeuralscopeError, TypeError):
    """A logged value that is not a number (or an image, histogram... of the wrong form)."""


_OPEN_RUNS: "weakref.WeakSet[Run]" = weakref.WeakSet()
_UNCAUGHT: list = []  # set when the script dies of an exception while runs are open


@atexit.register
def _close_open_runs() -> None:
    """A script that ends without run.close() still closes its runs: ``finished``, or
    ``failed`` when it ended with an uncaught exception."""
    for run in list(_OPEN_RUNS):
        try:
            run.close("failed" if _UNCAUGHT else "finished")
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _install_excepthook() -> None:
    import sys

    previous = sys.excepthook
    if getattr(previous, "_neuralscope", False):
        return

    def hook(exc_type, exc, tb):
        if _OPEN_RUNS:
            _UNCAUGHT.append(exc_type)
        previous(exc_type, exc, tb)

    hook._neuralscope = True
    sys.excepthook = hook


def _to_float(name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if hasattr(v, "numel") and hasattr(v, "item"):  # torch tensor
        if v.numel() != 1 or v.is_complex():
            _bad(name, v, f"a tensor with {v.numel()} elements" if v.numel() != 1 else "a complex tensor")
        return float(v.detach().reshape(()).item())
    if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "biuf":
        return float(v.reshape(()))
    _bad(name, v)
    raise AssertionError  # unreachable


def _bad(name: str, v: Any, what: str | None = None):
    what = what or f"a {type(v).__name__} ({v!r:.40})"
    raise LogValueError(
        f"run.log: the value of {name!r} is {what}, not a number; log numbers (int, float, "
        "one-element tensor), or use run.log_histogram / run.log_text / run.log_image.")


def _world_rank() -> int:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
    except Exception:  # noqa: BLE001 - no usable torch.distributed: fall back to RANK
        pass
    return int(os.environ.get("RANK", "0") or 0)


class Run:
    """A training run stored in a directory; log metrics and artefacts step by step.

    ``config`` (hyperparameters) is stored with the run and shown when runs are compared.
    Opening an existing run directory appends to it. Only one process may write a run at a
    time; under ``torch.distributed`` only rank 0 writes unless ``per_rank=True``, which
    gives every rank its own run ``<path>/rank<N>``.

    Example:
        >>> import tempfile
        >>> with Run(tempfile.mkdtemp(), config={"lr": 0.01}) as run:
        ...     for step in range(3):
        ...         run.log({"loss": 1.0 / (step + 1), "acc": 0.5}, step=step)
        ...     run.log_text("notes", "baseline")
        >>> run.read().scalars("loss").steps.tolist()
        [0, 1, 2]
    """

    def __init__(self, path: str | Path, config: Mapping[str, Any] | None = None, *,
                 name: str | None = None, tags: Iterable[str] = (), flush_interval: float = 0.5,
                 per_rank: bool = False, rank: int | None = None, lock_timeout: float = 1.0):
        self.rank = _world_rank() if rank is None else int(rank)
        root = Path(path)
        self.path = root / f"rank{self.rank}" if per_rank else root
        self.enabled = per_rank or self.rank == 0
        self.step = -1  # last step used by log(); log(step=None) uses step + 1
        self._watchers: list = []
        self._writer: StoreWriter | None = None
        self._scalars = None  # the writer's scalars() while the run is open
        self._lock: RunLock | None = None
        self.closed = False
        if not self.enabled:  # a non-zero rank: every method is a no-op
            self.config = dict(config or {})
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunStorageError(
                f"Cannot write the run directory {str(self.path)!r}: {exc.strerror or exc}; "
                "choose a directory you can write.") from exc
        self._lock = RunLock(self.path, timeout=lock_timeout)
        try:
            self._writer = StoreWriter(self.path, flush_interval=flush_interval)
        except BaseException:
            self._lock.release()
            raise
        prev = self._writer.existing_config  # read before the writer thread started
        self.config = {**(prev or {}), **dict(config or {})}
        if self._writer.max_step is not None:
            self.step = self._writer.max_step
        now = time.time()
        meta = {"name": name or self.path.name, "config": jsonable(self.config), "status": "running",
                "pid": os.getpid(), "host": socket.gethostname(), "rank": self.rank}
        if prev is None:
            meta["created"] = now
        if tags:
            meta["tags"] = list(tags)
        for k, v in meta.items():
            self._writer.meta(k, v)
        self._writer.flush()
        self._scalars = self._writer.scalars
        _OPEN_RUNS.add(self)
        _install_excepthook()

    @property
    def writer(self) -> StoreWriter | None:
        """The run's :class:`~neuralscope.track.store.StoreWriter` (the typed interface
        ``watch()`` and the Keras callback write through); ``None`` on a rank that does not
        write and once the run is closed."""
        return None if self.closed else self._writer

    # -- logging ------------------------------------------------------------------------
    def _step_for(self, step) -> int:
        if step is None:
            return self.step if self.step >= 0 else 0
        if isinstance(step, (bool, float)) or not isinstance(step, (int, np.integer)):
            if hasattr(step, "item") and getattr(step, "numel", lambda: 2)() == 1:
                step = step.item()
            if not isinstance(step, (int, np.integer)) or isinstance(step, bool):
                raise LogValueError(f"step must be an integer, not {type(step).__name__} ({step!r}).")
        return int(step)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log scalar values at ``step`` (default: one more than the last step logged).

        Costs a few microseconds: values are checked and queued; a background thread writes.
        """
        scalars = self._scalars
        if scalars is None:
            if not self.enabled:
                return
            raise RunStorageError(f"The run {str(self.path)!r} is closed; open it again to log more.")
        if step is None:
            step = self.step + 1
        elif type(step) is not int:
            step = self._step_for(step)
        try:
            items = metrics.items()
        except AttributeError:
            raise LogValueError(f"run.log takes a dict of name -> number, e.g. run.log({{'loss': 0.3}}), "
                                f"not a {type(metrics).__name__}.") from None
        for _k, v in items:  # fast path: plain Python numbers
            t = type(v)
            if t is not float and t is not int:
                break
        else:
            scalars(step, metrics.copy(), _time())  # the writer checks names it has not seen
            self.step = step
            return
        vals = {}
        for k, v in items:
            t = type(v)
            vals[check_series_name(k)] = v if t is float or t is int else _to_float(k, v)
        scalars(step, vals, _time())
        self.step = step

    def log_histogram(self, name: str, values: Any, step: int | None = None, bins: int = 64) -> None:
        """Log the distribution of ``values`` (tensor or array) as ``bins`` equal-width bins
        over their finite range; NaN/Inf values are counted and flagged, not binned."""
        if not self.enabled:
            return
        check_series_name(name)
        try:
            hist = histogram(values, bins)
        except TypeError:
            raise LogValueError(f"log_histogram needs numbers (a tensor or array), not "
                                f"{type(values).__name__}.") from None
        self._open_writer().histogram(name, self._step_for(step), hist)

    def _open_writer(self) -> StoreWriter:
        if self.closed:
            raise RunStorageError(f"The run {str(self.path)!r} is closed; open it again to log more.")
        return self._writer

    def log_image(self, name: str, image: Any, step: int | None = None) -> None:
        """Log an image: a PIL image, or an array/tensor shaped HxW, HxWxC or CxHxW
        (C = 1, 3 or 4); floats are taken as [0, 1], integers as 0..255. Stored as PNG."""
        if not self.enabled:
            return
        arr = image_array(image)
        self._open_writer().image(name, self._step_for(step), lambda: _png(arr),
                                  {"height": arr.shape[0], "width": arr.shape[1], "channels": arr.shape[2]})

    def log_figure(self, name: str, figure: Any, step: int | None = None, close: bool = True,
                   dpi: int = 100) -> None:
        """Log a matplotlib figure (rendered to PNG now, on this thread) as an image."""
        if not self.enabled:
            return
        from ..result import figure_of

        fig = figure_of(figure)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
        png = buf.getvalue()
        from PIL import Image

        w, h = Image.open(io.BytesIO(png)).size
        self._open_writer().image(name, self._step_for(step), png,
                                  {"height": h, "width": w, "channels": 4, "source": "figure"})

    def log_text(self, name: str, text: str, step: int | None = None) -> None:
        """Log a piece of text (markdown is kept as written)."""
        if not self.enabled:
            return
        if not isinstance(text, str):
            raise LogValueError(f"run.log_text: {name!r} must be a str, not {type(text).__name__}.")
        self._open_writer().text(name, self._step_for(step), text)

    def log_result(self, obj: Any, name: str | None = None, step: int | None = None) -> None:
        """Log any neuralscope result object (graph, attribution, attention...): its
        ``to_dict()`` is stored as JSON with its ``kind`` so the dashboard can draw it."""
        if not self.enabled:
            return
        import json

        if not hasattr(obj, "to_dict"):
            raise LogValueError(f"run.log_result needs a neuralscope result object with to_dict(), "
                                f"not {type(obj).__name__}.")
        kind = getattr(obj, "kind", type(obj).__name__)
        doc = json.dumps({"kind": kind, "data": jsonable(obj.to_dict())})
        self._open_writer().result(name or kind, self._step_for(step), kind, doc)

    def set_config(self, **values: Any) -> None:
        """Add or change hyperparameters stored with the run."""
        if not self.enabled:
            return
        self.config.update(values)
        self._open_writer().meta("config", jsonable(self.config))

    # -- watching -----------------------------------------------------------------------
    def watch(self, model, every: int = 100, what: Iterable[str] = ("weights", "gradients", "activations"),
              *, layers: Any = None, bins: int = 64, first_step: int = 0, snapshots: int = 0,
              snapshot_budget: int = 256 * 1024 ** 2):
        """Record per-layer statistics of ``model`` on every ``every``-th training forward
        pass; see :class:`neuralscope.track.watch.Watcher`. ``snapshots=N`` also stores the
        weights every ``N`` steps (at most ``snapshot_budget`` bytes in all) for
        :func:`neuralscope.trajectory`. Returns the watcher."""
        from .watch import Watcher

        w = Watcher(self, model, every=every, what=what, layers=layers, bins=bins, first_step=first_step,
                    snapshots=snapshots, snapshot_budget=snapshot_budget)
        self._watchers.append(w)
        return w

    def unwatch(self, model=None) -> None:
        """Stop watching ``model`` (every model when None) and remove every hook."""
        for w in list(self._watchers):
            if model is None or w.model is model:
                w.remove()
                self._watchers.remove(w)

    # -- lifecycle ----------------------------------------------------------------------
    def flush(self) -> None:
        """Block until everything logged so far is committed to disk."""
        if self.enabled and self._writer is not None and not self.closed:
            # a watched step still waiting for its optimizer update is logged at the next
            # forward pass or at close(), not here (its update ratio is not known yet)
            self._writer.flush()

    def close(self, status: str = "finished") -> None:
        """Write what is queued, mark the run ``finished`` (or ``failed``) and release it."""
        if self.closed or not self.enabled:
            self.closed = True
            return
        self._scalars = None
        try:
            self.unwatch()
            self._writer.meta("status", status)
            self._writer.meta("finished_at", time.time())
            self._writer.flush()
            self._writer.close()
        finally:
            self.closed = True
            self._lock.release()
            _OPEN_RUNS.discard(self)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close("failed" if exc_type is not None else "finished")

    def read(self) -> RunReader:
        """A reader of this run (flushes first so it sees everything logged)."""
        self.flush()
        return RunReader(self.path)

    def diagnostics(self):
        """Problems found in what was logged so far (flushes first)."""
        with self.read() as reader:
            return reader.diagnostics()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("disabled" if not self.enabled else "open")
        return f"Run({str(self.path)!r}, {state}, step={self.step})"


# -- value conversion ---------------------------------------------------------------------
def image_array(image: Any) -> np.ndarray:
    """An image as a uint8 HxWxC array (C = 1, 3 or 4)."""
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        arr = np.asarray(image)
    else:
        if hasattr(image, "detach"):
            image = image.detach().cpu().numpy()
        arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise LogValueError(f"An image must be HxW, HxWxC or CxHxW, not shaped {tuple(arr.shape)}.")
    if arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.shape[2] not in (1, 3, 4):
        raise LogValueError(f"An image needs 1, 3 or 4 channels, not shape {tuple(arr.shape)}.")
    if arr.dtype.kind == "f":
        arr = np.clip(np.nan_to_num(arr), 0, 1) * 255 + 0.5
    elif arr.dtype.kind not in "ui" and arr.dtype != np.bool_:
        raise LogValueError(f"An image must hold numbers, not {arr.dtype}.")
    return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8))


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
