"""The stand-ins that long attribution runs use instead of the model (fastpath.py): they must
compute the same function as the model, be used only where that holds, and leave the model
as found. Reference: the same method run on the model itself (MIN_PASSES raised so that no
stand-in is built), and Captum for Integrated Gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.attribution import fastpath
from neuralscope.attribution.base import guard
from neuralscope.attribution.cam import AblationCAM, ScoreCAM
from neuralscope.attribution.gradient import IntegratedGradients, SmoothGrad
from neuralscope.attribution.perturbation import GradientSHAP, KernelSHAP, Occlusion
from neuralscope.zoo import TinyResNet


def trained_statistics(net: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics (so folding them matters), then eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        net.train()(torch.rand(64, *net.input_shape) * 2 - 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return trained_statistics(TinyResNet())


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def eager_only(monkeypatch):
    """Run methods on the model itself: no run is long enough for a stand-in."""
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)


@pytest.fixture
def always(monkeypatch):
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)


def scale_diff(a, b) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / b.abs().max())


def test_gradient_model_folds_batchnorm_and_splits_off_the_first_convolution(resnet, x, always):
    with guard(resnet):
        ref = resnet(x)
        split = fastpath.gradient_model(resnet, x[:1], ref[:1], passes=100)
        assert isinstance(split.stem, nn.Conv2d) and split.stem.bias is not None  # bias = the folded BatchNorm
        called = [split.body.get_submodule(n.target) for n in split.body.graph.nodes if n.op == "call_module"]
        assert called and not any(isinstance(m, nn.BatchNorm2d) for m in called)
        with torch.no_grad():
            assert torch.allclose(split(x), ref, rtol=1e-5, atol=1e-5)


def test_the_stem_vjp_is_the_gradient_through_the_first_layer(resnet, x, always):
    with guard(resnet):
        split = fastpath.gradient_model(resnet, x[:1], resnet(x[:1]), passes=100)
        g_h = torch.randn_like(split.stem(x))
        xr = x.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(split.stem(xr), xr, g_h)
        assert torch.allclose(split.stem_vjp(x, g_h), expected, atol=1e-6)


def test_integrated_gradients_through_the_stand_in_equal_those_on_the_model(resnet, x, monkeypatch, unchanged):
    built = []
    real = fastpath.gradient_model

    def spy(*a, **k):
        built.append(real(*a, **k))
        return built[-1]

    monkeypatch.setattr("neuralscope.attribution.gradient.gradient_model", spy)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    with unchanged(resnet):
        fast = IntegratedGradients(resnet, steps=40).attribute(x, target=[1, 4, 9])
    assert built and built[0].stem is not None
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)
    slow = IntegratedGradients(resnet, steps=40).attribute(x, target=[1, 4, 9])
    assert scale_diff(fast.attributions, slow.attributions) < 1e-5
    assert abs(fast.metrics["completeness_error"] - slow.metrics["completeness_error"]).max() < 1e-5


def test_integrated_gradients_through_the_stand_in_match_captum(resnet, x, always):
    captum_attr = pytest.importorskip("captum.attr")
    ref = captum_attr.IntegratedGradients(resnet).attribute(x.clone(), target=[1, 4, 9], n_steps=50)
    ours = IntegratedGradients(resnet, steps=50).attribute(x, target=[1, 4, 9]).attributions
    assert scale_diff(ours, ref) < 1e-5  # same Gauss-Legendre rule; differences are float rounding


@pytest.mark.parametrize("make", [
    lambda net: SmoothGrad(net, n_samples=30, seed=2),
    lambda net: SmoothGrad(net, base="input_x_gradient", n_samples=30, kind="vargrad", seed=2),
    lambda net: GradientSHAP(net, n_samples=30, seed=2),
], ids=["smoothgrad", "vargrad_ixg", "gradient_shap"])
def test_sampled_gradient_methods_give_the_same_answer_on_the_folded_graph(resnet, x, make, monkeypatch, unchanged):
    graphs = []
    real = fastpath.gradient_model

    def spy(*a, **k):
        graphs.append(real(*a, **k).body)
        return fastpath.GradientModel(None, graphs[-1])

    for module in ("gradient", "perturbation"):
        monkeypatch.setattr(f"neuralscope.attribution.{module}.gradient_model", spy)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    with unchanged(resnet):
        fast = make(resnet).attribute(x, target=[1, 4, 9])
    assert graphs and all(isinstance(g, torch.fx.GraphModule) for g in graphs)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)
    slow = make(resnet).attribute(x, target=[1, 4, 9])
    assert scale_diff(fast.attributions, slow.attributions) < 1e-4


def test_in_place_relu_after_the_stem_is_fine(monkeypatch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                        nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    net.input_shape = (1, 8, 8)
    net = trained_statistics(net)
    x = torch.rand(2, 1, 8, 8)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    with guard(net):
        assert fastpath.gradient_model(net, x[:1], net(x[:1]), passes=64).stem is not None
    fast = IntegratedGradients(net, steps=32).attribute(x, target=[0, 2])
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)
    slow = IntegratedGradients(net, steps=32).attribute(x, target=[0, 2])
    assert scale_diff(fast.attributions, slow.attributions) < 1e-5


@pytest.mark.parametrize("make", [
    lambda net: Occlusion(net, window=2, stride=2),
    lambda net: KernelSHAP(net, mask=("grid", 4), n_samples=32, seed=3),
    lambda net: ScoreCAM(net, layer="layer1"),
], ids=["occlusion", "kernel_shap", "score_cam"])
def test_forward_only_methods_give_the_same_answer_through_the_frozen_trace(resnet, x, make, monkeypatch, unchanged):
    kinds = []
    real = fastpath.forward_model

    def spy(model, *a, **k):
        run = real(model, *a, **k)
        kinds.append(isinstance(run, fastpath.FrozenForward))
        return run

    for module in ("cam", "perturbation"):
        monkeypatch.setattr(f"neuralscope.attribution.{module}.forward_model", spy)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    with unchanged(resnet):
        fast = make(resnet).attribute(x, target=[1, 4, 9])
    assert kinds and all(kinds)  # the frozen trace, not the eager fallback
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)
    slow = make(resnet).attribute(x, target=[1, 4, 9])
    assert scale_diff(fast.attributions, slow.attributions) < 1e-4


def test_no_stand_in_for_a_training_model_a_hooked_model_or_a_short_run(resnet, x, always):
    assert fastpath.eligible(resnet, x, passes=1)
    assert not fastpath.eligible(resnet, x, passes=fastpath.MIN_PASSES - 1) or fastpath.MIN_PASSES == 0
    resnet.layer1.train()
    try:
        assert not fastpath.eligible(resnet, x, passes=100)
    finally:
        resnet.layer1.eval()
    handle = resnet.layer2.register_forward_hook(lambda *a: None)  # a trace would skip a container's hook
    try:
        assert not fastpath.eligible(resnet, x, passes=100)
    finally:
        handle.remove()
    assert not fastpath.eligible(resnet, x.half(), passes=100)


class BakesTheBatchSize(nn.Module):
    """Traced at one row, ``int(x.shape[0])`` becomes the constant 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 7, padding=3)  # mostly convolutional: a trace is tried
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(128, 3)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).reshape(int(x.shape[0]), -1))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
def test_a_trace_that_baked_in_the_batch_size_is_not_used(always):
    torch.manual_seed(0)
    net = BakesTheBatchSize().eval()
    x = torch.rand(5, 1, 8, 8)
    with guard(net):
        with torch.no_grad():
            traced = torch.jit.trace(net, x[:1], check_trace=False)
            try:  # what the check below must catch: the trace fails or is wrong at 5 rows
                wrong = traced(x).shape != net(x).shape
            except RuntimeError:
                wrong = True
            assert wrong
        run = fastpath.forward_model(net, x[:1], net(x[:1]), passes=100)
        with torch.no_grad():
            assert torch.equal(run(x), net(x))


