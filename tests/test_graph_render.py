"""Static renderers of structure graphs: SVG (valid XML, one box per node, tooltips, colours
by family), DOT (parsed by pydot), Mermaid (the official parser in headless Chromium when
the npm package is available, and a strict grammar check of our own), matplotlib PNG, and
Graph.save for every suffix."""
from __future__ import annotations

import doctest
import importlib
import json
import os
from pathlib import Path
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from neuralscope.errors import FileFormatError
from neuralscope.graph.layout import node_family, synthetic_graph
from neuralscope.graph.model import Graph, Node, TensorMeta
from neuralscope.graph.render_svg import render_svg
from neuralscope.graph.render_text import render_dot, render_mermaid

SVG_NS = "{http://www.w3.org/2000/svg}"
ZOO = ["MLP", "DigitsCNN", "RNNClassifier", "TinyTransformer", "TinyResNet"]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# The official parser: the npm package mermaid, a dev dependency of web/ (installed by `make setup`).
MERMAID_JS = os.environ.get("NEURALSCOPE_MERMAID_JS", str(
    Path(__file__).resolve().parents[1] / "web" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"))


@pytest.fixture(scope="module")
def graphs():
    from neuralscope import zoo
    from neuralscope.graph.api import graph

    torch.manual_seed(0)
    out = {}
    for name in ZOO:
        model = getattr(zoo, name)()
        out[name] = graph(model, model.example_input(1))
    return out


@pytest.fixture(scope="module")
def resnet50():
    import torchvision

    from neuralscope.graph.api import graph

    torch.manual_seed(0)
    return graph(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))


def _views(g):
    return [g.view(), g.view(1), g.view(fold_repeats=True)]


def _awkward_graph():
    """Names with every character that DOT, Mermaid or XML treat specially."""
    g = Graph('we"ird <model> & co', method="manual")
    t = TensorMeta((1, 3), "float32")
    g.add_node(Node("in#1", "input", 'x "raw"', "input", outputs=[t]))
    g.set_group("blk<a>", "Block & Co")
    g.add_node(Node("blk<a>.f{1}", "module", "Linear", "Linear", group="blk<a>", outputs=[t], params=12))
    g.add_node(Node("end", "op", "a|b;c", "a|b;c", outputs=[TensorMeta(None)]))
    g.add_node(Node("subgraph", "output", "end", "output", inputs=[t]))
    g.add_edge("in#1", "blk<a>.f{1}", t)
    g.add_edge("blk<a>.f{1}", "end", t)
    g.add_edge("end", "subgraph", TensorMeta(None))
    return g


# -- layout of real models (the properties are asserted in test_graph_layout.check_layout) ----

@pytest.mark.parametrize("name", ZOO)
def test_layout_properties_on_zoo_models(graphs, name):
    from test_graph_layout import check_layout

    from neuralscope.graph.layout import layout

    for view in _views(graphs[name]):
        check_layout(layout(view))


def test_layout_properties_on_resnet50(resnet50):
    from test_graph_layout import check_layout

    from neuralscope.graph.layout import layout

    for view in (resnet50.view(), resnet50.view(2)):
        check_layout(layout(view))


# -- SVG ---------------------------------------------------------------------------------------

def _check_svg(svg: str, view):
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == SVG_NS + "svg"
    nodes = [g for g in root.iter(SVG_NS + "g") if (g.get("class") or "").startswith("n ")]
    assert [g.get("data-id") for g in nodes] == [n.id for n in view.nodes]
    for g, n in zip(nodes, view.nodes):
        assert g.find(SVG_NS + "title") is not None and g.find(SVG_NS + "title").text
        assert g.get("class") == f"n {node_family(n)}"
    clusters = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "c"]
    assert sorted(c.get("data-path") for c in clusters) == sorted(c.path for c in view.clusters)
    edges = [p for p in root.iter(SVG_NS + "path") if p.get("class") in ("e", "eb")]
    assert len(edges) == len(view.edges)
    w, h = float(root.get("width")), float(root.get("height"))
    assert w > 0 and h > 0


@pytest.mark.parametrize("name", ZOO)
def test_svg_is_valid_xml_with_one_box_and_tooltip_per_node(graphs, name):
    for view in _views(graphs[name]):
        _check_svg(render_svg(view), view)


def test_svg_escapes_special_characters():
    g = _awkward_graph()
    svg = g.to_svg()
    _check_svg(svg, g.view())
    assert 'x "raw"' in ET.fromstring(svg).find(f".//{SVG_NS}g[@data-id='in#1']/{SVG_NS}text").text


def test_svg_of_resnet50_full_and_at_depth_2(resnet50):
    for view in (resnet50.view(), resnet50.view(2)):
        svg = render_svg(view)
        _check_svg(svg, view)
    assert len(resnet50.view(2).nodes) < len(resnet50.view().nodes)


