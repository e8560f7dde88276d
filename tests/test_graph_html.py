"""The standalone interactive graph viewer, opened in headless Chromium.

The page computes its own visible graph in JavaScript and lays it out with layout.js (the
layout the static renderers run too); these tests hold it to the
Python model (``Graph.view`` gives the same visible nodes and edges for the same expansion
state) and to geometric promises a reader relies on (no two nodes overlap, every box holds its
members, no edge runs through a node it does not touch).
"""
from __future__ import annotations

import html as htmlmod
import re
import time

import pytest
import torch

from neuralscope import zoo
from neuralscope.graph.api import graph
from neuralscope.graph.layout import synthetic_graph
from neuralscope.graph.model import Graph, Node, TensorMeta
from neuralscope.graph.render_html import auto_depth, render_html, visible_count

SHOTS = "/tmp/html"


def _build(name: str) -> Graph:
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision

        # 32x32 keeps the shape-recording forward cheap; the structure is the same at 224
        model, x = torchvision.models.resnet50().eval(), torch.rand(1, 3, 32, 32)
    else:
        model = getattr(zoo, name)().eval()
        x = model.example_input(2)
    # the transformer's encoder has Python control flow that fx cannot trace; the hook reader
    # gives the same structure as torch.export in a fraction of export's cold-start time
    return graph(model, x, method="hooks" if name == "TinyTransformer" else "auto")


class _Graphs(dict):
    """Graphs of the test models, built on first use. Under pytest-xdist the workers of one run
    share them through a pickle in the run's temporary directory, so only one worker pays for
    torchvision's import and the forward passes."""

    def __init__(self, shared_dir):
        super().__init__()
        self.shared_dir = shared_dir

    def __missing__(self, name):
        if self.shared_dir is None:
            self[name] = _build(name)
            return self[name]
        import pickle

        from filelock import FileLock

        path = self.shared_dir / f"neuralscope-html-{name}.pickle"
        with FileLock(str(path) + ".lock"):
            if path.exists():
                g = pickle.loads(path.read_bytes())
            else:
                g = _build(name)
                path.write_bytes(pickle.dumps(g))
        self[name] = g
        return g


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, worker_id):
    # the parent of a worker's base temp is unique to this test run and common to its workers
    shared = tmp_path_factory.getbasetemp().parent if worker_id != "master" else None
    return _Graphs(shared)


