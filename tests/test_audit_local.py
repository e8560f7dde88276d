"""neuralscope.audit on the local engine: per-example numbers equal the public single-batch
calls, aggregates equal the table they summarise, shards stream in and out, and an audit
killed with SIGKILL resumes computing only the unfinished shards."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from neuralscope.attribution.explain import explain
from neuralscope.attribution.localization import localization
from neuralscope.attribution.metrics import deletion_insertion
from neuralscope.audit import AuditSpecError, ShardExistsError, ShardStore, audit
from neuralscope.errors import InputShapeError
from neuralscope.capture import capture
from neuralscope.data import load_digits
from neuralscope.zoo import DigitsCNN


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.x_test[:48], d.y_test[:48]


def _net():
    torch.manual_seed(0)
    return DigitsCNN(width=8)


def test_per_example_scores_equal_explain_and_deletion_insertion_per_shard(digits, tmp_path, unchanged):
    x, y = digits
    net = _net()
    with unchanged(net):
        a = audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=16, steps=5)
    t = a.table()
    assert t["index"].tolist() == list(range(48))
    net.eval()
    for lo in range(0, 48, 16):  # the same batches as the shards
        xb = x[lo:lo + 16].clone()  # a fresh buffer, as the audit uses
        r = explain(net, xb, method="grad_cam", layer="features")
        c = deletion_insertion(net, xb, r, steps=5)
        # the audit batches the curves of a whole shard and reuses its own forward for the
        # unperturbed input: the same curves up to float32 rounding of the forward passes
        np.testing.assert_allclose(t["grad_cam/deletion_auc"][lo:lo + 16], c.deletion_auc, rtol=0, atol=1e-6)
        np.testing.assert_allclose(t["grad_cam/insertion_auc"][lo:lo + 16], c.insertion_auc, rtol=0, atol=1e-6)
        with torch.no_grad():
            p = torch.softmax(net(xb).double(), 1)
        np.testing.assert_array_equal(t["pred"][lo:lo + 16], p.argmax(1).numpy())
        # float32 logits: the audit's forward and this plain one differ by float32 rounding
        np.testing.assert_allclose(t["loss"][lo:lo + 16], -np.log(p[torch.arange(16), y[lo:lo + 16]].numpy()), rtol=1e-6)


def test_aggregates_equal_what_they_summarise(digits, tmp_path):
    x, y = digits
    net = _net()
    a = audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=20, steps=4, worst=5)
    t, s = a.table(), a.summary
    net.eval()
    maps = np.concatenate([explain(net, x[i:i + 20].clone(), method="grad_cam", layer="features").maps()
                           for i in range(0, 48, 20)])
    for c in np.unique(y.numpy()):  # per-class mean map = mean of that class's maps
        ref = maps[y.numpy() == c].astype(np.float64).mean(0)
        # float32 maps from two calls of explain: equal to float32 rounding (oneDNN may pick
        # another kernel for the same shapes), well below any visible difference
        np.testing.assert_allclose(s["mean_maps"]["grad_cam"][c], ref, rtol=1e-6, atol=1e-9)
    ins = t["grad_cam/insertion_auc"]  # worst insertion = lowest; worst deletion = highest
    assert s["worst"]["grad_cam/insertion_auc"] == np.argsort(ins, kind="stable")[:5].tolist()
    assert s["worst"]["grad_cam/deletion_auc"][0] == int(np.argmax(t["grad_cam/deletion_auc"]))
    assert s["distributions"]["loss"]["counts"].sum() == 48
    with torch.no_grad(), capture(net, "features.2", keep="tensors") as rec:  # dead units: never > 0
        net(x)
    never = np.flatnonzero((rec.output("features.2") > 0).sum((0, 2, 3)).numpy() == 0)
    np.testing.assert_array_equal(s["layers"]["features.2"]["dead_units"], never)
    assert a.projection.shape == (48, 2) and np.isfinite(a.projection).all()
    assert a.thumbnails("input", [3]).shape == (1, 8, 8) and a.thumbnails("grad_cam").shape == (48, 8, 8)


def test_dead_units_are_those_of_inspect_dead_units_and_only_where_units_can_die(tmp_path, unchanged):
    """One definition of a dead unit (neuralscope.nonlinearities): the audit's default layers are
    the table's modules (ReLU, Tanh, Softplus here) and its dead units are inspect.dead_units'
    (the oracle: never above 0 for any example); after Tanh and Softplus, which saturate but do
    not die, no dead units are reported even where outputs are never above 0."""
    from torch import nn

    from neuralscope.inspect.activations import dead_units

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 8),
                        nn.Softplus(), nn.Linear(8, 3))
    with torch.no_grad():
        net[0].bias[:6] = -50.0  # six ReLU units never above 0
        net[2].bias[:4] = -50.0  # four Tanh units never above 0: saturated, not dead
    x = torch.randn(40, 6)
    with unchanged(net):
        layers = audit(net, x, run=tmp_path, shard_size=16, steps=4, metrics=(), methods=("saliency",),
                       embed_method=None).summary["layers"]
    assert set(layers) == {"1", "3", "5"}
    ref = {row["name"]: row for row in dead_units(net, x).layers}
    np.testing.assert_array_equal(layers["1"]["dead_units"], ref["1"]["dead_units"])
    assert len(ref["1"]["dead_units"]) == 6 and ref["3"]["dead"] == 0 and ref["5"]["dead"] == 0
    assert "dead_units" not in layers["3"] and "dead_units" not in layers["5"]


def test_dataloader_and_dataset_give_the_tensor_results(digits, tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    x, y = digits
    net = _net()
    ref = audit(net, x, labels=y, layer="features", run=tmp_path / "t", shard_size=16, steps=4).table()
    ds = TensorDataset(x, y)
    for name, data in (("ds", ds), ("dl", DataLoader(ds, batch_size=7))):  # 7 does not divide 16
        t = audit(net, data, layer="features", run=tmp_path / name, shard_size=16, steps=4).table()
        for k in ref:
            np.testing.assert_array_equal(t[k], ref[k], err_msg=f"{name}: {k}")


def test_scenes_with_masks_get_localisation_scores(tmp_path):
    from neuralscope.data.scenes import make_scenes
    from neuralscope.zoo import SceneCNN

    s = make_scenes(12, size=32, seed=1)
    torch.manual_seed(0)
    net = SceneCNN(num_classes=len(s.classes), size=32)
    a = audit(net, s, layer=None, methods=["saliency"], run=tmp_path, shard_size=12, steps=3, embed_method=None)
    t = a.table()
    ref = localization(explain(net.eval(), s.images, method="saliency").maps(), s.masks.numpy())
    for k, v in ref.items():
        np.testing.assert_array_equal(t[f"saliency/{k}"], v)


class _Lazy(torch.utils.data.Dataset):
    """Examples made on demand; records how far reading ran ahead of committed shards."""

    def __init__(self, n, store):
        self.n, self.store, self.ahead = n, store, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.ahead = max(self.ahead, i + 1 - 16 * len(self.store.done()))
        g = torch.Generator().manual_seed(i)
        return torch.rand(1, 8, 8, generator=g), i % 10


def test_examples_are_streamed_one_shard_at_a_time(tmp_path):
    store = ShardStore(tmp_path / "audit" / "audit")
    data = _Lazy(160, store)
    a = audit(_net(), data, layer="features", run=tmp_path, shard_size=16, steps=2, metrics=(), embed_method=None)
    assert a.n == 160 and data.ahead <= 16  # never more than one uncommitted shard read


def test_shards_are_written_once_and_settings_must_match_to_resume(digits, tmp_path):
    x, y = digits
    net = _net()
    a = audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=24, steps=3)
    with pytest.raises(ShardExistsError):
        a.store.commit(0, {"index": np.arange(3)})
    again = audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=24, steps=3)
    assert again.computed == [] and again.n == 48
    with pytest.raises(AuditSpecError, match="steps"):
        audit(net, x, labels=y, layer="features", run=tmp_path, shard_size=24, steps=4)


def test_bad_arguments_get_one_clear_sentence(digits, tmp_path, unchanged):
    x, y = digits
    net = _net()
    with pytest.raises(ValueError, match="metrics must be among"):
        audit(net, x, metrics=["aopc"], run=tmp_path)
    with pytest.raises(ValueError, match="labels has 3 entries"):
        audit(net, x, labels=y[:3], run=tmp_path)
    with pytest.raises(ValueError, match="needs run="):
        audit(net, x)
    with unchanged(net), pytest.raises(LookupError):
        audit(net, x, layer="no_such_layer", run=tmp_path / "bad")


_CHILD = textwrap.dedent("""
    import sys, time, torch
    from neuralscope.audit import audit
    from neuralscope.data import load_digits
    from neuralscope.zoo import DigitsCNN

    class Slow(torch.nn.Module):  # 0.08 s a forward: the parent kills it mid-audit
        def forward(self, x):
            time.sleep(0.08)
            return x

    torch.manual_seed(0)
    net = DigitsCNN(width=8)
    net.features.append(Slow()) if sys.argv[2] == "slow" else None
    x = load_digits().x_test[:96]
    a = audit(net, x, layer="features", run=sys.argv[1], shard_size=8, steps=2, embed_method=None)
    print("computed", a.computed)
