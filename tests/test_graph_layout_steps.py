"""Each step of the layered layout of one level does its one job (web/src/graph/layout.js, the
one layout of the viewer and the static renderers), run in the embedded V8 that the static
renderers use. Inputs are small enough that the right answer is known, or the answer is
checked against a reference we did not write (scikit-learn's isotonic regression for the x
placement, a brute-force count for crossings and inversions)."""
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from neuralscope.graph.engine import layout_engine

UNIT = 38.0

PRELUDE = (Path(__file__).with_name("graph_layout_steps.js")).read_text(encoding="utf-8")  # level(), steps(), ported()


def js(body: str):
    """Run ``body`` (a function body that returns something JSON-able) after the prelude."""
    code = "JSON.stringify((() => {" + PRELUDE + body + "})())"
    return json.loads(layout_engine().eval(code))


def test_cycle_breaking_reverses_only_the_edge_against_execution_order():
    rank, back, n_fwd = js("""
        const lay = steps(level(3, [[0, 1], [1, 2], [2, 0]]), "breakCycles");
        return [lay.rank, lay.back.map((e) => [lay.lv.edges[e][0], lay.lv.edges[e][2]]), lay.fwd.length];""")
    assert rank == [0, 1, 2]
    assert back == [[2, 0]]
    assert n_fwd == 2


def test_layers_follow_the_longest_path_and_sources_sit_next_to_their_consumer():
    # 0 -> 1 -> 2 -> 3, and a second source 4 feeding only 3
    layer = js('return steps(level(5, [[0, 1], [1, 2], [2, 3], [4, 3]]), "assignLayers").layer;')
    assert layer[:4] == [0, 1, 2, 3]
    assert layer[4] == 2, "a source is pulled down to the layer above its consumer"


def test_a_tall_group_spans_layers_only_where_something_runs_beside_it():
    alone, beside = js(f"""
        const tall = 4 * ({UNIT} + 34), opts = {{heights: {{1: tall}}, kinds: {{1: GROUP}}}};
        return [steps(level(3, [[0, 1], [1, 2]], opts), "assignLayers").span[1],
                steps(level(4, [[0, 1], [1, 2], [0, 3], [3, 2]], opts), "assignLayers").span[1]];""")
    assert alone == 1
    assert beside > 1


def test_a_spanning_group_rounds_its_span_half_to_even_as_python_did():
    # (h + rank gap) / unit = 2.5 exactly: 2 layers (Python's round), not 3 (Math.round)
    span = js(f"""
        const h = 2.5 * ({UNIT} + 34) - 34;
        return steps(level(4, [[0, 1], [1, 2], [0, 3], [3, 2]], {{heights: {{1: h}}, kinds: {{1: GROUP}}}}),
                     "assignLayers").span[1];""")
    assert span == 2


def test_long_edges_get_one_dummy_per_layer_crossed():
    layers, dummy = js("""
        const lay = steps(level(4, [[0, 1], [1, 2], [2, 3], [0, 3]]), "insertDummies");
        const chain = lay.chain.get(edgeOf(lay.lv, 0, 3));
        return [chain.map((d) => lay.layer[d]), chain.map((d) => lay.isDummy[d])];""")
    assert layers == [1, 2]
    assert all(dummy)


def test_ports_sit_on_the_first_and_last_layer():
    layers = js("""
        return steps(level(4, [[0, 1], [1, 2], [2, 3]], {kinds: {0: IN_PORT, 3: OUT_PORT}}), "orderLayers").layers;""")
    assert layers[0] == [0] and layers[-1] == [3]


def test_crossing_reduction_untangles_a_crossed_pair():
    # two chains drawn crossed by execution order: 0->3, 1->2 with 2 before 3 in order
    before, after = js("""
        const lay = steps(level(4, [[0, 3], [1, 2]]), "orderLayers");
        lay.pos = new Array(lay.N).fill(0); lay.number();
        const before = countCrossings(lay.layers, lay.pos, lay.down);
        lay.reduceCrossings();
        return [before, countCrossings(lay.layers, lay.pos, lay.down)];""")
    assert before == 1 and after == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossings_equal_a_brute_force_count(seed):
    rng = np.random.default_rng(seed)
    top, bottom = 7, 6
    pairs = sorted({(int(rng.integers(top)), int(rng.integers(bottom))) for _ in range(15)})
    rng.shuffle(order := list(range(bottom)))
    counted = js(f"""
        const down = Array.from({{length: {top + bottom}}}, () => []);
        for (const [u, v] of {json.dumps(pairs)}) down[u].push({top} + v);
        const pos = Array.from({{length: {top}}}, (_, k) => k).concat({json.dumps(order)});
        return countCrossings([Array.from({{length: {top}}}, (_, k) => k), []], pos, down);""")
    at = {v: order[v] for v in range(bottom)}
    brute = sum(1 for i, (a, b) in enumerate(pairs) for c, d in pairs[i + 1:] if (a - c) * (at[b] - at[d]) < 0)
    assert counted == brute


def test_x_placement_keeps_every_separation_and_straightens_a_chain():
    xs, seps, layers = js("""
        const lay = steps(level(5, [[0, 1], [1, 2], [0, 3], [3, 2], [2, 4]], {widths: {3: 120}}), "placeX");
        return [lay.x, lay.seps, lay.layers];""")
    for L, cur in enumerate(layers):
        for k, (a, b) in enumerate(zip(cur, cur[1:])):
            assert xs[b] - xs[a] >= seps[L][k] - 1e-9
    assert xs[0] == pytest.approx(xs[2]) and xs[2] == pytest.approx(xs[4])


