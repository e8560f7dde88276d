"""The working copy that loss_landscape evaluates points through one at a time: folded
BatchNorms and fused conv+ReLU give torch's own unfolded forward pass at any weights, a fold that
would change the output is refused, the model is only read, and a model that cannot be copied
still gets its surface (through functional_call)."""
import threading
import types

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

import neuralscope
import neuralscope.landscape.evaluate as evaluate
from neuralscope.landscape.directions import random_direction, weights_of
from neuralscope.landscape.objective import make_objective
from neuralscope.adapters.inference_copy import InferenceCopy


def _with_running_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """BatchNorms with running statistics far from (0, 1), so that a wrong fold shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 2 + 0.3)
    return model.eval()


def _moved(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The model's weights one step along a random direction with BatchNorm weights moved too."""
    w = weights_of(model)
    d = random_direction(w, seed=seed, ignore=None)
    return {n: w[n] + 0.7 * d[n] for n in w}


def test_folded_and_fused_copy_equals_torchs_unfolded_forward_at_other_weights():
    torch.manual_seed(0)
    model = _with_running_stats(nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6, affine=False), nn.ReLU(),
        nn.Conv2d(6, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)))
    x = torch.randn(20, 1, 8, 8)
    work = InferenceCopy(model, x[:4])
    assert work.folded == 3 and work.channels_last
    assert work.fused == (2 if hasattr(torch.ops.mkldnn, "_convolution_pointwise") else 0)
    for seed in (1, 2):
        weights = _moved(model, seed)
        work.load(weights)
        with torch.no_grad():
            expected = functional_call(model, weights, (x,))
            got = work(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


class Tapped(nn.Module):
    """Reads the convolution's output besides the BatchNorm's: folding would change it."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
        self.head = nn.Linear(2 * 3 * 6 * 6, 4)

    def forward(self, x):
        raw = self.body[0](x)
        return self.head(torch.cat([self.body[2](self.body[1](raw)).flatten(1), raw.flatten(1)], 1))


def test_a_fold_that_changes_the_output_is_refused_and_the_surface_stays_exact():
    torch.manual_seed(0)
    model = _with_running_stats(Tapped())
    x, y = torch.randn(30, 1, 8, 8), torch.randint(0, 4, (30,))
    assert InferenceCopy(model, x[:4]).folded == 0
    ls = neuralscope.loss_landscape(model, (x, y), dims=1, steps=5, points_per_batch=1, ignore=None)
    d = random_direction(weights_of(model), seed=0, ignore=None)
    for a, loss in zip(ls.x, ls.loss):
        w = {n: t + a * d[n] for n, t in weights_of(model).items()}
        with torch.no_grad():
            expected = nn.functional.cross_entropy(functional_call(model, w, (x,)), y).item()
        assert loss == pytest.approx(expected, rel=1e-5)


def test_modules_with_hooks_are_neither_folded_nor_fused():
    model = _with_running_stats(nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(),
                                              nn.Flatten(), nn.Linear(3 * 6 * 6, 2)))
    model[1].register_forward_hook(lambda *a: None)
    model[2].register_forward_pre_hook(lambda *a: None)
    work = InferenceCopy(model, torch.randn(4, 1, 8, 8))
    assert (work.folded, work.fused) == (0, 0)


class Locked(nn.Module):
    """Holds a lock: copy.deepcopy refuses it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.lock = threading.Lock()

    def forward(self, x):
        return self.fc(x)


def test_a_model_that_cannot_be_copied_goes_through_functional_call_with_the_same_surface(unchanged, capsys):
    torch.manual_seed(0)
    model, x, y = Locked(), torch.randn(25, 4), torch.randint(0, 3, (25,))
    with unchanged(model):
        ls = neuralscope.loss_landscape(model, (x, y), steps=5, points_per_batch=1, verbose=True,
                                        show_progress=False)
    assert "functional_call (no working copy: cannot pickle" in capsys.readouterr().err
    batched = neuralscope.loss_landscape(model, (x, y), steps=5, points_per_batch=8)
    np.testing.assert_allclose(ls.loss, batched.loss, rtol=1e-5)
    assert ls.center_loss == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-6)


def test_the_plan_names_the_working_copy(capsys):
    torch.manual_seed(0)
    model = _with_running_stats(neuralscope.zoo.DigitsCNN(width=4))
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 10, (40,))
    neuralscope.loss_landscape(model, (x, y), dims=1, steps=3, points_per_batch=1, verbose=True,
                               show_progress=False)
    assert "working copy, 3 BatchNorms folded" in capsys.readouterr().err


def test_the_time_estimate_counts_the_chunks_still_to_run(monkeypatch, capsys):
    """One point per pass, 16 points between updates: 40 points are 3 chunks, so a first chunk of
    2 s (a fake clock) makes an estimate of 6 s, printed since it is over 5 s."""
    ticks = iter([100.0, 102.0])
    monkeypatch.setattr(evaluate, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks, 102.0)))
    torch.manual_seed(0)
    model = _with_running_stats(neuralscope.zoo.DigitsCNN(width=4))
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 10, (40,))
    obj = make_objective(model, (x, y))
    w = weights_of(model)
    coords = np.linspace(-1, 1, 40)[:, None]
    _, _, plan = evaluate.evaluate_points(obj, w, [random_direction(w)], coords, points_per_batch=1,
                                          show_progress=False)
    assert (plan.chunk, plan.step, plan.seconds) == (1, 16, 6.0)
    assert "estimated 6.0 s in all" in capsys.readouterr().err