def open_page(page, g: Graph, tmp_path, depth=None, name="graph", **kwargs):
    path = tmp_path / f"{name}.html"
    path.write_text(render_html(g, depth=depth, **kwargs), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_function("window.neuralscopeGraph && window.neuralscopeGraph.ready", timeout=20_000)
    return page


def visible(page) -> set[str]:
    return set(page.evaluate("neuralscopeGraph.visibleNodeIds()"))


def shot(page, name):
    import os

    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png")


GEOMETRY = """() => {
  const g = window.neuralscopeGraph, ids = g.visibleNodeIds();
  const boxes = ids.map(id => [id, g.nodeBox(id)]);
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i][1], b = boxes[j][1];
    if (a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5 && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5)
      overlaps.push([boxes[i][0], boxes[j][0]]);
  }
  // every visible node lies inside every expanded box around it
  const outside = [];
  for (const [id, b] of boxes) {
    const grp = document.querySelector(`.ns-node[data-id="${CSS.escape(id)}"]`).getAttribute('data-group');
    const parts = grp ? grp.split('.') : [];
    for (let k = 1; k <= parts.length; k++) {
      const c = g.clusterBox(parts.slice(0, k).join('.'));
      if (!c || b.x < c.x || b.y < c.y || b.x + b.w > c.x + c.w + 0.01 || b.y + b.h > c.y + c.h + 0.01)
        outside.push([id, parts.slice(0, k).join('.')]);
    }
  }
  // sample every edge path; no sample may fall inside a node the edge does not connect, nor
  // inside a box that holds neither of its ends
  const crossings = [], boxCrossings = [];
  const prefixes = p => { const parts = p ? p.split('.') : []; return parts.map((_, k) => parts.slice(0, k + 1).join('.')); };
  const baseOf = id => document.querySelector(`.ns-node[data-id="${CSS.escape(id)}"]`).getAttribute('data-group');
  const clusters = g.visibleGroups().map(p => [p, g.clusterBox(p)]);
  for (const el of document.querySelectorAll('.ns-edge')) {
    const src = el.getAttribute('data-src'), dst = el.getAttribute('data-dst');
    const allowed = new Set([...prefixes(baseOf(src)), ...prefixes(baseOf(dst))]);
    const p = el.querySelector('.ns-edge-line'), len = p.getTotalLength();
    for (let s = 0; s <= len; s += 4) {
      const q = p.getPointAtLength(s);
      for (const [id, b] of boxes) {
        if (id === src || id === dst) continue;
        if (q.x > b.x + 2 && q.x < b.x + b.w - 2 && q.y > b.y + 2 && q.y < b.y + b.h - 2) {
          crossings.push([src, dst, id]); break;
        }
      }
      for (const [path, c] of clusters) {
        if (allowed.has(path)) continue;
        if (q.x > c.x + 2 && q.x < c.x + c.w - 2 && q.y > c.y + 2 && q.y < c.y + c.h - 2) {
          boxCrossings.push([src, dst, path]); break;
        }
      }
    }
  }
  const uniq = a => [...new Set(a.map(c => c.join(' ')))];
  return {overlaps, outside, crossings: uniq(crossings), boxCrossings: uniq(boxCrossings)};
}"""


@pytest.mark.parametrize("name,depth", [("TinyResNet", None), ("DigitsCNN", None),
                                        ("TinyTransformer", None), ("resnet50", 2)])
def test_page_shows_the_same_visible_graph_as_python_view_without_errors(graphs, page, tmp_path, name, depth):
    g = graphs[name]
    open_page(page, g, tmp_path, depth=depth, name=name)
    shot(page, f"{name}_depth{depth}")
    assert page.console_errors == []
    want = g.view(depth)
    assert visible(page) == {n.id for n in want.nodes}
    assert page.locator("#ns-viewport .ns-node").count() == len(want.nodes)
    assert page.locator("#ns-viewport .ns-edge").count() == len(want.edges)
    assert set(page.evaluate("neuralscopeGraph.visibleGroups()")) == {c.path for c in want.clusters}
    # the drawing is real: non-empty SVG geometry, labels present
    bbox = page.evaluate("document.getElementById('ns-viewport').getBBox().width")
    assert bbox > 100
    assert f"parameters\t{g.total_params:,}" in page.locator("#ns-totals").inner_text()


@pytest.mark.parametrize("name,depth", [("TinyResNet", None), ("TinyTransformer", None), ("resnet50", 3)])
def test_layout_has_no_overlaps_boxes_hold_members_and_edges_avoid_nodes(graphs, page, tmp_path, name, depth):
    open_page(page, graphs[name], tmp_path, depth=depth, name=name)
    geo = page.evaluate(GEOMETRY)
    assert geo["overlaps"] == []
    assert geo["outside"] == []
    assert geo["crossings"] == []
    assert geo["boxCrossings"] == []


def test_the_page_lays_out_with_the_layout_that_static_pictures_use(graphs, page, tmp_path, monkeypatch):
    # one layout for both sides: what the page computed for the view it shows (after an expand
    # too) is exactly what layout.js gives in the embedded V8 that Graph.to_svg runs, and the
    # page hands it the same structure in the same order as Python does (only the sizes differ:
    # each side measures its own text)
    from neuralscope.graph import layout as layout_mod
    from neuralscope.graph.layout import run_layout_js

    open_page(page, graphs["resnet50"], tmp_path, depth=2, name="resnet50")
    page.evaluate("neuralscopeGraph.expand('layer1.0')")
    last = page.evaluate("neuralscopeGraph.lastLayout")
    assert "layer1.0" in page.evaluate("neuralscopeGraph.visibleGroups()")
    assert len(last["graph"]["clusters"]["parent"]) >= 2 and len(last["output"]["nodeX"]) > 10
    assert run_layout_js(last["graph"], last["options"]) == last["output"]
    handed = []
    monkeypatch.setattr(layout_mod, "run_layout_js", lambda graph, options: handed.append(graph) or run_layout_js(graph, options))
    layout_mod.layout(graphs["resnet50"].view(2, expand=["layer1.0"]))
    ours, theirs = handed[0], last["graph"]
    assert ours["nodes"]["home"] == theirs["nodes"]["home"]
    assert ours["clusters"]["parent"] == theirs["clusters"]["parent"]
    assert (ours["edges"]["src"], ours["edges"]["dst"]) == (theirs["edges"]["src"], theirs["edges"]["dst"])
    # and the page draws those positions (20 px margin around the drawing)
    k = last["ids"].index("layer1.0.conv1")
    box = page.evaluate("neuralscopeGraph.nodeBox('layer1.0.conv1')")
    assert box["x"] + box["w"] / 2 == pytest.approx(last["output"]["nodeX"][k] + 20, abs=1e-9)
    assert box["y"] + box["h"] / 2 == pytest.approx(last["output"]["nodeY"][k] + 20, abs=1e-9)


def test_clicking_a_box_title_collapses_it_and_clicking_the_node_expands_it(graphs, page, tmp_path):
    g = graphs["TinyResNet"]
    open_page(page, g, tmp_path)
    before = visible(page)
    inside = {n.id for n in g.nodes.values() if (n.module or "").startswith("layer1.")}
    assert "group:layer1" not in before and inside and inside <= before
    page.click('.ns-cluster-title[data-path="layer1"]')
    collapsed = visible(page)
    assert collapsed == {n.id for n in g.view(collapse=["layer1"]).nodes}
    assert "group:layer1" in collapsed and len(collapsed) < len(before)
    shot(page, "TinyResNet_layer1_collapsed")
    page.click('.ns-node[data-collapsed="layer1"]')
    assert visible(page) == before
    assert page.console_errors == []


def test_expand_api_and_depth_buttons_follow_python_view(graphs, page, tmp_path):
    g = graphs["resnet50"]
    open_page(page, g, tmp_path, depth=1, name="r50")
    assert visible(page) == {n.id for n in g.view(1).nodes}
    page.evaluate("neuralscopeGraph.expand('layer2')")
    assert visible(page) == {n.id for n in g.view(1, expand=["layer2"]).nodes}
    page.evaluate("neuralscopeGraph.expand('layer2.1')")
    assert visible(page) == {n.id for n in g.view(1, expand=["layer2", "layer2.1"]).nodes}
    page.evaluate("neuralscopeGraph.collapse('layer2')")
    assert visible(page) == {n.id for n in g.view(1).nodes}
    page.click('#ns-depth button[data-depth="all"]')
    assert visible(page) == {n.id for n in g.view().nodes}
    page.click('#ns-depth button[data-depth="2"]')
    assert visible(page) == {n.id for n in g.view(2).nodes}
    assert page.console_errors == []


def test_fold_repeats_shows_xN_nodes_like_python_view(graphs, page, tmp_path):
    g = graphs["resnet50"]
    open_page(page, g, tmp_path, depth=2, name="r50")
    page.check("#ns-fold")
    want = g.view(2, fold_repeats=True)
    assert visible(page) == {n.id for n in want.nodes}
    repeats = {n.id: n.repeat for n in want.nodes if n.repeat > 1}
    assert repeats == {"group:layer1.1": 2, "group:layer2.1": 3, "group:layer3.1": 5, "group:layer4.1": 2}
    for node_id, k in repeats.items():
        el = page.locator(f'.ns-node[data-id="{node_id}"]')
        assert el.get_attribute("data-repeat") == str(k)
        assert f"×{k}" in el.text_content()
    shot(page, "resnet50_folded")
    # clicking a folded node unfolds the run into its blocks
    page.click('.ns-node[data-id="group:layer3.1"]')
    assert {f"group:layer3.{i}" for i in range(1, 6)} <= visible(page)
    assert page.console_errors == []


def test_search_finds_a_node_inside_collapsed_groups_highlights_and_centres_it(graphs, page, tmp_path):
    g = graphs["resnet50"]
    open_page(page, g, tmp_path, depth=1, name="r50")
    target = next(n for n in g.nodes.values() if n.module == "layer3.4.conv2")
    assert target.id not in visible(page)
    page.fill("#ns-search", "layer3.4.conv2")
    page.press("#ns-search", "Enter")
    page.wait_for_selector(f'.ns-node.ns-current[data-id="{target.id}"]')
    assert target.id in visible(page)
    assert page.locator("#ns-search-status").inner_text() == "1 / 1"
    # centred: the highlighted node sits in the middle of the canvas
    box = page.locator(f'.ns-node[data-id="{target.id}"]').bounding_box()
    canvas = page.locator("#ns-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert abs(cx - (canvas["x"] + canvas["width"] / 2)) < 30
    assert abs(cy - (canvas["y"] + canvas["height"] / 2)) < 30
    shot(page, "resnet50_search")
    # the list under the box: pick the third downsample conv with the mouse
    page.fill("#ns-search", "downsample.0")
    page.wait_for_function("document.getElementById('ns-search-status').textContent === '1 / 4'")
    rows = page.locator("#ns-results .ns-result")
    assert rows.count() == 4  # one per stage of ResNet-50
    pick = rows.nth(2).locator(".ns-result-name").inner_text()
    rows.nth(2).click()
    picked = next(n for n in g.nodes.values() if n.module == pick)
    page.wait_for_selector(f'.ns-node.ns-current[data-id="{picked.id}"]')
    assert page.locator("#ns-search-status").inner_text() == "3 / 4"
    # by type: every Linear is found; the API returns the matches
    ids = page.evaluate("neuralscopeGraph.search('linear')")
    assert set(ids) >= {n.id for n in g.nodes.values() if n.op == "Linear"}
    page.fill("#ns-search", "no-such-layer")
    page.press("#ns-search", "Enter")
    assert page.locator("#ns-search-status").inner_text() == "no match"
    assert page.console_errors == []


def test_hovering_a_node_and_an_edge_shows_shapes(graphs, page, tmp_path):
    g = graphs["TinyResNet"]
    open_page(page, g, tmp_path)
    conv = next(n for n in g.nodes.values() if n.module == "layer2.0.conv1")
    page.evaluate("(id) => neuralscopeGraph.focus(id)", conv.id)
    page.hover(f'.ns-node[data-id="{conv.id}"]')
    tip = page.locator("#ns-tooltip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "layer2.0.conv1" in text and "Conv2d" in text
    assert conv.outputs[0].shape_text() in text and conv.inputs[0].shape_text() in text
    assert f"{conv.params:,}" in text and "trainable" in text
    shot(page, "TinyResNet_hover_node")
    # an edge: hover a point on its path
    page.click("#ns-fit")
    edge = page.locator(".ns-edge").nth(3)
    src, dst = edge.get_attribute("data-src"), edge.get_attribute("data-dst")
    pt = page.evaluate("""(i) => { const p = document.querySelectorAll('.ns-edge .ns-edge-line')[i];
        const q = p.getPointAtLength(p.getTotalLength() / 2), m = p.getScreenCTM();
        return [q.x * m.a + m.e, q.y * m.d + m.f]; }""", 3)
    page.mouse.move(*pt)
    shape = next(e.tensor for e in g.view().edges if e.src == src and e.dst == dst)
    assert shape.shape_text() in tip.inner_text()
    assert page.console_errors == []


def test_pan_zoom_and_fit(graphs, page, tmp_path):
    open_page(page, graphs["resnet50"], tmp_path, depth=2, name="r50")
    t0 = page.evaluate("neuralscopeGraph.transform()")
    page.mouse.move(400, 400)
    page.mouse.wheel(0, -300)
    t1 = page.evaluate("neuralscopeGraph.transform()")
    assert t1["scale"] > t0["scale"] * 1.3
    page.mouse.move(300, 500)
    page.mouse.down()
    page.mouse.move(420, 430, steps=5)
    page.mouse.up()
    t2 = page.evaluate("neuralscopeGraph.transform()")
    assert t2["tx"] == pytest.approx(t1["tx"] + 120, abs=1) and t2["ty"] == pytest.approx(t1["ty"] - 70, abs=1)
    page.click("#ns-fit")
    vb = page.locator("#ns-viewport").bounding_box()
    canvas = page.locator("#ns-canvas").bounding_box()
    assert vb["x"] >= canvas["x"] - 1 and vb["y"] >= canvas["y"] - 1
    assert vb["x"] + vb["width"] <= canvas["x"] + canvas["width"] + 1
    assert vb["y"] + vb["height"] <= canvas["y"] + canvas["height"] + 1
    s = page.evaluate("neuralscopeGraph.transform().scale")
    page.click("#ns-zoom-in")
    assert page.evaluate("neuralscopeGraph.transform().scale") == pytest.approx(s * 1.25, rel=1e-3)
    assert page.console_errors == []


def test_10000_node_graph_opens_fast_at_depth_1_and_expands_lazily(page, tmp_path):
    g = synthetic_graph(10_000)
    assert len(g.nodes) >= 9_900
    path = tmp_path / "big.html"
    path.write_text(render_html(g, depth=1), encoding="utf-8")
    t = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_function("window.neuralscopeGraph && window.neuralscopeGraph.ready", timeout=30_000)
    elapsed = time.perf_counter() - t
    # the printed time is the measurement (about 1 s on a quiet machine); these bounds only
    # catch blow-ups, as CI runs this beside another test worker on 2 cores
    print(f"10,000-node page opened in {elapsed:.2f} s")
    assert elapsed < 20.0, f"10,000-node page took {elapsed:.1f} s to open"
    assert visible(page) == {n.id for n in g.view(1).nodes}
    # expanding one stage lays out only what became visible
    stage = next(p for p in g.groups if p and "." not in p)
    t = time.perf_counter()
    page.evaluate(f"neuralscopeGraph.expand('{stage}')")
    assert time.perf_counter() - t < 10.0
    assert visible(page) == {n.id for n in g.view(1, expand=[stage]).nodes}
    shot(page, "synthetic10000_depth1")
    # everything open: 10,000 nodes laid out, only the part around the viewport in the DOM
    t = time.perf_counter()
    ids = page.evaluate("neuralscopeGraph.expandAll()")
    assert time.perf_counter() - t < 20.0
    assert set(ids) == set(g.nodes)
    drawn = page.locator("#ns-viewport .ns-node").count()
    assert 0 < drawn < 1_000
    far = list(g.nodes)[-3]
    assert page.locator(f'.ns-node[data-id="{far}"]').count() == 0
    page.evaluate("(id) => neuralscopeGraph.focus(id)", far)
    assert page.locator(f'.ns-node[data-id="{far}"]').is_visible()
    shot(page, "synthetic10000_expanded_end")
    assert page.console_errors == []


def test_page_is_self_contained_and_makes_no_network_requests(graphs, page, tmp_path):
    text = render_html(graphs["TinyResNet"])
    assert "<script src" not in text and "<link" not in text
    assert set(re.findall(r"https?://[^\s\"']+", text)) == {"http://www.w3.org/2000/svg"}  # a namespace, not a fetch
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, graphs["TinyResNet"], tmp_path)
    assert all(u.startswith("file://") for u in requests), requests
    assert len(requests) == 1


def test_names_with_markup_are_escaped(page, tmp_path):
    g = Graph("</script><b>evil</b>", method="manual")
    g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 3), "float32")]))
    g.add_node(Node("m<i>", "module", "<img src=x onerror=alert(1)>", "Linear", module="a<b>", params=12,
                    trainable_params=12, attrs={"note": "</script>"}))
    g.add_edge("x", "m<i>", TensorMeta((1, 3), "float32"))
    open_page(page, g, tmp_path)
    assert visible(page) == {"x", "m<i>"}
    assert page.locator("#ns-title").inner_text() == "</script><b>evil</b>"
    assert page.locator("#ns-viewport img").count() == 0
    assert page.console_errors == []