@pytest.mark.parametrize("layer", ["layer2", "layer1.1.conv1", "layer1.0.bn2"],
                         ids=["block output", "inside a block (the skip crosses the cut)", "before the add"])
def test_ablation_cam_on_the_layer_tail_equals_ablating_in_the_whole_model(resnet, x, layer, monkeypatch, unchanged):
    tails = []
    real = fastpath.layer_tail

    def spy(*a, **k):
        tails.append(real(*a, **k))
        return tails[-1]

    monkeypatch.setattr("neuralscope.attribution.cam.layer_tail", spy)
    monkeypatch.setattr(fastpath, "MIN_PASSES", 0)
    with unchanged(resnet):
        fast = AblationCAM(resnet, layer=layer).attribute(x, target=[1, 4, 9])
    assert tails and tails[0] is not None
    monkeypatch.setattr(fastpath, "MIN_PASSES", 10 ** 12)
    slow = AblationCAM(resnet, layer=layer).attribute(x, target=[1, 4, 9])
    assert scale_diff(fast.attributions, slow.attributions) < 1e-5
    assert np.allclose(fast.extras["cam"], slow.extras["cam"], atol=1e-5)


def test_the_tail_carries_values_from_before_the_cut_per_example(resnet, x, always):
    layer = resnet.get_submodule("layer1.1.conv1")
    with guard(resnet):
        ref = resnet(x)
        tail = fastpath.layer_tail(resnet, layer, x, ref, passes=100)
        assert tail is not None and any(per_example for _, per_example in tail.carried)
        rows = torch.tensor([2, 0, 2, 1])
        with torch.no_grad():
            assert torch.allclose(tail(tail.layer_output[rows], rows), ref[rows], atol=1e-5)


class UsesTheBatchSizeAfterTheLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 64, 3)

    def forward(self, x):
        n = x.shape[0]
        return self.fc(self.conv(x).reshape(n, -1))


class CallsTheLayerTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(self.conv(self.conv(x)).flatten(1))


@pytest.mark.parametrize("net", [UsesTheBatchSizeAfterTheLayer, CallsTheLayerTwice])
def test_no_tail_where_it_would_not_be_the_same_function(net, always):
    torch.manual_seed(0)
    model = net().eval()
    x = torch.rand(3, 1, 8, 8)
    with guard(model):
        assert fastpath.layer_tail(model, model.conv, x, model(x), passes=100) is None
    r = AblationCAM(model, layer="conv").attribute(x, target=[0, 1, 2])  # still works, on the whole model
    assert r.attributions.shape == (3, 8, 8)


def test_the_tail_runs_in_batches_that_fit_the_memory_budget(resnet, x, monkeypatch, always):
    with guard(resnet):
        per_row = fastpath.layer_tail(resnet, resnet.layer2, x, resnet(x), passes=100).bytes_per_row
    seen = []
    real_call = fastpath.LayerTail.__call__

    def spy(self, rows, examples):
        seen.append(rows.shape[0])
        return real_call(self, rows, examples)

    monkeypatch.setattr(fastpath.LayerTail, "__call__", spy)
    AblationCAM(resnet, layer="layer2", memory_budget=3 * per_row).attribute(x, target=[1, 4, 9])
    assert sum(seen) == 3 * 32 and max(seen) <= 3


def test_deletion_insertion_and_infidelity_are_the_same_through_the_frozen_trace(resnet, x, monkeypatch):
    from neuralscope.attribution.metrics import deletion_insertion, infidelity

    attr = IntegratedGradients(resnet, steps=8).attribute(x, target=[1, 4, 9])
    results = {}
    for label, min_passes in (("fast", 0), ("slow", 10 ** 12)):
        monkeypatch.setattr(fastpath, "MIN_PASSES", min_passes)
        curves = deletion_insertion(resnet, x, attr, steps=8)
        results[label] = (curves.deletion, curves.insertion, infidelity(resnet, x, attr, n_perturb=16))
    for fast, slow in zip(results["fast"], results["slow"]):
        np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-6)
