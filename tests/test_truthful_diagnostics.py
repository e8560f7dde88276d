"""Every diagnostic's threshold is a stated rule (see neuralscope.track.diagnostics), checked
on both sides of it with constructed series; 10 Adam steps at the default learning rate are
not "lr_too_high"; a run that learns nothing is under-fitting."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.track import Run
from neuralscope.track import diagnostics as D


def diagnose(tmp_path, series: dict[str, list | dict], config: dict | None = None) -> dict:
    """Log ``{name: values (steps 0..) or {step: value}}`` and return ``{code: Diagnostic}``."""
    with Run(tmp_path / "run", config=config or {}) as run:
        for name, values in series.items():
            items = values.items() if isinstance(values, dict) else enumerate(values)
            for step, v in items:
                run.log({name: float(v)}, step=int(step))
    return {d.code: d for d in run.diagnostics()}


def grads(last: float, base: float = 1.0, n: int = 8) -> list[float]:
    return [base] * (n - 1) + [last]


@pytest.mark.parametrize(("last", "fires"), [(99.0, False), (100.0, True)])
def test_exploding_gradients_fire_at_100x_the_early_level(tmp_path, last, fires):
    found = diagnose(tmp_path, {"gradients/norm/fc": grads(last)})
    assert ("exploding_gradients" in found) is fires


@pytest.mark.parametrize(("last", "fires"), [(0.99e6, False), (1e6, True)])
def test_exploding_gradients_fire_at_an_absolute_1e6(tmp_path, last, fires):
    found = diagnose(tmp_path, {"gradients/norm/fc": grads(last, base=2e4)})  # 50x: below the ratio rule
    assert ("exploding_gradients" in found) is fires


@pytest.mark.parametrize(("tiny", "count", "fires"), [(0.9e-7, 4, True), (1.1e-7, 4, False), (0.9e-7, 3, False)])
def test_vanishing_gradients_need_half_the_watched_steps_below_1e_7(tmp_path, tiny, count, fires):
    values = [1.0] * (8 - count) + [tiny] * count
    found = diagnose(tmp_path, {"gradients/norm/fc": values})  # one layer: the relative rule is silent
    assert ("vanishing_gradients" in found) is fires


@pytest.mark.parametrize(("small", "fires"), [(0.9e-5, True), (1.1e-5, False)])
def test_vanishing_gradients_below_1e_5_of_the_median_layer(tmp_path, small, fires):
    others = {f"gradients/norm/layer{i}": [1.0] * 8 for i in range(3)}  # median layer norm: 1.0
    found = diagnose(tmp_path, {"gradients/norm/fc": [small] * 8, **others})
    assert ("vanishing_gradients" in found) is fires


@pytest.mark.parametrize(("fraction", "severity"), [(0.49, None), (0.5, "warning"), (1.0, "error")])
def test_dead_units_fire_from_half_the_units(tmp_path, fraction, severity):
    found = diagnose(tmp_path, {"activations/dead/act": [0.0, 0.0, fraction]})
    assert (found["dead_units"].severity if "dead_units" in found else None) == severity


@pytest.mark.parametrize(("peak", "fires"), [(2.99, False), (3.01, True)])
def test_lr_too_high_when_the_loss_rises_above_3x_its_start(tmp_path, peak, fires):
    found = diagnose(tmp_path, {"loss": [1.0] * 20 + [peak] + [1.0] * 5})
    assert ("lr_too_high" in found and found["lr_too_high"].severity == "error") is fires


@pytest.mark.parametrize(("n", "spike", "fires"), [(60, 1.2, True), (60, 1.1, False), (49, 1.2, False)])
def test_lr_too_high_when_a_long_run_makes_no_progress_and_spikes_15_percent(tmp_path, n, spike, fires):
    loss = [1.0] * n
    loss[n // 2] = spike
    assert ("lr_too_high" in diagnose(tmp_path, {"loss": loss})) is fires


@pytest.mark.parametrize(("ratio", "steps", "fires"),
                         [(0.02, range(10, 60, 10), True), (0.005, range(10, 60, 10), False),
                          (0.05, range(0, 10, 5), False)])
def test_lr_too_high_when_updates_exceed_1_percent_after_warmup(tmp_path, ratio, steps, fires):
    found = diagnose(tmp_path, {"loss": [1.0] * 60, "updates/ratio/fc.weight": {s: ratio for s in steps}})
    assert ("lr_too_high" in found) is fires


@pytest.mark.parametrize(("tail", "fires"), [([0.56, 0.56], True), ([0.54, 0.54], False)])
def test_overfitting_when_validation_rises_10_percent_above_its_minimum(tmp_path, tail, fires):
    val = dict(zip(range(0, 70, 10), [1.0, 0.8, 0.6, 0.5, 0.52] + tail))
    train = [1.0 - 0.01 * s for s in range(61)]
    found = diagnose(tmp_path, {"val/loss": val, "train/loss": train})
    assert ("overfitting" in found) is fires


@pytest.mark.parametrize(("end", "fires"), [(2.31, True), (2.29, False)])
def test_underfitting_when_validation_loss_ends_above_ln_classes(tmp_path, end, fires):
    assert math.log(10) == pytest.approx(2.3026, abs=1e-4)
    val = {0: 2.6, 10: 2.5, 20: end, 30: end, 40: end}
    found = diagnose(tmp_path, {"val/loss": val, "train/loss": [2.6 - 0.001 * s for s in range(41)]},
                     config={"num_classes": 10})
    assert ("underfitting" in found) is fires
    if fires:
        assert "ln 10" in found["underfitting"].message and found["underfitting"].series == "val/loss"


def test_underfitting_reported_for_the_issue_example(tmp_path):
    # validation loss 2.43 on 10 classes (classes given as a list of names)
    found = diagnose(tmp_path, {"val/loss": [2.5, 2.45, 2.43, 2.43], "loss": [2.5] * 40},
                     config={"classes": [str(i) for i in range(10)]})
    assert "underfitting" in found


@pytest.mark.parametrize(("end", "fires"), [(1.8, True), (1.79, False)])
def test_underfitting_without_a_class_count_compares_with_the_first_value(tmp_path, end, fires):
    found = diagnose(tmp_path, {"val/loss": [2.0, 1.9, end, end, end]})
    assert ("underfitting" in found) is fires


def test_ten_adam_steps_at_the_default_learning_rate_are_not_lr_too_high(tmp_path):
    from neuralscope import load_digits
    from neuralscope.zoo import DigitsCNN

    digits = load_digits()
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters())
    with Run(tmp_path / "tour", config={"lr": 1e-3}) as run:
        run.watch(model, every=100)  # as in the README tour: only step 0 is watched
        for step in range(10):
            xb, yb = digits.x_train[64 * step:64 * step + 64], digits.y_train[64 * step:64 * step + 64]
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log({"loss": loss.item()}, step=step)
    diag = run.diagnostics()
    assert "lr_too_high" not in {d.code for d in diag}, diag.to_dict()
    ratios = run.read().scalars(next(n for n in run.read().names("scalar") if n.startswith("updates/ratio/")))
    assert np.nanmedian(ratios.values) > D.LR_UPDATE_RATIO  # the first Adam step is large, as expected
