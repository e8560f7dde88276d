"""Several runs side by side: ``runs("runs/")`` lists every run below a directory with its
status, config (hyperparameters) and last metric values, and draws a metric of all of them.
"""
from __future__ import annotations

import html
import warnings
from pathlib import Path


from ..errors import FileFormatError
from ..result import Result, new_axes, standalone_page
from .store import RunReader, iter_run_dirs

__all__ = ["runs", "RunSet", "open_run"]


def open_run(path: str | Path) -> RunReader:
    """Open a run directory for reading (also while another process writes it).

    Example:
        >>> open_run("no/such/run")
        Traceback (most recent call last):
        ...
        neuralscope.errors.FileFormatError: 'no/such/run' is not a neuralscope run (no run.sqlite in it).

    A database that cannot be read (damaged, not SQLite, not readable by this user) raises
    :class:`~neuralscope.errors.FileFormatError` with one sentence, here or from the query
    that meets the damage.
    """
    reader = RunReader(path)
    try:
        reader.meta()
        reader.names()
    except FileFormatError:
        reader.close()
        raise
    return reader


class RunSet(Result):
    """The runs found under a directory: ``info`` (one dict per run: name, path, status,
    config, tags, last_step, last values), a hyperparameter table and a metric chart.

    Example:
        >>> import tempfile
        >>> from neuralscope.track import Run
        >>> root = tempfile.mkdtemp()
        >>> for lr in (0.1, 0.01):
        ...     with Run(f"{root}/lr{lr}", config={"lr": lr}) as r:
        ...         r.log({"loss": lr}, step=0)
        >>> [row["config"]["lr"] for row in runs(root).info]
        [0.01, 0.1]
    """

    kind = "run_set"
    schema = {"kind": "str", "root": "str", "runs": [{"name": "str", "path": "str", "status": "str", "config": "dict",
                                                      "tags": "any", "created": "float?", "finished": "float?",
                                                      "heartbeat": "float?", "last_step": "int?",
                                                      "schema_version": "int", "last": "dict"}]}

    def __init__(self, root: Path, info: list[dict]):
        self.root = Path(root)
        self.info = info

    def __len__(self) -> int:
        return len(self.info)

    def __iter__(self):
        return iter(self.info)

    def reader(self, name: str) -> RunReader:
        """A reader for the run called ``name`` (its directory relative to the root)."""
        for row in self.info:
            if row["name"] == name:
                return RunReader(row["path"])
        from ..errors import LayerNotFoundError

        raise LayerNotFoundError(name, [r["name"] for r in self.info], what="run")

    def hparams(self) -> tuple[list[str], list[str]]:
        """The table columns (the dashboard's run_set view and Runs page use the same rule):
        every config key, and the last-value metrics logged at the top level (no "/"), or
        every metric when no run logged one at the top level."""
        keys = sorted({k for r in self.info for k in r["config"]})
        metrics = sorted({k for r in self.info for k in r["last"]})
        top = [m for m in metrics if "/" not in m]
        return keys, top or metrics

    def to_dict(self) -> dict:
        return {"kind": self.kind, "root": str(self.root), "runs": self.info}

    def plot(self, ax=None, metric: str = "loss", buckets: int = 1000, smoothing: float = 0.0):
        """``metric`` of every run that logged it, one line per run, labelled by run name."""
        ax = ax or new_axes((7, 3.8))
        drawn = 0
        for row in self.info:
            with RunReader(row["path"]) as r:
                if metric not in r.names("scalar"):
                    continue
                r.scalars(metric, buckets=buckets).plot(ax=ax, label=row["name"], smoothing=smoothing)
                drawn += 1
        ax.set_title(f"{metric} in {drawn} run(s)", fontsize=10)
        if drawn:
            ax.legend(fontsize=8)
        return ax

    def table_html(self) -> str:
        keys, metrics = self.hparams()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["run", "status", "last step", *keys, *metrics])
        rows = []
        for r in self.info:
            cells = [r["name"], r["status"], "" if r["last_step"] is None else str(r["last_step"])]
            cells += [str(r["config"].get(k, "")) for k in keys]
            cells += [f"{r['last'][m]:.4g}" if m in r["last"] else "" for m in metrics]
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"

    def to_html(self) -> str:
        return standalone_page(f"Runs in {self.root}", self.table_html())


def runs(root: str | Path = "runs") -> RunSet:
    """Every run at or below ``root``, sorted by name (per-rank runs appear as
    ``parent/rank<N>``). A run that cannot be read and a directory that cannot be listed are
    skipped with a warning; the other runs are still listed.

    Example:
        >>> runs("no/such/dir")
        Traceback (most recent call last):
        ...
        neuralscope.errors.FileFormatError: No runs directory 'no/such/dir'.
    """
    root = Path(root)
    if not root.exists():
        raise FileFormatError(f"No runs directory {str(root)!r}.")
    info = []
    for d in iter_run_dirs(root):
        try:
            with RunReader(d) as r:
                row = r.info()
                row["last"] = r.last_values()
        except FileFormatError as exc:
            warnings.warn(f"Skipping the run {str(d)!r}: {exc}", stacklevel=2)
            continue
        rel = d.relative_to(root).as_posix() if d != root else d.name
        row["name"] = rel
        info.append(row)
    return RunSet(root, info)
