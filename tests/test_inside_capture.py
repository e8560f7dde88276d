"""capture(): what it records equals what the layers really compute, and it leaves no trace."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.capture import LayerNotRunError, RunningStats, capture
from neuralscope.errors import LayerNotFoundError
from neuralscope.zoo import MLP, TinyResNet


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return MLP().eval()


def test_recorded_outputs_equal_the_real_layer_outputs(mlp, unchanged):
    x = mlp.example_input(5)
    with unchanged(mlp), capture(mlp, layers="body.*") as rec, torch.no_grad():
        mlp(x)
    with torch.no_grad():
        h0 = mlp.body[0](x)
        h1 = mlp.body[1](h0)
    assert rec.names == ["body.0", "body.1", "body.2", "body.3"]
    torch.testing.assert_close(rec["body.0"], h0, rtol=0, atol=0)
    torch.testing.assert_close(rec["body.1"], h1, rtol=0, atol=0)


def test_layers_by_type_object_and_list(mlp):
    with capture(mlp, layers=nn.ReLU) as rec:
        pass
    assert rec.names == ["body.1", "body.3"]
    with capture(mlp, layers=[mlp.head, "body.0"]) as rec:
        pass
    assert rec.names == ["body.0", "head"]  # model order, not argument order
    with capture(mlp) as rec:  # default: every leaf module
        pass
    assert rec.names == ["body.0", "body.1", "body.2", "body.3", "head"]


def test_unknown_layer_lists_closest_names(mlp, unchanged):
    with unchanged(mlp), pytest.raises(LayerNotFoundError, match="Did you mean: 'body.1'"):
        with capture(mlp, layers="bdy.1"):
            pass


def test_layer_that_never_ran_says_so():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.a(x)

    net = Branchy()
    with capture(net) as rec, torch.no_grad():
        net(torch.zeros(1, 3))
    assert rec.missing == ["b"]
    with pytest.raises(LayerNotRunError, match="'b' .*never ran during the 1 forward pass"):
        rec["b"]


def test_hooks_removed_even_when_the_block_raises(mlp, unchanged):
    with unchanged(mlp), pytest.raises(ZeroDivisionError):
        with capture(mlp, gradients=True) as rec:
            mlp(mlp.example_input(2))
            1 / 0
    assert rec.names  # the recorder survives; the model has no hooks (checked by `unchanged`)


def test_gradients_equal_autograd_on_the_layer_output(mlp):
    x = mlp.example_input(4)
    with capture(mlp, layers="body.1", gradients=True) as rec:
        out = mlp(x)
        (out ** 2).sum().backward()
    mlp.zero_grad(set_to_none=True)
    h = mlp.body[1](mlp.body[0](x)).detach().requires_grad_(True)
    ref = torch.autograd.grad((mlp.head(mlp.body[3](mlp.body[2](h))) ** 2).sum(), h)[0]
    torch.testing.assert_close(rec.gradient("body.1"), ref, rtol=1e-5, atol=1e-6)


def test_gradients_missing_are_explained(mlp):
    with capture(mlp, layers="head", gradients=True) as rec, torch.no_grad():
        mlp(mlp.example_input(2))
    with pytest.raises(LayerNotRunError, match="received no gradient"):
        rec.gradient("head")


def test_running_stats_equal_a_direct_computation_over_batches(mlp):
    batches = [mlp.example_input(7, seed=s) for s in range(3)]
    with capture(mlp, layers=["body.1", "head"], keep="stats", per_unit=True,
                 count_zeros=True) as rec, torch.no_grad():
        for b in batches:
            mlp(b)
    with torch.no_grad():
        full = torch.cat([mlp.body[1](mlp.body[0](b)) for b in batches]).double()
    st = rec.stats("body.1")
    assert st.calls == 3 and st.count == full.numel()
    # float32 accumulation inside the hook, float64 here: relative 1e-5 is plenty
    assert st.mean == pytest.approx(float(full.mean()), rel=1e-5)
    assert st.std == pytest.approx(float(full.std(unbiased=False)), rel=1e-4)
    assert st.min == float(full.min()) and st.max == pytest.approx(float(full.max()), rel=1e-6)
    assert st.zero_fraction == pytest.approx(float((full == 0).double().mean()))
    units = st.unit_stats()
    np.testing.assert_allclose(units["mean"], full.mean(0).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(units["active"], (full > 0).double().mean(0).numpy())
    with pytest.raises(LayerNotRunError, match="keeps only statistics"):
        rec["head"]


def test_stats_count_nonfinite_values_and_ignore_them():
    net = nn.Sequential(nn.Linear(2, 3))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, float("nan"), 3.0]))
    with capture(net, keep="stats") as rec, torch.no_grad():
        net(torch.zeros(4, 2))
    st = rec.stats("0")
    assert st.nonfinite == 4 and st.count == 8
    assert st.mean == pytest.approx(2.0) and st.min == 1.0 and st.max == 3.0


@pytest.mark.parametrize("bad", [float("inf"), float("-inf")])
def test_stats_count_infinite_values_and_ignore_them(bad):
    # an infinity anywhere makes the sum of squares infinite: that is the one check the hook makes
    net = nn.Sequential(nn.Linear(2, 3))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([-1.0, bad, 5.0]))
    with capture(net, keep="stats") as rec, torch.no_grad():
        net(torch.zeros(2, 2))
    st = rec.stats("0")
    assert st.nonfinite == 2 and st.count == 4
    assert st.mean == pytest.approx(2.0) and st.std == pytest.approx(3.0) and (st.min, st.max) == (-1.0, 5.0)


def test_a_module_called_several_times_keeps_every_call():
    net = TinyResNet().eval()  # each ResidualBlock calls its ReLU twice
    with capture(net, layers="layer1.0.relu") as rec, torch.no_grad():
        net(net.example_input(2))
    assert rec.calls("layer1.0.relu") == 2
    assert len(rec.outputs("layer1.0.relu")) == 2
    assert rec["layer1.0.relu"].shape[0] == 4  # concatenated along the batch dimension


def test_tuple_outputs_take_the_first_tensor():
    lstm = nn.LSTM(3, 5, batch_first=True)
    x = torch.randn(2, 4, 3)
    with capture(lstm, layers=[lstm]) as rec, torch.no_grad():
        out, _ = lstm(x)
    torch.testing.assert_close(rec[""], out)


def _relu_map(seed: int, channels_last: bool) -> torch.Tensor:
    """A conv-like map with exact zeros (ReLU), a few -0.0 and a channel that is all zero."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(3, 5, 6, 7, generator=g).relu_()
    t[0, 1, 0, :3] = -0.0
    t[:, 4] = 0.0
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


