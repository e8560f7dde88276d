"""After the demo, every dashboard page opens on something logged — never a placeholder.

The demo runs once per test session in its fast setting (few scenes and epochs; the
``fast_demo`` fixture, shared with ``test_demo.py``); the dashboard serves its output folder in a thread and
headless Chromium opens each page. Screenshots go to ``$NEURALSCOPE_GALLERY/dashboard_demo``
(default ``gallery/dashboard_demo`` in the repository) for people to look at. Set
``$NEURALSCOPE_DEMO_DIR`` to the output of an earlier ``neuralscope demo`` to skip the run.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from neuralscope.server.app import STATIC, serve_in_background

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("NEURALSCOPE_GALLERY", ROOT / "gallery")) / "dashboard_demo"
pytestmark = pytest.mark.xdist_group("demo")  # on the worker that builds the demo (conftest's fast_demo)


@pytest.fixture(scope="module")
def demo_server(request):
    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    given = os.environ.get("NEURALSCOPE_DEMO_DIR")  # a demo already written (to iterate on the pages)
    if given:
        out = Path(given)
    else:
        code, out = request.getfixturevalue("fast_demo")
        assert code == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = serve_in_background(out, poll_interval=0.5)
    yield srv
    srv.stop()


def _open(page, server, route: str, ready: str):
    page.goto(server.url + route)
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector(ready, timeout=90_000)  # large result documents on a busy machine
    time.sleep(0.8)  # lazy charts and frames finish drawing
    page.screenshot(path=str(SHOTS / f"{route.strip('#/').split('?')[0]}.png"), full_page=False)


def _no_placeholder(page):
    assert page.locator("#page p.empty, #page td.empty:not(.ok)").count() == 0, page.locator("#page").inner_text()[:300]


# page -> a selector that only matches a drawn, logged view
PAGES = [
    ("runs", "#runs-table tbody tr[data-run='results']"),
    ("scalars", ".chart-card canvas"),
    ("distributions", ".hist-card canvas"),
    ("diagnostics", "#diag-table tr td:not(.empty)"),
    ("inside", ".result-view canvas, .result-view img"),
    ("attributions", ".result-view .attr-scores"),
    ("attention", ".result-view canvas"),
    ("featurevis", ".result-view canvas, .result-view img"),
]


@pytest.mark.parametrize("name,ready", PAGES)
def test_every_dashboard_page_opens_on_a_logged_view(demo_server, page, name, ready):
    _open(page, demo_server, f"#/{name}", ready)
    _no_placeholder(page)
    assert page.locator(ready).count() >= 1
    assert page.console_errors == []


def test_graph_page_opens_on_the_scene_cnn_with_per_layer_statistics(demo_server, page):
    page.goto(demo_server.url + "#/graph")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector("iframe.graph-frame", timeout=20_000)
    page.frame_locator("iframe.graph-frame").locator("html[data-ns-ready='1']").wait_for(timeout=30_000)
    inner = next(f for f in page.frames if "/graph-view" in f.url)
    inner.wait_for_selector(".ns-stat", timeout=20_000)
    layers = inner.eval_on_selector_all(".ns-stat", "els => els.map(e => e.getAttribute('data-layer'))")
    assert "features.0" in layers  # the watched scene CNN's first convolution carries its badge
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / "graph.png"), full_page=False)
    assert page.console_errors == []


def test_comparison_table_sorts_by_any_column(demo_server, page):
    _open(page, demo_server, "#/attributions", ".result-view .attr-scores")
    for group in page.locator(".result-item").all():
        if "scenes_compare" in (group.get_attribute("data-name") or ""):
            group.click()
            break
    page.wait_for_selector(".attr-scores th[data-sort='mass_accuracy']", timeout=20_000)
    header = page.locator(".attr-scores th[data-sort='mass_accuracy']")

    def column():
        cells = page.locator(".attr-scores tbody td[data-metric='mass_accuracy']").all_inner_texts()
        return [float(c) for c in cells if c != "—"]

    header.click()
    assert column() == sorted(column(), reverse=True) and len(column()) >= 2
    header.click()
    assert column() == sorted(column())
    page.screenshot(path=str(SHOTS / "attributions_sorted.png"), full_page=False)
