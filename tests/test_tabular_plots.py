"""The shap-style pictures of tabular results: readable at the default size with 30
features and 1,000 rows (top-k with the rest folded, no overlapping labels), the numbers
they draw, and the automatic interaction colour."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from neuralscope.attribution.result import Attribution
from neuralscope.errors import InputShapeError
from neuralscope.plot import tabular as pt

NAMES = [f"feature number {k}" for k in range(30)]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _result(rows=1000, features=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features))
    scale = 2.0 * 0.85 ** np.arange(features)  # importance falls by 15 % per feature
    values = x * scale + 0.1 * rng.standard_normal((rows, features))
    return Attribution(values.astype(np.float32), x.astype(np.float32), "kernel_shap", targets=[1] * rows,
                       metrics={"expected_value": np.full(rows, 0.5)}, feature_names=NAMES)


def _boxes(texts):
    fig = texts[0].figure
    r = fig.canvas.get_renderer()
    return [t.get_window_extent(r) for t in texts if t.get_text() and t.get_visible()]


def _no_overlap(boxes):
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("draw", [pt.bar, pt.beeswarm, pt.decision])
def test_many_rows_and_features_show_top_20_with_the_rest_folded_and_no_overlapping_labels(draw):
    ax = draw(_result())
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 20 and "11 other features" in labels
    _no_overlap(_boxes(ax.get_yticklabels()))
    title = ax.title.get_window_extent(ax.figure.canvas.get_renderer())
    assert not any(title.overlaps(b) for b in _boxes(ax.get_yticklabels()))
    w, h = ax.figure.get_size_inches()
    assert w <= 10 and h <= 11  # a default size a screen shows whole


def test_features_are_ordered_by_mean_absolute_value():
    ax = pt.bar(_result())
    labels = [t.get_text() for t in ax.get_yticklabels()]  # top to bottom
    assert labels[:3] == NAMES[:3]
    widths = [p.get_width() for p in ax.patches][:19]
    assert widths == sorted(widths, reverse=True)


def test_beeswarm_colours_dots_by_feature_value():
    res = _result(rows=200)
    ax = pt.beeswarm(res)
    top = ax.collections[0]  # the most important feature, drawn first
    colours = top.get_facecolors()
    order = np.argsort(res.inputs[:, 0])
    # low values blue, high values red (coolwarm)
    assert colours[order[:20], 2].mean() > colours[order[:20], 0].mean()
    assert colours[order[-20:], 0].mean() > colours[order[-20:], 2].mean()
    assert ax.figure.axes[-1].get_ylabel() == "feature value"


def test_waterfall_steps_from_the_expected_value_to_the_output():
    res = _result(rows=5)
    ax = pt.waterfall(res, 2)
    bars = ax.patches
    assert len(bars) == 10 and "21 other features" in [t.get_text() for t in ax.get_yticklabels()]
    start, end = bars[0].get_x(), bars[-1].get_x() + bars[-1].get_width()
    assert start == pytest.approx(0.5)
    assert end == pytest.approx(0.5 + res.attributions[2].sum(), rel=1e-5)
    _no_overlap(_boxes(ax.get_yticklabels()))


def test_force_plot_labels_never_overlap_and_segments_meet_at_the_output():
    res = _result(rows=3)
    ax = pt.force(res, 0)
    ax.figure.canvas.draw()
    names = [t for t in ax.texts if "=" in t.get_text() and not t.get_text().startswith(("f(x)", "E[f]"))]
    assert len(names) >= 3
    _no_overlap(_boxes(names))
    fx = 0.5 + res.attributions[0].sum()
    red = [p for p in ax.patches if p.get_facecolor()[0] > 0.5 and p.get_facecolor()[2] < 0.5]
    assert max(p.get_x() + p.get_width() for p in red) == pytest.approx(fx, rel=1e-5)


def test_dependence_colours_by_the_feature_that_interacts():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 5))
    values = np.zeros_like(x)
    values[:, 0] = x[:, 0] * (1 + x[:, 3])  # feature 0's effect depends on feature 3
    values[:, 1:] = 0.1 * x[:, 1:]
    res = Attribution(values, x, "kernel_shap", feature_names=list("abcde"))
    ax = pt.dependence(res, "a")
    assert ax.figure.axes[-1].get_ylabel() == "d"
    with pytest.raises(InputShapeError, match="No feature named 'z'"):
        pt.dependence(res, "z")


def test_default_plot_of_many_rows_is_the_global_summary_and_of_one_row_the_waterfall():
    res = _result(rows=100)
    ax = res.plot()
    assert "100 rows" in ax.get_title() and len(ax.get_yticklabels()) == 20
    one = res.plot(index=3)
    assert "row 3" in one.get_title()
    with pytest.raises(InputShapeError, match="Row 7 is out of range: the result has 5 rows"):
        pt.waterfall(_result(rows=5), 7)


def test_feature_names_travel_in_to_dict():
    d = _result(rows=2).to_dict()
    assert d["feature_names"][:2] == NAMES[:2] and d["modality"] == "tabular"


def test_activation_heatmap_of_one_example_draws_sorted_labelled_bars_and_lines_across_examples():
    import torch

    from neuralscope.inspect import activation_heatmap
    from neuralscope.zoo import TabularMLP

    torch.manual_seed(0)
    net = TabularMLP()
    one = activation_heatmap(net, net.example_input(1), "body.1")
    ax = one.plot()
    heights = [p.get_height() for p in ax.patches]
    assert heights == sorted(heights, reverse=True) and len(heights) == 40
    labels = [int(t.get_text()) for t in ax.get_xticklabels()]
    np.testing.assert_allclose(heights, one.values[labels, 0], rtol=1e-6)  # each bar is labelled with its unit
    assert "of 64 units" in ax.get_title()
    many = activation_heatmap(net, net.example_input(30), "body.1")
    lines = many.plot(style="lines")
    assert len(lines.lines) == 8 + 1 and lines.get_xlabel() == "example"  # 8 units and the zero line
    with pytest.raises(ValueError, match="style must be"):
        many.plot(style="pie")
