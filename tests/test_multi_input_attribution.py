"""Models with several inputs: one map per input, checked against Captum's tuple inputs
(Captum is the oracle; we did not write it). Tolerances are stated per test."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor . did not already require gradients")

from neuralscope.attribution import explain  # noqa: E402
from neuralscope.attribution.gradient import Saliency  # noqa: E402
from neuralscope.errors import InputShapeError  # noqa: E402


class ImageAndMeta(nn.Module):
    """An image branch (conv, ReLU, pooling) and a tabular branch (tanh) joined by a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.meta = nn.Linear(5, 5)
        self.head = nn.Linear(9, 3)

    def forward(self, image, meta):
        h = torch.relu(self.conv(image)).mean((2, 3))
        return self.head(torch.cat([h, torch.tanh(self.meta(meta))], 1))


class DictModel(ImageAndMeta):
    def forward(self, image, meta):  # called as model(**{"image": ..., "meta": ...})
        return super().forward(image, meta)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ImageAndMeta().eval()


@pytest.fixture(scope="module")
def xs():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 6, 6, generator=g), torch.rand(3, 5, generator=g)


TARGET = [0, 2, 1]


@pytest.mark.parametrize("ours,theirs", [("saliency", "Saliency"), ("input_x_gradient", "InputXGradient")])
def test_gradient_maps_match_captum_per_input(net, xs, ours, theirs, unchanged):
    kw = {"abs": False} if theirs == "Saliency" else {}  # Captum's Saliency takes |grad| by default
    ref = getattr(captum_attr, theirs)(net).attribute(tuple(t.clone() for t in xs), target=TARGET, **kw)
    with unchanged(net):
        r = explain(net, xs, target=TARGET, method=ours)
    assert r.several_inputs and len(r.attributions) == 2
    for got, want, x in zip(r.attributions, ref, xs):
        assert got.shape == tuple(x.shape)
        # the same autograd gradient: float32 rounding only
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_matches_captum_and_is_complete_over_both_inputs(net, xs, unchanged):
    ref = captum_attr.IntegratedGradients(net).attribute(xs, target=TARGET, n_steps=64)  # Gauss-Legendre
    with unchanged(net):
        r = explain(net, xs, target=TARGET, method="integrated_gradients", steps=64)
    # same rule, same points, same alpha for both inputs: float32 summation order differs
    # (1e-5 of the largest value; a wrong point or a per-input path is off by percents)
    for got, want in zip(r.attributions, ref):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-5 * float(want.abs().max()) + 1e-7)
    # completeness over BOTH inputs: sum of every map = f(x) - f(0), per example
    with torch.no_grad():
        fx = net(*xs)[range(3), TARGET]
        fb = net(*(torch.zeros_like(t) for t in xs))[range(3), TARGET]
    total = sum(a.reshape(3, -1).sum(1) for a in r.attributions)
    np.testing.assert_allclose(total, (fx - fb).numpy(), rtol=0.01, atol=1e-5)  # 64 Gauss-Legendre steps


def test_auto_steps_ig_reports_completeness_over_all_inputs(net, xs):
    r = explain(net, xs, target=TARGET, method="ig")
    assert float(np.max(r.metrics["completeness_error"])) < 0.01


def test_tuple_baselines_are_used_per_input(net, xs):
    b = (torch.full_like(xs[0], 0.5), torch.full_like(xs[1], -1.0))
    ref = captum_attr.IntegratedGradients(net).attribute(xs, baselines=b, target=TARGET, n_steps=32,
                                                         method="gausslegendre")
    r = explain(net, xs, target=TARGET, method="ig", baseline=b, steps=32)
    for got, want in zip(r.attributions, ref):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-5 * float(want.abs().max()) + 1e-7)


def test_dict_inputs_give_maps_named_after_the_keys(xs):
    torch.manual_seed(0)
    net = DictModel().eval()
    r = explain(net, {"image": xs[0], "meta": xs[1]}, target=1, method="saliency")
    assert r.input_names == ["image", "meta"]
    assert r["meta"].attributions.shape == (3, 5) and r["image"].modality == "image"
    ref = captum_attr.Saliency(net).attribute(xs, target=1, abs=False)
    np.testing.assert_allclose(r["image"].attributions, ref[0].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["smoothgrad", "occlusion", "kernel_shap", "gradient_shap"])
def test_other_families_give_one_finite_map_per_input(net, xs, method, unchanged):
    with unchanged(net):
        r = explain(net, xs, target=TARGET, method=method)
    assert [a.shape for a in r.attributions] == [tuple(x.shape) for x in xs]
    assert all(np.isfinite(a).all() for a in r.attributions)


def test_layer_maps_of_a_several_input_model_stay_one_map(net, xs):
    r = explain(net, xs, target=TARGET, method="grad_cam", layer="conv")
    assert not r.several_inputs and r.attributions.shape == (3, 6, 6) and r.layer == "conv"


def test_one_input_schema_is_unchanged_and_several_inputs_add_parts(net, xs):
    one = explain(net.conv, xs[0], method="saliency", target=lambda o: o.sum((1, 2, 3))).to_dict()
    assert "parts" not in one and "input_names" not in one
    d = explain(net, xs, target=TARGET, method="saliency").to_dict()
    assert d["input_names"] == ["input 0", "input 1"] and len(d["parts"]) == 2
    assert d["attributions"].shape == xs[0].shape  # the first input where one map is expected


def test_plot_draws_one_row_per_input(net, xs, tmp_path):
    import matplotlib.pyplot as plt

    r = explain(net, xs, target=TARGET, method="saliency")
    axes = r.plot()
    assert axes.shape == (2, 3)
    assert axes[0, 0].get_ylabel() == "input 0" and axes[1, 0].get_ylabel() == "input 1"
    axes[0, 0].figure.savefig(tmp_path / "several.png")
    plt.close("all")


def test_method_objects_take_tuples_too(net, xs):
    r = Saliency(net).attribute(xs, target=TARGET)
    assert r.several_inputs


def test_inputs_with_different_batch_sizes_are_refused_in_one_sentence(net, xs):
    with pytest.raises(InputShapeError, match="same batch dimension"):
        explain(net, (xs[0], xs[1][:2]), method="saliency")
