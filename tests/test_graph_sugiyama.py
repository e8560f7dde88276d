"""Each step of the layered layout of one level does its one job (graph/sugiyama.py)."""
import itertools

import pytest

from neuralscope.graph.sugiyama import (GROUP, IN_PORT, OUT_PORT, Level, LevelLayout, LayoutOptions, count_crossings,
                                        inversions, lay_out_level, level_signature, pav,
                                        weighted_median)

UNIT = 38.0


def level(n_nodes, edges, widths=None, heights=None, kinds=None):
    lv = Level("")
    for i in range(n_nodes):
        lv.item(("n", i), (widths or {}).get(i, 60.0), (heights or {}).get(i, UNIT), float(i),
                (kinds or {}).get(i, 0))
    for u, v in edges:
        lv.edge(u, None, v, None)
    return lv


def steps(lv, upto):
    lay = LevelLayout(lv, {}, {}, LayoutOptions(), UNIT, lambda t: 6.0 * len(t), 9.5)
    for name in ("break_cycles", "assign_layers", "insert_dummies", "order_layers", "reduce_crossings",
                 "place_x", "place_y", "route_edges", "place_labels"):
        getattr(lay, name)()
        if name == upto:
            return lay
    return lay


def test_cycle_breaking_reverses_only_the_edge_against_execution_order():
    lay = steps(level(3, [(0, 1), (1, 2), (2, 0)]), "break_cycles")
    assert lay.rank == [0, 1, 2]
    assert [lay.lv.edges[e][:3:2] for e in lay.back] == [(2, 0)]
    assert len(lay.fwd) == 2


def test_layers_follow_the_longest_path_and_sources_sit_next_to_their_consumer():
    # 0 -> 1 -> 2 -> 3, and a second source 4 feeding only 3
    lay = steps(level(5, [(0, 1), (1, 2), (2, 3), (4, 3)]), "assign_layers")
    assert lay.layer[:4] == [0, 1, 2, 3]
    assert lay.layer[4] == 2, "a source is pulled down to the layer above its consumer"


def test_a_tall_group_spans_layers_only_where_something_runs_beside_it():
    tall = 4 * (UNIT + 34)
    alone = steps(level(3, [(0, 1), (1, 2)], heights={1: tall}, kinds={1: GROUP}), "assign_layers")
    assert alone.span[1] == 1
    beside = steps(level(4, [(0, 1), (1, 2), (0, 3), (3, 2)], heights={1: tall}, kinds={1: GROUP}),
                   "assign_layers")
    assert beside.span[1] > 1


def test_long_edges_get_one_dummy_per_layer_crossed():
    lay = steps(level(4, [(0, 1), (1, 2), (2, 3), (0, 3)]), "insert_dummies")
    long_edge = lay.lv.edge_index[(0, None, 3, None)]
    dummies = lay.chain[long_edge]
    assert [lay.layer[d] for d in dummies] == [1, 2]
    assert all(lay.is_dummy[d] for d in dummies)


def test_ports_sit_on_the_first_and_last_layer():
    lay = steps(level(4, [(0, 1), (1, 2), (2, 3)], kinds={0: IN_PORT, 3: OUT_PORT}), "order_layers")
    assert lay.layers[0] == [0] and lay.layers[-1] == [3]


def test_crossing_reduction_untangles_a_crossed_pair():
    # two chains drawn crossed by execution order: 0->3, 1->2 with 2 before 3 in order
    lay = steps(level(4, [(0, 3), (1, 2)]), "reduce_crossings")
    assert count_crossings(lay.layers, lay.pos, lay.down) == 0


def test_x_placement_keeps_every_separation_and_straightens_a_chain():
    lay = steps(level(5, [(0, 1), (1, 2), (0, 3), (3, 2), (2, 4)], widths={3: 120.0}), "place_x")
    for L, cur in enumerate(lay.layers):
        for k, (a, b) in enumerate(zip(cur, cur[1:])):
            assert lay.x[b] - lay.x[a] >= lay.seps[L][k] - 1e-9
    assert lay.x[0] == pytest.approx(lay.x[2]) and lay.x[2] == pytest.approx(lay.x[4])


def test_y_placement_stacks_layers_without_overlap():
    lv = level(3, [(0, 1), (1, 2)], heights={1: 80.0})
    steps(lv, "place_y")
    boxes = [(lv.y[i] - lv.h[i] / 2, lv.y[i] + lv.h[i] / 2) for i in range(3)]
    assert boxes[0][1] <= boxes[1][0] and boxes[1][1] <= boxes[2][0]
    assert lv.height == pytest.approx(boxes[2][1])


