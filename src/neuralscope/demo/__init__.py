"""The demo: train the digits CNN (watched, with weight snapshots, into the run ``run``), the LSTM and the scene models (a CNN, a ViT and a CNN
fooled by a spurious corner mark), then let every report section add its views.

The demo runs on one intra-op thread (``threads=1``, restored afterwards): its models are tiny
(8x8 digits, 64x64 scenes, at most 60k parameters), so torch's thread pool splits each
operation into pieces too small to pay for the barrier the threads then wait at, and on a
busy machine the waiting is spinning. Measured on this project's 2-core Xeon under a load
average of 5: an epoch of the digits CNN took 1.7-2.8 s of CPU time (2.3-4.2 s wall) on two
threads and 0.16 s on one; 512 scenes through the scene CNN 1.5-3.6 s CPU (2.3-5.5 s wall)
against 0.42 s (0.64 s wall).

A second core is used by a second process instead (:mod:`neuralscope.demo.second_process`):
it trains the digits CNN and the LSTM and builds the sections that need only them, while this
process trains the scene models and builds the rest.

Each module in :mod:`neuralscope.demo.sections` provides ``build(ctx) -> Section``; sections
are run in the order of their module names and linked from ``index.html``. A section writes
its files under ``ctx.out / <its name>`` and returns the HTML that shows them. A section that
needs only the digits models sets ``SECOND_PROCESS = True``.
"""
from __future__ import annotations

import html
import importlib
import os
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..result import standalone_page


@dataclass
class Section:
    """One part of the demo report: a title, HTML (links and images relative to ``out``)."""

    title: str
    html: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time (all threads): comparable on a loaded machine


@dataclass
class DemoContext:
    """What every section can use: the trained models and the data they were trained on."""

    out: Path
    cnn: torch.nn.Module
    data: object
    test_accuracy: float
    history: list = field(default_factory=list)
    lstm: torch.nn.Module | None = None
    lstm_accuracy: float | None = None
    results: object | None = None  # a neuralscope Run that collects every section's result objects
    scenes: object | None = None  # demo.training.SceneModels: the scene CNN, ViT and Clever Hans CNN
    fast: bool = False  # fewer examples and steps (the tests)
    digits_seconds: float = 0.0  # wall time of the digits CNN's watched training (run ``run``)

    @property
    def digits_run(self) -> Path:
        """The run the digits CNN trained in: watched statistics, weight snapshots, curvature."""
        return self.out / "run"

    def path(self, section: str, name: str) -> Path:
        p = self.out / section / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def log(self, result, name: str) -> None:
        """Log a result object to the demo's ``results`` run, so the dashboard shows it."""
        if self.results is not None:
            self.results.log_result(result, name=name, step=0)


def section_modules():
    from . import sections

    for info in sorted(pkgutil.iter_modules(sections.__path__), key=lambda i: i.name):
        yield info.name, importlib.import_module(f"{sections.__name__}.{info.name}")


def run_demo(out: str | Path = "runs/demo", *, epochs: int = 15, only: list[str] | None = None,
             show_progress: bool | None = None, fast: bool = False, threads: int = 1,
             processes: int | None = None) -> Path:
    """Train the zoo models on digits and generated scenes and write the report; returns the
    path of index.html. ``fast``: fewer scenes, epochs and optimisation steps (for tests);
    ``threads``: torch's intra-op threads while the demo runs (the module docstring says why
    one), the process's setting is given back afterwards; ``processes``: 2 (the default where
    the machine has two cores or more) trains the digits models and builds their sections in a
    second process (:mod:`neuralscope.demo.second_process`), 1 builds everything here. The
    second process is spawned: a script that calls this at import time needs the usual
    ``if __name__ == "__main__":`` guard of :mod:`multiprocessing`, or ``processes=1``."""
    if threads < 1:
        raise ValueError(f"threads must be a positive number of intra-op threads, not {threads!r}.")
    processes = min(2, os.cpu_count() or 1) if processes is None else processes
    if processes not in (1, 2):
        raise ValueError(f"processes must be 1 or 2 (the demo's work splits in two), not {processes!r}.")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _build(Path(out), epochs=epochs, only=only, show_progress=show_progress, fast=fast,
                      threads=threads, processes=processes)
    finally:
        torch.set_num_threads(before)


def _build(out: Path, *, epochs: int, only: list[str] | None, show_progress: bool | None, fast: bool,
           threads: int = 1, processes: int = 1) -> Path:
    """:func:`run_demo`'s work: train the models, build the sections, write the pages."""
    from .second_process import DigitsHere, SecondProcess, train_digits_models

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [m for m in build_order(section_modules()) if _chosen(m[0], only)]
    beside = [name for name, module in chosen if processes > 1 and getattr(module, "SECOND_PROCESS", False)]
    if processes > 1:
        digits = SecondProcess(out, epochs=epochs, sections=beside, fast=fast, show_progress=show_progress,
                               threads=threads)
    else:
        digits = DigitsHere(train_digits_models(out, epochs=epochs, fast=fast, show_progress=show_progress))
    with digits:
        built, ctx = _build_here(out, digits, [m for m in chosen if m[0] not in beside], fast=fast,
                                 show_progress=show_progress)
    page = _index_page(ctx, [(key, section) for _, key, section in sorted(built, key=lambda b: b[0])])
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    (out / "report.html").write_text(inline_images(page, out), encoding="utf-8")
    return index


