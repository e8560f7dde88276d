"""``neuralscope.keras.Callback``: model.fit tracked into a run with watch()'s series; the
gradients it logs are the ones Keras's own training step applies; the model is left alone."""
from __future__ import annotations

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

import neuralscope  # noqa: E402
from neuralscope.adapters.keras import KerasAdapter  # noqa: E402
from neuralscope.track import Run, open_run  # noqa: E402


def small_cnn(optimizer="adam"):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                          keras.layers.BatchNormalization(name="bn"), keras.layers.Flatten(name="flat"),
                          keras.layers.Dense(10, name="head")], name="cnn")
    m.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:256, :, :, None] / 16).astype("float32"), d.target[:256].astype("int64")


def test_fit_is_tracked_with_the_series_watch_writes(tmp_path, digits):
    x, y = digits
    m = small_cnn()
    with Run(tmp_path / "run") as run:
        m.fit(x[:192], y[:192], batch_size=32, epochs=2, validation_data=(x[192:], y[192:]), verbose=0,
              callbacks=[neuralscope.keras.Callback(run, every=4, data=(x[:32], y[:32]))])
    r = open_run(tmp_path / "run")
    assert r.scalars("loss").steps.tolist() == list(range(1, 13))  # every batch
    assert r.scalars("val_loss").steps.tolist() == [6, 12] and r.scalars("epoch").values.tolist() == [1, 2]
    assert r.scalars("learning_rate").values[0] == pytest.approx(1e-3)
    for name in ("gradients/norm/conv", "gradients/norm/conv/kernel", "weights/norm/head/kernel",
                 "updates/ratio/head/kernel", "activations/mean/bn", "activations/dead/conv"):
        assert r.scalars(name).steps.tolist() == [4, 8, 12], name
    assert {"weights/conv/kernel", "gradients/head/bias", "activations/conv"} <= set(r.names("histogram"))
    assert r.info()["config"]["optimizer"] == "Adam" and r.info()["config"]["params"] == m.count_params()
    assert any(a["name"] == "graph" for a in r.artifacts())


def test_logged_gradients_are_the_ones_a_fit_step_applies(digits):
    """One SGD step with learning rate 1 moves every weight by minus its gradient: the weight
    change Keras's own fit makes is the oracle (float32 arithmetic of a 32-example batch)."""
    x, y = digits
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="tanh", name="conv"),
                          keras.layers.Flatten(), keras.layers.Dense(10, name="head")])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss, grads, _ = KerasAdapter(m).loss_gradients(x[:32], y[:32])
    before = {v.path: v.numpy().copy() for v in m.trainable_variables}
    history = m.fit(x[:32], y[:32], batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert loss == pytest.approx(history.history["loss"][0], rel=1e-5)
    for v in m.trainable_variables:
        name = {"conv": "conv", "head": "head"}[v.path.split("/")[-2]] + "/" + v.name
        np.testing.assert_allclose(before[v.path] - v.numpy(), grads[name], rtol=1e-4, atol=1e-6)


def test_callback_leaves_the_model_as_found_between_steps(tmp_path, digits, unchanged):
    """The held-batch passes put BatchNorm statistics, metrics and variables back: a fit with
    the callback ends with the very weights a fit without it ends with."""
    x, y = digits
    plain, tracked = small_cnn("sgd"), small_cnn("sgd")
    plain.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    with Run(tmp_path / "run") as run:
        tracked.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0,
                    callbacks=[neuralscope.keras.Callback(run, every=1, data=(x[:16], y[:16]))])
    for a, b in zip(plain.weights, tracked.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with unchanged(tracked):
        KerasAdapter(tracked).loss_gradients(x[:16], y[:16], layers="*")


def test_callback_reports_dead_units_to_the_diagnostics(tmp_path, digits):
    x, y = digits
    m = small_cnn("sgd")
    conv = m.get_layer("conv")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel, bias - 100.0])  # every conv unit is <= 0 on every input: all dead
    with Run(tmp_path / "run") as run:
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[neuralscope.keras.Callback(run, every=2, data=(x[:32], y[:32]))])
        codes = {d.code for d in run.diagnostics()}
    assert "dead_units" in codes


def test_callback_rejects_bad_arguments_in_one_sentence(tmp_path):
    with Run(tmp_path / "run") as run:
        with pytest.raises(ValueError, match="every must be a non-negative integer"):
            neuralscope.keras.Callback(run, every=-1)
        with pytest.raises(ValueError, match=r"data=\(x_train\[:64\], y_train\[:64\]\)"):
            neuralscope.keras.Callback(run, data=np.zeros((4, 3)))