def test_routes_run_from_source_bottom_to_target_top_and_back_edges_climb_beside():
    lv = level(3, [(0, 1), (1, 2), (2, 0)])
    steps(lv, "route_edges")
    fwd = lv.routes[lv.edge_index[(0, None, 1, None)]]
    assert fwd[0][1] == pytest.approx(lv.y[0] + lv.h[0] / 2) and fwd[-1][1] == pytest.approx(lv.y[1] - lv.h[1] / 2)
    back = lv.routes[lv.edge_index[(2, None, 0, None)]]
    assert lv.edge_index[(2, None, 0, None)] in lv.back
    assert back[1][0] > max(lv.x[i] + lv.w[i] / 2 for i in range(3)), "climbs to the right of every node"


def test_labels_are_placed_only_where_they_fit():
    lv = level(2, [(0, 1)])
    lay_out_level(lv, {}, {0: "(1, 64)"}, LayoutOptions(), unit_height=UNIT, label_width=lambda t: 6.0 * len(t),
                  label_size=9.5)
    (x0, y), = lv.labels.values()
    assert lv.y[0] + lv.h[0] / 2 < y < lv.y[1] - lv.h[1] / 2
    crowded = level(3, [(0, 1), (0, 2)], widths={1: 10.0, 2: 10.0})
    lay_out_level(crowded, {}, {0: "(1, 64, 8, 8) float32 " * 3, 1: "x" * 60}, LayoutOptions(),
                  unit_height=UNIT, label_width=lambda t: 6.0 * len(t), label_size=9.5)
    assert len(crowded.labels) < 2, "two long labels cannot share one gap"


def test_pav_is_the_least_squares_solution_with_minimum_separations():
    target, weight, sep = [5.0, 0.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0]
    got = pav(target, weight, sep)
    assert all(b - a >= s - 1e-12 for a, b, s in zip(got, got[1:], sep))
    # brute force over a fine grid of the first position (the others follow at minimum separation
    # or at their targets, whichever is larger): PAV is at least as good as anything on the grid
    def cost(xs):
        return sum(w * (x - t) ** 2 for x, t, w in zip(xs, target, weight))
    best = min(cost([a, a + 2, a + 4]) for a in [i / 100 for i in range(-500, 500)])
    assert cost(got) <= best + 1e-9


def test_inversions_match_a_brute_force_count():
    for seq in ([3, 1, 2], list(range(100, 0, -1)), [i * 7919 % 131 for i in range(200)]):
        brute = sum(1 for i, j in itertools.combinations(range(len(seq)), 2) if seq[j] < seq[i])
        assert inversions(seq) == brute


def test_weighted_median_follows_the_heavier_side_and_moves_least_on_a_tie():
    assert weighted_median([(0.0, 1.0), (10.0, 5.0)], 3.0) == 10.0
    assert weighted_median([(0.0, 1.0), (10.0, 1.0)], 3.0) == 3.0


def _ported_level(first=0.0, width=60.0, offset=5.0, label="1×4", order_gap=1.0):
    """A child group fed through its in port and a node after it, as layout.py builds them."""
    lv = Level("a")
    port = lv.item(("in", "x"), 0.0, 0.0, first - 1e9, IN_PORT)
    box = lv.item(("c", "a.b"), width, 80.0, first, GROUP)
    fc = lv.item(("n", "a.fc"), 60.0, UNIT, first + order_gap)
    lv.edge(port, None, box, "x")
    lv.edge(box, "x", fc, None)
    offsets = {(("c", "a.b"), "x"): offset}
    return lv, offsets, {1: label}


@pytest.mark.parametrize("change", ["width", "offset", "label", "order"])
def test_level_signature_tells_apart_levels_that_lay_out_differently(change):
    lv, offsets, labels = _ported_level()
    other = _ported_level(**{"width": {"width": 90.0}, "offset": {"offset": -7.0}, "label": {"label": "1×4×9"},
                             "order": {"order_gap": -0.5}}[change])
    assert level_signature(lv, offsets, labels) != level_signature(*other)


def test_level_signature_is_the_same_for_a_level_shifted_in_execution_order():
    # the same block run later in the model: every order value larger by the same amount
    assert level_signature(*_ported_level()) == level_signature(*_ported_level(first=700.0))


def test_a_memoised_level_gets_what_it_would_get_laid_out_alone():
    memo, opt = {}, LayoutOptions()
    kw = dict(unit_height=UNIT, label_width=lambda t: 6.0 * len(t), label_size=9.5)
    for first in (0.0, 700.0):
        lv, offsets, labels = _ported_level(first=first)
        lay_out_level(lv, offsets, labels, opt, memo=memo, **kw)
        alone, offsets, labels = _ported_level(first=first)
        lay_out_level(alone, offsets, labels, opt, **kw)
        assert (lv.x, lv.y, lv.width, lv.height, lv.routes, lv.labels, lv.back) == \
            (alone.x, alone.y, alone.width, alone.height, alone.routes, alone.labels, alone.back)
    assert len(memo) == 1
