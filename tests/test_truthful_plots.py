"""Figures that said less than the data: compare() drops no example silently, the diagnostics
table is aligned, a histogram over steps stays readable after its spread collapses (and at
1,000 steps), two scalar series on one axis keep both names, feature-vis titles name classes
(no '<output>' placeholder), the attention-on-image colour bar label stays inside the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import neuralscope as ns
from neuralscope.track.results import Diagnostic, Diagnostics, HistogramSeries, ScalarSeries
from neuralscope.zoo import DigitsCNN


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return DigitsCNN().eval()


def test_compare_on_8_inputs_draws_8_rows_with_a_colorbar_per_method(cnn):
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    c = ns.compare(cnn, x, methods=["saliency", "grad_cam"], steps=4)
    axes = c.plot()
    assert axes.shape == (8, 2)
    fig = axes[0, 0].figure
    assert len(fig.axes) == 8 * 2 + 2  # one colorbar per method
    assert "showing" not in fig._suptitle.get_text()


def test_compare_says_which_examples_it_left_out(cnn):
    x = torch.rand(18, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    c = ns.compare(cnn, x, methods=["saliency"], metrics=False)
    axes = c.plot()
    assert axes.shape == (16, 1)
    assert "first 16 of 18 examples" in axes[0, 0].figure._suptitle.get_text()
    assert c.plot(max_examples=18).shape == (18, 1)


def test_diagnostics_table_rows_are_aligned():
    long = "A long message " * 12
    d = Diagnostics([Diagnostic("lr_too_high", "error", 3, long), Diagnostic("dead_units", "warning", 0, "short")])
    ax = d.plot()
    ax.figure.canvas.draw()
    cells = ax.tables[0].get_celld()
    for r in range(3):
        ys = {round(cells[r, c].get_y(), 6) for c in range(4)}
        heights = {round(cells[r, c].get_height(), 6) for c in range(4)}
        assert len(ys) == 1 and len(heights) == 1, (r, ys, heights)
    assert cells[1, 0].get_height() > cells[2, 0].get_height()  # the wrapped message row is taller


def _collapsing(n_steps: int) -> HistogramSeries:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_steps):
        v = rng.normal(0, 1.0 if s < 30 else 0.01, 500)  # gradients shrink 100x after step 30
        c, e = np.histogram(v, 30)
        rows.append(dict(step=s, edges=e, counts=c, num=500, min=v.min(), max=v.max(), sum=v.sum(),
                         sum_sq=float((v ** 2).sum())))
    return HistogramSeries("gradients/fc.weight", rows)


@pytest.mark.parametrize("steps", [60, 1000])
def test_histogram_over_steps_stays_readable_after_the_spread_collapses(steps):
    h = _collapsing(steps)
    ax = h.plot(bins=80)
    assert ax.get_yscale() == "asinh"
    colours = ax.collections[0].get_array().reshape(80, steps)
    # after the collapse, a step's values still spread over many of the 80 value bins
    # (on a linear axis they fall into one or two)
    lit = (np.ma.filled(colours, 0) > 0.01).sum(axis=0)
    assert np.median(lit[40:]) >= 10 and np.median(lit[:30]) >= 10


def test_histogram_with_a_steady_spread_keeps_a_linear_axis():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(40):
        v = rng.normal(0, 1 + s / 40, 500)
        c, e = np.histogram(v, 30)
        rows.append(dict(step=s, edges=e, counts=c, num=500, min=v.min(), max=v.max(), sum=v.sum(),
                         sum_sq=float((v ** 2).sum())))
    assert HistogramSeries("w", rows).plot().get_yscale() == "linear"


def test_two_scalar_series_on_one_axis_keep_both_names():
    a = ScalarSeries("train/loss", np.arange(10), np.linspace(2, 1, 10))
    b = ScalarSeries("val/loss", np.arange(0, 10, 2), np.linspace(2.1, 1.4, 5))
    ax = a.plot()
    b.plot(ax=ax)
    assert "train/loss" in ax.get_title() and "val/loss" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train/loss", "val/loss"]
    assert ax.get_ylabel() == "loss"


def test_feature_vis_of_classes_has_no_placeholder_in_titles(cnn):
    from neuralscope.featurevis.objectives import class_logit

    fv = ns.feature_vis(cnn, class_logit([3, 7]), steps=2)
    fig = fv.figure()
    texts = [a.get_title() for a in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]
    assert fv.labels == ["class 3", "class 7"]
    assert not any("<output>" in t for t in texts), texts


def test_attention_on_image_colorbar_label_is_inside_the_figure():
    from neuralscope.attention.maps import AttentionMaps

    n = 1 + 4 * 4
    w = np.random.default_rng(0).random((1, 1, 2, n, n))
    ax = AttentionMaps(w / w.sum(-1, keepdims=True), ["block0"]).plot_image(torch.rand(3, 64, 64))
    fig = ax.figure
    fig.canvas.draw()
    bar = [a for a in fig.axes if a is not ax][0]
    box = bar.yaxis.label.get_window_extent(fig.canvas.get_renderer())
    assert bar.get_ylabel() == "attention weight"
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width


def test_histogram_percentile_lines_match_numpy_within_a_bin():
    h = _collapsing(40)
    q = h.percentiles((0.05, 0.5, 0.95))
    # each step's quantiles lie within one bin width of numpy's on the binned data's range
    for i, r in enumerate(h.rows):
        width = float(np.diff(r["edges"]).max())
        centres = (np.asarray(r["edges"][:-1]) + np.asarray(r["edges"][1:])) / 2
        approx = np.repeat(centres, r["counts"])
        assert np.all(np.abs(q[i] - np.quantile(approx, (0.05, 0.5, 0.95))) <= width)
    ax = h.plot()
    assert len(ax.lines) == 3 and ax.get_legend() is not None
