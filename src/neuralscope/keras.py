"""``neuralscope.keras.Callback``: a Keras ``model.fit`` tracked into a neuralscope run, live
in the dashboard, with the series ``run.watch()`` writes for PyTorch models (so the same
diagnostics fire: exploding or vanishing gradients, dead units, a learning rate too high,
over- and under-fitting).

What it logs, and when (``step`` = training batches seen, counted across ``fit`` calls):

* every ``update_freq`` batches: the batch metrics Keras reports (``loss``, ``accuracy``... the
  running means the progress bar shows);
* at the end of each epoch: ``epoch/<metric>``, the validation metrics (``val_loss``...),
  ``epoch`` and ``learning_rate`` (the optimizer's current value, schedules included);
* at the start of training: the model's graph (``graph``, drawn on the dashboard's Graph page)
  and a config (optimizer, epochs, steps, parameter counts);
* every ``every`` batches (the watched steps): for every trainable variable its histogram and
  norm (``weights/<name>``, ``weights/norm/<name>``; names as the Keras adapter gives them,
  ``"conv/kernel"``) and, at the next batch, the update-to-weight ratio of the optimizer step
  (``updates/ratio/<name>``); with ``data=(x, y)``
  also the gradients and activations below.

**Gradients.** Keras does not hand callbacks the gradients of a training step (nor the batch).
The callback therefore computes them itself on a held batch ``data=(x, y)`` at each watched
step: the compiled loss and its gradient with respect to every trainable variable, by the
backend's own autodiff, in training mode, as a ``fit`` step would compute them, without
applying them (BatchNorm statistics and metric states are put back). They are the gradients
of that batch, not of the batch the optimizer just used; for a fixed batch they show a
trend that is comparable across steps. The pass is traced once per ``fit``, at the first
watched step (``tf.function`` on TensorFlow, ``jax.jit`` on JAX; eager on torch and for
models that cannot be traced; a trace costs about what the first eager pass costs, loading
its kernels, and each later traced pass less than half an eager one). On a CPU the traced pass
hands its gradients and layer outputs to the host, which reduces each to its statistics in
one numpy pass (a third of the cost of the same reductions traced into the pass, whose
tracing took 4x as long as the pass's own); on an accelerator they are reduced inside the
pass. A watched step then costs about two training steps of the held batch
(``benchmarks/keras_callback.py``). Logged as ``gradients/<name>`` histograms and
``gradients/norm/<name>``, ``gradients/norm/<layer>``, ``gradients/nonfinite/<name>``.

**Activations.** Recorded in that same pass (training mode, as ``watch()`` records them
during a PyTorch training step): per leaf layer a histogram
(``activations/<layer>``), ``activations/mean/<layer>``, ``activations/std/<layer>`` and, for
layers ending in a ReLU-like nonlinearity (fused ``activation="relu"`` too), the fraction of
dead units ``activations/dead/<layer>`` (channels <= 0 for every example and position).

**Threads.** The callback declares ``async_safe``: on the backends where Keras dispatches
batch-end hooks to worker threads (JAX, torch; TensorFlow's callbacks always run on ``fit``'s
thread), ``fit`` does not wait for each step's logs. The batch-end hook only logs the batch
metrics, in step order whichever thread runs it; everything that reads the model (weights,
update ratios, the held-batch pass) runs on ``fit``'s thread at the start of the next batch, at
the end of the epoch or of training, when the weights are the ones the watched step left.

Compared with ``keras.callbacks.TensorBoard``: scalars per batch and epoch, histograms of
weights (``histogram_freq`` there, ``every`` here), the model graph and the learning rate are
all there; gradients, activations, update ratios and diagnostics are added. Nothing is added
to the model: the callback only reads it, and the held-batch passes leave it as found.

Example:
    >>> import tempfile, keras, numpy as np
    >>> from neuralscope.track import Run
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="h"),
    ...                       keras.layers.Dense(1, name="out")])
    >>> m.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.random.rand(64, 4).astype("float32"), np.random.rand(64, 1).astype("float32")
    >>> with Run(tempfile.mkdtemp()) as run:
    ...     _ = m.fit(x, y, batch_size=16, epochs=2, verbose=0,
    ...               callbacks=[Callback(run, every=2, data=(x[:16], y[:16]))])
    >>> run.read().scalars("gradients/norm/h").steps.tolist()
    [2, 4, 6, 8]
"""
from __future__ import annotations

