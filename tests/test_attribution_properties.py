"""Attribution methods checked against their defining properties (no reference code
needed): IG completeness, saliency = autograd gradient, Grad-CAM = CAM on a GAP + linear
head, 1-pixel occlusion = single-feature ablation, exact KernelSHAP = Shapley values."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from neuralscope.attribution import explain
from neuralscope.attribution.cam import CAM, GradCAM
from neuralscope.attribution.gradient import IntegratedGradients, Saliency, SmoothGrad, path_points
from neuralscope.attribution.layer import LayerIntegratedGradients
from neuralscope.attribution.perturbation import KernelSHAP, Occlusion
from neuralscope.train import train_digits
from neuralscope.zoo import MLP, DigitsCNN, TinyTransformer


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    res = train_digits(DigitsCNN(), epochs=3, show_progress=False)
    assert res.test_accuracy > 0.9
    return res.model.eval(), res.data


def test_ig_attributions_sum_to_output_difference_at_default(trained, unchanged):
    net, data = trained
    x = data.x_test[:32]
    with unchanged(net):
        r = explain(net, x, method="integrated_gradients")  # default: steps="auto", tol 1 %
    out = net(x).detach()
    idx = torch.tensor(r.targets)
    fx = out.gather(1, idx[:, None])[:, 0].double()
    fb = net(torch.zeros_like(x)).detach().gather(1, idx[:, None])[:, 0].double()
    total = torch.as_tensor(r.attributions).flatten(1).double().sum(1)
    rel = ((total - (fx - fb)).abs() / (fx - fb).abs()).numpy()
    # the promise: completeness within 1 % for every example, and the reported error is the real one
    assert rel.max() <= 0.01
    np.testing.assert_allclose(r.metrics["completeness_error"], rel, atol=1e-5)
    assert set(np.unique(r.metrics["steps"])) <= {16, 32, 64, 128, 256, 512, 1024}


def test_ig_auto_steps_doubles_only_where_needed(trained):
    net, data = trained
    x = data.x_test[:12]
    fixed = IntegratedGradients(net, steps=16).attribute(x)
    auto = IntegratedGradients(net, steps="auto", tolerance=0.005, max_steps=256).attribute(x)
    assert auto.metrics["completeness_error"].max() <= 0.005 or auto.metrics["steps"].max() == 256
    # examples already within tolerance at 16 steps keep 16 steps
    easy = fixed.metrics["completeness_error"] <= 0.005
    assert (auto.metrics["steps"][easy] == 16).all()
    assert (auto.metrics["steps"][~easy] > 16).all() and (~easy).any()


def test_ig_riemann_and_gauss_legendre_agree_with_enough_steps(trained):
    net, data = trained
    x = data.x_test[:4]
    a = IntegratedGradients(net, steps=256, rule="riemann_trapezoid").attribute(x, target=3).attributions
    b = IntegratedGradients(net, steps=256, rule="gausslegendre").attribute(x, target=3).attributions
    # both converge to the same integral; 256 steps on a ReLU net: 2 % of the largest value
    assert np.abs(a - b).max() <= 0.02 * np.abs(b).max()


def test_path_points_integrate_polynomials_exactly():
    for rule, steps, tol in (("gausslegendre", 8, 1e-12), ("riemann_trapezoid", 2001, 1e-6)):
        a, w = path_points(steps, rule)
        assert abs(float((w * a ** 3).sum()) - 0.25) < tol


def test_saliency_equals_autograd_grad(trained, unchanged):
    net, data = trained
    x = data.x_test[:8]
    with unchanged(net):
        r = Saliency(net).attribute(x, target=[int(i) for i in data.y_test[:8]])
    xx = x.clone().requires_grad_(True)
    out = net(xx)
    (g,) = torch.autograd.grad(out.gather(1, data.y_test[:8, None]).sum(), xx)
    np.testing.assert_allclose(r.attributions, g.numpy(), rtol=0, atol=1e-6)


def test_grad_cam_equals_cam_on_gap_linear_head(trained, unchanged):
    net, data = trained  # DigitsCNN: features -> AdaptiveAvgPool2d(1) -> Linear
    x = data.x_test[:8]
    with unchanged(net):
        g = GradCAM(net, layer="features").attribute(x, target=5)
        c = CAM(net, layer="features").attribute(x, target=5)
    h, w = g.extras["cam"].shape[1:]
    # Grad-CAM's weights are the averaged gradients = W[c] / (h*w): the maps agree up to that factor
    np.testing.assert_allclose(g.extras["cam"] * h * w, c.extras["cam"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g.attributions * h * w, c.attributions, rtol=1e-4, atol=1e-5)


def test_occlusion_one_pixel_window_equals_single_feature_ablation(trained, unchanged):
    net, data = trained
    x = data.x_test[:3]
    with unchanged(net):
        r = Occlusion(net, window=1, stride=1, baseline=0.0).attribute(x, target=[1, 2, 3])
    with torch.no_grad():
        fx = net(x)[torch.arange(3), torch.tensor([1, 2, 3])]
        expected = torch.zeros_like(x)
        for i, j in itertools.product(range(8), range(8)):
            xo = x.clone()
            xo[:, :, i, j] = 0
            expected[:, 0, i, j] = fx - net(xo)[torch.arange(3), torch.tensor([1, 2, 3])]
    np.testing.assert_allclose(r.attributions, expected.numpy(), atol=1e-5)


def _shapley_brute_force(f, m):
    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for k in range(m):
            for s in itertools.combinations(others, k):
                wgt = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                phi[i] += wgt * (f(set(s) | {i}) - f(set(s)))
    return phi


def test_kernel_shap_with_all_coalitions_equals_exact_shapley_values(trained):
    net, data = trained
    x = data.x_test[:1]
    mask = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]).repeat_interleave(2, 0).repeat_interleave(2, 1)
    r = KernelSHAP(net, mask=mask, n_samples=100).attribute(x, target=4)
    assert bool(r.metrics["exact"][0])

    def f(coalition):
        keep = torch.zeros(8, 8, dtype=torch.bool)
        for c in coalition:
            keep |= mask == c
        with torch.no_grad():
            return float(net(torch.where(keep, x, torch.zeros_like(x)))[0, 4])

    phi = _shapley_brute_force(f, 4)
    np.testing.assert_allclose(r.extras["coefficients"][0], phi, atol=1e-4)


def test_smoothgrad_without_noise_is_saliency_and_vargrad_is_zero():
    torch.manual_seed(0)
    net = MLP().eval()
    x = torch.rand(3, 64)
    s = Saliency(net).attribute(x, target=2).attributions
    sg = SmoothGrad(net, stdev=0.0, n_samples=4).attribute(x, target=2).attributions
    vg = SmoothGrad(net, stdev=0.0, n_samples=4, kind="vargrad").attribute(x, target=2).attributions
    np.testing.assert_allclose(sg, s, atol=1e-6)
    np.testing.assert_allclose(vg, 0, atol=1e-10)


def test_layer_ig_on_embeddings_is_complete():
    torch.manual_seed(0)
    net = TinyTransformer().eval()
    ids = net.example_input(3)
    r = LayerIntegratedGradients(net, "embed", baseline_inputs=torch.zeros_like(ids)).attribute(ids, 1)
    assert r.metrics["completeness_error"].max() < 0.01
    assert r.attributions.shape == (3, 12, 32)


def test_internal_batches_follow_the_memory_budget_and_do_not_change_results():
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(3)
    calls = []
    h = net.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        big = IntegratedGradients(net, steps=32).attribute(x, target=1).attributions
        n_big = len(calls)
        calls.clear()
        # a budget of ~2 examples' activations: many small internal batches
        from neuralscope.attribution.base import activation_bytes_per_example

        per = activation_bytes_per_example(net, x)
        small = IntegratedGradients(net, steps=32, memory_budget=4 * per).attribute(x, target=1).attributions
    finally:
        h.remove()
    assert max(calls) <= 3 and len(calls) > n_big  # rows per forward bounded by the budget
    np.testing.assert_allclose(small, big, atol=1e-6)
