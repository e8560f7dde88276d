"""The layered (Sugiyama) layout of one level of a compound graph, one named step at a time.

:mod:`neuralscope.graph.layout` builds one :class:`Level` per expanded group (its own nodes,
child groups laid out before it and placed here as one box, and ports where edges cross the
group's border) and calls :func:`lay_out_level` on each. The steps, in the order they run:

0. :meth:`LevelLayout.break_cycles` — a topological order following execution order (Kahn's
   algorithm, earliest first); edges against it become back edges.
1. :meth:`LevelLayout.assign_layers` — longest path from the top, sources pulled down next to
   their consumers; a tall group spans several layers where something runs beside it.
2. :meth:`LevelLayout.insert_dummies` — dummy items on edges that span layers and
   continuation items below spanning groups, so long edges run in lanes of their own.
3. :meth:`LevelLayout.reduce_crossings` — barycenter sweeps, the best order kept.
4. :meth:`LevelLayout.place_x` — alternating sweeps, each solving "stay close to the
   neighbours, keep the separations" exactly per layer (pool-adjacent-violators), the
   longest path weighted to stay straight.
5. :meth:`LevelLayout.place_y` — layers stacked, items centred in their layer.
6. :meth:`LevelLayout.route_edges` — polylines through the dummies; back edges climb beside.
7. :meth:`LevelLayout.place_labels` — shape labels in the gap below a node where they fit.

Item kinds: 0 node, 1 child group, 2 in-port (top border), 3 out-port (bottom border).
"""
from __future__ import annotations

import bisect
import heapq
from typing import Callable

import numpy as np

NODE = 0
GROUP = 1
IN_PORT = 2
OUT_PORT = 3


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


class Level:
    """Items of one group (its own nodes, child groups, ports) and the edges among them.

    After :func:`lay_out_level`: ``x``, ``y`` (item centres), ``width``, ``height``,
    ``routes`` (edge index -> points), ``labels`` (edge index -> label position), ``back``
    (indices of back edges), ``layer_tops`` and ``layer_h``, all in the level's own frame.
    """

    __slots__ = ("path", "items", "index", "w", "h", "order", "kind", "edges", "edge_index",
                 "x", "y", "width", "height", "routes", "labels", "layer_tops", "layer_h", "back")

    def __init__(self, path: str):
        self.path = path
        self.items: list = []          # ("n", id) | ("c", path) | ("in", src) | ("out", src)
        self.index: dict = {}
        self.w: list[float] = []
        self.h: list[float] = []
        self.order: list[float] = []
        self.kind: list[int] = []
        self.edges: list = []          # (u, off_u_key, v, off_v_key)
        self.edge_index: dict = {}

    def item(self, key, w=0.0, h=0.0, order=0.0, kind=NODE) -> int:
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


def lay_out_level(lv: Level, offsets: dict, edge_labels: dict, opt: LayoutOptions, *,
                  unit_height: float, label_width: Callable[[str], float], label_size: float,
                  memo: dict | None = None) -> None:
    """Lay out one level in its own frame (top-left of its content at 0, 0); see the steps above.

    With ``memo`` (a dict kept for one whole layout, whose options and measures do not
    change), a level equal to one laid out before (:func:`level_signature`: the 1,400
    residual blocks of a ResNet-like model, the stages that hold them) takes that one's result
    instead of being laid out again: the same inputs give the same numbers.
    """
    key = None
    if memo is not None:
        key = level_signature(lv, offsets, edge_labels)
        done = memo.get(key)
        if done is not None:
            (lv.x, lv.y, lv.width, lv.height, lv.routes, lv.labels, lv.back, lv.layer_tops,
             lv.layer_h) = done
            return
    LevelLayout(lv, offsets, edge_labels, opt, unit_height, label_width, label_size).run()
    if key is not None:
        memo[key] = (lv.x, lv.y, lv.width, lv.height, lv.routes, lv.labels, lv.back, lv.layer_tops, lv.layer_h)


