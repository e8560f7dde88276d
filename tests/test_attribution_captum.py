"""Cross-checks against Captum on the same models and inputs (Captum is the oracle here;
we did not write it). Tolerances are stated per test."""
from __future__ import annotations

import numpy as np
import pytest
import torch

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")

from neuralscope.attribution import explain  # noqa: E402
from neuralscope.attribution.cam import GradCAM  # noqa: E402
from neuralscope.attribution.gradient import (Deconvnet, GuidedBackprop, InputXGradient,  # noqa: E402
                                              IntegratedGradients, Saliency, SmoothGrad)
from neuralscope.attribution.perturbation import KernelSHAP, Occlusion  # noqa: E402
from neuralscope.zoo import DigitsCNN, TinyResNet  # noqa: E402


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = DigitsCNN()
    with torch.no_grad():  # make BatchNorm statistics non-trivial, then explain in eval mode
        net(torch.rand(64, 1, 8, 8))
    return net.eval()


@pytest.fixture(scope="module")
def x():
    g = torch.Generator().manual_seed(1)
    return torch.rand(4, 1, 8, 8, generator=g)


TARGET = [0, 3, 7, 9]


def test_saliency_matches_captum(cnn, x, unchanged):
    ref = captum_attr.Saliency(cnn).attribute(x.clone(), target=TARGET, abs=False)
    with unchanged(cnn):
        ours = Saliency(cnn).attribute(x, target=TARGET).attributions
        ours_abs = Saliency(cnn, abs=True).attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-6)  # float32 round-off only
    np.testing.assert_allclose(ours_abs, np.abs(ref.detach().numpy()), atol=1e-6)


def test_input_x_gradient_matches_captum(cnn, x):
    ref = captum_attr.InputXGradient(cnn).attribute(x.clone(), target=TARGET)
    np.testing.assert_allclose(InputXGradient(cnn).attribute(x, target=TARGET).attributions, ref.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"])
def test_integrated_gradients_matches_captum(cnn, x, rule):
    ref = captum_attr.IntegratedGradients(cnn).attribute(x.clone(), target=TARGET, n_steps=50, method=rule)
    ours = IntegratedGradients(cnn, steps=50, rule=rule).attribute(x, target=TARGET).attributions
    # same quadrature, same points: equal up to float32 rounding, which differs because our
    # convolutions run in the channels-last layout (1.3e-4 of the scale seen, as the path's
    # gradients cancel; 5e-4 allowed, while a wrong weight or point is off by percents)
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=5e-4 * np.abs(ref.detach().numpy()).max() + 1e-7)


def test_integrated_gradients_trapezoid_differs_from_captum_by_its_step_size(cnn, x):
    # Captum's riemann_trapezoid puts n points on [0, 1] but uses step 1/n (weights summing to
    # (n-1)/n); we use the textbook trapezoid rule, step 1/(n-1). Deliberate difference:
    # ours = Captum's * n / (n - 1) exactly.
    n = 50
    ref = captum_attr.IntegratedGradients(cnn).attribute(x.clone(), target=TARGET, n_steps=n,
                                                         method="riemann_trapezoid").detach().numpy()
    ours = IntegratedGradients(cnn, steps=n, rule="riemann_trapezoid").attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref * n / (n - 1), atol=1e-5 * np.abs(ref).max() + 1e-7)


def test_integrated_gradients_with_tensor_baseline_matches_captum(cnn, x):
    base = torch.full_like(x, 0.25)
    ref = captum_attr.IntegratedGradients(cnn).attribute(x.clone(), baselines=base, target=TARGET, n_steps=32)
    ours = IntegratedGradients(cnn, steps=32, baseline=base).attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-5 * np.abs(ref.detach().numpy()).max() + 1e-7)


@pytest.mark.parametrize("kind,nt_type", [("smoothgrad", "smoothgrad"), ("smoothgrad_sq", "smoothgrad_sq"),
                                          ("vargrad", "vargrad")])
def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_noise(cnn, x, kind, nt_type):
    # seed=None draws the noise from torch's global generator exactly as Captum does
    # (torch.normal over the repeat_interleaved batch), so the same seed gives the same noise
    torch.manual_seed(123)
    ref = captum_attr.NoiseTunnel(captum_attr.Saliency(cnn)).attribute(
        x.clone(), nt_type=nt_type, nt_samples=10, stdevs=0.2, target=TARGET, abs=False)
    torch.manual_seed(123)
    ours = SmoothGrad(cnn, n_samples=10, stdev=0.2, kind=kind, seed=None).attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-5 * np.abs(ref.detach().numpy()).max() + 1e-8)