def test_a_chain_of_boxes_of_different_widths_runs_straight_down():
    xs = js('return steps(level(3, [[0, 1], [1, 2]], {widths: {0: 80, 1: 120, 2: 60}}), "placeX").x;')
    assert max(xs) - min(xs) < 1e-6, xs


def test_y_placement_stacks_layers_without_overlap():
    y, h, height = js("""
        const lv = level(3, [[0, 1], [1, 2]], {heights: {1: 80}});
        steps(lv, "placeY");
        return [lv.y, lv.h, lv.height];""")
    boxes = [(y[i] - h[i] / 2, y[i] + h[i] / 2) for i in range(3)]
    assert boxes[0][1] <= boxes[1][0] and boxes[1][1] <= boxes[2][0]
    assert height == pytest.approx(boxes[2][1])


def test_routes_run_from_source_bottom_to_target_top_and_back_edges_climb_beside():
    fwd, back, is_back, x, y, w, h = js("""
        const lv = level(3, [[0, 1], [1, 2], [2, 0]]);
        steps(lv, "routeEdges");
        const b = edgeOf(lv, 2, 0);
        return [lv.routes.get(edgeOf(lv, 0, 1)), lv.routes.get(b), lv.back.has(b), lv.x, lv.y, lv.w, lv.h];""")
    assert fwd[0][1] == pytest.approx(y[0] + h[0] / 2) and fwd[-1][1] == pytest.approx(y[1] - h[1] / 2)
    assert is_back
    assert back[1][0] > max(x[i] + w[i] / 2 for i in range(3)), "climbs to the right of every node"


def test_labels_are_placed_only_where_they_fit():
    (x0, ly), y, h, crowded = js("""
        const lv = level(2, [[0, 1]]);
        layOutLevel(lv, new Map(), measured({0: "(1, 64)"}), OPT);
        const crowded = level(3, [[0, 1], [0, 2]], {widths: {1: 10, 2: 10}});
        layOutLevel(crowded, new Map(), measured({0: "(1, 64, 8, 8) float32 ".repeat(3), 1: "x".repeat(60)}), OPT);
        return [[...lv.labels.values()][0], lv.y, lv.h, crowded.labels.size];""")
    assert y[0] + h[0] / 2 < ly < y[1] - h[1] / 2
    assert crowded < 2, "two long labels cannot share one gap"


@pytest.mark.parametrize("seed", [0, 1])
def test_pav_is_the_least_squares_fit_under_the_separations(seed):
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(seed)
    target = (rng.normal(size=12) * 80).tolist()
    weight = rng.uniform(0.01, 9.0, 12).tolist()
    sep = rng.uniform(20, 120, 11).tolist()
    x = np.array(js(f"return pav({target}, {weight}, {sep});"))
    off = np.concatenate([[0.0], np.cumsum(sep)])
    # x_k = off_k + y_k with y non-decreasing: the weighted isotonic regression of target - off
    ref = IsotonicRegression().fit_transform(np.arange(12), np.array(target) - off, sample_weight=weight) + off
    np.testing.assert_allclose(x, ref, atol=1e-9)
    assert (np.diff(x) >= np.array(sep) - 1e-9).all()


def test_inversions_match_a_brute_force_count():
    for seq in ([3, 1, 2], list(range(100, 0, -1)), [i * 7919 % 131 for i in range(200)]):
        brute = sum(1 for i, j in itertools.combinations(range(len(seq)), 2) if seq[j] < seq[i])
        assert js(f"return inversions({seq});") == brute


def test_weighted_median_follows_the_heavier_side_and_moves_least_on_a_tie():
    assert js("return weightedMedian([[0, 1], [10, 5]], 3);") == 10
    assert js("return weightedMedian([[0, 1], [10, 1]], 3);") == 3




@pytest.mark.parametrize("change", ["{width: 90}", "{offset: -7}", "{label: '1×4×9'}", "{orderGap: -0.5}"])
def test_level_signature_tells_apart_levels_that_lay_out_differently(change):
    assert js(f"return !sameSignature(levelSignature(...ported()), levelSignature(...ported({change})));")


def test_level_signature_is_the_same_for_a_level_shifted_in_execution_order():
    # the same block run later in the model: every order value larger by the same amount
    assert js("return sameSignature(levelSignature(...ported()), levelSignature(...ported({first: 700})));")


def test_a_memoised_level_gets_what_it_would_get_laid_out_alone():
    shared, alone, memo_size = js("""
        const memo = new Map(), shared = [], alone = [];
        const result = (lv) => JSON.stringify([lv.x, lv.y, lv.width, lv.height, [...lv.routes], [...lv.labels], [...lv.back]]);
        for (const first of [0, 700]) {
          const [lv, offsets, labels] = ported({first});
          layOutLevel(lv, offsets, labels, OPT, memo);
          shared.push(result(lv));
          const [lone, offsets2, labels2] = ported({first});
          layOutLevel(lone, offsets2, labels2, OPT);
          alone.push(result(lone));
        }
        return [shared, alone, memo.size];""")
    assert shared == alone
    assert memo_size == 1
