"""The fused chain stand-in for MLPs (exact Shapley values, KernelSHAP, LIME, ablation) and
the one-thread rule for many forward passes on a busy machine."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.attribution import explain, threads
from neuralscope.attribution.chain import chain_forward, many_rows_forward
from neuralscope.zoo import TabularMLP


def _reference(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


@pytest.mark.parametrize("act", [nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.GELU(), nn.LeakyReLU(0.2), nn.ELU(0.7),
                                 nn.SiLU()])
def test_chain_stand_in_equals_the_model_on_many_rows(act):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 40), act, nn.Dropout(0.5), nn.Linear(40, 9), act, nn.Linear(9, 3)).eval()
    x = torch.randn(1, 12)
    run = chain_forward(net, x, _reference(net, x), 10_000)
    assert run is not None
    rows = torch.randn(70_000, 12)  # several blocks, the last one partial
    # the same float32 matrix products, summed in the same order: equal up to rounding
    torch.testing.assert_close(run(rows), _reference(net, rows), rtol=1e-5, atol=1e-6)


def test_anything_but_an_eval_mode_chain_without_hooks_keeps_the_model():
    torch.manual_seed(0)
    x = torch.randn(1, 6)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 2)

        def forward(self, t):
            return self.b(self.a(t) + t)

    others = [nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).eval(),
              Residual().eval(),
              nn.Sequential(nn.ReLU(), nn.Linear(6, 2)).eval(),  # starts with an activation
              nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))]  # training mode (dropout would run)
    for net in others:
        assert chain_forward(net, x, _reference(net, x), 10_000) is None
        assert many_rows_forward(net, x, _reference(net, x), 10_000)(x).shape == (1, 2)
    hooked = nn.Sequential(nn.Linear(6, 2)).eval()
    handle = hooked.register_forward_hook(lambda m, i, o: None)
    assert chain_forward(hooked, x, _reference(hooked, x), 10_000) is None
    handle.remove()
    assert chain_forward(hooked, x, _reference(hooked, x), 10) is None  # too few rows to be worth it


def test_exact_and_kernel_shap_values_are_the_same_with_the_stand_in(monkeypatch, unchanged):
    torch.manual_seed(0)
    net = TabularMLP(in_features=8, hidden=(16, 8)).eval()
    x, bg = torch.randn(3, 8), torch.randn(10, 8)
    with unchanged(net):
        fast = [explain(net, x, target=1, method=m, background=bg, **o).attributions
                for m, o in (("exact_shapley", {}), ("kernel_shap", {"n_samples": 100}))]
    monkeypatch.setattr("neuralscope.attribution.chain.chain_forward", lambda *a: None)
    slow = [explain(net, x, target=1, method=m, background=bg, **o).attributions
            for m, o in (("exact_shapley", {}), ("kernel_shap", {"n_samples": 100}))]
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_many_passes_run_on_one_thread_only_when_the_machine_is_busy(monkeypatch):
    before = torch.get_num_threads()
    if before == 1:
        torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (100.0, 100.0, 100.0))
        assert threads.machine_busy()
        with threads.pass_threads() as n:
            assert n == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == max(before, 2)
        with pytest.raises(RuntimeError), threads.pass_threads():
            raise RuntimeError("the block fails")
        assert torch.get_num_threads() == max(before, 2)  # restored also on error
        seen = []
        monkeypatch.setattr(threads.torch, "set_num_threads", lambda k: seen.append(k))
        net = TabularMLP(in_features=4, hidden=(8,)).eval()
        explain(net, torch.randn(1, 4), method="exact_shapley", background=torch.randn(4, 4))
        assert seen == [1, max(before, 2)]
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
        seen.clear()
        with threads.pass_threads() as n:
            assert n == max(before, 2)
        explain(net, torch.randn(1, 4), method="occlusion", window=1)
        assert seen == []
    finally:
        monkeypatch.undo()
        torch.set_num_threads(before)


def test_a_large_model_keeps_its_threads_on_a_busy_machine(monkeypatch):
    """Occlusion of ResNet-50 beside two busy loops ran 1.9x faster on two threads than on
    one: each operation runs long beside a barrier's wait. Small models still drop to one."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(before, 2))
    try:
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (100.0, 100.0, 100.0))
        small = nn.Linear(1000, threads.LARGE_MODEL // 1000 - 1, bias=False)  # 1,000 parameters short
        with threads.pass_threads("cpu", small) as n:
            assert n == 1
        large = nn.Linear(1000, threads.LARGE_MODEL // 1000, bias=False)
        with threads.pass_threads("cpu", large) as n:
            assert n == max(before, 2)
        seen = []
        monkeypatch.setattr(threads.torch, "set_num_threads", lambda k: seen.append(k))
        wide = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1400), nn.ReLU(), nn.Linear(1400, 3)).eval()
        explain(wide, torch.randn(1, 3, 16, 16), method="occlusion", window=8)
        assert seen == []  # no switch to one thread and back
        explain(TabularMLP(in_features=4, hidden=(8,)).eval(), torch.randn(1, 4), method="occlusion", window=1)
        assert seen == [1, max(before, 2)]
    finally:
        monkeypatch.undo()
        torch.set_num_threads(before)


@pytest.mark.parametrize("players", [7, 12])
def test_exact_values_from_half_tables_equal_the_models_own_passes_for_groups_and_callable_targets(
        players, monkeypatch, unchanged):
    torch.manual_seed(1)
    net = TabularMLP(in_features=13, hidden=(16, 8)).eval()
    x, bg = torch.randn(4, 13), torch.randn(6, 13)
    groups = torch.arange(13) % players  # players of one or two columns each
    options = {"background": bg, "mask": groups.expand(4, 13)}
    targets = [1, lambda out: out[:, 0] - out[:, 1]]
    with unchanged(net):
        fast = [explain(net, x, target=t, method="exact_shapley", **options) for t in targets]
    monkeypatch.setattr("neuralscope.attribution.chain.chain_forward", lambda *a: None)
    slow = [explain(net, x, target=t, method="exact_shapley", **options) for t in targets]
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-6)
        assert float(np.max(a.metrics["additivity_error"])) < 1e-5


def test_independent_rows_run_on_one_python_thread_each_and_give_the_setting_back(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
        seen = []

        def row(i):
            seen.append(torch.get_num_threads())
            return i * 10

        assert threads.map_rows(row, 5, parallel=True) == [0, 10, 20, 30, 40]  # in order
        assert seen == [1] * 5 and torch.get_num_threads() == 2

        def fails(i):
            raise ValueError("row 3 is bad")

        with pytest.raises(ValueError, match="row 3"):
            threads.map_rows(fails, 4, parallel=True)
        assert torch.get_num_threads() == 2  # restored also on error
        seen.clear()
        threads.map_rows(row, 3, parallel=False)
        assert seen == [2] * 3  # not independent: the rows keep the process's threads
    finally:
        torch.set_num_threads(before)