@pytest.mark.parametrize("ours_cls,ref_cls", [(GuidedBackprop, "GuidedBackprop"), (Deconvnet, "Deconvolution")])
def test_modified_relu_backprop_matches_captum(ours_cls, ref_cls, x, unchanged):
    torch.manual_seed(0)
    net = TinyResNet().eval()  # residual blocks reuse one nn.ReLU module twice
    ref = getattr(captum_attr, ref_cls)(net).attribute(x.clone(), target=TARGET)
    with unchanged(net):
        ours = ours_cls(net).attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-6 * np.abs(ref.detach().numpy()).max() + 1e-8)


def test_occlusion_matches_captum(cnn, x):
    ref = captum_attr.Occlusion(cnn).attribute(x.clone(), sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2),
                                               target=TARGET, baselines=0.0)
    ours = Occlusion(cnn, window=3, stride=2).attribute(x, target=TARGET).attributions
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-5)


def test_layer_grad_cam_matches_captum_before_relu_and_upsampling(cnn, x):
    # Captum's LayerGradCam returns sum_c w_c A_c without ReLU (relu_attributions=False);
    # we keep that low-resolution map in extras["cam"] and apply the paper's ReLU in the map.
    ref = captum_attr.LayerGradCam(cnn, cnn.features).attribute(x.clone(), target=TARGET)
    r = GradCAM(cnn, layer="features").attribute(x, target=TARGET)
    np.testing.assert_allclose(r.extras["cam"], ref[:, 0].detach().numpy(), atol=1e-6)
    up = captum_attr.LayerAttribution.interpolate(ref.clamp_min(0), (8, 8), interpolate_mode="bilinear")
    np.testing.assert_allclose(r.attributions, up[:, 0].detach().numpy(), atol=1e-6)


def test_kernel_shap_matches_captum_on_four_features(cnn, x):
    # 4 feature groups: we enumerate all 14 coalitions (exact Shapley values); Captum samples
    # coalitions from the Shapley kernel (fixed seed). Both must agree with the exact values;
    # Captum's sampling error with 400 samples stays within 10 % of the largest value.
    mask = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    mask = mask.repeat_interleave(2, 0).repeat_interleave(2, 1)[None, None]
    torch.manual_seed(0)
    ref = captum_attr.KernelShap(cnn).attribute(x[:1].clone(), target=3, feature_mask=mask, n_samples=400,
                                                baselines=0.0)
    ours = KernelSHAP(cnn, mask=mask[0], n_samples=100).attribute(x[:1], target=3)
    assert bool(ours.metrics["exact"][0])
    scale = np.abs(ours.attributions).max()
    np.testing.assert_allclose(ours.attributions, ref.detach().numpy(), atol=0.1 * scale)


def test_sampled_kernel_shap_is_efficient_and_close_to_exact(cnn, x):
    # 8 row features: 254 coalitions. Sampling 200 of them keeps the efficiency constraint
    # exact (sum = f(x) - f(0)) and lands within 20 % of the largest exact Shapley value.
    rows = torch.arange(8).repeat_interleave(8).reshape(1, 8, 8)
    exact = KernelSHAP(cnn, mask=rows, n_samples=254).attribute(x[:1], target=3)
    sampled = KernelSHAP(cnn, mask=rows, n_samples=200, seed=0).attribute(x[:1], target=3)
    assert bool(exact.metrics["exact"][0]) and not bool(sampled.metrics["exact"][0])
    e, s = exact.extras["coefficients"][0], sampled.extras["coefficients"][0]
    with torch.no_grad():
        delta = float(cnn(x[:1])[0, 3] - cnn(torch.zeros_like(x[:1]))[0, 3])
    assert abs(s.sum() - delta) < 1e-6 and abs(e.sum() - delta) < 1e-6
    np.testing.assert_allclose(s, e, atol=0.2 * np.abs(e).max())


def test_explain_defaults_to_the_predicted_class_like_captum_argmax(cnn, x):
    pred = cnn(x).argmax(1).tolist()
    r = explain(cnn, x, method="saliency")
    assert r.targets == pred
    ref = captum_attr.Saliency(cnn).attribute(x.clone(), target=pred, abs=False)
    np.testing.assert_allclose(r.attributions, ref.detach().numpy(), atol=1e-6)