import bisect
import math
import threading
from typing import Any, Callable, Sequence

import keras
import numpy as np
import torch

from .adapters.keras import KerasAdapter
from .histogram import Histogram, bin_of, bin_range, from_counts, host_histogram, sum_of_squares
from .nonlinearities import nonlinearity

#: watched steps run eagerly before the held-batch pass is traced: none, since a trace (with
#: the statistics computed on the host) costs about what the first eager pass costs, which
#: loads its kernels, and each traced pass after it less than half an eager one
#: (benchmarks/keras_callback.py)
_EAGER_WATCHES = 0

__all__ = ["Callback"]


class Callback(keras.callbacks.Callback):
    """Track ``model.fit`` into ``run`` (see the module docstring for every series).

    Args:
        run: a :class:`neuralscope.track.Run` (open).
        every: watch every ``every``-th batch (weights, update ratios and, with ``data``,
            gradients and activations); ``0`` turns watching off. The first watched batch is
            the ``every``-th.
        data: a held batch ``(x, y)`` (or ``(x, y, sample_weight)``) for the gradient and
            activation statistics; keep it small (a batch of the training set).
        update_freq: log the batch metrics every ``update_freq`` batches (``"epoch"``: only at
            the end of each epoch, as TensorBoard's default).
        layers: the layers whose activations are recorded (names, globs; default: every leaf
            layer).
        bins: histogram bins.
        log_graph: log the model's graph at the start of training.
    """

    def __init__(self, run, *, every: int = 100, data: Sequence | None = None, update_freq: int | str = 1,
                 layers: Any = None, bins: int = 64, log_graph: bool = True):
        super().__init__()
        if not isinstance(every, int) or every < 0:
            raise ValueError(f"every must be a non-negative integer (0 turns watching off), not {every!r}.")
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"update_freq must be a positive integer or 'epoch', not {update_freq!r}.")
        if data is not None and (not isinstance(data, (tuple, list)) or len(data) not in (2, 3)):
            raise ValueError("data must be a held batch (x, y) or (x, y, sample_weight), e.g. "
                             "data=(x_train[:64], y_train[:64]).")
        self.run, self.every, self.data, self.update_freq = run, every, data, update_freq
        self.layers, self.bins, self.log_graph = layers, bins, log_graph
        self.step = 0  # training steps begun (counted across fit calls), counted on fit's thread
        self._caught_up = 0  # the step up to which the model has been read (watched, ratios)
        self._snapshot: tuple[int, list] | None = None
        self._adapter: KerasAdapter | None = None
        self._lock = threading.Lock()  # one writer at a time: fit's thread or a Keras worker
        self._batches = _InStepOrder(self._lock)

    #: Keras may run the batch-end hook on a worker thread while fit goes on (module docstring)
    async_safe = True

    # -- Keras hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._adapter = KerasAdapter(self.model)
        self._variables = list(self.model.trainable_variables)
        names = self._adapter.variable_names()
        self._names = [names[id(v)] for v in self._variables]
        self._owner = {n: n.rsplit("/", 1)[0] if "/" in n else "" for n in self._names}
        infos = self._adapter.named_layers()
        self._leaves = [i.name for i in infos if i.is_leaf]
        self._kinds = {i.name: self._adapter.activation_of(i.layer) for i in infos}
        self._pass = None
        if self.data is not None:  # traced on the first watched step; reused after
            chosen = self.layers if self.layers is not None else self._leaves
            self._pass = self._adapter.loss_pass(chosen, compile_after=_EAGER_WATCHES,
                                                 summary=_Summary(self.bins, self._kinds, self._adapter.channels_axis))
        self._caught_up = self.step
        self._batches.restart(self.step + 1)
        self._config()
        if self.log_graph:
            self._graph()

    def on_epoch_begin(self, epoch, logs=None):
        self._batches.restart(self.step + 1)  # the last epoch's batch-end hooks have all run

    def on_train_batch_begin(self, batch, logs=None):
        self._catch_up()
        self.step += 1
        self._batches.began(batch)

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq != "epoch":
            self._batches.ended(batch, logs, self._log_batch)

    def on_epoch_end(self, epoch, logs=None):
        self._catch_up()  # Keras has waited for the epoch's batch-end hooks
        values = {("epoch/" + k if not k.startswith("val_") else k): v for k, v in _scalars(logs or {}).items()}
        values["epoch"] = epoch + 1
        lr = _learning_rate(self.model)
        if lr is not None:
            values["learning_rate"] = lr
        with self._lock:
            self.run.log(values, step=self.step)

    def on_train_end(self, logs=None):
        self._catch_up()
        if self._snapshot is not None:
            self._update_ratios()
        self._pass = None  # the traced pass goes with the fit

    # -- on fit's thread, between two steps ---------------------------------------------------------
    def _log_batch(self, step: int, logs: dict | None) -> None:
        """The batch metrics of ``step`` (called in step order, under the lock)."""
        if logs and step % self.update_freq == 0:
            self.run.log(_scalars(logs), step=step)

    def _catch_up(self) -> None:
        """Read the model for the steps finished since the last call (at most one: called before
        every step): the update ratios of the step after a watched one, then the watched step.
        The weights are those the last finished step left, as a synchronous batch-end hook
        would see them."""
        done = self.step
        if done == self._caught_up:
            return
        self._caught_up = done
        if self._snapshot is not None:
            self._update_ratios()
        if self.every and done % self.every == 0 and self.run.writer is not None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # statistics of small tensors: threads only wait for each other
            try:
                self._watch(done)
            finally:
                torch.set_num_threads(threads)

    # -- what a watched step records --------------------------------------------------------------
    def _watch(self, step: int) -> None:
        _sync(self.model)
        hists: dict[str, Histogram] = {}
        values: dict[str, float] = {}
        arrays = [keras.ops.convert_to_numpy(v.value) for v in self._variables]
        for name, w in zip(self._names, arrays):
            hist, _ = host_histogram(w, self.bins)  # as histogram(torch tensor) bins them, without torch's per-op cost
            hists[f"weights/{name}"] = hist
            values[f"weights/norm/{name}"] = _norm(hist, w)
        self._snapshot = (step, [w.copy() for w in arrays])
        if self._pass is not None:
            x, y, *sw = self.data
            _, grads, acts = self._pass(x, y, sw[0] if sw else None)
            values.update(self._gradients(grads, hists))
            values.update(self._activations(acts, hists))
        self._write(step, hists, values)

    def _write(self, step: int, hists: dict[str, Histogram], values: dict[str, float]) -> None:
        """Queue ``step``'s histograms and scalars through the store's typed interface (as
        ``run.watch()`` writes), under the lock the batch-end hooks write under."""
        with self._lock:
            writer = self.run.writer
            if writer is None:
                return
            for name, hist in hists.items():
                writer.histogram(name, step, hist)
            if values:
                writer.scalars(step, values)

    def _update_ratios(self) -> None:
        _sync(self.model)
        step, before = self._snapshot
        self._snapshot = None
        ratios = {}
        for name, v, w in zip(self._names, self._variables, before):
            norm = math.sqrt(sum_of_squares(w.ravel()))
            if norm > 0:  # a zero tensor (a fresh bias) has no ratio
                change = (keras.ops.convert_to_numpy(v.value) - w).ravel()
                ratios[f"updates/ratio/{name}"] = math.sqrt(sum_of_squares(change)) / norm
        self._write(step, {}, ratios)

    def _gradients(self, grads: dict[str, dict], hists: dict[str, Histogram]) -> dict[str, float]:
        out, layer_sq = {}, {}
        for path, summary in grads.items():
            if not summary:
                continue
            hist = _histogram(summary)
            bad = hist.nonfinite
            norm = math.nan if bad else math.sqrt(hist.sum_sq)
            hists[f"gradients/{path}"] = hist
            out[f"gradients/norm/{path}"] = norm if not bad else math.nan
            out[f"gradients/nonfinite/{path}"] = bad
            owner = self._owner.get(path, "")
            if owner:
                layer_sq[owner] = layer_sq.get(owner, 0.0) + norm * norm
        out.update({f"gradients/norm/{layer}": math.sqrt(sq) for layer, sq in layer_sq.items()})
        return out

    def _activations(self, acts: dict[str, list], hists: dict[str, Histogram]) -> dict[str, float]:
        out = {}
        for name, calls in acts.items():
            if not calls or not calls[0]:  # not called, or not a floating-point output
                continue
            summary = calls[0]
            hist = _histogram(summary)
            hists[f"activations/{name}"] = hist
            n, bad = hist.num, hist.nonfinite
            out[f"activations/mean/{name}"] = math.nan if bad or not n else hist.sum / n  # NaN/Inf in the output
            out[f"activations/std/{name}"] = (math.nan if bad or not n else
                                              math.sqrt(float(summary["ss_dev"]) / (n - 1)) if n > 1 else 0.0)
            if "dead" in summary:
                out[f"activations/dead/{name}"] = float(summary["dead"])
        return out

    # -- once per fit --------------------------------------------------------------------------------
    def _config(self) -> None:
        opt = getattr(self.model, "optimizer", None)
        cfg = {"model": self.model.name, "framework": f"keras {keras.__version__} ({keras.backend.backend()})",
               "params": int(self.model.count_params()), "watch_every": self.every}
        if opt is not None:
            cfg["optimizer"] = type(opt).__name__
            lr = _learning_rate(self.model)
            if lr is not None:
                cfg["lr"] = lr
        params = getattr(self, "params", None) or {}
        for k in ("epochs", "steps"):
            if params.get(k) is not None:
                cfg[k] = params[k]
        self.run.set_config(**cfg)

    def _graph(self) -> None:
        from .graph.api import graph

        try:
            g = graph(self.model, None if self.data is None else _first_rows(self.data[0]))
        except Exception as exc:  # noqa: BLE001 - a graph the reader cannot draw never stops training
            self.run.log_text("graph_error", f"neuralscope could not read the graph of {self.model.name!r}: "
                                             f"{type(exc).__name__}: {exc}")
            return
        self.run.log_result(g, name="graph", step=self.step)


