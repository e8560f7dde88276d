"""The demo's second process: it trains the digits CNN and the LSTM, then builds the sections
that need nothing else (their module sets ``SECOND_PROCESS = True``), while the first process
trains the scene models and builds the scene sections. The demo's models are too small to
share one operation between two threads (see :mod:`neuralscope.demo`), so a second process
is how the demo uses a second core.

The second process sends two messages through one pipe: the trained digits models
(:class:`DigitsModels`), then its built sections with the result objects they logged
(:class:`BuiltSections`). The first process logs those into the ``results`` run, whose only
writer it stays. An exception in the second process is raised again in the first, with the
second process's traceback as a note.
"""
from __future__ import annotations

import multiprocessing
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class DigitsModels:
    """The trained digits CNN (watched into the run ``run``) and the row-by-row LSTM."""

    cnn: torch.nn.Module
    data: object
    test_accuracy: float
    history: list
    seconds: float  # wall time of the digits CNN's watched training
    lstm: torch.nn.Module
    lstm_accuracy: float


@dataclass
class BuiltSections:
    """Sections built in the second process: ``(module name, key, Section)`` in build order,
    and the ``(result, name)`` pairs they logged, for the first process to log."""

    sections: list = field(default_factory=list)
    logged: list = field(default_factory=list)


class ResultCollector:
    """Stands in for the ``results`` run in the second process: keeps what sections log."""

    def __init__(self) -> None:
        self.logged: list[tuple[object, str | None]] = []

    def log_result(self, obj, name: str | None = None, step: int | None = None) -> None:
        self.logged.append((obj, name))


def train_digits_models(out: Path, *, epochs: int, fast: bool, show_progress: bool | None) -> DigitsModels:
    """Train the digits CNN (watched into ``out / "run"``) and the LSTM on the same digits."""
    from ..train import train_digits
    from ..zoo import RNNClassifier
    from .training import train_watched_digits

    t0, c0 = time.perf_counter(), time.process_time()
    cnn = train_watched_digits(out / "run", epochs=epochs, show_progress=show_progress)
    cnn_seconds = time.perf_counter() - t0
    lstm = train_digits(RNNClassifier("lstm"), epochs=epochs if fast else max(epochs, 20), lr=1e-2, data=cnn.data,
                        show_progress=show_progress)
    print(f"trained DigitsCNN (watched into run/): test accuracy {cnn.test_accuracy:.1%} ({cnn_seconds:.1f} s); "
          f"LSTM: {lstm.test_accuracy:.1%} ({time.perf_counter() - t0:.1f} s, {time.process_time() - c0:.1f} s CPU)",
          flush=True)
    return DigitsModels(cnn.model, cnn.data, cnn.test_accuracy, cnn.history, cnn_seconds, lstm.model,
                        lstm.test_accuracy)


class SecondProcess:
    """The second process, started on construction; :meth:`models` and :meth:`sections`
    wait for its two messages. Use it as a context manager: leaving the block early stops it.
    """

    def __init__(self, out: Path, *, epochs: int, sections: list[str], fast: bool, show_progress: bool | None,
                 threads: int) -> None:
        spawn = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools mid-state
        self._conn, child_end = spawn.Pipe(duplex=False)
        self._process = spawn.Process(target=_second_process, name="neuralscope-demo-digits",
                                      args=(child_end, out, epochs, sections, fast, show_progress, threads))
        self._process.start()
        child_end.close()

    def models(self) -> DigitsModels:
        return self._receive("trained digits models")

    def sections(self) -> BuiltSections:
        return self._receive("sections")

    def _receive(self, what: str):
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self._process.join(timeout=10)
            raise RuntimeError(f"the demo's second process ended (exit code {self._process.exitcode}) before it sent "
                               f"its {what}; run `neuralscope demo --processes 1` to build everything in one "
                               "process and see the error there.") from None
        if kind == "error":
            error, trace = payload
            error.add_note(f"raised in the demo's second process:\n{trace}")
            raise error
        return payload

    def __enter__(self) -> "SecondProcess":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()


class DigitsHere:
    """One process's stand-in for :class:`SecondProcess`: the digits models trained here,
    and no sections built elsewhere."""

    def __init__(self, models: DigitsModels) -> None:
        self._models = models

    def models(self) -> DigitsModels:
        return self._models

    def sections(self) -> BuiltSections:
        return BuiltSections()

    def __enter__(self) -> "DigitsHere":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        return None


def _second_process(conn, out: Path, epochs: int, sections: list[str], fast: bool, show_progress: bool | None,
                    threads: int) -> None:
    """The second process's work: train, send the models, build the sections, send them."""
    from . import DemoContext, build_order, build_sections, section_modules

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    try:
        models = train_digits_models(out, epochs=epochs, fast=fast, show_progress=show_progress)
        conn.send(("models", models))
        collector = ResultCollector()
        ctx = DemoContext(out, models.cnn, models.data, models.test_accuracy, models.history, models.lstm,
                          models.lstm_accuracy, results=collector, fast=fast, digits_seconds=models.seconds)
        modules = [m for m in build_order(section_modules()) if m[0] in sections]
        conn.send(("sections", BuiltSections(build_sections(ctx, modules), collector.logged)))
    except BaseException as error:  # noqa: BLE001 - every failure goes to the first process
        conn.send(("error", (_picklable(error), traceback.format_exc())))
    finally:
        conn.close()


def _picklable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError with its message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(error).__name__}: {error}")