def test_svg_colours_follow_the_op_family(graphs):
    svg = graphs["TinyResNet"].to_svg()
    root = ET.fromstring(svg)
    fams = {g.get("class").split()[1] for g in root.iter(SVG_NS + "g") if (g.get("class") or "").startswith("n ")}
    assert {"conv", "norm", "activation", "op", "input", "output", "pooling", "linear"} <= fams
    fill = {g.get("class"): g.find(SVG_NS + "rect").get("fill")
            for g in root.iter(SVG_NS + "g") if (g.get("class") or "").startswith("n ")}
    assert fill["n conv"] != fill["n norm"] != fill["n activation"]


def test_folded_repeats_are_drawn_as_a_stack_marked_with_the_count():
    g = synthetic_graph(200, blocks_per_stage=10)  # stages 0 and 1 are identical, stage 2 is shorter
    view = g.view(2, fold_repeats=True)
    assert sorted(n.repeat for n in view.nodes if n.repeat > 1) == [2, 8]
    root = ET.fromstring(g.to_svg(2, fold_repeats=True))
    folded = {n.get("data-id"): n for n in root.iter(SVG_NS + "g") if n.get("class") == "n group"}
    for n in view.nodes:
        if n.repeat > 1:
            assert f"×{n.repeat}" in "".join(folded[n.id].itertext())
            assert len(folded[n.id].findall(SVG_NS + "rect")) == 3


# -- DOT ---------------------------------------------------------------------------------------

def _parse_dot(text):
    pydot = pytest.importorskip("pydot")
    parsed = pydot.graph_from_dot_data(text)
    assert parsed, "pydot could not parse the DOT text"
    return parsed[0]