def test_repr_html_is_an_iframe_whose_page_runs(graphs, page):
    g = graphs["DigitsCNN"]
    snippet = g._repr_html_()
    assert snippet.startswith("<iframe srcdoc=")
    page.set_content(f"<html><body>{snippet}</body></html>")
    frame = page.frame_locator("iframe")
    frame.locator("#ns-viewport .ns-node").first.wait_for()
    inner = page.frames[1]
    inner.wait_for_function("window.neuralscopeGraph && window.neuralscopeGraph.ready")
    assert set(inner.evaluate("neuralscopeGraph.visibleNodeIds()")) == {n.id for n in g.view().nodes}
    assert htmlmod.unescape(snippet.split('srcdoc="', 1)[1].split('"', 1)[0]) == g.to_html()
    assert page.console_errors == []


def test_auto_depth_keeps_big_graphs_small_and_small_graphs_whole(graphs):
    assert auto_depth(graphs["TinyResNet"]) is None
    g = synthetic_graph(10_000)
    d = auto_depth(g, limit=400)
    assert d is not None and visible_count(g, d) <= 400
    assert visible_count(g, d) == len(g.view(d).nodes)
    assert visible_count(g, d + 1) > 400 or d + 1 > max(grp.depth for grp in g.groups.values())
    with pytest.raises(ValueError, match="depth"):
        render_html(g, depth=0)