@pytest.mark.parametrize("on_host", [True, False])
def test_watched_statistics_are_those_of_the_held_batch(digits, on_host):
    """The compiled pass hands its gradients and layer outputs to the host (the default on a
    CPU) or reduces them on the backend; numpy on the eager pass's full tensors is the
    oracle: norms, mean and standard deviation to float32 summation (rel 1e-5), the fraction
    of dead units exactly, histogram counts up to values lying on a bin edge (float32 bin
    positions: at most 2 of 4,608 values move)."""
    from neuralscope.keras import _histogram, _Summary
    from neuralscope.nonlinearities import dead_mask, nonlinearity

    x, y = digits
    m = small_cnn()
    a = KerasAdapter(m)
    layers = ["conv", "bn", "head"]
    p = a.loss_pass(layers, summary=_Summary(64, {"conv": "relu"}, a.channels_axis), summary_on_host=on_host)
    loss, grads, acts = p(x[:64], y[:64])
    assert p.compiled and p._fn is not None  # traced once, by tf.function
    ref_loss, ref_grads, ref_acts = a.loss_gradients(x[:64], y[:64], layers=layers)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    for name, g in ref_grads.items():
        assert np.sqrt(float(grads[name]["sum_sq"])) == pytest.approx(np.linalg.norm(g), rel=1e-5), name
    for name in layers:
        ref, s = ref_acts[name][0].astype(np.float64), acts[name][0]
        h = _histogram(s)
        assert h.num == ref.size and h.nonfinite == 0
        assert h.sum / h.num == pytest.approx(ref.mean(), rel=1e-5, abs=1e-6)
        assert np.sqrt(float(s["ss_dev"]) / (h.num - 1)) == pytest.approx(ref.std(ddof=1), rel=1e-5)
        counts, edges = np.histogram(ref, bins=64)
        np.testing.assert_allclose(h.edges, edges, rtol=1e-6, atol=1e-6)
        assert h.counts.sum() == counts.sum() and np.abs(h.counts - counts).sum() <= 4, name
    dead = dead_mask(nonlinearity(kind="relu"), torch.from_numpy(ref_acts["conv"][0]))
    assert float(acts["conv"][0]["dead"]) == float(dead.float().mean())
    assert "dead" not in acts["bn"][0]


def test_summary_leaves_nan_and_inf_out_of_the_histogram():
    from neuralscope.keras import _histogram, _Summary

    t = keras.ops.convert_to_tensor(np.array([[0.0, 1.0, np.nan], [3.0, np.inf, -1.0]], "float32"))
    s = _Summary(4, {"x": "relu"}, -1)("output", "x", t)
    h = _histogram(s)
    assert (h.num, h.nonfinite, h.min, h.max) == (4, 2, -1.0, 3.0)
    assert h.counts.tolist() == [1.0, 1.0, 1.0, 1.0] and h.sum == 3.0
    assert float(s["dead"]) == 0.0  # [0, 3] and [1, inf] are above 0, [nan, -1] has a NaN: not dead


@pytest.mark.parametrize("values", [np.random.default_rng(0).normal(size=5000).astype("float32"),
                                    np.full(10, 5.0, "float32"),  # all equal: the +-0.5 rule
                                    np.array([0.0, 1.0, 2.0, 3.0, np.nan], "float32")])  # values on edges, a NaN
def test_summary_bins_by_the_one_histogram_definition(values):
    """The backend counts with neuralscope.histogram's own bin_range and bin_of: on the same
    float32 values its histogram is the torch path's, count for count and edge for edge."""
    from neuralscope.histogram import histogram
    from neuralscope.keras import _histogram, _Summary

    h = _histogram(_Summary(16, {}, -1)("gradient", "x", keras.ops.convert_to_tensor(values)))
    ref = histogram(torch.from_numpy(values), bins=16)
    np.testing.assert_array_equal(h.edges, ref.edges)
    assert h.counts.tolist() == ref.counts.tolist()
    assert (h.num, h.min, h.max, h.nonfinite) == (ref.num, ref.min, ref.max, ref.nonfinite)


@pytest.mark.parametrize("values", [np.random.default_rng(1).normal(size=(4, 3, 3, 8)).astype("float32"),
                                    np.maximum(np.random.default_rng(2).normal(size=(16, 6)), 0).astype("float32"),
                                    np.full((2, 5), 5.0, "float32"),  # all equal: the +-0.5 rule
                                    np.array([[0.0, 1.0, np.nan], [3.0, np.inf, -1.0]], "float32"),
                                    np.full((2, 3), np.nan, "float32")])  # no finite value
