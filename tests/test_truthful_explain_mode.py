"""explain() and compare() on a model left in training mode evaluate it in eval mode (dropout
off), so identical calls agree and Integrated Gradients stays complete; the modes are put back;
train_mode=True keeps training mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuralscope as ns


def dropout_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 64), nn.BatchNorm1d(64),
                        nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
    with torch.no_grad():  # running statistics that differ from any one batch's
        net[4].running_mean.uniform_(-0.5, 0.5)
        net[4].running_var.uniform_(0.5, 2.0)
    return net.train()


@pytest.fixture
def x():
    return torch.rand(4, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion"])
def test_identical_calls_give_identical_maps_and_modes_are_restored(x, method, unchanged):
    net = dropout_net()
    opts = {"window": (2,)} if method == "occlusion" else {}
    with unchanged(net):
        a = ns.explain(net, x, target=1, method=method, **opts).attributions
        b = ns.explain(net, x, target=1, method=method, **opts).attributions
    np.testing.assert_array_equal(a, b)
    assert all(m.training for m in net.modules())


def test_integrated_gradients_are_complete_on_a_training_mode_model(x):
    net = dropout_net()
    r = ns.explain(net, x, target=2, method="integrated_gradients", steps=128)
    # completeness against the eval-mode model: sum of attributions = f(x) - f(0), up to the
    # Riemann-sum error of 128 steps on this piecewise-linear net (measured 5e-3 at most; the
    # same call with train_mode=True is off by about 1.0, a fresh dropout mask per step)
    with torch.no_grad():
        net.eval()
        gap = (net(x)[:, 2] - net(torch.zeros_like(x))[:, 2]).numpy()
        net.train()
    np.testing.assert_allclose(r.attributions.reshape(4, -1).sum(1), gap, atol=1e-2)
    assert np.max(np.abs(r.metrics["completeness_error"])) < 1e-2
    noisy = ns.explain(net, x, target=2, method="integrated_gradients", steps=128, train_mode=True)
    assert np.max(np.abs(noisy.metrics["completeness_error"])) > 0.1


def test_train_mode_true_keeps_dropout_active(x, unchanged):
    net = dropout_net()
    with unchanged(net):
        torch.manual_seed(1)
        a = ns.explain(net, x, target=1, method="saliency", train_mode=True).attributions
        torch.manual_seed(2)
        b = ns.explain(net, x, target=1, method="saliency", train_mode=True).attributions
    assert not np.allclose(a, b)  # two dropout masks


def test_compare_evaluates_in_eval_mode_too(unchanged):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.5), nn.Flatten(),
                        nn.Linear(4 * 64, 3)).train()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with unchanged(net):
        c1 = ns.compare(net, x, methods=["saliency"], steps=4)
        c2 = ns.compare(net, x, methods=["saliency"], steps=4)
    np.testing.assert_array_equal(c1.results["saliency"].attributions, c2.results["saliency"].attributions)
    np.testing.assert_array_equal(c1.scores["saliency"]["deletion_auc"], c2.scores["saliency"]["deletion_auc"])
