"""Layered top-to-bottom layout of a :class:`GraphView`, with no system binary.

The layout itself is ``web/src/graph/layout.js``, the one layout of neuralscope's graphs: the
interactive viewer runs it in the browser, and the static renderers (``Graph.to_svg``,
``.save``, ``.plot``) run the same built file (``server/static/standalone/graph-layout.js``,
built by ``web/build.sh``) in an embedded V8 (the ``mini-racer`` wheel). This module measures
text (Helvetica metrics), says what each node box reads and how large it is, hands the view's
structure and sizes to the engine as JSON and reads back positions (:func:`~neuralscope.graph.engine.run_layout_js`).

The layout is compound: every expanded group (a :class:`Cluster`) is laid out on its own,
innermost first, and then placed in its parent's layout as one rectangular item. Each level
runs the classic Sugiyama steps (Sugiyama, Tagawa & Toda, "Methods for Visual Understanding of
Hierarchical System Structures", IEEE SMC 1981), one method each of ``LevelLayout`` in
``layout.js``: layers by longest path; dummy nodes on long edges, so skip connections run in
their own lane; crossing reduction by barycenter sweeps (best order kept); x coordinates by
alternating sweeps that each solve "stay close to the neighbours, keep the separations" exactly
per layer (pool-adjacent-violators); routes; shape labels where they fit.

Edges that enter or leave a group go through *ports* on the group's top and bottom border, so
a skip connection into a residual block runs inside the block's box, around its main path.
A collapsed group is a single node: its inside is never laid out, which keeps very large
models fast at small depths. A level equal to one already laid out in the same layout (the
repeated blocks of a ResNet or a transformer: ``levelSignature`` in ``layout.js``) takes that
one's result instead of being laid out again.

Example:
    >>> from neuralscope.graph.model import Graph, Node, TensorMeta
    >>> g = Graph("tiny", method="manual")
    >>> _ = g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 4), "float32")]))
    >>> _ = g.add_node(Node("fc", "module", "Linear", "Linear", module="fc", params=20))
    >>> _ = g.add_edge("x", "fc", TensorMeta((1, 4), "float32"))
    >>> lay = layout(g.view())
    >>> lay.box("x")[1] < lay.box("fc")[1]
    True
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from ..gcpause import paused_gc
from .engine import run_layout_js
from .model import GraphView, ViewNode


class LayoutOptions:
    """Spacing of the layout, in px (the ``DEFAULTS`` of ``web/src/graph/layout.js``)."""

    def __init__(self, rank_gap: float = 34.0, node_gap: float = 20.0, dummy_gap: float = 12.0,
                 port_gap: float = 14.0, sweeps: int = 6, labels: bool = True):
        self.rank_gap = rank_gap
        self.node_gap = node_gap
        self.dummy_gap = dummy_gap
        self.port_gap = port_gap
        self.sweeps = sweeps
        self.labels = labels


# -- text measure ------------------------------------------------------------------------

FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', sans-serif"
TITLE_SIZE = 12.0
SUB_SIZE = 10.0
LABEL_SIZE = 9.5
CLUSTER_TITLE_SIZE = 10.5

# advance widths of Helvetica/Arial in 1/1000 em (Liberation Sans has the same metrics)
_WIDTHS = dict(zip(
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~×·…",
    [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278] + [556] * 10
    + [278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556,
       833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
       333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333,
       500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 584, 278, 1000]))


@functools.lru_cache(maxsize=65536)
def _em_width(text: str) -> float:
    return sum(_WIDTHS.get(c, 600) for c in text) / 1000.0


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Approximate rendered width in px of ``text`` in a Helvetica-like font of ``size`` px."""
    w = _em_width(text) * size
    return w * (1.07 if bold else 1.0)


# -- what a node says and how it is coloured -----------------------------------------------

_FAMILIES = [
    ("attention", re.compile(r"attention|attn|scaled_dot_product|multihead", re.I)),
    ("conv", re.compile(r"conv", re.I)),
    ("recurrent", re.compile(r"lstm|gru|^rnn|rnncell|recurrent", re.I)),
    ("norm", re.compile(r"norm", re.I)),
    ("pooling", re.compile(r"pool", re.I)),
    ("embedding", re.compile(r"embedding", re.I)),
    ("linear", re.compile(r"linear|gemm|dense|^matmul$|^mm$|^bmm$|^addmm$|bilinear", re.I)),
    ("activation", re.compile(r"relu|gelu|silu|sigmoid|tanh|softmax|softplus|elu|mish|hardswish|"
                              r"hardsigmoid|swish|glu|prelu|softsign|threshold|clip|clamp", re.I)),
    ("dropout", re.compile(r"dropout", re.I)),
]