class _InStepOrder:
    """The batch-end hooks' writes in step order, whichever threads Keras runs them on.

    ``fit``'s thread registers each step as it begins (:meth:`began`, with the index of its
    first batch in the epoch); the step's batch-end hook, maybe on a worker thread while
    later steps run, hands in its logs (:meth:`ended`, with the index of its last batch). A
    step's logs are written once every earlier step's have been, so the store receives
    every step once and in order even when two hooks run at the same time.

    Example:
        >>> import threading
        >>> order, written = _InStepOrder(threading.Lock()), []
        >>> order.restart(first_step=11)
        >>> for batch in range(3):
        ...     order.began(batch)
        >>> for batch in (1, 0, 2):  # the hook of batch 1 ran before that of batch 0
        ...     order.ended(batch, {"loss": batch}, lambda step, logs: written.append(step))
        >>> written
        [11, 12, 13]
    """

    def __init__(self, lock: threading.Lock):
        self.lock = lock
        self.restart(1)

    def restart(self, first_step: int) -> None:
        """A new epoch whose first step is ``first_step`` (no batch-end hook is running)."""
        with self.lock:
            self.first_step, self.begins, self.waiting, self.next = first_step, [], {}, 0

    def began(self, batch: int) -> None:
        with self.lock:
            self.begins.append(batch)

    def ended(self, batch: int, logs: Any, write: Callable[[int, Any], None]) -> None:
        """``write(step, logs)`` for this step and every later one that was waiting for it."""
        with self.lock:
            self.waiting[bisect.bisect_right(self.begins, batch) - 1] = logs  # the step holding ``batch``
            while self.next in self.waiting:
                write(self.first_step + self.next, self.waiting.pop(self.next))
                self.next += 1