def level_signature(lv: Level, offsets: dict, edge_labels: dict) -> tuple:
    """Everything :class:`LevelLayout` reads from a level: item kinds and sizes, the order of
    the items (as ranks: only comparisons of orders matter), and per edge its ends, the port
    offsets at its ends and its label. Two levels with equal signatures get equal layouts.

    Example:
        >>> a, b = Level("a"), Level("b")
        >>> for lv, first in ((a, 0.0), (b, 70.0)):
        ...     u, v = lv.item(("n", f"x{first}"), 50, 24, first), lv.item(("n", f"y{first}"), 60, 24, first + 1)
        ...     _ = lv.edge(u, None, v, None)
        >>> level_signature(a, {}, {}) == level_signature(b, {}, {})
        True
    """
    rank = {v: r for r, v in enumerate(sorted(set(lv.order)))}
    items = tuple(zip(lv.kind, lv.w, lv.h, [rank[o] for o in lv.order]))
    keys = lv.items
    edges = tuple((u, v, offsets.get((keys[u], uk), 0.0), offsets.get((keys[v], vk), 0.0), edge_labels.get(ei))
                  for ei, (u, uk, v, vk) in enumerate(lv.edges))
    return items, edges


def pav(target: list[float], weight: list[float], sep: list[float]) -> list[float]:
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


def count_crossings(layers: list[list[int]], pos: list[int], down: list[list[int]]) -> int:
    """Edge crossings between consecutive layers (inversion count per layer pair)."""
    total = 0
    for layer in layers[:-1]:
        seq = []
        for u in layer:
            seq.extend(sorted(pos[v] for v in down[u]))
        if len(seq) >= 2:
            total += inversions(seq)
    return total


