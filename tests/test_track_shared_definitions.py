"""One histogram, one definition of a dead or saturated unit, one writer: tracking, the Keras
callback, the TensorBoard importer and ``inspect`` agree because they share the code."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.histogram import histogram
from neuralscope.inspect.activations import dead_units
from neuralscope.inspect.weights import weight_histograms
from neuralscope.nonlinearities import NONLINEARITIES, dead_mask, nonlinearity, saturated_mask
from neuralscope.track import Run, open_run
from neuralscope.track.store import StoreWriter


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(size=5000),
    np.full(17, 2.5),  # all equal: numpy bins them over [v - 0.5, v + 0.5]
    np.array([1.0, np.nan, 3.0, np.inf, -np.inf, 2.0]),
])
def test_histogram_equals_numpy_on_the_finite_values(values):
    fin = values[np.isfinite(values)]
    ref, edges = np.histogram(fin, bins=20, range=(fin.min(), fin.max()))
    for given in (values, torch.from_numpy(values)):  # numpy path and torch (float64) path
        h = histogram(given, bins=20)
        np.testing.assert_array_equal(h.counts, ref)
        np.testing.assert_allclose(h.edges, edges, rtol=0, atol=1e-12)
        assert h.nonfinite == values.size - fin.size and h.num == fin.size
        assert (h.min, h.max) == (fin.min(), fin.max())
        np.testing.assert_allclose([h.sum, h.sum_sq], [fin.sum(), fin @ fin], rtol=1e-12)


def test_histogram_of_float32_tensor_differs_from_numpy_only_at_bin_edges():
    t = torch.randn(100_000, generator=torch.Generator().manual_seed(1))
    h = histogram(t, bins=64)
    v = t.double().numpy()
    ref, _ = np.histogram(v, bins=64, range=(v.min(), v.max()))
    assert h.counts.sum() == v.size
    assert np.abs(h.counts - ref).sum() <= 4  # float32 positions of values lying on an edge


def test_histogram_refuses_bad_bins_and_non_numbers():
    with pytest.raises(ValueError, match="bins must be a positive whole number"):
        histogram([1.0], bins=0)
    with pytest.raises(TypeError, match="needs numbers"):
        histogram(["a", object()])


def test_tracking_inspect_and_the_store_keep_the_same_histogram(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    with Run(tmp_path) as run:
        run.log_histogram("w", net[0].weight, step=0, bins=12)
    row = open_run(tmp_path).histogram_rows("w")[0]
    inspected = weight_histograms(net, bins=12)
    i = inspected.names.index("0.weight")
    np.testing.assert_array_equal(row["counts"], inspected.counts[i])
    np.testing.assert_allclose(row["edges"], inspected.edges[i], rtol=0, atol=1e-6)


class _Fates(nn.Module):
    """Zero weights: each unit's bias alone fixes its output (a known answer per unit)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(3, 3)
        self.soft = nn.Softplus()
        with torch.no_grad():
            for lin, bias in ((self.fc, [-1.0, 0.5, -0.2, 2.0]), (self.fc2, [-30.0, 0.0, 5.0])):
                lin.weight.zero_()
                lin.bias.copy_(torch.tensor(bias))

    def forward(self, x):
        return self.relu(self.fc(x)).sum(1) + self.soft(self.fc2(x)).sum(1)


def test_tracking_and_inspect_count_the_same_dead_units_and_softplus_only_saturates(tmp_path):
    net = _Fates()
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    inspected = dead_units(net, x)
    assert inspected.fraction("relu") == 0.5  # biases -1 and -0.2 never fire
    with Run(tmp_path) as run:
        run.watch(net, every=1, what="activations")
        net.train()
        net(x).sum().backward()
        run.unwatch()
    r = open_run(tmp_path)
    assert r.scalars("activations/dead/relu").values.tolist() == [inspected.fraction("relu")]
    # Softplus: never "dead" (its output is always > 0), saturated where its output (and so its
    # derivative) is below eps: unit 0 (bias -30) only
    assert "activations/dead/soft" not in r.names("scalar")
    soft = next(d for d in inspected.layers if d["name"] == "soft")
    assert soft["dead"] == 0 and soft["saturated_units"].tolist() == [0]


def test_softplus_outputs_near_its_bound_have_a_vanishing_derivative():
    """Why Softplus counts as saturated at 0: where softplus(x) <= eps, softplus'(x) <= eps."""
    x = torch.linspace(-40, 5, 2001, dtype=torch.float64, requires_grad=True)
    y = nn.functional.softplus(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    eps = 0.02
    near = saturated_mask(nonlinearity(kind="softplus"), y.detach(), eps)
    assert near.any() and (grad[near] <= eps).all()


def test_every_row_of_the_table_applies_to_its_pytorch_module():
    for cls in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
                nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus, nn.Sigmoid, nn.Hardsigmoid, nn.Tanh,
                nn.Softsign, nn.Hardtanh):
        row = nonlinearity(cls())
        assert row is not None and row in NONLINEARITIES or row.name == "hardtanh", cls
        assert row.dies != (row.bounds is not None), cls  # a unit dies or saturates, not both
    assert nonlinearity(nn.Hardtanh(-2.0, 3.0)).bounds == (-2.0, 3.0)
    assert nonlinearity(kind="swish") is nonlinearity(nn.SiLU())  # Keras's name, PyTorch's class


def test_dead_mask_ignores_nan_units():
    t = torch.tensor([[-1.0, float("nan"), 2.0], [0.0, float("nan"), -1.0]])
    assert dead_mask(nonlinearity(kind="relu"), t).tolist() == [True, False, False]
    assert dead_mask(nonlinearity(kind="sigmoid"), t) is None


def test_store_writer_refuses_a_bad_name_on_the_callers_thread(tmp_path):
    from neuralscope.track.store import LogNameError

    w = StoreWriter(tmp_path)
    try:
        with pytest.raises(LogNameError, match="control characters"):
            w.scalars(0, {"bad\nname": 1.0})
        with pytest.raises(LogNameError, match="must not be empty"):
            w.histogram("", 0, histogram([1.0]))
        w.scalars(0, {"ok": 1.0})
        w.flush()
    finally:
        w.close()
    assert open_run(tmp_path).names() == {"scalar": ["ok"]}