def test_host_summary_is_the_backend_summary(values):
    """An eager pass summarises on the host with numpy; on the same tensor it gives what the
    backend ops of the compiled pass give: the same histogram edge for edge and count for
    count, the same dead fraction, sums to float32 summation (rel 1e-5)."""
    from neuralscope.keras import _histogram, _Summary

    summary = _Summary(16, {"x": "relu"}, -1)
    backend = summary("output", "x", keras.ops.convert_to_tensor(values))
    host = summary("output", "x", values)
    hb, hh = _histogram({k: keras.ops.convert_to_numpy(v) for k, v in backend.items()}), _histogram(host)
    np.testing.assert_array_equal(hh.edges, hb.edges)
    assert hh.counts.tolist() == hb.counts.tolist()
    assert (hh.num, hh.min, hh.max, hh.nonfinite) == (hb.num, hb.min, hb.max, hb.nonfinite)
    for key in ("sum", "sum_sq", "ss_dev"):
        assert float(host[key]) == pytest.approx(float(backend[key]), rel=1e-5, abs=1e-6), key
    assert float(host["dead"]) == float(backend["dead"])
    assert summary("output", "x", np.zeros(values.shape, "int32")) == {}  # not floating point: nothing kept


@pytest.mark.parametrize("values", [np.random.default_rng(0).normal(size=5000).astype("float32"),
                                    np.random.default_rng(0).normal(size=77).astype("float64"),
                                    np.full(10, 5.0, "float32"), np.zeros(0, "float32"),
                                    np.array([0.0, 1.0, 2.0, 3.0, np.nan, -np.inf], "float32")])
def test_host_histogram_is_the_torch_histogram(values):
    """Weights are binned by host_histogram: the torch path's histogram (the one the callback
    logged before) edge for edge, count for count, with its float64 sums."""
    from neuralscope.histogram import histogram, host_histogram

    h, finite = host_histogram(values, bins=16)
    ref = histogram(torch.from_numpy(values), bins=16)
    np.testing.assert_array_equal(h.edges, ref.edges)
    assert h.counts.tolist() == ref.counts.tolist()
    assert (h.num, h.min, h.max, h.nonfinite) == (ref.num, ref.min, ref.max, ref.nonfinite)
    assert h.sum == pytest.approx(ref.sum, rel=1e-12, abs=1e-12)
    assert h.sum_sq == pytest.approx(ref.sum_sq, rel=1e-12)
    assert finite.tolist() == values[np.isfinite(values)].astype(np.float64).tolist()


@pytest.mark.parametrize("on_host", [True, False])
def test_eager_watched_steps_log_what_compiled_ones_log(digits, on_host):
    """An eager pass summarises on the host; the compiled pass on the host too (the default
    on a CPU) or on the backend: on the same held batch and weights they agree (gradient
    norms and activation moments to float32 summation, dead fractions exactly, histogram
    counts up to values lying on a bin edge, where eager and traced convolutions may round
    a value to either side)."""
    from neuralscope.keras import _histogram, _Summary

    x, y = digits
    m = small_cnn()
    a = KerasAdapter(m)
    p = a.loss_pass(["conv", "bn", "head"], summary=_Summary(64, {"conv": "relu"}, a.channels_axis),
                    compile_after=1, summary_on_host=on_host)
    eager, compiled = p(x[:64], y[:64]), p(x[:64], y[:64])
    assert p.compiled and p._fn is not None  # the second call ran the traced pass
    assert eager[0] == pytest.approx(compiled[0], rel=1e-6)
    for (name, e), c in zip(eager[1].items(), compiled[1].values()):
        assert isinstance(e["counts"], np.ndarray) and isinstance(c["counts"], np.ndarray)
        assert float(e["sum_sq"]) == pytest.approx(float(c["sum_sq"]),
                                                                                          rel=1e-4), name
    for name in ("conv", "bn", "head"):
        e, c = eager[2][name][0], compiled[2][name][0]
        he, hc = _histogram(e), _histogram(c)
        np.testing.assert_allclose(he.edges, hc.edges, rtol=1e-6, atol=1e-6)
        assert he.num == hc.num and np.abs(he.counts - hc.counts).sum() <= 4, name
        assert float(e["ss_dev"]) == pytest.approx(float(c["ss_dev"]), rel=1e-4)
    assert float(eager[2]["conv"][0]["dead"]) == float(compiled[2]["conv"][0]["dead"])


def test_compiled_pass_summarises_on_the_host_on_a_cpu(digits):
    """On a CPU the traced pass only computes the tensors (no reduction is traced into it)
    and the host summarises them exactly as it summarises an eager pass's tensors: the
    summary sees numpy arrays, and the histograms equal the one histogram definition's on
    those very arrays."""
    from neuralscope.histogram import host_histogram
    from neuralscope.keras import _histogram, _Summary

    x, y = digits
    m = small_cnn()
    a = KerasAdapter(m)
    seen = []
    summary = _Summary(32, {"conv": "relu"}, a.channels_axis)

    def recording(kind, name, t):
        seen.append((kind, name, t))
        return summary(kind, name, t)

    p = a.loss_pass(["conv", "head"], summary=recording)
    assert p.summary_on_host  # the model's variables are on the CPU
    _, grads, acts = p(x[:32], y[:32])
    assert p.compiled and p._fn is not None
    assert seen and all(isinstance(t, np.ndarray) for _, _, t in seen)
    for kind, name, t in seen:
        got = _histogram(grads[name] if kind == "gradient" else acts[name][0])
        ref, _ = host_histogram(t, 32)
        np.testing.assert_array_equal(got.edges, ref.edges)
        assert got.counts.tolist() == ref.counts.tolist(), name