def node_family(node: ViewNode) -> str:
    """The colour family of a node: input, output, group, param, conv, linear, norm,
    activation, pooling, attention, recurrent, embedding, dropout or op."""
    kind, op = node.kind, node.op or ""
    if type(kind) is str and type(op) is str:  # (each kind and op is matched once)
        return _family(kind, op)
    return _family.__wrapped__(kind, op)


@functools.lru_cache(maxsize=4096)
def _family(kind: str, op: str) -> str:
    if kind in ("input", "output", "param"):
        return kind
    if kind == "group":
        return "group"
    for name, pattern in _FAMILIES:
        if pattern.search(op):
            return name
    return "op"


def format_count(n: int) -> str:
    """1234 -> '1.2K', 23_500_000 -> '23.5M'."""
    n = int(n)
    for div, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return str(n)


def shape_text(meta) -> str:
    """A tensor shape as ``1×64×56×56`` ('?' for unknown)."""
    shape = getattr(meta, "shape", None)
    if shape is None:
        return "?"
    if type(shape) is tuple:  # (a graph repeats few shapes many times: each is joined once)
        try:
            return _shape_text(shape)
        except TypeError:  # an unhashable size (a symbolic one)
            pass
    return _join_shape(shape)


@functools.lru_cache(maxsize=4096)
def _shape_text(shape: tuple) -> str:
    return _join_shape(shape)


def _join_shape(shape) -> str:
    if len(shape) == 0:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


def _shapes(metas, limit: int = 2) -> str:
    texts = []
    for m in metas:
        t = shape_text(m)
        if t not in texts:
            texts.append(t)
    if not texts:
        return ""
    more = len(texts) > limit
    return ", ".join(texts[:limit]) + (", …" if more else "")


def node_lines(node: ViewNode) -> tuple[str, str]:
    """The two lines drawn in a node box: type + short name, then output shape (+ parameters)."""
    name = node.label
    if node.kind == "module":
        module = node.attrs.get("module") if isinstance(node.attrs, dict) else None
        parts = (module or node.id).split(".")
        short = ".".join(parts[-2:]) if len(parts) > 1 and parts[-1].isdigit() else parts[-1]
        title = node.op if node.op == short or not short else f"{node.op} {short}"
        if node.label and node.label not in (node.op, short, module, node.id):
            title = f"{node.op} {node.label}"
    elif node.kind == "group":
        parts = (node.collapsed or name or "").split(".")
        name = ".".join(parts[-2:]) if len(parts) > 1 and parts[-1].isdigit() else parts[-1]
        title = f"{node.op} {name}" if name and name != node.op else node.op
        if node.repeat > 1:
            title += f" ×{node.repeat}"
    elif node.kind in ("input", "output"):
        title = name or node.kind
    else:
        title = name or node.op
        if node.op and name and node.op != name and node.op not in name:
            title = f"{node.op} {name}"
    shapes = _shapes(node.outputs if node.kind != "output" else (node.inputs or node.outputs))
    if node.kind == "group" and not shapes:
        shapes = _shapes(node.outputs)
    parts = [shapes] if shapes else []
    if node.params:
        parts.append(f"{format_count(node.params)} params")
    if isinstance(node.attrs, dict) and node.attrs.get("shared_params"):
        parts.append(f"shares {format_count(node.attrs['shared_params'])}")
    return title, " · ".join(parts)


def node_tooltip(node: ViewNode) -> str:
    """Multi-line hover text: id, kind, type, shapes, parameters."""
    lines = [node.collapsed if node.collapsed is not None else node.id, f"{node.kind}: {node.op}"]
    if node.repeat > 1:
        lines.append(f"{node.repeat} identical blocks folded")
    if node.inputs:
        lines.append("in: " + ", ".join(shape_text(t) + (f" {t.dtype}" if t.dtype else "") for t in node.inputs))
    if node.outputs:
        lines.append("out: " + ", ".join(shape_text(t) + (f" {t.dtype}" if t.dtype else "") for t in node.outputs))
    if node.params:
        frozen = node.params - node.trainable_params
        lines.append(f"params: {node.params:,}" + (f" ({frozen:,} frozen)" if frozen else ""))
    if isinstance(node.attrs, dict) and node.attrs.get("shared_params"):
        lines.append(f"shared: {node.attrs['shared_params']:,} params counted at {node.attrs.get('shares_with')!r}")
    return "\n".join(lines)