""")


def test_audit_killed_with_sigkill_resumes_only_unfinished_shards(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "slow"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    store = ShardStore(run / "audit" / "audit")
    deadline = time.time() + 120
    while len(store.done()) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {i: os.stat(store.path(i)).st_ino for i in store.done()}
    assert 3 <= len(before) < 12, proc.stderr.read().decode()[-2000:]
    out = subprocess.run([sys.executable, str(script), str(run), "slow"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    computed = eval(out.stdout.split("computed", 1)[1])
    assert sorted(computed) == sorted(set(range(12)) - set(before))  # only the unfinished shards
    assert {i: os.stat(store.path(i)).st_ino for i in before} == before  # finished shards untouched
    idx = np.concatenate([store.load(i, ["index"])["index"] for i in store.done()])
    np.testing.assert_array_equal(np.sort(idx), np.arange(96))  # every example exactly once
    assert not list(store.shard_dir.glob(".*.tmp"))


def test_a_unit_of_nan_is_broken_not_dead_in_the_audit_as_in_inspect_dead_units(tmp_path):
    """A ReLU unit whose every output is NaN is never above 0, yet it is not dead (the one
    definition: NaN is never at or below the threshold); units that are never above 0 with
    finite outputs are."""
    from torch import nn

    from neuralscope.inspect.activations import dead_units

    class Cleaned(nn.Module):  # keeps the NaN of one unit from reaching the output
        def forward(self, x):
            return torch.nan_to_num(x)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), Cleaned(), nn.Linear(16, 3))
    with torch.no_grad():
        net[0].bias[:3] = -50.0  # units 0-2: never above 0, finite: dead
        net[0].weight[7] = float("nan")  # unit 7: NaN for every input: broken
    x = torch.randn(40, 6)
    layers = audit(net, x, run=tmp_path, shard_size=16, steps=4, metrics=(), methods=("saliency",),
                   embed_method=None).summary["layers"]
    ref = dead_units(net, x, layers=["1"]).layers[0]
    np.testing.assert_array_equal(ref["dead_units"], [0, 1, 2])
    np.testing.assert_array_equal(layers["1"]["dead_units"], ref["dead_units"])


def test_bfloat16_curves_are_an_explicit_setting_within_the_stated_error(digits, tmp_path, unchanged):
    """``curve_dtype="bfloat16"``: AUCs within the docstring's 1e-3 of the exact audit's, kept in
    the spec (resuming asks for the same setting); an exact audit's spec has no such key, so
    runs started before the option still resume."""
    x, y = digits
    net = _net()
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():  # e.g. AMD EPYC with AVX2 only: refused, model unchanged
        with unchanged(net), pytest.raises(InputShapeError, match=r"^The model cannot run in torch.bfloat16 "):
            audit(net, x, labels=y, layer="features", run=tmp_path, name="bf16", shard_size=24, steps=5,
                  curve_dtype="bfloat16")
        return
    exact = audit(net, x, labels=y, layer="features", run=tmp_path, name="exact", shard_size=24, steps=5)
    with unchanged(net):
        reduced = audit(net, x, labels=y, layer="features", run=tmp_path, name="bf16", shard_size=24, steps=5,
                        curve_dtype="bfloat16")
    for key in ("grad_cam/deletion_auc", "grad_cam/insertion_auc"):
        diff = np.abs(reduced.table()[key] - exact.table()[key]).max()
        assert 0 < diff < 1e-3
    assert "curve_dtype" not in exact.store.spec() and reduced.store.spec()["curve_dtype"] == "bfloat16"
    with pytest.raises(AuditSpecError, match="curve_dtype"):
        audit(net, x, labels=y, layer="features", run=tmp_path, name="bf16", shard_size=24, steps=5)


def test_an_unknown_curve_dtype_is_refused_in_one_sentence(digits, tmp_path):
    x, y = digits
    with pytest.raises(ValueError, match=r"^curve_dtype must name a floating torch dtype such as 'bfloat16', got 'int8'\.$"):
        audit(_net(), x, labels=y, layer="features", run=tmp_path, shard_size=24, steps=3, curve_dtype="int8")
