"""Training tracking: the :class:`Run` API, ``run.watch(model)``, the SQLite run store,
diagnostics, several runs side by side and TensorBoard import/export.

Example:
    >>> import tempfile
    >>> from neuralscope.track import Run, open_run
    >>> path = tempfile.mkdtemp()
    >>> with Run(path, config={"lr": 0.1}) as run:
    ...     run.log({"loss": 0.5}, step=0)
    >>> open_run(path).info()["status"]
    'finished'
"""
from .results import Diagnostic, Diagnostics, HistogramSeries, ScalarSeries
from .run import LogNameError, LogValueError, Run
from .runs import RunSet, open_run, runs
from .store import RunReader, RunStorageError

__all__ = ["Run", "Watcher", "RunReader", "RunSet", "open_run", "runs", "ScalarSeries",
           "HistogramSeries", "Diagnostic", "Diagnostics", "LogValueError", "LogNameError",
           "RunStorageError"]


def __getattr__(name: str):
    if name == "Watcher":  # imports torch: only when asked for (writer processes start fast)
        from .watch import Watcher

        return Watcher
    raise AttributeError(f"module 'neuralscope.track' has no attribute {name!r}")
