"""Attention views: figures, long-sequence switching, and the head view in headless Chromium."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from neuralscope.attention import AttentionMaps, attention
from neuralscope.attention.maps import LONG_SEQUENCE
from neuralscope.zoo import TinyTransformer

TOKENS = ["[CLS]", "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", ".", "[SEP]"]


@pytest.fixture(scope="module")
def maps():
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    return attention(model, model.example_input(2), tokens=TOKENS)


def _random_maps(n, layers=2, heads=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(1, layers, heads, n, n)) * 4
    w = np.exp(logits - logits.max(-1, keepdims=True))
    return AttentionMaps(w / w.sum(-1, keepdims=True), [f"block{i}" for i in range(layers)])


def test_head_heatmap_has_token_labels_and_colorbar(maps):
    ax = maps.plot(layer=1, head=2)
    assert isinstance(ax.images[0], AxesImage)
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert ax.get_xlabel().startswith("key") and ax.get_ylabel().startswith("query")
    assert len(ax.figure.axes) == 2  # heatmap + colorbar
    assert "layer 1" in ax.get_title() and "head 2" in ax.get_title()


def test_long_sequences_switch_to_sparse_top_k_drawing():
    long = _random_maps(LONG_SEQUENCE, layers=1, heads=1)
    ax = long.plot(head=0)
    assert not ax.images and isinstance(ax.collections[0], PathCollection)
    assert len(ax.collections[0].get_offsets()) == LONG_SEQUENCE * 8
    assert len(ax.get_xticks()) <= 48  # labels thinned out, never 512 overlapping ticks


def test_model_view_is_a_grid_of_every_head(maps):
    fig = maps.plot_model_view()
    images = [a for a in fig.axes if a.images]
    assert len(images) == maps.num_layers * maps.num_heads


def test_from_token_view_has_a_row_per_layer_plus_rollout(maps):
    ax = maps.plot_from_token("fox")
    assert ax.images[0].get_array().shape == (maps.num_layers + 1, len(TOKENS))
    np.testing.assert_allclose(ax.images[0].get_array()[-1], maps.rollout()[4], atol=1e-6)


def test_vit_overlay_reshapes_class_token_attention_onto_patches():
    n = 1 + 4 * 4
    m = _random_maps(n, layers=2, heads=2)
    grid = m.patch_map(0, layer="rollout")
    np.testing.assert_allclose(grid.ravel(), m.rollout()[0, 1:], atol=1e-7)
    ax = m.plot_image(torch.rand(3, 64, 64))
    assert len(ax.images) == 2 and ax.images[1].get_array().shape == (64, 64)
    with pytest.raises(ValueError, match="square patch grid"):
        _random_maps(7).patch_map(0)


def test_saves_png_json_and_html(maps, tmp_path):
    assert (maps.save(tmp_path / "a.png")).stat().st_size > 5000
    assert '"kind": "attention"' in maps.save(tmp_path / "a.json").read_text()
    page = maps.save(tmp_path / "a.html").read_text()
    assert "<script" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def _lines(page):
    return page.eval_on_selector_all(
        "#hv-lines line", "ls => ls.map(l => [l.dataset.q, l.dataset.k, l.dataset.w, l.dataset.head].join())")


def test_head_view_renders_and_selectors_change_the_lines(maps, tmp_path, page):
    path = maps.save(tmp_path / "head_view.html")
    page.goto(path.as_uri())
    page.wait_for_selector("#hv-lines line")
    all_heads = _lines(page)
    page.select_option("#hv-head", "0")
    head0 = _lines(page)
    page.select_option("#hv-layer", "1")
    layer1_head0 = _lines(page)
    assert len(all_heads) > len(head0) > 0
    assert head0 != layer1_head0
    # every drawn line of layer 1, head 0 carries the weight we computed
    w = maps.head_map(1, 0, 0)
    for entry in layer1_head0[:50]:
        q, k, weight, head = entry.split(",")
        assert float(weight) == pytest.approx(w[int(q), int(k)], abs=6e-4)  # stored as 1/1000
    # hovering a query token keeps only its lines
    page.hover("#hv-svg text[data-side='q'][data-index='4']")
    assert {e.split(",")[0] for e in _lines(page)} == {"4"}
    assert page.console_errors == []


def test_head_view_of_a_long_sequence_scrolls_and_draws_top_k(tmp_path, page):
    long = _random_maps(LONG_SEQUENCE + 88, layers=1, heads=2)
    path = long.save(tmp_path / "long.html")
    assert path.stat().st_size < 2_000_000  # sparse: not 600x600 floats per head
    page.goto(path.as_uri())
    page.wait_for_selector("#hv-lines line")
    page.select_option("#hv-head", "1")
    assert 0 < len(_lines(page)) <= (LONG_SEQUENCE + 88) * 8
    scroll = page.eval_on_selector(".hv-scroll", "e => [e.scrollHeight, e.clientHeight]")
    assert scroll[0] > scroll[1]  # the token columns scroll instead of squeezing
    assert page.console_errors == []