def test_initial_expand_and_collapse_options_match_python_view(graphs, page, tmp_path):
    from neuralscope.errors import LayerNotFoundError

    g = graphs["TinyResNet"]
    open_page(page, g, tmp_path, depth=1, expand=["layer2", "layer2.0"], collapse=["stem"])
    assert visible(page) == {n.id for n in g.view(1, expand=["layer2", "layer2.0"], collapse=["stem"]).nodes}
    with pytest.raises(LayerNotFoundError, match="layer3"):
        render_html(g, expand=["layer3"])
    assert page.console_errors == []


def test_a_module_called_twice_and_an_empty_graph_still_draw(page, tmp_path):
    # enc runs, then an op outside it, then enc again: at the top level the data flows
    # enc -> mid -> enc, a cycle the layout must break without losing an edge
    t = TensorMeta((1, 4), "float32")
    g = Graph("twice", method="manual")
    g.add_node(Node("x", "input", "x", "input", outputs=[t]))
    g.set_group("enc", "Encoder", 20, 20)
    g.add_node(Node("enc.fc", "module", "fc", "Linear", group="enc", module="enc.fc", inputs=[t], outputs=[t], params=20, trainable_params=20))
    g.add_node(Node("mid", "op", "tanh", "tanh", inputs=[t], outputs=[t]))
    g.add_node(Node("enc.fc_1", "module", "fc", "Linear", group="enc", module="enc.fc", inputs=[t], outputs=[t]))
    g.add_node(Node("out", "output", "output", "output", inputs=[t]))
    for a, b in [("x", "enc.fc"), ("enc.fc", "mid"), ("mid", "enc.fc_1"), ("enc.fc_1", "out")]:
        g.add_edge(a, b, t)
    open_page(page, g, tmp_path, name="twice")
    assert visible(page) == set(g.nodes)
    assert page.locator(".ns-edge").count() == 4
    geo = page.evaluate(GEOMETRY)
    assert geo["overlaps"] == [] and geo["outside"] == []
    page.click('.ns-cluster-title[data-path="enc"]')
    assert visible(page) == {"x", "group:enc", "mid", "out"}
    assert page.console_errors == []

    open_page(page, Graph("empty", method="manual"), tmp_path, name="empty")
    assert visible(page) == set()
    assert page.locator("#ns-empty").is_visible()
    assert page.console_errors == []


