"""watch(): the numbers it records during real training, and the hooks it leaves (none)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.adapters.torch import hook_keys
from neuralscope.data import load_digits
from neuralscope.errors import LayerNotFoundError
from neuralscope.track import Run, open_run
from neuralscope.zoo import DigitsCNN

EVERY = 4
STEPS = 13


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _all_hooks(model: nn.Module):
    mods = {n: hook_keys(m) for n, m in model.named_modules()}
    params = {n: len(getattr(p, "_post_accumulate_grad_hooks", None) or {}) for n, p in model.named_parameters()}
    return mods, params


def _n_hooks(model: nn.Module) -> int:
    mods, params = _all_hooks(model)
    return sum(len(ids) for keys in mods.values() for ids in keys.values()) + sum(params.values())


@pytest.fixture(scope="module")
def watched_training(digits, tmp_path_factory):
    """A DigitsCNN trained for 13 Adam steps with watch(every=4), and the same numbers
    computed by hand at the watched steps."""
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    path = tmp_path_factory.mktemp("watch") / "run"
    hand, hooks_seen = {}, {}
    relu_out = {}
    hooks_before = _all_hooks(model)
    spy = model.features[2].register_forward_hook(lambda m, a, out: relu_out.__setitem__("x", out.detach().clone()))
    n_before = _n_hooks(model)  # the test's own spy hook
    g = torch.Generator().manual_seed(0)
    with Run(path) as run:
        run.watch(model, every=EVERY)
        for step in range(STEPS):
            idx = torch.randint(0, len(digits.x_train), (64,), generator=g)
            opt.zero_grad()
            out = model(digits.x_train[idx])
            hooks_seen[step] = _n_hooks(model)
            loss = nn.functional.cross_entropy(out, digits.y_train[idx])
            loss.backward()
            if step % EVERY == 0:
                w, b = model.classifier.weight, model.classifier.bias
                a = relu_out["x"]
                hand[step] = {
                    "grad_w": torch.linalg.vector_norm(w.grad).item(),
                    "grad_layer": math.sqrt(torch.linalg.vector_norm(w.grad).item() ** 2
                                            + torch.linalg.vector_norm(b.grad).item() ** 2),
                    "grad_hist": w.grad.detach().numpy().copy(),
                    "w_before": w.detach().clone(),
                    "weight_norm": torch.linalg.vector_norm(w).item(),
                    "act_mean": a.mean().item(),
                    "dead": (a <= 0).all(dim=0).all(dim=-1).all(dim=-1).float().mean().item(),
                }
            opt.step()
            if step % EVERY == 0:
                wb = hand[step].pop("w_before")
                hand[step]["ratio"] = (torch.linalg.vector_norm(model.classifier.weight.detach() - wb)
                                       / torch.linalg.vector_norm(wb)).item()
            if step == 5:
                with torch.no_grad():  # a validation pass does not count as a step
                    model(digits.x_test[:8])
            run.log({"loss": loss}, step=step)
    hooks_during = _n_hooks(model)  # after close(), which unwatches
    spy.remove()
    return {"path": path, "hand": hand, "hooks_seen": hooks_seen, "hooks_before": hooks_before,
            "hooks_during": hooks_during, "model": model, "n_before": n_before}


def test_gradient_norms_equal_hand_computed_ones(watched_training):
    r = open_run(watched_training["path"])
    hand = watched_training["hand"]
    watched = list(range(0, STEPS, EVERY))
    s = r.scalars("gradients/norm/classifier.weight")
    assert s.steps.tolist() == watched
    # the same float32 reduction on the same tensor, stored as float64: equal to 1e-7
    np.testing.assert_allclose(s.values, [hand[k]["grad_w"] for k in watched], rtol=1e-7)
    np.testing.assert_allclose(r.scalars("gradients/norm/classifier").values,
                               [hand[k]["grad_layer"] for k in watched], rtol=1e-6)
    np.testing.assert_allclose(r.scalars("weights/norm/classifier.weight").values,
                               [hand[k]["weight_norm"] for k in watched], rtol=1e-7)
    np.testing.assert_allclose(r.scalars("updates/ratio/classifier.weight").values,
                               [hand[k]["ratio"] for k in watched], rtol=1e-5)


def test_activation_statistics_equal_hand_computed_ones(watched_training):
    r = open_run(watched_training["path"])
    hand = watched_training["hand"]
    watched = list(range(0, STEPS, EVERY))
    np.testing.assert_allclose(r.scalars("activations/mean/features.2").values,
                               [hand[k]["act_mean"] for k in watched], rtol=1e-6)
    np.testing.assert_allclose(r.scalars("activations/dead/features.2").values,
                               [hand[k]["dead"] for k in watched], atol=1e-7)
    assert "activations/dead/features.0" not in r.names("scalar")  # conv outputs are not units that die


def test_gradient_histograms_hold_every_value(watched_training):
    r = open_run(watched_training["path"])
    hand = watched_training["hand"]
    rows = r.histogram_rows("gradients/classifier.weight")
    assert [row["step"] for row in rows] == list(range(0, STEPS, EVERY))
    for row in rows:
        g = hand[row["step"]]["grad_hist"].ravel()
        ref, edges = np.histogram(g, bins=len(row["counts"]), range=(g.min(), g.max()))
        assert row["counts"].sum() == g.size
        assert np.abs(row["counts"] - ref).sum() <= 2  # histc vs numpy on float32 bin edges
        # numpy places float32 edges; ours are float64 linspace over the same range
        np.testing.assert_allclose(row["edges"], edges, rtol=0, atol=1e-6 * (g.max() - g.min()))


def test_hooks_exist_only_on_watched_steps_and_none_remain(watched_training):
    seen = watched_training["hooks_seen"]
    root_only = seen[1]
    # one forward pre-hook on the root between watched steps
    assert root_only == watched_training["n_before"] + 1
    assert all(seen[s] == root_only for s in range(STEPS) if s % EVERY)
    assert all(seen[s] > root_only for s in range(0, STEPS, EVERY))
    assert watched_training["hooks_during"] == watched_training["n_before"]  # close() unwatched
    assert _all_hooks(watched_training["model"]) == watched_training["hooks_before"]


def test_watch_does_not_change_the_training_trajectory(digits, tmp_path):
    def train(watch: bool):
        torch.manual_seed(1)
        model = DigitsCNN(width=8)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with Run(tmp_path / f"w{watch}") as run:
            if watch:
                run.watch(model, every=2)
            for step in range(6):
                opt.zero_grad()
                nn.functional.cross_entropy(model(digits.x_train[:32]), digits.y_train[:32]).backward()
                opt.step()
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(train(False), train(True)):
        assert torch.equal(a, b)


def test_watch_and_unwatch_leave_the_model_unchanged(unchanged, tmp_path):
    model = DigitsCNN(width=8)
    x = torch.rand(4, 1, 8, 8)
    with Run(tmp_path) as run:
        with unchanged(model):
            run.watch(model, every=1)
            with torch.no_grad():
                model.eval()
                model(x)
                model.train()
            run.unwatch(model)
        with unchanged(model), pytest.raises(LayerNotFoundError, match="classifer"):
            run.watch(model, layers="classifer")
        with unchanged(model), pytest.raises(ValueError, match="every"):
            run.watch(model, every=0)
        with unchanged(model), pytest.raises(ValueError, match="subset"):
            run.watch(model, what=("weights", "biases"))


def test_watch_selected_layers_and_kinds(digits, tmp_path):
    torch.manual_seed(0)
    model = DigitsCNN(width=8)
    with Run(tmp_path) as run:
        run.watch(model, every=1, what="activations", layers="features.*")
        for _ in range(2):
            model(digits.x_train[:16]).sum().backward()
    names = open_run(tmp_path).names()
    assert not any(n.startswith(("gradients", "weights")) for n in names.get("scalar", []))
    assert sorted(names["histogram"]) == sorted(f"activations/features.{i}" for i in range(10))


def test_a_failing_watch_never_breaks_training(digits, tmp_path, monkeypatch):
    from neuralscope.track import watch as watch_module

    def broken(*args, **kwargs):
        raise RuntimeError("histogram exploded")

    monkeypatch.setattr(watch_module, "histogram", broken)
    torch.manual_seed(0)
    model = DigitsCNN(width=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Run(tmp_path) as run:
        run.watch(model, every=1)
        for step in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(digits.x_train[:16]), digits.y_train[:16])
            loss.backward()
            opt.step()
            run.log({"loss": loss}, step=step)
    assert _n_hooks(model) == 0
    diag = run.diagnostics()
    err = [d for d in diag if d.code == "watch_error"]
    assert len(err) == 1 and "histogram exploded" in err[0].message
    assert len(run.read().scalars("loss")) == 3