def inversions(seq: list[int]) -> int:
    """Pairs i < j with seq[j] < seq[i] (quadratic when short, halving with a sorted search above)."""
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
    sorted_prefix = np.sort(a[: n // 2])
    right = a[n // 2:]
    inv = int(len(sorted_prefix) * len(right) - np.searchsorted(sorted_prefix, right, side="right").sum())
    return inv + inversions(a[: n // 2].tolist()) + inversions(right.tolist())


def weighted_median(cand: list[tuple[float, float]], current: float) -> float:
    """The weighted median of sorted ``(value, weight)`` pairs; between two optimal values,
    the one that moves ``current`` least."""
    half = sum(c[1] for c in cand) / 2
    acc = 0.0
    for k, (val, wt) in enumerate(cand):
        acc += wt
        if acc > half + 1e-9:
            return val
        if abs(acc - half) <= 1e-9:
            return min(max(current, val), cand[k + 1][0])
    return cand[-1][0]


class LevelLayout:
    """The working state of one level's layout; each step is one method (see the module)."""

    def __init__(self, lv: Level, offsets: dict, edge_labels: dict, opt: LayoutOptions,
                 unit_height: float, label_width: Callable[[str], float], label_size: float):
        self.lv, self.offsets, self.edge_labels, self.opt = lv, offsets, edge_labels, opt
        self.unit_height, self.label_width, self.label_size = unit_height, label_width, label_size
        self.n = len(lv.items)
        self.order = list(lv.order)
        self.kind = lv.kind

    def run(self) -> None:
        self.break_cycles()
        self.assign_layers()
        self.insert_dummies()
        self.order_layers()
        self.reduce_crossings()
        self.place_x()
        self.place_y()
        self.route_edges()
        self.place_labels()

    def offset(self, item: int, key) -> float:
        return self.offsets.get((self.lv.items[item], key), 0.0)

    # 0. cycle breaking ---------------------------------------------------------------------
    def break_cycles(self) -> None:
        """``rank`` (a topological order by execution order), ``fwd``/``back`` edges, ``succ``/``pred``."""
        n, order, kind, edges = self.n, self.order, self.kind, self.lv.edges
        indeg = [0] * n
        outs: list[list[int]] = [[] for _ in range(n)]
        for u, _, v, _ in edges:
            if u != v and kind[u] != OUT_PORT and kind[v] != IN_PORT:
                outs[u].append(v)
                indeg[v] += 1
        rank = [0] * n
        heap = [(order[i], i) for i in range(n) if indeg[i] == 0]
        heapq.heapify(heap)
        done = [False] * n
        remaining = sorted(range(n), key=order.__getitem__)
        r = ptr = 0
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
        self.rank = rank
        self.fwd, self.back = [], []
        for ei, (u, _, v, _) in enumerate(edges):
            if kind[u] == OUT_PORT or kind[v] == IN_PORT or u == v:
                continue
            (self.fwd if rank[u] < rank[v] else self.back).append(ei)
        self.succ: list[list[int]] = [[] for _ in range(n)]
        self.pred: list[list[int]] = [[] for _ in range(n)]
        for ei in self.fwd:
            u, _, v, _ = edges[ei]
            self.succ[u].append(v)
            self.pred[v].append(u)

    # 1. layers -----------------------------------------------------------------------------
    def _longest_path_layers(self, span: list[int]) -> list[int]:
        n, kind, pred, succ, base = self.n, self.kind, self.pred, self.succ, self.base
        layer = [0] * n
        for v in self.topo:
            m = base
            for u in pred[v]:
                if kind[u] != IN_PORT and layer[u] + span[u] > m:
                    m = layer[u] + span[u]
            layer[v] = m
        for v in reversed(self.topo):
            if not pred[v] and succ[v]:
                ls = [layer[s] for s in succ[v] if kind[s] in (NODE, GROUP)]
                if ls:
                    layer[v] = max(layer[v], min(ls) - span[v])
        return layer

    def _busy_layers(self, layer: list[int]) -> list[int]:
        """How many items and edge lanes each layer holds."""
        kind, edges = self.kind, self.lv.edges
        busy = [0] * (max(layer, default=0) + 2)
        for v in self.topo:
            busy[layer[v]] += 1
        for ei in self.fwd:
            u, _, v, _ = edges[ei]
            if kind[u] != IN_PORT and kind[v] != OUT_PORT:
                for L in range(layer[u] + 1, layer[v]):
                    busy[L] += 1
        return busy

    def assign_layers(self) -> None:
        """``layer`` and ``span`` of every item, and ``nlayers``; ports on the first and last layer."""
        n, kind, lv, opt = self.n, self.kind, self.lv, self.opt
        self.has_in = any(k == IN_PORT for k in kind)
        self.base = 1 if self.has_in else 0
        self.topo = sorted((i for i in range(n) if kind[i] in (NODE, GROUP)), key=self.rank.__getitem__)
        unit = self.unit_height + opt.rank_gap
        span = [1] * n
        layer = self._longest_path_layers(span)
        tall = [i for i in range(n) if kind[i] == GROUP and lv.h[i] + opt.rank_gap > 1.5 * unit]
        if tall:  # a tall group spans layers only where something runs beside it
            busy = self._busy_layers(layer)
            for i in tall:
                if busy[layer[i]] > 1:
                    span[i] = max(1, int(round((lv.h[i] + opt.rank_gap) / unit)))
            if any(sp > 1 for sp in span):
                layer = self._longest_path_layers(span)
        last = max((layer[v] + span[v] - 1 for v in self.topo), default=self.base - 1)
        for i in range(n):
            if kind[i] == OUT_PORT:
                layer[i] = last + 1
        nlayers = (last + 2) if any(k == OUT_PORT for k in kind) else last + 1
        self.layer, self.span, self.nlayers = layer, span, max(nlayers, 1)

    # 2. dummies ----------------------------------------------------------------------------
    def _new_item(self, L: int, width: float, of: int, src: int) -> int:
        d = len(self.w)
        self.w.append(width)
        self.h.append(0.0)
        self.layer.append(L)
        self.is_dummy.append(width == 0.0)
        self.head.append(of)
        self.down.append([])
        self.up.append([])
        self.order.append(self.order[src])
        return d

    def insert_dummies(self) -> None:
        """Continuation items below spanning groups, dummies along long edges, ``up``/``down``
        links with the horizontal offsets of their endpoints (``link_off``)."""
        n, lv, layer, span = self.n, self.lv, self.layer, self.span
        self.w, self.h = list(lv.w), list(lv.h)
        self.is_dummy = [False] * n
        self.head = list(range(n))  # continuation -> the group it continues
        self.down: list[list[int]] = [[] for _ in range(n)]
        self.up: list[list[int]] = [[] for _ in range(n)]
        self.chain: dict[int, list[int]] = {}
        self.link_off: dict[tuple[int, int], float] = {}
        tail = list(range(n))
        for u in range(n):
            prev = u
            for L in range(layer[u] + 1, layer[u] + span[u]):
                c = self._new_item(L, self.w[u], u, u)
                self.down[prev].append(c)
                self.up[c].append(prev)
                prev = c
            tail[u] = prev
        for ei in self.fwd:
            u, uk, v, vk = lv.edges[ei]
            ou, ov = self.offset(u, uk), self.offset(v, vk)
            nodes = [tail[u]] + [self._new_item(L, 0.0, -1, u) for L in range(layer[u] + span[u], layer[v])] + [v]
            self.chain[ei] = nodes[1:-1]
            for a, b in zip(nodes, nodes[1:]):
                self.down[a].append(b)
                self.up[b].append(a)
                # offset of b relative to a along this link: x_b + off_b == x_a + off_a
                self.link_off[(a, b)] = (ou if a == tail[u] else 0.0) - (ov if b == v else 0.0)
        self.N = len(self.w)
        self.is_cont = [i >= n and self.head[i] >= 0 for i in range(self.N)]

    def order_layers(self) -> None:
        """``layers``: items per layer in execution order, ports after the others (by their source)."""
        n, kind, order, layer = self.n, self.kind, self.order, self.layer
        layers: list[list[int]] = [[] for _ in range(self.nlayers)]
        for i in sorted(range(self.N), key=lambda i: (order[i], i)):
            if not (i < n and kind[i] in (IN_PORT, OUT_PORT)):
                layers[layer[i]].append(i)
        for i in range(n):
            if kind[i] in (IN_PORT, OUT_PORT):
                layers[layer[i]].append(i)
        for L in (0, self.nlayers - 1):
            layers[L].sort(key=lambda i: (order[i], i))
        self.layers = layers

    # 3. crossing reduction -----------------------------------------------------------------
    def _number(self) -> None:
        for layer_nodes in self.layers:
            for p, i in enumerate(layer_nodes):
                self.pos[i] = p

    def _barycenter_sweep(self, direction: int) -> None:
        layers, pos, nlayers = self.layers, self.pos, self.nlayers
        rng = range(1, nlayers) if direction == 0 else range(nlayers - 2, -1, -1)
        nb = self.up if direction == 0 else self.down
        for L in rng:
            cur = layers[L]
            if len(cur) < 2:
                continue
            keys = {}
            for i in cur:
                ns = nb[i]
                keys[i] = (sum(pos[j] for j in ns) / len(ns)) if ns else pos[i]
            cur.sort(key=keys.__getitem__)
            for p, i in enumerate(cur):
                pos[i] = p

    def reduce_crossings(self) -> None:
        """Reorder ``layers`` by barycenter sweeps; keep the order with the fewest crossings
        (counted only below 3,000 items, where counting is cheap enough)."""
        self.pos = [0] * self.N
        self._number()
        self.big = self.N > 3000
        trivial = max(len(layer) for layer in self.layers) < 2
        best = None if (self.big or trivial) else (count_crossings(self.layers, self.pos, self.down),
                                                   [list(layer) for layer in self.layers])
        for _ in range(0 if trivial else (self.opt.sweeps if not self.big else 2)):
            self._barycenter_sweep(0)
            self._barycenter_sweep(1)
            if best is not None:
                c = count_crossings(self.layers, self.pos, self.down)
                if c < best[0]:
                    best = (c, [list(layer) for layer in self.layers])
                if c == 0:
                    break
        if best is not None:
            self.layers = best[1]
            self._number()

    # 4. x coordinates ----------------------------------------------------------------------
    def _separations(self) -> list[list[float]]:
        w, is_dummy, opt = self.w, self.is_dummy, self.opt
        seps = []
        for cur in self.layers:
            s = []
            for a, b in zip(cur, cur[1:]):
                gap = opt.dummy_gap if (is_dummy[a] or is_dummy[b] or w[a] == 0 or w[b] == 0) else opt.node_gap
                s.append((w[a] + w[b]) / 2 + gap)
            seps.append(s)
        return seps

    def _packed_x(self) -> list[float]:
        """Each layer packed at its separations and centred on 0."""
        x = [0.0] * self.N
        for L, cur in enumerate(self.layers):
            acc = 0.0
            for k, i in enumerate(cur):
                x[i] = acc
                if k < len(self.seps[L]):
                    acc += self.seps[L][k]
            for i in cur:
                x[i] -= acc / 2
        return x

    def _item_weights(self) -> list[float]:
        """Items on the longest path through this level weigh more, so the main path stays
        straight and side branches (shortcuts, downsamples) make room for it."""
        n, kind, succ, span, layer = self.n, self.kind, self.succ, self.span, self.layer
        reach = [0] * n
        for v in reversed(self.topo):
            for s2 in succ[v]:
                if kind[s2] in (NODE, GROUP) and reach[s2] + span[v] > reach[v]:
                    reach[v] = reach[s2] + span[v]
        through = [layer[i] + reach[i] for i in range(n)]
        longest = max((through[i] for i in self.topo), default=1) or 1
        weight = [0.01 if self.is_dummy[i] else (1.0 if i < n and kind[i] in (IN_PORT, OUT_PORT) else 2.0)
                  for i in range(self.N)]
        for i in self.topo:
            weight[i] = 1.0 + 8.0 * (through[i] / longest) ** 4
        for i in range(self.N):
            if self.is_cont[i]:
                weight[i] = 50.0
        return weight

    def _neighbours(self) -> None:
        """Neighbours above and below as (index, offset, link weight), computed once."""
        is_dummy, link_off = self.is_dummy, self.link_off

        def link_w(a, b):
            da, db = is_dummy[a], is_dummy[b]
            return 8.0 if (da and db) else (1.0 if (da or db) else 2.0)

        self.up_n = [[(j, link_off.get((j, i), 0.0), link_w(i, j)) for j in self.up[i]] for i in range(self.N)]
        self.down_n = [[(j, -link_off.get((i, j), 0.0), link_w(i, j)) for j in self.down[i]] for i in range(self.N)]

    def _sweep_layer(self, L: int, use_up: bool, use_down: bool) -> float:
        """Move layer ``L`` towards its neighbours' weighted median, separations kept exactly;
        returns the largest move."""
        cur = self.layers[L]
        if not cur:
            return 0.0
        x, up_n, down_n = self.x, self.up_n, self.down_n
        tgt = []
        for i in cur:
            nb = (up_n[i] + down_n[i]) if (use_up and use_down) else (up_n[i] if use_up else down_n[i])
            if not nb:
                tgt.append(x[i])
            elif len(nb) == 1:
                j, off, _ = nb[0]
                tgt.append(x[j] + off)
            else:  # weighted median: follow the main path, let side lanes bend
                tgt.append(weighted_median(sorted((x[j] + off, wt) for j, off, wt in nb), x[i]))
        new = pav(tgt, self.pav_w[L], self.seps[L]) if len(cur) > 1 else tgt
        moved = 0.0
        for i, v in zip(cur, new):
            d = abs(x[i] - v)
            if d > moved:
                moved = d
            x[i] = v
        return moved

    def _align_continuations(self) -> None:
        """Continuation items sit exactly below their group; the rest of the layer makes room."""
        x, is_cont = self.x, self.is_cont
        for L, cur in enumerate(self.layers):
            if not any(is_cont[i] for i in cur):
                continue
            for i in cur:
                if is_cont[i]:
                    x[i] = x[self.head[i]]
            if len(cur) > 1:
                anchored = [1e9 if is_cont[i] else 1.0 for i in cur]
                for i, v in zip(cur, pav([x[i] for i in cur], anchored, self.seps[L])):
                    x[i] = v

    def place_x(self) -> None:
        """``x`` of every item: down/up sweeps until nothing moves 2 px, then two two-sided passes."""
        nlayers = self.nlayers
        self.seps = self._separations()
        self.x = self._packed_x()
        weight = self._item_weights()
        self._neighbours()
        self.pav_w = [[weight[i] for i in cur] for cur in self.layers]
        sweep = self._sweep_layer
        for _ in range(2 if self.big else 3):
            moved = max([sweep(L, True, False) for L in range(1, nlayers)]
                        + [sweep(L, False, True) for L in range(nlayers - 2, -1, -1)], default=0.0)
            if moved < 2.0:
                break
        for L in range(nlayers):
            sweep(L, True, True)
        for L in range(nlayers - 1, -1, -1):
            sweep(L, True, True)
        if any(self.is_cont):
            self._align_continuations()

    # 5. y coordinates ----------------------------------------------------------------------
    def _layer_gaps(self) -> list[float]:
        n, kind, layers, opt, nlayers = self.n, self.kind, self.layers, self.opt, self.nlayers
        gaps = [0.0] * nlayers
        for L in range(nlayers - 1):
            port_only = L == 0 and self.has_in and all(i < n and kind[i] == IN_PORT for i in layers[L])
            next_out = L + 1 == nlayers - 1 and any(i < n and kind[i] == OUT_PORT for i in layers[L + 1])
            gaps[L] = opt.port_gap if (port_only or next_out) else opt.rank_gap
        return gaps

    def place_y(self) -> None:
        """Layers stacked, items centred in their layer (spanning groups at the top of their
        first layer, their last layer made tall enough to hold them); the level's size."""
        n, N, h, span, layer, nlayers, lv = self.n, self.N, self.h, self.span, self.layer, self.nlayers, self.lv
        lh = [max((h[i] for i in cur if i >= n or span[i] == 1), default=0.0) for cur in self.layers]
        gaps = self._layer_gaps()
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
        self.ys = [tops[layer[i]] + (h[i] / 2 if i < n and span[i] > 1 else lh[layer[i]] / 2) for i in range(N)]
        xs, ws = np.asarray(self.x), np.asarray(self.w)
        self.left = float((xs - ws / 2).min()) if N else 0.0
        right = float((xs + ws / 2).max()) if N else 0.0
        self.tops, self.lh = tops, lh
        lv.x = [v - self.left for v in self.x[:n]]
        lv.y = self.ys[:n]
        lv.width = max(right - self.left, 0.0)
        lv.height = y
        lv.layer_tops = tops
        lv.layer_h = lh

    # 6. routes -----------------------------------------------------------------------------
    def route_edges(self) -> None:
        """Forward edges through their dummies; back edges leave the source downwards, climb
        beside everything and enter the target from above."""
        lv, x, ys, h, w, layer, left = self.lv, self.x, self.ys, self.h, self.w, self.layer, self.left
        routes: dict[int, list[tuple[float, float]]] = {}
        for ei in self.fwd:
            u, uk, v, vk = lv.edges[ei]
            pts = [(x[u] - left + self.offset(u, uk), ys[u] + h[u] / 2)]
            for d in self.chain[ei]:
                L = layer[d]
                xd = x[d] - left
                pts.append((xd, self.tops[L]))
                if self.lh[L] > 0:
                    pts.append((xd, self.tops[L] + self.lh[L]))
            pts.append((x[v] - left + self.offset(v, vk), ys[v] - h[v] / 2))
            routes[ei] = pts
        for ei in self.back:
            u, uk, v, vk = lv.edges[ei]
            lo, hi = sorted((layer[u], layer[v]))
            side = max(x[i] + w[i] / 2 for L in range(lo, hi + 1) for i in self.layers[L]) - left + 20
            y0, y1 = ys[u] + h[u] / 2, ys[v] - h[v] / 2
            routes[ei] = [(x[u] - left + self.offset(u, uk), y0), (side, y0 + 12), (side, y1 - 12),
                          (x[v] - left + self.offset(v, vk), y1)]
            lv.width = max(lv.width, side + 4)
            lv.height = max(lv.height, y0 + 14)
        lv.routes = routes
        lv.back = set(self.back)

    # 7. labels -----------------------------------------------------------------------------
    def _gap_occupancy(self) -> tuple[dict, dict]:
        """Per layer gap: x-extents of edge segments crossing it, and of spanning groups in it."""
        lv, tops = self.lv, self.tops
        spans: dict[int, list[tuple[float, float, int]]] = {}
        occupied: dict[int, list[tuple[float, float]]] = {}
        for ei in self.fwd:
            pts = lv.routes[ei]
            for (a, ya), (b, yb) in zip(pts, pts[1:]):
                if yb > ya:
                    L = bisect.bisect_right(tops, ya + 1e-6) - 1
                    spans.setdefault(L, []).append((min(a, b), max(a, b), ei))
        for i in range(self.n):
            for L in range(self.layer[i], self.layer[i] + self.span[i] - 1):
                xi = self.x[i] - self.left
                occupied.setdefault(L, []).append((xi - self.w[i] / 2, xi + self.w[i] / 2))
        return spans, occupied

    def place_labels(self) -> None:
        """Shape labels on edges leaving a node, in the gap below it where nothing else is."""
        lv = self.lv
        labels: dict[int, tuple[float, float]] = {}
        if self.opt.labels:
            spans, occupied = self._gap_occupancy()
            for ei in self.fwd:
                text = self.edge_labels.get(ei)
                u = lv.edges[ei][0]
                if not text or self.kind[u] != NODE:
                    continue
                L = self.layer[u]
                pts = lv.routes[ei]
                x0 = pts[0][0] + 4
                x1 = x0 + self.label_width(text)
                gap_top = self.tops[L] + self.lh[L]
                ok = all(b < x0 - 2 or a > x1 + 2 for a, b, e2 in spans.get(L, ()) if e2 != ei)
                ok = ok and all(b < x0 - 4 or a > x1 + 4 for a, b in occupied.get(L, ()))
                if ok and pts[1][0] <= pts[0][0] + 1.0:
                    occupied.setdefault(L, []).append((x0, x1))
                    lv.width = max(lv.width, x1 + 2)
                    labels[ei] = (x0, gap_top + min(self.opt.rank_gap, pts[1][1] - gap_top) / 2
                                  + self.label_size * 0.35)
        lv.labels = labels
