"""Weight views: the numbers behind each figure equal a direct computation."""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.errors import LayerNotFoundError
from neuralscope.inspect.weights import (conv_filters, project_weights, weight_heatmap, weight_histograms,
                                         weight_stats)
from neuralscope.plot import block_reduce
from neuralscope.zoo import MLP, DigitsCNN


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return DigitsCNN()


def test_histogram_counts_equal_numpy_histogram(cnn, unchanged):
    with unchanged(cnn):
        h = weight_histograms(cnn, bins=30)
    params = dict(cnn.named_parameters())
    assert h.names == list(params)
    for name, counts, edges in zip(h.names, h.counts, h.edges):
        w = params[name].detach().double().numpy().ravel()
        ref, ref_edges = np.histogram(w, bins=30, range=(w.min(), w.max()))
        np.testing.assert_array_equal(counts, ref)
        np.testing.assert_allclose(edges, ref_edges)
    plt.close(h.figure())


def test_nonfinite_weights_are_counted_and_drawn_not_a_crash(cnn, tmp_path):
    bad = copy.deepcopy(cnn)
    with torch.no_grad():
        bad.classifier.weight[0, :3] = float("nan")
        bad.classifier.weight[1, 0] = float("inf")
    h = weight_histograms(bad, "classifier")
    i = h.names.index("classifier.weight")
    assert h.nonfinite[i] == 4 and int(h.counts[i].sum()) == 10 * 64 - 4
    hm = weight_heatmap(bad, "classifier")
    assert hm.to_dict()["nonfinite"] == 4
    ax = hm.plot()
    assert any("4 of 640 values are NaN/Inf" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)
    assert weight_stats(bad).rows[-2]["nonfinite"] == 4
    for r in (h, hm, weight_stats(bad)):
        r.save(tmp_path / f"{r.kind}.png")


def test_block_reduce_equals_direct_block_statistics():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(1000, 1000))
    mean, size, _ = block_reduce(m, (500, 250), how="mean")
    assert size == (2.0, 4.0)
    np.testing.assert_allclose(mean, m.reshape(500, 2, 250, 4).mean((1, 3)), atol=1e-12)  # summation order
    amax, _, _ = block_reduce(m, (500, 250), how="absmax")
    blocks = m.reshape(500, 2, 250, 4).transpose(0, 2, 1, 3).reshape(500, 250, 8)
    ref = np.take_along_axis(blocks, np.abs(blocks).argmax(-1)[..., None], -1)[..., 0]
    np.testing.assert_array_equal(amax, ref)
    # uneven blocks: every row and column is in exactly one block, none dropped
    small = np.arange(35.0).reshape(7, 5)
    r, _, _ = block_reduce(small, (3, 2), how="mean")
    assert r.shape == (3, 2)
    rows = [slice(0, 3), slice(3, 6), slice(6, 7)]  # blocks of 3 rows, the last one smaller
    cols = [slice(0, 3), slice(3, 5)]
    np.testing.assert_allclose(r, [[small[a, b].mean() for b in cols] for a in rows])


def test_large_matrix_heatmap_is_reduced_and_labelled():
    torch.manual_seed(0)
    hm = weight_heatmap(torch.randn(1000, 1000))
    assert hm.display.shape == (500, 500) and hm.block == (2.0, 2.0)
    ax = hm.plot()
    assert "each cell = 2\u00d72 weights" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi  # diverging map centred at zero
    plt.close(ax.figure)


def test_conv_weight_heatmap_is_out_by_in_times_kernel(cnn):
    hm = weight_heatmap(cnn, "features.3")
    np.testing.assert_array_equal(hm.matrix, cnn.features[3].weight.detach().numpy().reshape(32, -1))


def test_weight_stats_equal_torch(cnn, unchanged):
    with unchanged(cnn):
        s = weight_stats(cnn, near_zero=0.01)
    for row, (name, p) in zip(s.rows, cnn.named_parameters()):
        w = p.detach().double()
        assert row["name"] == name and row["numel"] == p.numel()
        assert row["norm"] == pytest.approx(float(torch.linalg.vector_norm(w)), rel=1e-12)
        assert row["std"] == pytest.approx(float(w.std(unbiased=False)), rel=1e-9, abs=1e-15)
        assert row["near_zero"] == pytest.approx(float((w.abs() < 0.01).double().mean()))
    assert "<table>" in s.to_html()


def test_conv_filters_modes_and_norm_order(cnn, unchanged):
    with unchanged(cnn):
        first = conv_filters(cnn, "features.0")
        deep = conv_filters(cnn, "features.7")
    assert first.mode == "channels" and deep.mode == "norm"
    w = cnn.features[7].weight.detach()
    np.testing.assert_allclose(deep.norms, torch.linalg.vector_norm(w.flatten(2), dim=2).numpy(), rtol=1e-5)
    filter_norms = torch.linalg.vector_norm(w.flatten(1), dim=1).numpy()
    assert np.all(np.diff(filter_norms[deep.order]) <= 1e-7)  # decreasing norm
    for r in (first, deep, conv_filters(cnn, "features.3", mode="channels", max_filters=8)):
        plt.close(r.figure())


def test_conv_filters_rgb_and_512_channels():
    torch.manual_seed(0)
    rgb = conv_filters(nn.Conv2d(3, 16, 5), "")
    assert rgb.mode == "rgb"
    big = conv_filters(nn.Sequential(nn.Conv2d(512, 512, 3)), "0")
    assert big.mode == "norm" and big.norms.shape == (512, 512)
    ax = big.plot()
    assert ax.images[0].get_array().shape == (256, 256)  # 2x2 blocks of kernel norms
    plt.close(ax.figure)
    plt.close(rgb.figure())
    with pytest.raises(ValueError, match="needs 3 input channels"):
        conv_filters(nn.Conv2d(2, 4, 3), "", mode="rgb")


def test_unknown_layer_and_parameter_errors(cnn, unchanged):
    with unchanged(cnn), pytest.raises(LayerNotFoundError, match="features.3"):
        weight_heatmap(cnn, "feature.3")
    with unchanged(cnn), pytest.raises(LayerNotFoundError, match="No parameter named 'features.2.weight'"):
        weight_heatmap(cnn, "features.2")  # a ReLU has no weight
    with unchanged(cnn), pytest.raises(ValueError, match="needs a 1-D or 2-D convolution weight"):
        conv_filters(cnn, "classifier")


def test_project_weights_pca_matches_svd_of_rows(unchanged):
    torch.manual_seed(0)
    net = MLP()
    with unchanged(net):
        e = project_weights(net, "body.0")
    w = net.body[0].weight.detach().double().numpy()
    wc = w - w.mean(0)
    u, s, vt = np.linalg.svd(wc, full_matrices=False)
    ref = u[:, :2] * s[:2]
    signs = np.sign((e.coords * ref).sum(0))
    np.testing.assert_allclose(e.coords, ref * signs, atol=1e-4)