def test_callback_traces_the_held_batch_pass_from_its_first_watched_step(tmp_path, digits):
    """Tracing the pass costs about as much as the first eager pass (whose kernels load
    then): the callback compiles at once, so every watched step runs the traced pass. A
    watched step's pass runs on fit's thread before the next batch starts."""
    x, y = digits
    m = small_cnn("sgd")
    traced_at = []
    with Run(tmp_path / "run") as run:
        ours = neuralscope.keras.Callback(run, every=2, data=(x[:16], y[:16]))
        probe = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: traced_at.append(
            ours._pass._fn is not None))
        m.fit(x[:128], y[:128], batch_size=32, epochs=1, verbose=0, callbacks=[ours, probe])
    assert traced_at == [False, False, True, True]  # traced once the first watched step (the 2nd) is over
    assert open_run(tmp_path / "run").scalars("gradients/norm/head/kernel").steps.tolist() == [2, 4]


def test_batch_metrics_are_written_once_and_in_step_order_from_any_thread(tmp_path):
    """Keras may run two batch-end hooks at once on its worker threads: whatever order they
    finish in, the store receives every step's metrics once, in step order."""
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from neuralscope.keras import _InStepOrder

    order, written = _InStepOrder(threading.Lock()), []
    order.restart(first_step=101)
    ends = list(range(0, 400, 2))  # steps of two batches each (steps_per_execution=2)
    for batch in ends:
        order.began(batch)
    random.Random(0).shuffle(ends)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda batch: order.ended(batch + 1, {"loss": batch}, lambda s, logs: written.append(
            (s, logs["loss"]))), ends))
    assert written == [(101 + i, 2 * i) for i in range(200)]


ASYNC_FIT = """
import threading, tempfile
import numpy as np, keras
from sklearn.datasets import load_digits
import neuralscope
from neuralscope.track import Run, open_run

d = load_digits()
x, y = (d.images[:256, :, :, None] / 16).astype("float32"), d.target[:256].astype("int64")

def model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                          keras.layers.BatchNormalization(name="bn"), keras.layers.Flatten(),
                          keras.layers.Dense(10, name="head")])
    m.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m

class Probe(keras.callbacks.Callback):
    async_safe = True  # with ours, the whole list is dispatched asynchronously
    def __init__(self):
        super().__init__()
        self.seen, self.threads, self.epoch = [], set(), 0
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((self.epoch, batch, logs["loss"]))
        self.threads.add(threading.current_thread() is threading.main_thread())

plain, tracked, probe, path = model(), model(), Probe(), tempfile.mkdtemp()
plain.fit(x[:192], y[:192], batch_size=16, epochs=2, shuffle=False, verbose=0)
with Run(path) as run:
    tracked.fit(x[:192], y[:192], batch_size=16, epochs=2, shuffle=False, verbose=0,
                validation_data=(x[192:], y[192:]),
                callbacks=[neuralscope.keras.Callback(run, every=5, data=(x[:16], y[:16])), probe])
assert False in probe.threads, "Keras ran every batch-end hook on fit's thread"
r = open_run(path)
loss = r.scalars("loss")
assert loss.steps.tolist() == list(range(1, 25)), loss.steps
assert loss.values.tolist() == [v for _, _, v in sorted(probe.seen)]
assert not [n for n in r.notes() if n["code"] == "step_backwards"]
assert r.scalars("epoch").steps.tolist() == [12, 24] and r.scalars("val_loss").steps.tolist() == [12, 24]
for name in ("gradients/norm/head/kernel", "weights/norm/conv/kernel", "updates/ratio/head/kernel",
             "activations/dead/conv"):
    assert r.scalars(name).steps.tolist() == [5, 10, 15, 20], name
for a, b in zip(plain.weights, tracked.weights):  # the held-batch passes put everything back
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_fit_with_asynchronous_batch_hooks_logs_every_step_once_in_order(backend, on_keras_backend):
    """On JAX and torch, Keras dispatches batch-end hooks to worker threads when every
    callback is ``async_safe``, as ours declares: every step's loss arrives once, in order,
    with the value Keras reported for it; the watched steps read the weights the step left
    (on fit's thread), and the fit ends with the weights of a fit without the callback."""
    on_keras_backend(ASYNC_FIT, backend)
