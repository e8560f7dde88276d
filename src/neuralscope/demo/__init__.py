"""The demo: train the digits CNN (and the LSTM), then let every report section add its views.

Each module in :mod:`neuralscope.demo.sections` provides ``build(ctx) -> Section``; sections
are run in the order of their module names and linked from ``index.html``. A section writes
its files under ``ctx.out / <its name>`` and returns the HTML that shows them.
"""
from __future__ import annotations

import html
import importlib
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
             show_progress: bool | None = None) -> Path:
    """Train the zoo models on digits and write the report; returns the path of index.html."""
    from ..train import train_digits
    from ..zoo import DigitsCNN, RNNClassifier

    torch.manual_seed(0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cnn = train_digits(DigitsCNN(), epochs=epochs, show_progress=show_progress)
    lstm = train_digits(RNNClassifier("lstm"), epochs=max(epochs, 20), lr=1e-2, data=cnn.data,
                        show_progress=show_progress)
    print(f"trained DigitsCNN: test accuracy {cnn.test_accuracy:.1%}; "
          f"LSTM: {lstm.test_accuracy:.1%} ({time.perf_counter() - t0:.1f} s)")
    from ..track.run import Run

    ctx = DemoContext(out, cnn.model, cnn.data, cnn.test_accuracy, cnn.history, lstm.model, lstm.test_accuracy)
    built: list[tuple[str, Section]] = []
    with Run(out / "results", config={"model": "DigitsCNN", "test_accuracy": round(cnn.test_accuracy, 4),
                                      "lstm_test_accuracy": round(lstm.test_accuracy, 4)}, tags=["demo"]) as results:
        ctx.results = results
        for name, module in section_modules():
            key = name.split("_", 1)[-1]
            if only and key not in only and name not in only:
                continue
            t = time.perf_counter()
            section = module.build(ctx)
            section.seconds = time.perf_counter() - t
            print(f"  {section.title}: {section.seconds:.1f} s")
            built.append((key, section))
    page = _index_page(ctx, built)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    (out / "report.html").write_text(inline_images(page, out), encoding="utf-8")
    return index


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


def _index_page(ctx: DemoContext, built: list[tuple[str, Section]]) -> str:
    toc = "".join(f'<li><a href="#{k}">{html.escape(s.title)}</a></li>' for k, s in built)
    body = [f"<p>The zoo's <code>DigitsCNN</code> trained on scikit-learn's digits: test accuracy "
            f"<b>{ctx.test_accuracy:.1%}</b>"
            + (f"; the row-by-row LSTM: <b>{ctx.lstm_accuracy:.1%}</b>" if ctx.lstm_accuracy else "")
            + ".</p>", f"<ul>{toc}</ul>"]
    for key, s in built:
        body.append(f'<section id="{key}"><h2>{html.escape(s.title)}</h2>{s.html}</section>')
    return standalone_page("neuralscope demo", "\n".join(body))
