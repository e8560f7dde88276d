"""The graph viewer's layout, step by step (web/src/graph/viewer.js, ``neuralscopeGraph.steps``):
each step of one box's layered layout called on its own in headless Chromium, on inputs
small enough that the right answer is known, or checked against a reference we did not
write (scikit-learn's isotonic regression for the x placement, a brute-force count for the
crossings)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neuralscope import zoo
from neuralscope.graph import graph
from neuralscope.graph.render_html import render_html


@pytest.fixture
def steps(page, tmp_path):
    """A page whose viewer exposes the layout steps; ``steps(js)`` evaluates ``js`` with ``S``
    (the steps) and ``items(specs)`` (items from [id, type, order, w] lists) in scope."""
    path = tmp_path / "g.html"
    path.write_text(render_html(graph(zoo.DigitsCNN(), torch.rand(1, 1, 8, 8))), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_function("window.neuralscopeGraph && window.neuralscopeGraph.ready", timeout=30_000)
    prelude = ("const S = neuralscopeGraph.steps;"
               "const items = (specs) => new Map(specs.map(([id, type, order, w]) => [id, {id, type, order, w: w ?? 60, h: 40}]));"
               "const edges = (pairs) => pairs.map(([from, to], i) => ({id: 'e' + i, from, to, key: from}));")
    yield lambda js: page.evaluate(f"() => {{ {prelude} {js} }}")
    assert page.console_errors == []


def test_layers_follow_execution_order_and_sources_hang_above_their_consumer(steps):
    layers = steps("""
        const I = items([['a', 'node', 0], ['s', 'node', 1], ['b', 'node', 2], ['c', 'node', 3]]);
        const E = edges([['a', 'b'], ['b', 'c'], ['s', 'c'], ['c', 'a']]);
        S.orientEdges(I, [...I.values()], E);
        S.assignLayers([...I.values()]);
        return [Object.fromEntries([...I.values()].map((it) => [it.id, it.layer])), E.map((e) => e.rev)];""")
    # c -> a runs against execution order (a module called again): reversed, so no cycle
    assert layers == [{"a": 0, "b": 1, "c": 2, "s": 1}, [False, False, False, True]]


def test_box_ports_take_the_first_and_last_layers(steps):
    out = steps("""
        const I = items([['in:x', 'in', -1, 0], ['a', 'node', 0], ['b', 'node', 1], ['out:b', 'out', 9, 0]]);
        const E = edges([['in:x', 'a'], ['a', 'b'], ['b', 'out:b']]);
        S.orientEdges(I, [...I.values()], E);
        const ends = S.assignLayers([...I.values()]);
        return [ends, [...I.values()].map((it) => it.layer)];""")
    assert out == [{"hasIn": True, "hasOut": True, "nLayers": 4}, [0, 1, 2, 3]]


def test_a_long_edge_gets_one_dummy_per_layer_it_crosses(steps):
    chain = steps("""
        const I = items([['a', 'node', 0], ['b', 'node', 1], ['c', 'node', 2], ['d', 'node', 3]]);
        const E = edges([['a', 'b'], ['b', 'c'], ['c', 'd'], ['a', 'd']]);
        S.orientEdges(I, [...I.values()], E);
        const ends = S.assignLayers([...I.values()]);
        const g = S.insertDummies([...I.values()], E, ends.nLayers);
        return [g.layers.map((L) => L.length), E[3].chain.map((n) => n.type)];""")
    assert chain == [[1, 2, 2, 1], ["node", "dummy", "dummy", "node"]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossings_equal_a_brute_force_count(steps, seed):
    rng = np.random.default_rng(seed)
    top, bottom = 7, 6
    pairs = sorted({(int(rng.integers(top)), int(rng.integers(bottom))) for _ in range(15)})
    counted = steps(f"""
        const up = Array.from({{length: {top}}}, (_, k) => ({{pos: k, down: []}}));
        const low = Array.from({{length: {bottom}}}, (_, k) => ({{pos: k, down: []}}));
        for (const [u, v] of {json.dumps(pairs)}) up[u].down.push({{n: low[v], w: 1}});
        return S.crossings([up, low]);""")
    brute = sum(1 for i, (a, b) in enumerate(pairs) for c, d in pairs[i + 1:] if (a - c) * (b - d) < 0)
    assert counted == brute


def test_ordering_removes_the_crossing_of_two_swapped_chains(steps):
    out = steps("""
        const I = items([['a', 'node', 0], ['b', 'node', 1], ['c', 'node', 2], ['d', 'node', 3]]);
        const E = edges([['a', 'd'], ['b', 'c']]);
        S.orientEdges(I, [...I.values()], E);
        const ends = S.assignLayers([...I.values()]);
        const g = S.insertDummies([...I.values()], E, ends.nLayers);
        g.layers.forEach((L) => L.forEach((n, k) => { n.pos = k; }));
        const before = S.crossings(g.layers.map((L) => L.slice().sort((x, y) => x.order - y.order)));
        const layers = S.orderLayers(g.layers, 4);
        return [before, S.crossings(layers), layers.map((L) => L.map((n) => n.id))];""")
    assert out[0] == 1 and out[1] == 0, out
    assert out[2] in ([["a", "b"], ["d", "c"]], [["b", "a"], ["c", "d"]])


@pytest.mark.parametrize("seed", [0, 1])
def test_isotonic_placement_is_the_least_squares_fit_under_the_separation(steps, seed):
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(seed)
    widths = rng.integers(20, 120, 12).tolist()
    desired = (rng.normal(size=12) * 80).tolist()
    x, off = steps(f"""
        const L = {widths}.map((w, k) => ({{id: 'n' + k, type: 'node', w, x: 0}}));
        S.isotonicPlace(L, {desired});
        const off = [0];
        for (let k = 1; k < L.length; k++) off.push(off[k - 1] + S.separation(L[k - 1], L[k]));
        return [L.map((n) => n.x), off];""")
    x, off = np.array(x), np.array(off)
    # x_k = off_k + y_k with y non-decreasing: the isotonic regression of desired - off
    ref = IsotonicRegression().fit_transform(np.arange(12), np.array(desired) - off) + off
    np.testing.assert_allclose(x, ref, atol=1e-9)  # the same pool-adjacent-violators solution
    assert (np.diff(x) >= np.diff(off) - 1e-9).all()


def test_x_placement_keeps_every_layer_apart_and_a_chain_straight(steps):
    out = steps("""
        const I = items([['a', 'node', 0, 80], ['b', 'node', 1, 120], ['c', 'node', 2, 60], ['s', 'node', 3, 90], ['t', 'node', 4, 70]]);
        const E = edges([['a', 'b'], ['b', 'c'], ['a', 's'], ['s', 't'], ['c', 't']]);
        S.orientEdges(I, [...I.values()], E);
        const ends = S.assignLayers([...I.values()]);
        const g = S.insertDummies([...I.values()], E, ends.nLayers);
        const layers = S.orderLayers(g.layers, 8);
        S.placeX(layers, 8);
        const gaps = layers.flatMap((L) => L.slice(1).map((n, k) => n.x - L[k].x - S.separation(L[k], n)));
        const chain = items([['p', 'node', 0, 80], ['q', 'node', 1, 120], ['r', 'node', 2, 60]]);
        const CE = edges([['p', 'q'], ['q', 'r']]);
        S.orientEdges(chain, [...chain.values()], CE);
        const ce = S.assignLayers([...chain.values()]);
        const cl = S.orderLayers(S.insertDummies([...chain.values()], CE, ce.nLayers).layers, 3);
        S.placeX(cl, 3);
        return [Math.min(...gaps), [...chain.values()].map((n) => n.x)];""")
    min_gap, chain = out
    assert min_gap >= -1e-9
    assert max(chain) - min(chain) < 1e-6, chain  # a chain of boxes of different widths runs straight down
