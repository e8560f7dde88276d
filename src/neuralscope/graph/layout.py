"""Layered top-to-bottom layout of a :class:`GraphView`, with no system binary.

The layout is compound: every expanded group (a :class:`Cluster`) is laid out on its own,
bottom-up, and then placed in its parent's layout as one rectangular item. Each level runs the
classic Sugiyama steps (Sugiyama, Tagawa & Toda, "Methods for Visual Understanding of
Hierarchical System Structures", IEEE SMC 1981):

1. layer assignment by longest path, with sources pulled down next to their consumers;
2. dummy nodes on edges that span more than one layer, so long edges (skip connections) run
   in their own lane around the nodes instead of through them;
3. crossing reduction by barycenter sweeps (bounded number of iterations, best order kept);
4. coordinate assignment by alternating down/up sweeps, each one solving "stay close to the
   neighbours, keep the separations" exactly per layer as an isotonic regression
   (pool-adjacent-violators), with long edges weighted to stay straight.

Edges that enter or leave a group go through *ports* on the group's top and bottom border:
inside the group an edge starts at its port and is routed (with dummies) like any other, so
a skip connection into a residual block runs inside the block's box, around its main path.
A collapsed group is a single node: its inside is never laid out, which keeps very large
models fast at small depths.

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

import bisect
import functools
import heapq
import re
from dataclasses import dataclass, field

import numpy as np

from .model import GraphView, ViewNode

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
    if node.kind in ("input", "output", "param"):
        return node.kind
    if node.kind == "group":
        return "group"
    for name, pattern in _FAMILIES:
        if pattern.search(node.op or ""):
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


# -- one level ---------------------------------------------------------------------------

class _Level:
    """Items of one group (its own nodes, child groups, ports) and the edges among them."""

    __slots__ = ("path", "items", "index", "w", "h", "order", "kind", "edges", "edge_index",
                 "x", "y", "width", "height", "routes", "labels", "layer_tops", "layer_h", "back")

    def __init__(self, path: str):
        self.path = path
        self.items: list = []          # ("n", id) | ("c", path) | ("in", src) | ("out", src)
        self.index: dict = {}
        self.w: list[float] = []
        self.h: list[float] = []
        self.order: list[float] = []
        self.kind: list[int] = []      # 0 node, 1 cluster, 2 in-port, 3 out-port
        self.edges: list = []          # (u, off_u_key, v, off_v_key)
        self.edge_index: dict = {}

    def item(self, key, w=0.0, h=0.0, order=0.0, kind=0) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.items)
            self.items.append(key)
            self.w.append(w)
            self.h.append(h)
            self.order.append(order)
            self.kind.append(kind)
        return i

    def edge(self, u: int, ukey, v: int, vkey) -> int:
        k = (u, ukey, v, vkey)
        e = self.edge_index.get(k)
        if e is None:
            e = self.edge_index[k] = len(self.edges)
            self.edges.append(k)
        return e


def _pav(target: list[float], weight: list[float], sep: list[float]) -> list[float]:
    """Positions closest (weighted least squares) to ``target`` with x[i+1] - x[i] >= sep[i].

    Substituting y_i = x_i - c_i (c the running sum of separations) turns it into isotonic
    regression, solved exactly by pool-adjacent-violators in linear time.
    """
    n = len(target)
    c = 0.0
    offs = [0.0] * n
    for i in range(1, n):
        c += sep[i - 1]
        offs[i] = c
    vals: list[float] = []
    wts: list[float] = []
    cnts: list[int] = []
    for i in range(n):
        v, w, k = target[i] - offs[i], weight[i], 1
        while vals and vals[-1] > v:
            pv, pw, pk = vals.pop(), wts.pop(), cnts.pop()
            v = (pv * pw + v * w) / (pw + w)
            w += pw
            k += pk
        vals.append(v)
        wts.append(w)
        cnts.append(k)
    out = [0.0] * n
    i = 0
    for v, k in zip(vals, cnts):
        for _ in range(k):
            out[i] = v + offs[i]
            i += 1
    return out


def _count_crossings(layers: list[list[int]], pos: list[int], down: list[list[int]]) -> int:
    """Edge crossings between consecutive layers (inversion count per layer pair)."""
    total = 0
    for layer in layers[:-1]:
        seq = []
        for u in layer:
            targets = sorted(pos[v] for v in down[u])
            seq.extend(targets)
        if len(seq) < 2:
            continue
        # inversion count by merge sort on a numpy array
        total += _inversions(seq)
    return total


def _inversions(seq: list[int]) -> int:
    n = len(seq)
    if n < 64:
        inv = 0
        for i in range(n):
            si = seq[i]
            for j in range(i + 1, n):
                if seq[j] < si:
                    inv += 1
        return inv
    a = np.asarray(seq)
    # Fenwick-free: count with sorted insertion via searchsorted on chunks
    inv = 0
    sorted_prefix = np.sort(a[: n // 2])
    right = a[n // 2:]
    inv += int(len(sorted_prefix) * len(right) - np.searchsorted(sorted_prefix, right, side="right").sum())
    return inv + _inversions(a[: n // 2].tolist()) + _inversions(right.tolist())


class LayoutOptions:
    """Spacing of the layout, in px."""

    def __init__(self, rank_gap: float = 34.0, node_gap: float = 20.0, dummy_gap: float = 12.0,
                 port_gap: float = 14.0, sweeps: int = 6, labels: bool = True):
        self.rank_gap = rank_gap
        self.node_gap = node_gap
        self.dummy_gap = dummy_gap
        self.port_gap = port_gap
        self.sweeps = sweeps
        self.labels = labels


def _layout_level(lv: _Level, offsets: dict, edge_labels: dict, opt: LayoutOptions) -> None:
    """Lay out one level in its own frame (top-left of its content at 0, 0)."""
    n = len(lv.items)
    order = list(lv.order)
    kind = lv.kind
    # cycle breaking: a topological order that follows execution order where it can (Kahn's
    # algorithm, smallest execution index first); edges against it are drawn as back edges
    indeg = [0] * n
    outs: list[list[int]] = [[] for _ in range(n)]
    for ei, (u, uk, v, vk) in enumerate(lv.edges):
        if u != v and kind[u] != 3 and kind[v] != 2:
            outs[u].append(v)
            indeg[v] += 1
    rank = [0] * n
    heap = [(order[i], i) for i in range(n) if indeg[i] == 0]
    heapq.heapify(heap)
    done = [False] * n
    remaining = sorted(range(n), key=order.__getitem__)
    r = 0
    ptr = 0
    while r < n:
        if not heap:  # a cycle: release the earliest remaining item
            while done[remaining[ptr]]:
                ptr += 1
            heap.append((order[remaining[ptr]], remaining[ptr]))
        _, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        rank[u] = r
        r += 1
        for v in outs[u]:
            indeg[v] -= 1
            if indeg[v] == 0 and not done[v]:
                heapq.heappush(heap, (order[v], v))
    fwd = []
    back = []
    for ei, (u, uk, v, vk) in enumerate(lv.edges):
        if kind[u] == 3 or kind[v] == 2 or u == v:
            continue
        (fwd if rank[u] < rank[v] else back).append(ei)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for ei in fwd:
        u, _, v, _ = lv.edges[ei]
        succ[u].append(v)
        pred[v].append(u)

    # 1. layers: longest path from the top, sources pulled down to their consumers; a tall
    # group spans several layers so that a parallel branch beside it stays compact
    has_in = any(k == 2 for k in kind)
    base = 1 if has_in else 0
    unit = NODE_H2 + opt.rank_gap
    topo = sorted((i for i in range(n) if kind[i] in (0, 1)), key=rank.__getitem__)

    def assign(span):
        layer = [0] * n
        for v in topo:
            m = base
            for u in pred[v]:
                if kind[u] != 2 and layer[u] + span[u] > m:
                    m = layer[u] + span[u]
            layer[v] = m
        for v in reversed(topo):
            if not pred[v] and succ[v]:
                ls = [layer[s] for s in succ[v] if kind[s] in (0, 1)]
                if ls:
                    layer[v] = max(layer[v], min(ls) - span[v])
        return layer

    span = [1] * n
    layer = assign(span)
    tall = [i for i in range(n) if kind[i] == 1 and lv.h[i] + opt.rank_gap > 1.5 * unit]
    if tall:
        # a tall group spans layers only where something runs beside it
        busy = [0] * (max(layer, default=0) + 2)
        for v in topo:
            busy[layer[v]] += 1
        for ei in fwd:
            u, _, v, _ = lv.edges[ei]
            if kind[u] != 2 and kind[v] != 3:
                for L in range(layer[u] + 1, layer[v]):
                    busy[L] += 1
        for i in tall:
            if busy[layer[i]] > 1:
                span[i] = max(1, int(round((lv.h[i] + opt.rank_gap) / unit)))
        if any(sp > 1 for sp in span):
            layer = assign(span)
    last = max((layer[v] + span[v] - 1 for v in topo), default=base - 1)
    for i in range(n):
        if kind[i] == 3:
            layer[i] = last + 1
    nlayers = (last + 2) if any(k == 3 for k in kind) else last + 1
    nlayers = max(nlayers, 1)

    # 2. dummies on long edges; continuation items below a spanning group
    w = list(lv.w)
    h = list(lv.h)
    is_dummy = [False] * n
    head = list(range(n))  # continuation -> the group it continues
    chain: dict[int, list[int]] = {}
    down: list[list[int]] = [[] for _ in range(n)]
    up: list[list[int]] = [[] for _ in range(n)]
    # per-link horizontal offsets of the endpoints, for alignment
    link_off: dict[tuple[int, int], float] = {}

    def new_item(L, width, of, src):
        d = len(w)
        w.append(width)
        h.append(0.0)
        layer.append(L)
        is_dummy.append(width == 0.0)
        head.append(of)
        down.append([])
        up.append([])
        order.append(order[src])
        return d

    tail = list(range(n))
    for u in range(n):
        prev = u
        for L in range(layer[u] + 1, layer[u] + span[u]):
            c = new_item(L, w[u], u, u)
            down[prev].append(c)
            up[c].append(prev)
            prev = c
        tail[u] = prev
    for ei in fwd:
        u, uk, v, vk = lv.edges[ei]
        ou = offsets.get((lv.items[u], uk), 0.0)
        ov = offsets.get((lv.items[v], vk), 0.0)
        nodes = [tail[u]]
        for L in range(layer[u] + span[u], layer[v]):
            nodes.append(new_item(L, 0.0, -1, u))
        nodes.append(v)
        chain[ei] = nodes[1:-1]
        for a, b in zip(nodes, nodes[1:]):
            down[a].append(b)
            up[b].append(a)
            # offset of b relative to a along this link: x_b + off_b == x_a + off_a
            link_off[(a, b)] = (ou if a == tail[u] else 0.0) - (ov if b == v else 0.0)
    is_cont = [i >= n and head[i] >= 0 for i in range(len(w))]
    N = len(w)
    layers: list[list[int]] = [[] for _ in range(nlayers)]
    for i in sorted(range(N), key=lambda i: (order[i], i)):
        if i < n and kind[i] in (2, 3):
            continue
        layers[layer[i]].append(i)
    # ports ordered by their source's execution order
    for i in range(n):
        if kind[i] in (2, 3):
            layers[layer[i]].append(i)
    for L in (0, nlayers - 1):
        layers[L].sort(key=lambda i: (order[i], i))

    # 3. crossing reduction: barycenter sweeps, keep the best order
    pos = [0] * N
    for layer_nodes in layers:
        for p, i in enumerate(layer_nodes):
            pos[i] = p
    big = N > 3000
    trivial = max(len(l) for l in layers) < 2
    best = None if (big or trivial) else (_count_crossings(layers, pos, down), [list(l) for l in layers])
    for it in range(0 if trivial else (opt.sweeps if not big else 2)):
        for direction in (0, 1):
            rng = range(1, nlayers) if direction == 0 else range(nlayers - 2, -1, -1)
            nb = up if direction == 0 else down
            for L in rng:
                cur = layers[L]
                if len(cur) < 2:
                    continue
                keys = {}
                for i in cur:
                    ns = nb[i]
                    keys[i] = (sum(pos[j] for j in ns) / len(ns)) if ns else pos[i]
                cur.sort(key=lambda i: keys[i])
                for p, i in enumerate(cur):
                    pos[i] = p
        if best is not None:
            c = _count_crossings(layers, pos, down)
            if c < best[0]:
                best = (c, [list(l) for l in layers])
            if c == 0:
                break
    if best is not None:
        layers = best[1]
        for layer_nodes in layers:
            for p, i in enumerate(layer_nodes):
                pos[i] = p

    # 4. x coordinates: alternating sweeps of exact per-layer least squares
    seps: list[list[float]] = []
    for cur in layers:
        s = []
        for a, b in zip(cur, cur[1:]):
            gap = opt.dummy_gap if (is_dummy[a] or is_dummy[b] or w[a] == 0 or w[b] == 0) else opt.node_gap
            s.append((w[a] + w[b]) / 2 + gap)
        seps.append(s)
    x = [0.0] * N
    for L, cur in enumerate(layers):
        acc = 0.0
        for k, i in enumerate(cur):
            x[i] = acc
            if k < len(seps[L]):
                acc += seps[L][k]
        shift = acc / 2
        for i in cur:
            x[i] -= shift
    # items on the longest path through this level weigh more: the main path stays straight
    # and side branches (shortcuts, downsamples) make room for it
    reach = [0] * n
    for v in reversed(topo):
        for s2 in succ[v]:
            if kind[s2] in (0, 1) and reach[s2] + span[v] > reach[v]:
                reach[v] = reach[s2] + span[v]
    through = [layer[i] + reach[i] for i in range(n)]
    longest = max((through[i] for i in topo), default=1) or 1
    weight = [0.01 if is_dummy[i] else (1.0 if i < n and kind[i] in (2, 3) else 2.0) for i in range(N)]
    for i in topo:
        weight[i] = 1.0 + 8.0 * (through[i] / longest) ** 4
    for i in range(N):
        if is_cont[i]:
            weight[i] = 50.0

    def link_w(a, b):
        da, db = is_dummy[a], is_dummy[b]
        return 8.0 if (da and db) else (1.0 if (da or db) else 2.0)

    # neighbours as (index, offset, weight), computed once
    up_n = [[(j, link_off.get((j, i), 0.0), link_w(i, j)) for j in up[i]] for i in range(N)]
    down_n = [[(j, -link_off.get((i, j), 0.0), link_w(i, j)) for j in down[i]] for i in range(N)]
    pav_w = [[weight[i] for i in cur] for cur in layers]

    def sweep(L, use_up, use_down):
        cur = layers[L]
        if not cur:
            return 0.0
        tgt = []
        for i in cur:
            nb = (up_n[i] + down_n[i]) if (use_up and use_down) else (up_n[i] if use_up else down_n[i])
            if not nb:
                tgt.append(x[i])
            elif len(nb) == 1:
                j, off, _ = nb[0]
                tgt.append(x[j] + off)
            else:  # weighted median: follow the main path, let side lanes bend
                cand = sorted((x[j] + off, wt) for j, off, wt in nb)
                half = sum(c[1] for c in cand) / 2
                acc = 0.0
                for k, (val, wt) in enumerate(cand):
                    acc += wt
                    if acc > half + 1e-9:
                        tgt.append(val)
                        break
                    if abs(acc - half) <= 1e-9:  # any point between is optimal: move least
                        tgt.append(min(max(x[i], val), cand[k + 1][0]))
                        break
        new = _pav(tgt, pav_w[L], seps[L]) if len(cur) > 1 else tgt
        moved = 0.0
        for i, v in zip(cur, new):
            d = abs(x[i] - v)
            if d > moved:
                moved = d
            x[i] = v
        return moved

    rounds = 2 if big else 3
    for _ in range(rounds):
        moved = 0.0
        for L in range(1, nlayers):
            moved = max(moved, sweep(L, True, False) or 0.0)
        for L in range(nlayers - 2, -1, -1):
            moved = max(moved, sweep(L, False, True) or 0.0)
        if moved < 2.0:
            break
    for L in range(nlayers):
        sweep(L, True, True)
    for L in range(nlayers - 1, -1, -1):
        sweep(L, True, True)

    if any(is_cont):
        for L, cur in enumerate(layers):
            if not any(is_cont[i] for i in cur):
                continue
            for i in cur:
                if is_cont[i]:
                    x[i] = x[head[i]]
            if len(cur) > 1:
                anchored = [1e9 if is_cont[i] else 1.0 for i in cur]
                for i, v in zip(cur, _pav([x[i] for i in cur], anchored, seps[L])):
                    x[i] = v

    # 5. y coordinates: layers stacked, items centred in their layer (spanning groups at
    # the top of their first layer, with their last layer made tall enough to hold them)
    lh = [0.0] * nlayers
    for L, cur in enumerate(layers):
        lh[L] = max((h[i] for i in cur if i >= n or span[i] == 1), default=0.0)
    gaps = [0.0] * nlayers
    for L in range(nlayers - 1):
        port_only = L == 0 and has_in and all(i < n and kind[i] == 2 for i in layers[L])
        next_out = L + 1 == nlayers - 1 and any(i < n and kind[i] == 3 for i in layers[L + 1])
        gaps[L] = opt.port_gap if (port_only or next_out) else opt.rank_gap
    for i in range(n):
        if span[i] > 1:
            L0, L1 = layer[i], layer[i] + span[i] - 1
            room = sum(lh[L0:L1 + 1]) + sum(gaps[L0:L1])
            if h[i] > room:
                lh[L1] += h[i] - room
    tops = [0.0] * nlayers
    y = 0.0
    for L in range(nlayers):
        tops[L] = y
        y += lh[L] + (gaps[L] if L + 1 < nlayers else 0.0)
    ys = [tops[layer[i]] + (h[i] / 2 if i < n and span[i] > 1 else lh[layer[i]] / 2) for i in range(N)]
    xs = np.asarray(x)
    ws = np.asarray(w)
    left = float((xs - ws / 2).min()) if N else 0.0
    right = float((xs + ws / 2).max()) if N else 0.0
    lv.x = [v - left for v in x[:n]]
    lv.y = ys[:n]
    lv.width = max(right - left, 0.0)
    lv.height = y
    lv.layer_tops = tops
    lv.layer_h = lh

    # 6. routes of this level's edges (in this frame)
    routes: dict[int, list[tuple[float, float]]] = {}
    for ei in fwd:
        u, uk, v, vk = lv.edges[ei]
        ou = offsets.get((lv.items[u], uk), 0.0)
        ov = offsets.get((lv.items[v], vk), 0.0)
        pts = [(x[u] - left + ou, ys[u] + h[u] / 2)]
        for d in chain[ei]:
            L = layer[d]
            xd = x[d] - left
            pts.append((xd, tops[L]))
            if lh[L] > 0:
                pts.append((xd, tops[L] + lh[L]))
        pts.append((x[v] - left + ov, ys[v] - h[v] / 2))
        routes[ei] = pts
    for ei in back:  # leave the source downwards, climb beside everything, enter the target from above
        u, uk, v, vk = lv.edges[ei]
        ou = offsets.get((lv.items[u], uk), 0.0)
        ov = offsets.get((lv.items[v], vk), 0.0)
        lo, hi = sorted((layer[u], layer[v]))
        side = max(x[i] + w[i] / 2 for L in range(lo, hi + 1) for i in layers[L]) - left + 20
        y0, y1 = ys[u] + h[u] / 2, ys[v] - h[v] / 2
        routes[ei] = [(x[u] - left + ou, y0), (side, y0 + 12), (side, y1 - 12), (x[v] - left + ov, y1)]
        lv.width = max(lv.width, side + 4)
        lv.height = max(lv.height, y0 + 14)
    lv.routes = routes
    lv.back = set(back)

    # 7. shape labels on edges leaving a node, where they fit in the gap below it
    labels: dict[int, tuple[float, float]] = {}
    if opt.labels:
        occupied: dict[int, list[tuple[float, float]]] = {}
        spans: dict[int, list[tuple[float, float, int]]] = {}
        for ei in fwd:  # every edge segment that crosses a gap between layers
            pts = routes[ei]
            for (a, ya), (b, yb) in zip(pts, pts[1:]):
                if yb > ya:
                    L = bisect.bisect_right(tops, ya + 1e-6) - 1
                    spans.setdefault(L, []).append((min(a, b), max(a, b), ei))
        for i in range(n):  # a spanning group occupies the gaps inside its span
            for L in range(layer[i], layer[i] + span[i] - 1):
                xi = x[i] - left
                occupied.setdefault(L, []).append((xi - w[i] / 2, xi + w[i] / 2))
        for ei in fwd:
            text = edge_labels.get(ei)
            if not text:
                continue
            u = lv.edges[ei][0]
            if kind[u] != 0:
                continue
            L = layer[u]
            pts = routes[ei]
            x0 = pts[0][0] + 4
            tw = text_width(text, LABEL_SIZE)
            x1 = x0 + tw
            gap_top = tops[L] + lh[L]
            ok = all(b < x0 - 2 or a > x1 + 2 for a, b, e2 in spans.get(L, ()) if e2 != ei)
            ok = ok and all(b < x0 - 4 or a > x1 + 4 for a, b in occupied.get(L, ()))
            if ok and pts[1][0] <= pts[0][0] + 1.0:
                occupied.setdefault(L, []).append((x0, x1))
                lv.width = max(lv.width, x1 + 2)
                labels[ei] = (x0, gap_top + min(opt.rank_gap, pts[1][1] - gap_top) / 2 + LABEL_SIZE * 0.35)
    lv.labels = labels


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
    opt = options or LayoutOptions()
    clusters = {c.path: c for c in view.clusters}
    ordered_clusters = [c.path for c in view.clusters]

    def home(path: str) -> str:
        while path and path not in clusters:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return path

    chain_cache: dict[str, list[str]] = {"": []}

    def chain(path: str) -> list[str]:
        got = chain_cache.get(path)
        if got is None:
            parent = clusters[path].parent
            parent = home(parent) if parent else ""
            got = chain_cache[path] = chain(parent) + [path]
        return got

    nodes = view.nodes
    idx = {n.id: i for i, n in enumerate(nodes)}
    homes = [home(n.group) for n in nodes]
    levels: dict[str, _Level] = {p: _Level(p) for p in [""] + ordered_clusters}
    first_member: dict[str, int] = {}
    for i, hp in enumerate(homes):
        for p in chain(hp):
            if p not in first_member:
                first_member[p] = i
    lines = [node_lines(n) for n in nodes]
    sizes = [node_size(n, ln) for n, ln in zip(nodes, lines)]
    for i, (n, hp) in enumerate(zip(nodes, homes)):
        levels[hp].item(("n", n.id), sizes[i][0], sizes[i][1], float(i), 0)
    for p in ordered_clusters:
        parent = chain(p)[:-1]
        lp = parent[-1] if parent else ""
        levels[lp].item(("c", p), 0.0, 0.0, float(first_member.get(p, 0)), 1)

    # edges: one segment per level crossed, through ports
    edge_segments: list[list[tuple[str, int]]] = []
    edge_labels: dict[str, dict[int, str]] = {p: {} for p in levels}
    for e in view.edges:
        if e.src not in idx or e.dst not in idx:
            edge_segments.append([])
            continue
        s, d = idx[e.src], idx[e.dst]
        cs, cd = chain(homes[s]), chain(homes[d])
        k = 0
        while k < len(cs) and k < len(cd) and cs[k] == cd[k]:
            k += 1
        segs: list[tuple[str, int]] = []
        src_key = e.src
        so = float(s)
        label = shape_text(e.tensor) if e.tensor.shape is not None else ""

        def item_of(ch, j, node_id):
            return ("c", ch[j + 1]) if j + 1 < len(ch) else ("n", node_id)

        # leaving nested groups on the source side, deepest first
        for j in range(len(cs) - 1, k - 1, -1):
            lv = levels[cs[j]]
            a_key = item_of(cs, j, e.src)
            a = lv.index[a_key]
            o = lv.item(("out", src_key), 0.0, 0.0, so, 3)
            ei = lv.edge(a, src_key if a_key[0] == "c" else None, o, None)
            if a_key[0] == "n" and label:
                edge_labels[cs[j]][ei] = label
            segs.append((cs[j], ei))
        L = cs[k - 1] if k else ""
        lv = levels[L]
        if k == len(cs):
            a_key = ("n", e.src)
        else:
            a_key = ("c", cs[k])
        if k == len(cd):
            b_key = ("n", e.dst)
        else:
            b_key = ("c", cd[k])
        a, b = lv.index[a_key], lv.index[b_key]
        ei = lv.edge(a, src_key if a_key[0] == "c" else None, b, src_key if b_key[0] == "c" else None)
        if a_key[0] == "n" and label:
            edge_labels[L][ei] = label
        segs.append((L, ei))
        for j in range(k, len(cd)):
            lv = levels[cd[j]]
            b_key = item_of(cd, j, e.dst)
            i_port = lv.item(("in", src_key), 0.0, 0.0, so - 1e9, 2)
            b = lv.index[b_key]
            segs.append((cd[j], lv.edge(i_port, None, b, src_key if b_key[0] == "c" else None)))
        edge_segments.append(segs)

    # bottom-up: children before parents; port offsets of laid-out groups feed their parent
    offsets: dict[tuple, float] = {}
    frames: dict[str, tuple[float, float, float, float]] = {}  # content origin in item frame, w, h
    for p in reversed([""] + ordered_clusters):
        lv = levels[p]
        for i, key in enumerate(lv.items):
            if key[0] == "c":
                fx, fy, fw, fh = frames[key[1]]
                lv.w[i], lv.h[i] = fw, fh
        _layout_level(lv, offsets, edge_labels[p], opt)
        if p:
            c = clusters[p]
            title = cluster_title(p, c.type)
            tw = text_width(title, CLUSTER_TITLE_SIZE, bold=True) + 2 * CLUSTER_PAD
            fw = max(lv.width + 2 * CLUSTER_PAD, tw)
            fh = lv.height + 2 * CLUSTER_PAD + CLUSTER_TITLE_H
            ox = (fw - lv.width) / 2
            oy = CLUSTER_PAD + CLUSTER_TITLE_H
            frames[p] = (ox, oy, fw, fh)
            for i, key in enumerate(lv.items):
                if key[0] in ("in", "out"):
                    offsets[(("c", p), key[1])] = ox + lv.x[i] - fw / 2

    # top-down: absolute origins of every level's frame
    origin: dict[str, tuple[float, float]] = {"": (0.0, 0.0)}
    boxes: list[ClusterBox] = []
    for p in [""] + ordered_clusters:
        lv = levels[p]
        gx, gy = origin[p]
        for i, key in enumerate(lv.items):
            if key[0] == "c":
                c = key[1]
                ox, oy, fw, fh = frames[c]
                bx, by = gx + lv.x[i] - fw / 2, gy + lv.y[i] - fh / 2
                origin[c] = (bx + ox, by + oy)
                cl = clusters[c]
                boxes.append(ClusterBox(c, cl.type, cluster_title(c, cl.type), bx, by, bx + fw, by + fh,
                                        len(chain(c)), cl.params))
    order_of = {p: i for i, p in enumerate(ordered_clusters)}
    boxes.sort(key=lambda b: (b.depth, order_of[b.path]))

    xy = np.zeros((len(nodes), 2))
    size = np.asarray(sizes, dtype=float).reshape(len(nodes), 2)
    for i, n in enumerate(nodes):
        lv = levels[homes[i]]
        j = lv.index[("n", n.id)]
        gx, gy = origin[homes[i]]
        xy[i] = (gx + lv.x[j], gy + lv.y[j])

    routes: list[EdgeRoute] = []
    for e, segs in zip(view.edges, edge_segments):
        pts: list[tuple[float, float]] = []
        label_pos = None
        back = False
        for p, ei in segs:
            gx, gy = origin[p]
            lv = levels[p]
            seg = [(gx + a, gy + b) for a, b in lv.routes.get(ei, ())]
            if ei in lv.back:
                back = True
            if pts and seg and abs(pts[-1][0] - seg[0][0]) < 1e-6 and abs(pts[-1][1] - seg[0][1]) < 1e-6:
                seg = seg[1:]
            pts.extend(seg)
            if label_pos is None and ei in lv.labels:
                lx, ly = lv.labels[ei]
                label_pos = (gx + lx, gy + ly)
        label = shape_text(e.tensor) if e.tensor.shape is not None else ""
        routes.append(EdgeRoute(e.src, e.dst, np.asarray(pts, dtype=float).reshape(-1, 2), label,
                                label_pos, back, e.count))

    root = levels[""]
    return Layout(view, [n.id for n in nodes], xy, size, boxes, routes, root.width, root.height,
                  lines, idx)


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