def test_export_svg_holds_the_whole_current_view_and_parses(graphs, page, tmp_path):
    import xml.etree.ElementTree as ET

    g = graphs["TinyResNet"]
    open_page(page, g, tmp_path, depth=2)
    with page.expect_download() as dl:
        page.click("#ns-export")
    path = tmp_path / "export.svg"
    dl.value.save_as(path)
    root = ET.parse(path).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    ids = {el.get("data-id") for el in root.iterfind(".//s:g[@data-id]", ns)}
    assert ids == {n.id for n in g.view(2).nodes}
    assert len(root.findall(".//s:g[@class='ns-edge']", ns)) == len(g.view(2).edges)


def test_a_long_flat_chain_with_skips_stays_narrow(page, tmp_path):
    # 2,000 ops at the top level, a third of them fed by a short skip as well: the layout must
    # not drift sideways layer after layer (a greedy placement that only follows neighbours does)
    import random

    rng = random.Random(0)
    t = TensorMeta((1, 64), "float32")
    g = Graph("flat", method="manual")
    g.add_node(Node("n0", "input", "x", "input", outputs=[t]))
    for i in range(1, 2000):
        g.add_node(Node(f"n{i}", "op", f"op{i}", rng.choice(["add", "mul", "relu"]), outputs=[t]))
        g.add_edge(f"n{i - 1}", f"n{i}", t)
        if i > 5 and rng.random() < 0.3:
            g.add_edge(f"n{i - rng.randint(2, 5)}", f"n{i}", t)
    open_page(page, g, tmp_path, name="flat")
    xs = page.evaluate("neuralscopeGraph.visibleNodeIds().map(i => neuralscopeGraph.nodeBox(i).x)")
    assert len(xs) == 2000
    assert max(xs) - min(xs) < 1_000, "the chain drifted sideways"
    assert page.console_errors == []