def _dot_counts(graph):
    nodes, edges, clusters = 0, 0, 0
    stack = [graph]
    while stack:
        g = stack.pop()
        nodes += len([n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")])
        edges += len(g.get_edges())
        subs = g.get_subgraphs()
        clusters += sum(1 for s in subs if s.get_name().startswith("cluster_"))
        stack.extend(subs)
    return nodes, edges, clusters


@pytest.mark.parametrize("name", ["MLP", "DigitsCNN", "RNNClassifier", "TinyResNet"])
def test_dot_parses_with_pydot_and_keeps_nodes_edges_clusters(graphs, name):
    # pydot's pyparsing grammar is slow: the full view for each model, depth 1 for one
    for view in [graphs[name].view()] + ([graphs[name].view(1)] if name == "TinyResNet" else []):
        nodes, edges, clusters = _dot_counts(_parse_dot(render_dot(view)))
        assert (nodes, edges, clusters) == (len(view.nodes), len(view.edges), len(view.clusters))


def test_dot_escapes_quotes_and_backslashes():
    g = _awkward_graph()
    dot = g.to_dot()
    parsed = _parse_dot(dot)
    labels = [n.get("label") for n in parsed.get_nodes() if n.get("label")]
    assert any('x \\"raw\\"' in lab for lab in labels)
    assert _dot_counts(parsed)[2] == 1


def test_dot_parser_rejects_broken_text():
    """The DOT check can fail: a truncated document does not parse."""
    pydot = pytest.importorskip("pydot")
    dot = render_dot(synthetic_graph(30, blocks_per_stage=2).view())
    assert not pydot.graph_from_dot_data(dot[: len(dot) // 2])


# -- Mermaid -----------------------------------------------------------------------------------

_ID = r"[A-Za-z][A-Za-z0-9_]*"
_LABEL = r'"[^"]*"'
_NODE = re.compile(rf'^({_ID})(\[{_LABEL}\]|\(\[{_LABEL}\]\)|\[\[{_LABEL}\]\]):::({_ID})$')
_EDGE = re.compile(rf'^({_ID}) -->(?:\|{_LABEL}\|)? ({_ID})$')
_SUB = re.compile(rf'^subgraph ({_ID})\[{_LABEL}\]$')
_DIR = re.compile(r"^direction (TB|TD|BT|LR|RL)$")
_CLASSDEF = re.compile(rf"^classDef ({_ID}) [a-z-]+:[^\s,;]+(,[a-z-]+:[^\s,;]+)*$")
_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "classDef", "class", "click", "linkStyle"}


def check_mermaid_grammar(text: str) -> None:
    """A strict line grammar for the subset of Mermaid flowcharts we write."""
    lines = text.rstrip("\n").split("\n")
    assert re.fullmatch(r"flowchart (TB|TD|LR)", lines[0]), lines[0]
    defined, classes, used_classes = set(), set(), set()
    depth = 0
    for raw in lines[1:]:
        line = raw.strip()
        for ent in re.findall(r"#(\w+);", line):
            assert ent in ("quot", "lt", "gt", "amp") or ent.isdigit(), ent
        if m := _NODE.match(line):
            assert m.group(1) not in defined and m.group(1) not in _RESERVED
            defined.add(m.group(1))
            used_classes.add(m.group(3))
        elif m := _SUB.match(line):
            assert m.group(1) not in defined and m.group(1) not in _RESERVED
            defined.add(m.group(1))
            depth += 1
        elif line == "end":
            depth -= 1
            assert depth >= 0, "'end' without subgraph"
        elif _DIR.match(line):
            assert depth > 0
        elif m := _EDGE.match(line):
            assert m.group(1) in defined and m.group(2) in defined, line
        elif m := _CLASSDEF.match(line):
            classes.add(m.group(1))
        else:
            raise AssertionError(f"not valid in our Mermaid grammar: {line!r}")
    assert depth == 0, "unclosed subgraph"
    assert used_classes <= classes


@pytest.mark.parametrize("name", ZOO)
def test_mermaid_follows_the_flowchart_grammar(graphs, name):
    for view in _views(graphs[name]):
        text = render_mermaid(view)
        check_mermaid_grammar(text)
        assert text.count("-->") == len(view.edges)
        assert len(re.findall(r"^\s*subgraph ", text, re.M)) == len(view.clusters)


def test_mermaid_grammar_check_can_fail():
    text = render_mermaid(_awkward_graph().view())
    check_mermaid_grammar(text)
    for broken in (text.replace("#quot;", '"', 1), text.replace("\n  end", "", 1), text + "  n0 --> n99\n"):
        with pytest.raises(AssertionError):
            check_mermaid_grammar(broken)


@pytest.fixture(scope="module")
def mermaid_page(browser):
    if not os.path.exists(MERMAID_JS):
        message = f"the npm package mermaid is not installed (looked for {MERMAID_JS}; `make setup` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page = browser.new_page()
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(path=MERMAID_JS)
    page.evaluate("() => mermaid.initialize({startOnLoad: false})")
    yield page
    page.close()


def _official_parse(page, text):
    return page.evaluate("async (t) => { try { await mermaid.parse(t); return null } "
                         "catch (e) { return String(e && e.message || e) } }", text)


def test_mermaid_is_accepted_by_the_official_parser(mermaid_page, graphs, resnet50):
    texts = [render_mermaid(v) for name in ZOO for v in _views(graphs[name])]
    texts += [render_mermaid(resnet50.view()), render_mermaid(_awkward_graph().view())]
    for text in texts:
        assert _official_parse(mermaid_page, text) is None, text[:400]
    # and the parser does reject broken text, so the check means something
    assert _official_parse(mermaid_page, texts[0].replace("-->", "-->>", 1) + "\nsubgraph") is not None


# -- matplotlib and save ----------------------------------------------------------------------

def test_plot_draws_into_a_given_axes_and_returns_it(graphs):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 8))
    out = graphs["DigitsCNN"].plot(ax=ax)
    assert out is ax and ax.get_title() == ""
    texts = [t.get_text() for t in ax.texts]
    assert any("Conv2d" in t for t in texts) and any("Linear" in t for t in texts)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    plt.close(fig)


def test_png_has_the_layouts_aspect_and_is_not_blank(tmp_path, graphs):
    from PIL import Image

    from neuralscope.graph.layout import layout

    g = graphs["TinyResNet"]
    path = g.save(tmp_path / "g.png", dpi=60)
    img = np.asarray(Image.open(path).convert("RGB"))
    lay = layout(g.view())
    assert abs(img.shape[0] / img.shape[1] - (lay.height + 32) / (lay.width + 32)) < 0.05
    assert (img < 200).any(axis=2).mean() > 0.01  # something dark was drawn


@pytest.mark.parametrize("suffix", [".svg", ".dot", ".gv", ".mmd", ".png", ".json", ".html", ".pdf"])
def test_save_every_format(tmp_path, graphs, suffix):
    g = graphs["TinyResNet"]
    path = g.save(tmp_path / f"graph{suffix}", depth=1)
    data = path.read_bytes()
    assert len(data) > 100
    if suffix == ".json":
        assert json.loads(data)["kind"] == "graph"
    if suffix == ".svg":
        _check_svg(data.decode(), g.view(1))
    if suffix in (".dot", ".gv"):
        assert _dot_counts(_parse_dot(data.decode()))[0] == len(g.view(1).nodes)
    if suffix == ".mmd":
        check_mermaid_grammar(data.decode())
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_depth_changes_what_is_drawn(tmp_path, graphs):
    g = graphs["TinyResNet"]
    full = g.save(tmp_path / "full.svg").read_text()
    top = g.save(tmp_path / "top.svg", depth=1).read_text()
    assert top.count('class="n ') == len(g.view(1).nodes) < full.count('class="n ')


def test_save_unknown_suffix_says_which_formats_work(tmp_path, graphs):
    with pytest.raises(FileFormatError, match=r"\.mmd"):
        graphs["MLP"].save(tmp_path / "graph.xyz")


@pytest.mark.parametrize("module", ["neuralscope.graph.layout", "neuralscope.graph.render_svg",
                                    "neuralscope.graph.render_text"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
