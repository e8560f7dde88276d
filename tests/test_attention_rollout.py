"""Rollout, flow and head statistics against hand computations and networkx's max-flow."""
from __future__ import annotations

import numpy as np
import pytest

from neuralscope.attention import AttentionMaps, attention_flow, head_statistics, rollout
from neuralscope.attention.maps import from_array

# Two layers, one head each, three tokens; rows sum to one.
A1 = np.array([[0.6, 0.3, 0.1],
               [0.2, 0.5, 0.3],
               [0.0, 0.4, 0.6]])
A2 = np.array([[0.1, 0.1, 0.8],
               [1.0, 0.0, 0.0],
               [0.3, 0.3, 0.4]])
W = np.stack([A1, A2])[:, None]  # (layers=2, heads=1, 3, 3)


def test_rollout_equals_hand_computation_on_two_layers():
    # Abnar & Zuidema: Â = 0.5 A + 0.5 I (rows already sum to 1), rollout = Â2 @ Â1.
    # Â1 = [[.8,.15,.05],[.1,.75,.15],[0,.2,.8]], Â2 = [[.55,.05,.4],[.5,.5,0],[.15,.15,.7]]
    # row 0 of Â2 @ Â1: .55*[.8,.15,.05] + .05*[.1,.75,.15] + .4*[0,.2,.8]
    hand_row0 = [0.55 * 0.8 + 0.05 * 0.1 + 0.0,
                 0.55 * 0.15 + 0.05 * 0.75 + 0.4 * 0.2,
                 0.55 * 0.05 + 0.05 * 0.15 + 0.4 * 0.8]
    assert hand_row0 == pytest.approx([0.445, 0.2, 0.355])
    r = rollout(W)
    np.testing.assert_allclose(r[0], hand_row0, atol=1e-12)
    # row 1: .5*Â1[0] + .5*Â1[1]
    np.testing.assert_allclose(r[1], [0.45, 0.45, 0.1], atol=1e-12)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-12)
    cumulative = rollout(W, cumulative=True)
    np.testing.assert_allclose(cumulative[0], 0.5 * A1 + 0.5 * np.eye(3), atol=1e-12)


def test_rollout_averages_heads_first():
    w = np.stack([np.stack([A1, A2]), np.stack([A2, A1])])  # 2 layers x 2 heads
    np.testing.assert_allclose(rollout(w), rollout(w.mean(1)[:, None]), atol=1e-12)


def test_flow_equals_hand_computation_on_two_layers():
    # With one source (top token u) and one sink (input token v), the only paths are
    # u -> k -> v and they share no edge: flow = sum_k min(Â2[u,k], Â1[k,v]).
    a1 = 0.5 * A1 + 0.5 * np.eye(3)
    a2 = 0.5 * A2 + 0.5 * np.eye(3)
    hand = np.array([[sum(min(a2[u, k], a1[k, v]) for k in range(3)) for v in range(3)] for u in range(3)])
    np.testing.assert_allclose(attention_flow(W), hand, atol=1e-6)  # capacities quantised to 1e-7


def test_flow_equals_networkx_max_flow_on_three_layers():
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(0)
    w = rng.random((3, 2, 5, 5))
    w /= w.sum(-1, keepdims=True)
    ours = attention_flow(w)
    a = 0.5 * w.mean(1) + 0.5 * np.eye(5)
    g = nx.DiGraph()
    for l in range(3):
        for i in range(5):
            for j in range(5):
                g.add_edge((l + 1, i), (l, j), capacity=float(a[l, i, j]))
    for u in range(5):
        for v in (0, 3):
            assert ours[u, v] == pytest.approx(nx.maximum_flow_value(g, (3, u), (0, v)), abs=1e-5)


def test_flow_on_long_sequences_asks_for_queries():
    w = np.full((1, 1, 200, 200), 1 / 200)
    with pytest.raises(ValueError, match="queries"):
        attention_flow(w)
    row = attention_flow(w[:, :, :20, :20], queries=0)
    assert np.isfinite(row[0]).all() and np.isnan(row[1]).all()


def test_head_statistics_find_focused_diagonal_previous_token_and_cls_heads():
    n = 6
    identity = np.eye(n)
    uniform = np.full((n, n), 1 / n)
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0
    cls = np.zeros((n, n))
    cls[:, 0] = 1.0
    s = head_statistics(np.stack([identity, uniform, previous, cls])[None])
    np.testing.assert_allclose(s["entropy"][0], [0, np.log(n), 0, 0], atol=1e-12)
    np.testing.assert_allclose(s["entropy_ratio"][0, 1], 1.0)
    np.testing.assert_allclose(s["diagonal_distance"][0, [0, 2]], [0, (n - 1) / n])
    assert s["previous_token"][0].argmax() == 2 and s["previous_token"][0, 2] == 1.0
    assert s["special"][0].argmax() == 3 and s["special"][0, 3] == 1.0


def test_head_stats_result_uses_special_tokens_from_labels():
    w = np.zeros((1, 1, 2, 4, 4), dtype=np.float32)
    w[0, 0, 0, :, 3] = 1.0  # head 0 looks at [SEP]
    w[0, 0, 1, :, 1] = 1.0  # head 1 looks at a word
    maps = AttentionMaps(w, ["l0"], tokens=[["[CLS]", "hi", "there", "[SEP]"]])
    stats = maps.head_stats()
    assert stats["special"].tolist() == [[1.0, 0.0]]
    assert stats.top("special", 1) == [(0, 0, 1.0)]
    assert set(stats.to_dict()) >= {"kind", "entropy", "diagonal_distance", "special"}


def test_padding_is_removed_before_aggregating():
    w = np.zeros((1, 1, 1, 4, 4), dtype=np.float32)
    w[0, 0, 0, :, :3] = 1 / 3
    maps = AttentionMaps(w, ["l0"], mask=np.array([[True, True, True, False]]))
    assert maps.rollout().shape == (3, 3)
    np.testing.assert_allclose(maps.rollout().sum(-1), 1.0, atol=1e-6)
    assert from_array(W).rollout().shape == (3, 3)