@pytest.mark.parametrize("piece", [17, 1 << 24])
@pytest.mark.parametrize("per_unit", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_zero_counts_and_unit_statistics_equal_numpy(monkeypatch, per_unit, channels_last, piece):
    capture_module = importlib.import_module("neuralscope.capture")  # the package exports capture()

    # zeros are counted as dot(sign, sign) in exact pieces: tiny pieces make several of them (and
    # per-unit positives are then counted by comparison, not from the signs)
    monkeypatch.setattr(capture_module, "_EXACT_COUNT", piece)
    maps = [_relu_map(s, channels_last) for s in range(3)]
    st = capture_module.RunningStats(per_unit=per_unit, count_zeros=True)
    for m in maps:
        st.update(m)
    ref = np.concatenate([m.numpy() for m in maps]).astype(np.float64)
    assert st.count == ref.size and st.nonfinite == 0
    assert st.zero_fraction == (ref == 0).sum() / ref.size  # exact: a count, -0.0 included
    assert (st.min, st.max) == (ref.min(), float(np.float32(ref.max())))  # exact
    # sums in float32 per unit (or per tensor), combined in float64: relative 1e-6 is plenty
    assert st.mean == pytest.approx(ref.mean(), rel=1e-6)
    assert st.std == pytest.approx(ref.std(), rel=1e-5)
    if per_unit:
        units = st.unit_stats()
        per = ref.transpose(1, 0, 2, 3).reshape(5, -1)
        np.testing.assert_allclose(units["mean"], per.mean(1), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(units["std"], per.std(1), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(units["min"], per.min(1).astype(np.float32))
        np.testing.assert_array_equal(units["max"], per.max(1).astype(np.float32))
        np.testing.assert_array_equal(units["active"], (per > 0).mean(1))
        np.testing.assert_array_equal(units["nan"], np.zeros(5))


def test_unit_statistics_of_outputs_with_nan_and_inf_count_them():
    # an output with NaN or infinity leaves the per-unit shortcut for the general path
    t = torch.tensor([[1.0, float("nan"), -2.0], [3.0, 0.0, float("inf")], [0.0, 4.0, -1.0]])
    st = RunningStats(per_unit=True, count_zeros=True)
    st.update(t[2:])  # a finite call first, through the shortcut
    st.update(t[:2])  # then one with NaN and inf
    assert st.nonfinite == 2 and st.count == 7
    finite = np.array([1.0, -2.0, 3.0, 0.0, 0.0, 4.0, -1.0])
    assert st.mean == pytest.approx(finite.mean()) and st.std == pytest.approx(finite.std())
    assert (st.min, st.max) == (-2.0, 4.0) and st.zero_fraction == pytest.approx(2 / 7)
    units = st.unit_stats()
    np.testing.assert_array_equal(units["nan"], [0, 1 / 3, 0])  # NaN is counted per unit ...
    np.testing.assert_array_equal(units["active"], [2 / 3, 1 / 3, 1 / 3])  # ... is not active; inf is
    np.testing.assert_array_equal(units["min"], [0.0, 0.0, -2.0])  # NaN taken as 0


@pytest.mark.parametrize("channels_last", [False, True])
def test_outputs_reduced_in_pieces_give_the_statistics_of_the_whole(monkeypatch, channels_last):
    capture_module = importlib.import_module("neuralscope.capture")
    # without the compiled one-pass reduction, large outputs are reduced piece by piece (all
    # reductions of a piece while it is in cache); pieces of 64 values make 7 of them (the last
    # one short) out of 420
    monkeypatch.setattr(capture_module, "_ONE_PASS", None)
    monkeypatch.setattr(capture_module, "_PIECE", 64)
    maps = [_relu_map(s, channels_last) - 0.5 for s in range(2)]
    st = capture_module.RunningStats(count_zeros=True)
    for m in maps:
        st.update(m)
    ref = np.concatenate([m.numpy() for m in maps]).astype(np.float64)
    assert st.count == ref.size and st.nonfinite == 0
    assert (st.min, st.max) == (ref.min(), ref.max())  # exact: values of the output
    assert st.zero_fraction == (ref == 0).sum() / ref.size
    # float32 sums per piece, combined in float64: relative 1e-6 is plenty
    assert st.mean == pytest.approx(ref.mean(), rel=1e-6)
    assert st.std == pytest.approx(ref.std(), rel=1e-6)


def test_nonfinite_values_inside_one_piece_are_counted_and_left_out(monkeypatch):
    capture_module = importlib.import_module("neuralscope.capture")
    monkeypatch.setattr(capture_module, "_PIECE", 8)
    t = torch.arange(-20.0, 30.0).reshape(5, 10)
    t[1, 3] = float("nan")  # in the second piece of 8
    t[2, 8:] = float("inf")  # the fourth piece
    t.view(-1)[40:48] = float("nan")  # the whole sixth piece
    st = RunningStats()
    st.update(t)
    finite = t[torch.isfinite(t)].double().numpy()
    assert st.nonfinite == 1 + 2 + 8 and st.count == finite.size == 50 - 11
    assert st.mean == pytest.approx(finite.mean(), rel=1e-12) and st.std == pytest.approx(finite.std(), rel=1e-12)
    assert (st.min, st.max) == (finite.min(), finite.max())


def test_the_one_pass_reduction_is_built_by_the_install():
    # optional in pyproject.toml (a machine without a C compiler still installs): pinned here
    capture_module = importlib.import_module("neuralscope.capture")
    assert capture_module._ONE_PASS is not None, "neuralscope._reduce was not built: pip install -e . needs gcc"


@pytest.mark.parametrize("n", [1, 63, 64, 65, 4095, 4096, 4097, 3 * 4096 + 70, 1_000_003])
def test_one_pass_sums_and_extremes_equal_float64_numpy(n):
    from neuralscope._reduce import float32_stats

    gen = torch.Generator().manual_seed(n)
    x = torch.randn(n, generator=gen) * 3 + 1.5  # an offset, so sums do not cancel to nothing
    total, squares, lo, hi = float32_stats(x.data_ptr(), n)
    ref = x.double().numpy()
    assert (lo, hi) == (ref.min(), ref.max())  # exact: values of the vector
    # float32 lanes over runs of 4,096 values, combined in float64
    assert total == pytest.approx(ref.sum(), rel=1e-6, abs=1e-4)
    assert squares == pytest.approx((ref * ref).sum(), rel=1e-6)


def test_one_pass_reads_from_a_view_offset_into_its_storage():
    from neuralscope._reduce import float32_stats

    storage = torch.arange(100.0)
    view = storage[37:90]  # data_ptr() already points at element 37
    assert float32_stats(view.data_ptr(), view.numel()) == (float(view.sum()), float((view * view).sum()), 37.0, 89.0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_stats_are_the_same_with_and_without_the_compiled_pass(monkeypatch, channels_last):
    capture_module = importlib.import_module("neuralscope.capture")
    torch.manual_seed(0)
    net = TinyResNet().eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    x = net.example_input(3)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)

    def record():
        with capture(net, keep="stats", count_zeros=True) as rec, torch.no_grad():
            net(x)
        return {name: rec.stats(name).to_dict() for name in rec.names}

    one_pass = record()
    monkeypatch.setattr(capture_module, "_ONE_PASS", None)
    three_passes = record()
    assert one_pass.keys() == three_passes.keys()
    for name, got in one_pass.items():
        want = three_passes[name]
        assert (got["count"], got["min"], got["max"], got["zero_fraction"]) == (
            want["count"], want["min"], want["max"], want["zero_fraction"]), name
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-5, abs=1e-7), name
        assert got["std"] == pytest.approx(want["std"], rel=1e-5), name
