"""Guided backprop / deconvnet reconstruction of a unit, against Captum on the same unit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.featurevis import ObjectiveError, reconstruct
from neuralscope.zoo import DigitsCNN


class Unit(nn.Module):
    """The mean of one channel of features[:9] as a one-output model (shares the modules)."""

    def __init__(self, model, c):
        super().__init__()
        self.body, self.c = model.features[:9], c

    def forward(self, x):
        return self.body(x)[:, self.c].mean((1, 2))[:, None]


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = DigitsCNN()
    # non-trivial BatchNorm statistics so eval mode differs from an identity
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("method,captum_cls", [("guided", "GuidedBackprop"), ("deconvnet", "Deconvolution")])
def test_reconstruction_equals_captum(cnn, unchanged, method, captum_cls):
    attr = pytest.importorskip("captum.attr")
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with unchanged(cnn):
        ours = reconstruct(cnn, x, "features.8:5", method=method)
    ref = getattr(attr, captum_cls)(Unit(cnn, 5)).attribute(x.clone().requires_grad_(True), target=0)
    np.testing.assert_allclose(ours.maps, ref.detach().numpy(), atol=1e-6, rtol=1e-5)
    assert np.abs(ours.maps).sum() > 0
    with torch.no_grad():
        np.testing.assert_allclose(ours.values, Unit(cnn, 5)(x)[:, 0].numpy(), rtol=1e-5)


def test_plain_gradient_and_guided_differ_only_by_the_relu_rule(cnn):
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    (g,) = torch.autograd.grad(Unit(cnn, 3)(x).sum(), x)
    plain = reconstruct(cnn, x, layer="features.8", unit=3, method="gradient")
    guided = reconstruct(cnn, x, layer="features.8", unit=3, method="guided")
    np.testing.assert_allclose(plain.maps, g.numpy(), atol=1e-7)
    assert not np.allclose(guided.maps, plain.maps)


def test_relus_are_restored_even_when_the_objective_is_bad(cnn, unchanged):
    with unchanged(cnn), pytest.raises(ObjectiveError, match="channel 99 is out of range"):
        reconstruct(cnn, torch.rand(1, 1, 8, 8), "features.8:99")
    assert all("forward" not in m.__dict__ for m in cnn.modules())
    with pytest.raises(ObjectiveError, match="one unit"):
        reconstruct(cnn, torch.rand(1, 1, 8, 8), "features.8:1-2")


def test_reconstruction_figure_uses_a_zero_centred_diverging_map(cnn, tmp_path):
    r = reconstruct(cnn, torch.rand(1, 1, 8, 8), "features.8:0")
    axes = r.plot()
    norm = axes[1].images[0].norm
    assert norm.vcenter == 0 and norm.vmin == -norm.vmax
    assert r.save(tmp_path / "r.png").stat().st_size > 2000
