"""Markup injection, tested per renderer: every value a user or a received file controls
(graph node fields, tokens, layer names, labels, run names, config keys) reaches the page as
text in every HTML export and in the dashboard, and no script runs.

Each page is opened in headless Chromium with a canary: the payloads set ``__pwned`` on
the window (or its parent) and open dialogs; the test fails if either happens. Exports are
opened with the Content-Security-Policy bypassed, so the escaping alone must hold; the
dashboard is opened with its policy enforced, which must not block any of its own pages.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from neuralscope.graph.model import Graph, Node, TensorMeta
from neuralscope.graph.render_html import render_html
from neuralscope.server.app import STATIC, serve_in_background
from neuralscope.track.run import Run

PAYLOADS = [
    '<img src=x onerror="window.__pwned=1;parent.__pwned=1">',
    '"><svg onload="window.__pwned=1;parent.__pwned=1">',
    "'><img src=x onerror='window.__pwned=1;parent.__pwned=1'>",
    "</script><script>window.__pwned=1;parent.__pwned=1</script>",
    "<!--<script>",
    "</textarea></title></style><iframe srcdoc='<script>parent.__pwned=1</script>'>",
    "javascript:window.__pwned=1",
]
PROTO_KEYS = ["constructor", "__proto__", "toString", "hasOwnProperty"]
SHOTS = Path(os.environ.get("NEURALSCOPE_SHOTS", "/tmp/neuralscope-dashboard"))


def hostile_graph(name: str = PAYLOADS[0]) -> Graph:
    """A graph whose every text field is a payload (as a received ``.json`` could be)."""
    g = Graph(name, method=PAYLOADS[1])
    g.add_node(Node("in" + PAYLOADS[2], "input", PAYLOADS[3], "input", outputs=[TensorMeta((1, 4), PAYLOADS[4])]))
    g.set_group("blk" + PAYLOADS[0].replace(".", ""), PAYLOADS[5], params=20, trainable_params=10)
    g.add_node(Node("fc", "module", PAYLOADS[6], PAYLOADS[0], group="blk" + PAYLOADS[0].replace(".", ""),
                    module=PAYLOADS[1], params=20, trainable_params=10,
                    attrs={p: p for p in PAYLOADS[:3]} | {k: k for k in PROTO_KEYS}))
    g.add_node(Node("odd", PAYLOADS[0], PAYLOADS[2], PAYLOADS[3], attrs={"__proto__": {"x": 1}}))
    g.add_edge("in" + PAYLOADS[2], "fc", TensorMeta((1, 4), PAYLOADS[2]))
    g.add_edge("fc", "odd", TensorMeta(None, PAYLOADS[3]))
    return g


@pytest.fixture
def guarded(browser):
    """``open(url_or_file, bypass_csp)`` -> page with the canary and dialog trap installed."""
    contexts, dialogs = [], []

    def open_(target, bypass_csp: bool = True):
        ctx = browser.new_context(viewport={"width": 1200, "height": 850}, bypass_csp=bypass_csp)
        contexts.append(ctx)
        page = ctx.new_page()
        page.console_errors = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        url = target if str(target).startswith("http") else Path(target).as_uri()
        page.goto(url)
        return page

    yield open_, dialogs
    for ctx in contexts:
        ctx.close()


def assert_no_script_ran(page, dialogs) -> None:
    time.sleep(0.2)
    for frame in page.frames:
        assert frame.evaluate("window.__pwned") is None, frame.url
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0


# -- HTML exports ----------------------------------------------------------------------------
def test_graph_viewer_shows_every_crafted_field_as_text(tmp_path, guarded):
    open_, dialogs = guarded
    path = tmp_path / "graph.html"
    path.write_text(render_html(hostile_graph()))
    page = open_(path)
    page.wait_for_selector("#ns-svg .ns-node")
    page.click("#ns-expand-all")
    for node in page.locator("#ns-svg .ns-node").all():  # tooltips and details of every node
        node.hover()
        node.click()
    for edge in page.locator("#ns-svg .ns-edge-hit").all():  # edge tooltips
        edge.dispatch_event("mousemove", {"clientX": 50, "clientY": 50, "bubbles": True})
    page.fill("#ns-search", PAYLOADS[0][:12])
    page.keyboard.press("Enter")
    text = page.locator("body").inner_text()
    assert PAYLOADS[6] in text or PAYLOADS[3] in page.locator("#ns-svg").text_content()
    kinds = page.evaluate("[...document.querySelectorAll('#ns-svg .ns-node')].map(n => n.getAttribute('data-kind'))")
    assert PAYLOADS[0] in kinds  # the crafted kind is an attribute value, not markup
    assert "function Object()" not in text and "[native code]" not in text
    assert page.console_errors == []
    assert_no_script_ran(page, dialogs)


def test_graph_viewer_page_runs_under_its_own_policy(tmp_path, guarded):
    open_, dialogs = guarded
    path = tmp_path / "graph.html"
    path.write_text(render_html(hostile_graph()))
    page = open_(path, bypass_csp=False)
    page.wait_for_selector("#ns-svg .ns-node")  # the viewer's own script ran
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
    assert_no_script_ran(page, dialogs)


def test_head_view_shows_tokens_and_layer_names_as_text(tmp_path, guarded):
    open_, dialogs = guarded
    from neuralscope.attention.maps import AttentionMaps

    tokens = PAYLOADS[:4] + PROTO_KEYS[:2]
    w = np.random.default_rng(0).random((1, 2, 2, len(tokens), len(tokens))).astype(np.float32)
    maps = AttentionMaps(w / w.sum(-1, keepdims=True), [PAYLOADS[0], PAYLOADS[3]], tokens=[tokens])
    path = tmp_path / "heads.html"
    path.write_text(maps.to_html())
    page = open_(path)
    page.wait_for_selector("#hv-svg")
    page.select_option("#hv-layer", "1")
    text = page.locator("body").inner_text()
    assert PAYLOADS[3] in text and PAYLOADS[0] in text
    assert_no_script_ran(page, dialogs)


def test_embedding_page_shows_labels_and_texts_as_text(tmp_path, guarded):
    open_, dialogs = guarded
    from neuralscope.inspect.embedding import embed

    n = 12
    pts = np.random.default_rng(0).normal(size=(n, 3))
    labels = [PAYLOADS[i % 4] if i % 3 else PROTO_KEYS[i % 2] for i in range(n)]
    e = embed(pts, labels=labels, texts=[PAYLOADS[(i + 1) % len(PAYLOADS)] for i in range(n)])
    path = tmp_path / "emb.html"
    path.write_text(e.to_html())
    page = open_(path)
    canvas = page.locator("canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    for fx in np.linspace(0.1, 0.9, 9):  # hover across the plot: tooltips show texts
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fx)
    text = page.locator("body").inner_text()
    assert PAYLOADS[0] in text and "function Object()" not in text
    assert_no_script_ran(page, dialogs)


def test_animation_player_shows_labels_as_text(tmp_path, guarded):
    open_, dialogs = guarded
    from neuralscope.inspect.weights import weight_heatmap
    from neuralscope.plot.animation import animate

    frames = [weight_heatmap(np.eye(3) * s) for s in (1, 2, 3)]
    a = animate(frames, [PAYLOADS[3], PAYLOADS[0], PAYLOADS[4]], title=PAYLOADS[1])
    path = tmp_path / "anim.html"
    path.write_text(a.to_html())
    page = open_(path)
    page.wait_for_selector(".ns-label")
    assert page.locator(".ns-label").inner_text().startswith(PAYLOADS[3])
    page.locator(".ns-slider").fill("1")
    assert page.locator(".ns-label").inner_text().startswith(PAYLOADS[0])
    assert_no_script_ran(page, dialogs)


def test_run_table_export_shows_names_and_config_keys_as_text(tmp_path, guarded):
    open_, dialogs = guarded
    from neuralscope.track import runs

    for i, p in enumerate(PAYLOADS[:3]):
        with Run(tmp_path / "root" / f"r{i}{p.replace('/', '_')}", config={p: p, "constructor": i}) as run:
            run.log({p[:50] or "x": float(i)}, step=0)
    path = tmp_path / "runs.html"
    path.write_text(runs(tmp_path / "root").to_html())
    page = open_(path)
    text = page.locator("body").inner_text()
    assert PAYLOADS[0] in text and "function Object()" not in text
    assert_no_script_ran(page, dialogs)


# -- the dashboard ------------------------------------------------------------------------------
# Every dashboard page under its policy with hostile names: tests/test_fuzz_names.py.


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory):
    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    root = tmp_path_factory.mktemp("hostile")
    with Run(root / ("run" + PAYLOADS[0].replace("/", "_")),
             config={"constructor": 1, "__proto__": 2, "toString": 3, PAYLOADS[1]: PAYLOADS[3]}) as run:
        for i in range(5):
            run.log({PAYLOADS[0]: float(i), "constructor": float(i), "__proto__/x": float(-i)}, step=i)
        run.log_histogram(PAYLOADS[3], np.arange(20.0) * 1.5, step=0)
        run.log_text(PAYLOADS[2], PAYLOADS[3])
        run.log_result(hostile_graph(), name=PAYLOADS[1])
    with Run(root / "plain", config={"lr": 0.1}) as run:
        run.log({"loss": 1.0}, step=0)
    return root


@pytest.fixture(scope="module")
def dash(hostile_runs):
    with serve_in_background(hostile_runs, poll_interval=0.2) as srv:
        yield srv


def test_runs_page_shows_prototype_named_config_keys_as_plain_values(dash, guarded):
    open_, dialogs = guarded
    srv = dash
    page = open_(srv.url + "#/runs", bypass_csp=False)
    page.wait_for_selector("#runs-table tbody tr")
    heads = page.locator("#runs-table th.cfg").all_inner_texts()
    assert {"constructor", "toString"} <= set(heads)
    plain = page.locator("#runs-table tr[data-run='plain'] td.cfg").all_inner_texts()
    assert [c for k, c in zip(heads, plain) if k != "lr"] == [""] * (len(heads) - 1)  # none of these keys
    col = heads.index("constructor")
    hostile = page.locator("#runs-table tbody tr").filter(has_not_text="plain").first
    assert hostile.locator("td.cfg").nth(col).inner_text() == "1"
    assert_no_script_ran(page, dialogs)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 2600, "height": 300})
    page.screenshot(path=str(SHOTS / "runs-hostile-names.png"))


def test_dashboard_graph_frame_shows_the_crafted_graph_as_text(dash, guarded):
    open_, dialogs = guarded
    srv = dash
    page = open_(srv.url + "#/graph", bypass_csp=False)
    page.wait_for_selector("iframe.graph-frame")
    sandbox = page.get_attribute("iframe.graph-frame", "sandbox").split()
    assert "allow-scripts" in sandbox and not {"allow-top-navigation", "allow-modals", "allow-popups",
                                               "allow-forms"} & set(sandbox)
    frame = page.frame_locator("iframe.graph-frame")
    frame.locator("#ns-svg .ns-node").first.wait_for(timeout=15_000)
    for node in frame.locator("#ns-svg .ns-node").all():
        node.hover()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
    assert_no_script_ran(page, dialogs)