def _build_here(out: Path, digits, modules: list, *, fast: bool, show_progress: bool | None):
    """This process's part: the scene models (watched into the ``results`` run), then its
    sections; the second process's sections and results join at the end. Returns the built
    sections and the context. ``digits``: a ``SecondProcess`` or ``DigitsHere``."""
    from ..track.run import Run
    from .training import train_scene_models

    with Run(out / "results", config={"model": "SceneCNN, SceneViT, DigitsCNN, LSTM"}, tags=["demo"]) as results:
        t0, c0 = time.perf_counter(), time.process_time()
        scenes = train_scene_models(results, fast=fast, show_progress=show_progress)
        print("trained " + ", ".join(f"{k}: test accuracy {v:.1%} ({scenes.seconds[k]:.1f} s)"
                                     for k, v in scenes.accuracy.items())
              + f" ({time.perf_counter() - t0:.1f} s, {time.process_time() - c0:.1f} s CPU)", flush=True)
        models = digits.models()
        ctx = DemoContext(out, models.cnn, models.data, models.test_accuracy, models.history, models.lstm,
                          models.lstm_accuracy, results=results, scenes=scenes, fast=fast,
                          digits_seconds=models.seconds)
        results.set_config(test_accuracy=round(models.test_accuracy, 4),
                           lstm_test_accuracy=round(models.lstm_accuracy, 4))
        results.log_text("summary", _summary(ctx))
        built = build_sections(ctx, modules)
        beside = digits.sections()
        for result, name in beside.logged:
            results.log_result(result, name=name, step=0)
    return built + beside.sections, ctx


def _chosen(name: str, only: list[str] | None) -> bool:
    """Whether the section module ``name`` (``"30_attribution"``) is among ``only``."""
    return not only or name in only or name.split("_", 1)[-1] in only


def build_sections(ctx: DemoContext, modules: list) -> list:
    """Build each ``(name, module)`` section in the given order, printing its time; returns
    ``(name, key, Section)`` triples."""
    built = []
    for name, module in modules:
        t, c = time.perf_counter(), time.process_time()
        section = module.build(ctx)
        section.seconds, section.cpu_seconds = time.perf_counter() - t, time.process_time() - c
        print(f"  {section.title}: {section.seconds:.1f} s ({section.cpu_seconds:.1f} s CPU)", flush=True)
        built.append((name, name.split("_", 1)[-1], section))
    return built


def build_order(modules):
    """The sections in the order they are built: those that import TensorFlow (their module
    sets ``IMPORTS_TENSORFLOW = True``: UMAP through umap-learn, Keras) last, the rest in
    name order; the report still shows them in name order. Once TensorFlow is loaded, every
    later torch section of the demo costs several times the CPU time: measured on a loaded
    2-core Xeon, feature visualization 118 s CPU after it against 15 s before it, the loss
    landscape 94 s against 10 s.

    Example:
        >>> from types import SimpleNamespace as M
        >>> [n for n, _ in build_order([("a", M(IMPORTS_TENSORFLOW=True)), ("b", M())])]
        ['b', 'a']
    """
    return sorted(modules, key=lambda item: getattr(item[1], "IMPORTS_TENSORFLOW", False))


def inline_images(page: str, base: Path) -> str:
    """The page with every local ``<img src>`` embedded as a data URI: one file that opens
    anywhere, with no server and no folder beside it."""
    import base64
    import mimetypes
    import re

    def embed(match: re.Match) -> str:
        src = match.group(2)
        path = base / src
        if src.startswith(("data:", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode()
        return f"{match.group(1)}data:{mime};base64,{data}{match.group(3)}"

    return re.sub(r'(<img\b[^>]*?\bsrc=")([^"]+)(")', embed, page)


def _summary(ctx: DemoContext) -> str:
    """The models of the demo and their test accuracies, in words."""
    s = ctx.scenes
    lines = [f"DigitsCNN on scikit-learn's digits: test accuracy {ctx.test_accuracy:.1%}."]
    if ctx.lstm_accuracy is not None:
        lines.append(f"Row-by-row LSTM on the digits: {ctx.lstm_accuracy:.1%}.")
    if s is not None:
        lines += [(f"SceneCNN on {len(s.data.train)} generated 64x64 scenes (4 classes by shape and texture): "
                   f"{s.accuracy['scene_cnn']:.1%} ({s.seconds['scene_cnn']:.0f} s of training)."),
                  (f"SceneViT (hybrid: the scene CNN's first two conv blocks, frozen, embed 8x8 patches; its "
                   f"transformer trained): {s.accuracy['scene_vit']:.1%} ({s.seconds['scene_vit']:.0f} s)."),
                  (f"Clever Hans CNN (corner mark = class in training): {s.hans_train_accuracy:.1%} on training "
                   f"scenes, {s.accuracy['clever_hans_cnn']:.1%} on test scenes whose marks are shuffled.")]
    return "\n".join(lines)


def _index_page(ctx: DemoContext, built: list[tuple[str, Section]]) -> str:
    toc = "".join(f'<li><a href="#{k}">{html.escape(s.title)}</a></li>' for k, s in built)
    models = "".join(f"<li>{html.escape(line)}</li>" for line in _summary(ctx).splitlines())
    body = [f"<p>Models trained for this report (no downloads):</p><ul>{models}</ul>", f"<ul>{toc}</ul>"]
    for key, s in built:
        body.append(f'<section id="{key}"><h2>{html.escape(s.title)}</h2>{s.html}</section>')
    return standalone_page("neuralscope demo", "\n".join(body))
