"""Diagnostics fire on constructed failures and stay silent on a healthy run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.data import load_digits
from neuralscope.track import Run
from neuralscope.train import train_digits
from neuralscope.zoo import DigitsCNN


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _train(path, model, opt, digits, steps=100, every=5, loss_scale=None, nan_from=None):
    """A plain training loop on digits batches, watched and logged."""
    g = torch.Generator().manual_seed(0)
    with Run(path) as run:
        run.watch(model, every=every)
        for step in range(steps):
            idx = torch.randint(0, len(digits.x_train), (64,), generator=g)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(digits.x_train[idx]), digits.y_train[idx])
            if loss_scale is not None:
                loss = loss * loss_scale(step)
            if nan_from is not None and step >= nan_from:
                loss = loss * float("nan")
            loss.backward()
            opt.step()
            run.log({"loss": loss}, step=step)
    return run


def test_healthy_digits_training_has_no_diagnostics(digits, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN()
    with Run(tmp_path) as run:
        run.watch(model, every=5, first_step=1)
        result = train_digits(model, epochs=2, data=digits, show_progress=False,
                              on_step=lambda step, metrics: run.log(metrics, step=step))
    assert result.test_accuracy > 0.9
    diag = run.diagnostics()
    assert len(diag) == 0, diag.to_dict()
    assert "No problems" in diag.html_table()


def test_learning_rate_of_10_is_diagnosed(digits, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN()
    run = _train(tmp_path, model, torch.optim.SGD(model.parameters(), lr=10.0), digits)
    diag = run.diagnostics()
    lr = [d for d in diag if d.code == "lr_too_high"]
    assert lr, diag.to_dict()
    assert "learning rate" in lr[0].message and lr[0].series == "loss"


def test_all_negative_bias_behind_relu_is_a_dead_layer(digits, tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
            with torch.no_grad():
                self.fc1.bias.fill_(-20.0)  # inputs are in [0, 1]: every unit stays <= 0

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x.flatten(1))))

    torch.manual_seed(0)
    model = Net()
    run = _train(tmp_path, model, torch.optim.Adam(model.parameters(), lr=1e-3), digits, steps=40)
    by = {d.code: d for d in run.diagnostics()}
    assert by["dead_units"].layer == "act" and by["dead_units"].step == 0
    assert by["dead_units"].severity == "error" and "100%" in by["dead_units"].message
    assert by["vanishing_gradients"].layer == "fc1"  # nothing flows back through a dead layer
    assert "lr_too_high" not in by


def test_injected_nan_is_reported_at_the_step_it_began(digits, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN(width=16)
    run = _train(tmp_path, model, torch.optim.Adam(model.parameters(), lr=1e-3), digits, steps=40, nan_from=22)
    by = {d.code: d for d in run.diagnostics()}
    assert by["nonfinite"].step == 22 and by["nonfinite"].series == "loss"
    assert by["nonfinite_gradients"].step == 25  # the first watched step after the injection
    assert "dead_units" not in by  # NaN activations are not "dead" units


def test_exploding_gradients_are_reported_per_layer(digits, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN(width=16)
    # the loss (hence every gradient) is scaled up 10x every 5 steps; SGD with lr 0 keeps
    # the weights, so only the gradients grow
    run = _train(tmp_path, model, torch.optim.SGD(model.parameters(), lr=0.0), digits, steps=30,
                 loss_scale=lambda step: 10.0 ** (step // 5))
    explode = [d for d in run.diagnostics() if d.code == "exploding_gradients"]
    assert {d.layer for d in explode} >= {"classifier", "features.0"}
    # watched steps 0, 5, ..., 25 hold norms g, 10g, 100g...; the early level is the median
    # of the first two (5.5g), so 100x that is first passed at step 15 (1000g)
    assert all(d.step == 15 for d in explode)
    norms = run.read().scalars("gradients/norm/classifier").values
    assert np.all(norms[1:] / norms[:-1] > 5)  # the construction holds (batches differ)


def test_overfitting_is_reported_when_validation_loss_rises(digits, tmp_path):
    torch.manual_seed(0)
    x, y = digits.x_train[:40].flatten(1), digits.y_train[:40]  # 40 examples: memorised fast
    xv, yv = digits.x_test.flatten(1), digits.y_test
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with Run(tmp_path) as run:
        for step in range(300):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            run.log({"train/loss": loss}, step=step)
            if step % 10 == 0:
                with torch.no_grad():
                    run.log({"val/loss": nn.functional.cross_entropy(model(xv), yv)}, step=step)
    over = [d for d in run.diagnostics() if d.code == "overfitting"]
    assert len(over) == 1 and over[0].series == "val/loss"
    val = run.read().scalars("val/loss")
    assert over[0].step == int(val.steps[np.argmin(val.values)])


def test_diagnostics_table_renders(tmp_path):
    import matplotlib.pyplot as plt

    with Run(tmp_path) as run:
        for i in range(20):
            run.log({"loss": float("nan") if i > 10 else 1.0}, step=i)
    diag = run.diagnostics()
    assert diag.to_dict()["items"][0]["code"] == "nonfinite"
    assert "nonfinite" in diag.to_html()
    diag.plot()
    plt.close("all")