def cluster_title(path: str, type_: str) -> str:
    """Box title of an expanded group: ``layer1.0 · ResidualBlock``."""
    parts = path.split(".")
    short = ".".join(parts[-2:]) if len(parts) > 1 and parts[-1].isdigit() else parts[-1]
    return f"{short} · {type_}" if type_ and type_ != "Module" else short


# -- the result --------------------------------------------------------------------------

@dataclass
class EdgeRoute:
    """The drawn path of one view edge: points top to bottom (reversed for back edges)."""

    src: str
    dst: str
    points: np.ndarray
    label: str = ""
    label_pos: tuple[float, float] | None = None
    back: bool = False
    count: int = 1


@dataclass
class ClusterBox:
    path: str
    type: str
    title: str
    x0: float
    y0: float
    x1: float
    y1: float
    depth: int
    params: int = 0


@dataclass
class Layout:
    """Positions of a laid-out view: node boxes (centre x, centre y, width, height), cluster
    boxes, edge routes, and the total size. Units are SVG pixels, y grows downwards."""

    view: GraphView
    ids: list[str]
    xy: np.ndarray
    size: np.ndarray
    clusters: list[ClusterBox]
    edges: list[EdgeRoute]
    width: float
    height: float
    lines: list[tuple[str, str]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def box(self, node_id: str) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` of a node's box."""
        i = self.index[node_id]
        (x, y), (w, h) = self.xy[i].tolist(), self.size[i].tolist()
        return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


# -- sizes -------------------------------------------------------------------------------

PAD_X = 12.0
NODE_H2 = 38.0
NODE_H1 = 24.0
CLUSTER_PAD = 10.0
CLUSTER_TITLE_H = 18.0


def node_size(node: ViewNode, lines: tuple[str, str] | None = None) -> tuple[float, float]:
    title, sub = lines or node_lines(node)
    w = max(text_width(title, TITLE_SIZE, bold=True), text_width(sub, SUB_SIZE)) + 2 * PAD_X
    if node.kind == "group":
        w += 14  # the expand marker
    return max(w, 56.0), (NODE_H2 if sub else NODE_H1)


def _label_width(text: str) -> float:
    return text_width(text, LABEL_SIZE)


# -- the whole view --------------------------------------------------------------------------

def layout(view: GraphView, options: LayoutOptions | None = None) -> Layout:
    """Lay out ``view`` top to bottom; returns node boxes, cluster boxes and edge routes.

    Example:
        >>> from neuralscope.graph.model import Graph, Node
        >>> g = Graph("m", method="manual")
        >>> for i in range(3):
        ...     _ = g.add_node(Node(f"n{i}", "op", "add", "add"))
        >>> _ = g.add_edge("n0", "n1"); _ = g.add_edge("n1", "n2"); _ = g.add_edge("n0", "n2")
        >>> lay = layout(g.view())
        >>> [round(lay.box(f"n{i}")[1]) for i in range(3)]
        [0, 58, 116]
    """
    with paused_gc():  # (tens of thousands of layout items would wake the collector many times)
        return _lay_out(view, options or LayoutOptions())


def _lay_out(view: GraphView, opt: LayoutOptions) -> Layout:
    clusters = [c.path for c in view.clusters]  # parents before children
    cluster_index = {p: k for k, p in enumerate(clusters)}

    def home(path: str) -> int:
        """The innermost expanded group at or above ``path`` (-1: the top level)."""
        while path and path not in cluster_index:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return cluster_index[path] if path else -1

    nodes = view.nodes
    idx = {n.id: i for i, n in enumerate(nodes)}
    lines = [node_lines(n) for n in nodes]
    sizes = [node_size(n, ln) for n, ln in zip(nodes, lines)]
    titles = [cluster_title(c.path, c.type) for c in view.clusters]
    labels = [shape_text(e.tensor) if e.tensor.shape is not None else "" for e in view.edges]
    graph = {
        "nodes": {"home": [home(n.group) for n in nodes], "w": [s[0] for s in sizes], "h": [s[1] for s in sizes]},
        "clusters": {"parent": [home(c.parent) if c.parent else -1 for c in view.clusters],
                     "titleWidth": [text_width(t, CLUSTER_TITLE_SIZE, bold=True) + 2 * CLUSTER_PAD for t in titles]},
        "edges": {"src": [idx.get(e.src, -1) for e in view.edges], "dst": [idx.get(e.dst, -1) for e in view.edges],
                  "label": labels, "labelWidth": [_label_width(t) for t in labels]},
    }
    options = {"rankGap": opt.rank_gap, "nodeGap": opt.node_gap, "dummyGap": opt.dummy_gap, "portGap": opt.port_gap,
               "sweeps": opt.sweeps, "labels": opt.labels, "unitHeight": NODE_H2, "labelSize": LABEL_SIZE,
               "clusterPadX": CLUSTER_PAD, "clusterPadTop": CLUSTER_PAD + CLUSTER_TITLE_H, "clusterPadBottom": CLUSTER_PAD}
    out = run_layout_js(graph, options)

    depth = out["clusterDepth"]
    boxes = [ClusterBox(c.path, c.type, titles[k], out["clusterX0"][k], out["clusterY0"][k], out["clusterX1"][k],
                        out["clusterY1"][k], depth[k], c.params) for k, c in enumerate(view.clusters)]
    boxes.sort(key=lambda b: (b.depth, cluster_index[b.path]))
    xy = np.column_stack([np.asarray(out["nodeX"], dtype=float), np.asarray(out["nodeY"], dtype=float)]).reshape(len(nodes), 2)
    size = np.asarray(sizes, dtype=float).reshape(len(nodes), 2)
    routes = [EdgeRoute(e.src, e.dst, np.asarray(pts, dtype=float).reshape(-1, 2), label,
                        tuple(at) if at is not None else None, back, e.count)
              for e, pts, label, at, back in zip(view.edges, out["edgePoints"], labels, out["edgeLabel"], out["edgeBack"])]
    return Layout(view, [n.id for n in nodes], xy, size, boxes, routes, out["width"], out["height"], lines, idx)


def synthetic_graph(n_nodes: int = 10_000, blocks_per_stage: int = 40, nested: bool = True):
    """A large test graph: a chain of residual blocks (conv, norm, relu, conv, norm, add, relu)
    with skip connections, nested in stages (or all at the top level with ``nested=False``,
    as an ONNX file's graph is); about ``n_nodes`` nodes.

    Example:
        >>> g = synthetic_graph(200, blocks_per_stage=4)
        >>> 190 <= len(g.nodes) <= 210
        True
    """
    from .model import Graph, Node, TensorMeta

    g = Graph(f"synthetic{n_nodes}", method="synthetic")
    t = TensorMeta((1, 64, 32, 32), "float32")
    g.add_node(Node("input", "input", "x", "input", outputs=[t]))
    prev = "input"
    n_blocks = max(1, (n_nodes - 2) // 7)
    for b in range(n_blocks):
        s, k = divmod(b, blocks_per_stage)
        stage = f"stage{s}"
        block = f"{stage}.block{k}"
        if nested:
            if k == 0:
                g.set_group(stage, "Stage", 0, 0)
            g.set_group(block, "ResidualBlock", 2 * 36_928 + 256, 2 * 36_928 + 256)
        ops = [("conv1", "module", "Conv2d", 36_928), ("bn1", "module", "BatchNorm2d", 128),
               ("relu1", "module", "ReLU", 0), ("conv2", "module", "Conv2d", 36_928),
               ("bn2", "module", "BatchNorm2d", 128), ("add", "op", "add", 0), ("relu2", "module", "ReLU", 0)]
        block_in = prev
        for name, kind, op, params in ops:
            nid = f"{block}.{name}"
            g.add_node(Node(nid, kind, op if kind == "module" else name, op, group=block if nested else "",
                            module=nid if kind == "module" else None, inputs=[t], outputs=[t],
                            params=params, trainable_params=params))
            g.add_edge(prev, nid, t)
            prev = nid
            if name == "add":
                g.add_edge(block_in, nid, t)
    g.add_node(Node("output", "output", "output", "output", inputs=[t]))
    g.add_edge(prev, "output", t)
    return g
