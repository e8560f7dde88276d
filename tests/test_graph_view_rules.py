"""The visibility rules (web/src/graph/view.js, run by ``Graph.view`` in the embedded V8 and by
the viewer in the browser): on a graph small enough that every answer is known by hand."""
import pytest

from neuralscope.errors import LayerNotFoundError
from neuralscope.graph.model import Graph, Node, TensorMeta

T = TensorMeta((1, 8), "float32")
U = TensorMeta((1, 16), "float32")


@pytest.fixture
def g():
    """x -> enc.0.fc -> enc.0.act -> enc.1.fc -> enc.1.act -> head -> out, and x -> head
    (a skip); enc.0 and enc.1 are identical blocks of 72 parameters each."""
    g = Graph("m", method="manual")
    g.set_group("enc", "Encoder", 144, 144)
    g.add_node(Node("x", "input", "x", "input", outputs=[T]))
    prev = "x"
    for b in (0, 1):
        g.set_group(f"enc.{b}", "Block", 72, 72)
        for name, op, params in (("fc", "Linear", 72), ("act", "ReLU", 0)):
            nid = f"enc.{b}.{name}"
            g.add_node(Node(nid, "module", name, op, group=f"enc.{b}", module=nid, inputs=[T], outputs=[T],
                            params=params, trainable_params=params))
            g.add_edge(prev, nid, T)
            prev = nid
    g.add_node(Node("head", "module", "head", "Linear", module="head", inputs=[T], outputs=[U]))
    g.add_edge(prev, "head", T)
    g.add_edge("x", "head", U)
    g.add_node(Node("out", "output", "out", "output", inputs=[U]))
    g.add_edge("head", "out", U)
    return g


def ids(view):
    return [n.id for n in view.nodes]


def test_everything_open_draws_every_node_and_every_group_as_a_box(g):
    view = g.view()
    assert ids(view) == list(g.nodes)
    assert [c.path for c in view.clusters] == ["enc", "enc.0", "enc.1"], "parents first"
    assert len(view.edges) == len(g.edges)


def test_depth_one_draws_a_group_as_one_node_that_stands_for_its_members(g):
    view = g.view(1)
    assert ids(view) == ["x", "group:enc", "head", "out"]
    enc = view.node("group:enc")
    assert enc.members == ["enc.0.fc", "enc.0.act", "enc.1.fc", "enc.1.act"]
    assert (enc.kind, enc.op, enc.params, enc.collapsed) == ("group", "Encoder", 144, "enc")
    assert view.clusters == [], "no box is open"
    # edges inside the group vanish, the ones at its border connect to it
    assert [(e.src, e.dst) for e in view.edges] == [("x", "group:enc"), ("group:enc", "head"), ("x", "head"),
                                                    ("head", "out")]
    assert enc.inputs == [T] and enc.outputs == [T], "what flows in and out of the group"


def test_edges_between_the_same_two_drawn_nodes_merge_with_a_count(g):
    g.add_edge("x", "enc.1.fc", T)  # a second edge from x into the encoder
    view = g.view(1)
    counts = {(e.src, e.dst): e.count for e in view.edges}
    assert counts[("x", "group:enc")] == 2


def test_expand_and_collapse_name_groups_on_top_of_the_depth(g):
    assert ids(g.view(1, expand=["enc"])) == ["x", "group:enc.0", "group:enc.1", "head", "out"]
    assert [c.path for c in g.view(1, expand=["enc"]).clusters] == ["enc"]
    view = g.view(collapse=["enc.1"])
    assert ids(view) == ["x", "enc.0.fc", "enc.0.act", "group:enc.1", "head", "out"]
    assert [c.path for c in view.clusters] == ["enc", "enc.0"]


def test_identical_blocks_fold_into_one_node_marked_with_their_count(g):
    view = g.view(fold_repeats=True)
    assert ids(view) == ["x", "group:enc.0", "head", "out"]
    fold = view.node("group:enc.0")
    assert (fold.repeat, fold.params) == (2, 144)
    assert fold.members == ["enc.0.fc", "enc.0.act", "enc.1.fc", "enc.1.act"]
    assert [c.path for c in view.clusters] == ["enc"]


def test_an_unknown_group_is_named_in_the_error(g):
    with pytest.raises(LayerNotFoundError, match="enc.7"):
        g.view(expand=["enc.7"])