def _sync(model) -> None:
    """On JAX, ``fit`` keeps the training state outside the model's variables between epochs;
    Keras lets a callback that reads them put it back first (the next step picks it up)."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def _norm(hist, values: np.ndarray) -> float:
    """The L2 norm, from the histogram's sum of squares (NaN or Inf when the values hold them)."""
    if hist.nonfinite:
        return float(np.linalg.norm(np.asarray(values, np.float64)))
    return math.sqrt(hist.sum_sq)


class _Summary:
    """What the watched step keeps of a gradient or a layer output: on the host by numpy for
    an array (eager passes, and traced ones on a CPU), or inside the compiled held-batch pass
    by backend ops for a tensor (on an accelerator, so that only a few numbers per tensor
    reach the host). Either way the :class:`~neuralscope.histogram.Histogram` of the finite values by the rules of
    :mod:`neuralscope.histogram` (its ``bin_range`` and ``bin_of`` on the backend's tensors,
    float32 bin positions as its torch path; ``from_counts`` on the host), the sums it
    stores, the sum of squared deviations from the mean (a two-pass standard deviation) and,
    after a nonlinearity whose units die (:mod:`neuralscope.nonlinearities`), the fraction of
    units that are <= 0 for every example and position (NaN is not <= 0, as ``dead_mask``)."""

    def __init__(self, bins: int, kinds: dict[str, str | None], units_axis: int):
        self.bins, self.kinds, self.units_axis = bins, kinds, units_axis

    def __call__(self, kind: str, name: str, t: Any) -> dict:
        if isinstance(t, np.ndarray):  # the pass handed the host its arrays
            return self._on_host(kind, name, t)
        ops = keras.ops
        if "float" not in keras.backend.standardize_dtype(t.dtype):
            return {}
        v = ops.reshape(ops.cast(t, "float32"), (-1,))
        finite = ops.isfinite(v)
        n = ops.sum(ops.cast(finite, "int32"))
        lo, hi = ops.min(ops.where(finite, v, np.inf)), ops.max(ops.where(finite, v, -np.inf))
        a, b = bin_range(lo, hi, ops.where)
        idx = bin_of(ops.where(finite, v, a), a, b, self.bins, ops)  # a stands in for NaN and Inf...
        counts = _bincount(ops.where(finite, idx, self.bins), self.bins + 1)[:self.bins]  # ...which are dropped
        vf = ops.where(finite, v, 0.0)
        total = ops.sum(vf)
        dev = ops.where(finite, v - total / ops.cast(ops.maximum(n, 1), "float32"), 0.0)
        out = {"n": n, "nonfinite": ops.size(v) - n, "lo": lo, "hi": hi, "counts": counts, "sum": total,
               "sum_sq": ops.sum(vf * vf), "ss_dev": ops.sum(dev * dev)}
        row = nonlinearity(kind=self.kinds.get(name))
        if kind == "output" and row is not None and row.dies and len(t.shape) >= 2:
            unit = self.units_axis % len(t.shape)
            axes = tuple(i for i in range(len(t.shape)) if i != unit)
            out["dead"] = ops.mean(ops.cast(ops.all(t <= 0, axis=axes), "float32"))
        return out

    def _on_host(self, kind: str, name: str, t: np.ndarray) -> dict:
        """The same summary of an array, by numpy: one histogram pass
        (:func:`~neuralscope.histogram.host_histogram`, the float32 bin positions of the
        backend path) and float64 sums."""
        if not np.issubdtype(t.dtype, np.floating):
            return {}
        hist, finite = host_histogram(t, self.bins)
        dev = finite - hist.sum / hist.num if hist.num else finite
        out = {"n": hist.num, "nonfinite": hist.nonfinite, "lo": hist.min if hist.num else 0.0,
               "hi": hist.max if hist.num else 0.0, "counts": hist.counts,
               "sum": hist.sum, "sum_sq": hist.sum_sq, "ss_dev": sum_of_squares(dev)}
        row = nonlinearity(kind=self.kinds.get(name))
        if kind == "output" and row is not None and row.dies and t.ndim >= 2:
            unit = self.units_axis % t.ndim
            out["dead"] = float(np.mean(np.all(t <= 0, axis=tuple(i for i in range(t.ndim) if i != unit))))
        return out


def _bincount(idx: Any, length: int) -> Any:
    """Counts of ``0..length-1`` in ``idx`` (a fixed length, as a traced pass needs; Keras's
    own ``ops.bincount`` cannot be traced on JAX, and ``segment_sum`` is 5x slower on CPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.bincount(idx, minlength=length, maxlength=length)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.bincount(idx, length=length)
    return keras.ops.bincount(idx, minlength=length)  # torch: eager


def _histogram(summary: dict) -> Histogram:
    """The :class:`~neuralscope.histogram.Histogram` a :class:`_Summary` describes."""
    return from_counts(summary["counts"], summary["n"], summary["lo"], summary["hi"], summary["sum"],
                       summary["sum_sq"], summary["nonfinite"])


def _scalars(logs: dict) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue  # non-scalar entries (a per-class array) are not scalars
    return out


def _learning_rate(model) -> float | None:
    opt = getattr(model, "optimizer", None)
    lr = getattr(opt, "learning_rate", None)
    if lr is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(lr))
    except (TypeError, ValueError):
        return None


def _first_rows(x: Any, n: int = 1) -> Any:
    if isinstance(x, dict):
        return {k: v[:n] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [v[:n] for v in x]
    return x[:n]
