"""The adapter interface: PyTorch and Keras models seen the same way by analyses."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from neuralscope.adapters import TorchAdapter, for_model
from neuralscope.errors import LayerNotFoundError, ModelNotBuiltError, UnsupportedModelError

keras = pytest.importorskip("keras")


def two_input_model():
    """Two inputs, two outputs, a shared layer and a nested model."""
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, name="dense")], name="inner")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    z = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    return keras.Model([a, b], [inner(z), keras.layers.Dense(2, name="head2")(z)], name="two")


def test_for_model_picks_the_adapter_of_the_framework():
    assert isinstance(for_model(torch.nn.Linear(2, 2)), TorchAdapter)
    assert for_model(two_input_model()).framework == "keras"
    with pytest.raises(UnsupportedModelError, match="torch.nn.Module or a keras.Model"):
        for_model(object())


def test_keras_layer_names_include_nested_models_with_slashes():
    a = for_model(two_input_model())
    assert a.layer_names() == ["shared", "cat", "inner", "inner/dense", "head2"]
    info = {i.name: i for i in a.named_layers()}
    assert info["inner/dense"].trainable_params == 8 * 3 + 3 and not info["inner"].is_leaf
    assert [n for n, _ in a.layers("inner/*")] == ["inner/dense"]
    assert [n for n, _ in a.layers(keras.layers.Concatenate)] == ["cat"]


def test_wrong_keras_layer_name_lists_the_closest_names():
    with pytest.raises(LayerNotFoundError, match=r"'inner/dense'"):
        for_model(two_input_model()).layer("inner/dens")


def test_unbuilt_keras_model_says_how_to_build_it():
    with pytest.raises(ModelNotBuiltError, match=r"model\.build\(input_shape\).*call it once on a batch"):
        for_model(keras.Sequential([keras.layers.Dense(2)]))


def test_keras_weights_come_in_the_canonical_torch_layout():
    m = keras.Sequential([keras.Input((7, 7, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                          keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
                          keras.layers.Conv2DTranspose(5, 2, name="up"), keras.layers.Flatten(),
                          keras.layers.Dense(6, name="fc")])
    a = for_model(m)
    conv, dw, up, fc = (m.get_layer(n).kernel.numpy() for n in ("conv", "dw", "up", "fc"))
    np.testing.assert_array_equal(a.weights("conv")["kernel"], conv.transpose(3, 2, 0, 1))  # (out, in, kh, kw)
    np.testing.assert_array_equal(a.weight("fc")[1], fc.T)  # (out, in); "weight" names the kernel
    np.testing.assert_array_equal(a.weights("up")["kernel"], up.transpose(3, 2, 0, 1))  # torch: (in, out, kh, kw)
    # depthwise (kh, kw, in, mult) -> (in*mult, 1, kh, kw); output channel c*mult + j is input c's j-th filter
    got = a.weights("dw")["kernel"]
    assert got.shape == (8, 1, 3, 3)
    np.testing.assert_array_equal(got[2 * 2 + 1, 0], dw[:, :, 2, 1])
    # the same layout a torch layer has: torch's conv on the converted kernel equals Keras's conv
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype("float32")
    want = m.get_layer("conv")(x).numpy().transpose(0, 3, 1, 2)
    got = torch.nn.functional.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(a.weights("conv")["kernel"]),
                                     torch.from_numpy(a.weights("conv")["bias"]))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)  # float32 sums of 27 products


def test_keras_record_sees_every_call_of_a_shared_layer_and_can_replace_outputs(unchanged):
    m = two_input_model()
    a = for_model(m)
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))  # float64 numpy is accepted
    with unchanged(m):
        rec = a.record([xa, xb], ["shared", "inner/dense"])
        zeroed = a.record({"a": xa, "b": xb}, "head2", replace={"cat": lambda t: t * 0})
    assert [tuple(t.shape) for t in rec.outputs["shared"]] == [(5, 4), (5, 4)]
    w, bias = m.get_layer("shared").kernel.numpy(), m.get_layer("shared").bias.numpy()
    np.testing.assert_allclose(a.to_numpy(rec.outputs["shared"][1]), np.maximum(xb @ w + bias, 0), atol=1e-5)
    np.testing.assert_allclose(a.to_numpy(rec["inner/dense"]), a.to_numpy(rec.output[0]), atol=0)
    np.testing.assert_array_equal(a.to_numpy(zeroed["head2"]), np.broadcast_to(m.get_layer("head2").bias.numpy(), (5, 2)))


def test_keras_record_leaves_the_model_as_found_when_the_replacement_raises(unchanged):
    m = two_input_model()
    a = for_model(m)

    def boom(t):
        raise RuntimeError("boom")

    with unchanged(m), pytest.raises(Exception, match="boom"):
        a.record([np.zeros((1, 4))] * 2, "cat", replace={"cat": boom})
    assert "call" not in m.get_layer("cat").__dict__


def test_keras_guard_restores_trainable_flags_statistics_and_compile_state(unchanged):
    m = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    with unchanged(m), pytest.raises(ValueError, match="inside"):
        with for_model(m).preserved():
            m.get_layer("bn").trainable = False
            m(np.random.rand(8, 3).astype("float32") * 5, training=True)  # moves the BN statistics
            m.compile(optimizer="adam", loss="mae")
            raise ValueError("inside")


def test_keras_inputs_normalised_from_torch_numpy_and_channels_first():
    m = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, name="conv")])
    a = for_model(m)
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 2)).astype("float32")
    want = m(x).numpy()
    nchw = torch.from_numpy(x).permute(0, 3, 1, 2)
    np.testing.assert_allclose(a.to_numpy(a.forward(a.normalize_inputs(nchw, layout="channels_first"))), want, atol=1e-6)
    acts = a.activations(x, "conv", batch_size=1)["conv"][0]  # canonical (batch, channel, h, w)
    np.testing.assert_allclose(acts, want.transpose(0, 3, 1, 2), atol=1e-6)


def test_keras_subclassed_model_layers_are_recorded():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4, name="hidden")
            self.out = keras.layers.Dense(1, name="out")

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    net(np.zeros((1, 3), "float32"))
    a = for_model(net)
    assert a.layer_names() == ["hidden", "out"]
    assert a.record(np.ones((2, 3)), "hidden")["hidden"].shape == (2, 4)


def test_torch_adapter_records_replaces_and_takes_channels_last_images(unchanged):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    a = for_model(net)
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 3)).astype("float32")
    with unchanged(net):
        rec = a.record(a.normalize_inputs(x, layout="channels_last"), "1", replace={"0": lambda t: -t.abs()})
    assert float(rec["1"].abs().sum()) == 0.0
    assert a.activations(torch.from_numpy(x).permute(0, 3, 1, 2), "0", batch_size=1)["0"][0].shape == (2, 4, 3, 3)


BACKEND_SCRIPT = textwrap.dedent("""
    import numpy as np, keras
    from neuralscope.adapters import for_model
    from neuralscope.testing import model_unchanged
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="dense")], name="inner")
    x_in = keras.Input((5, 5, 2), name="img")
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(x_in)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(6, name="fc")(h)
    m = keras.Model(x_in, inner(h))
    a = for_model(m)
    assert a.framework == "keras", type(a)
    assert a.layer_names() == ["conv", "flat", "fc", "inner", "inner/dense"], a.layer_names()
    x = np.random.default_rng(0).normal(size=(3, 5, 5, 2)).astype("float32")
    with model_unchanged(m):
        acts = a.activations(x, ["conv", "inner/dense"], batch_size=2)
        rec = a.record(x, "inner/dense", replace={"fc": lambda t: t * 0})
    assert acts["conv"][0].shape == (3, 3, 3, 3), acts["conv"][0].shape
    np.testing.assert_allclose(acts["inner/dense"][0], a.to_numpy(m(x)), atol=1e-5)
    np.testing.assert_allclose(a.to_numpy(rec["inner/dense"]),
                               np.broadcast_to(a.to_numpy(m.get_layer("inner").get_layer("dense").bias), (3, 3)))
    assert a.weights("conv")["kernel"].shape == (3, 2, 3, 3)
    # the gradients of the compiled loss are what one SGD step (learning rate 1) subtracts
    import neuralscope
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    y = np.random.default_rng(1).normal(size=(3, 3)).astype("float32")
    loss, grads, acts = a.loss_gradients(x, y, layers="fc")
    before = {v.path: a.to_numpy(v.value).copy() for v in m.trainable_variables}
    names = a.variable_names()
    hist = m.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    for v in m.trainable_variables:
        np.testing.assert_allclose(before[v.path] - a.to_numpy(v.value), grads[names[id(v)]], rtol=1e-4, atol=1e-6)
    assert abs(loss - hist.history["loss"][0]) < 1e-4 * max(1.0, loss) and acts["fc"][0].shape == (3, 6)
    g = neuralscope.graph(m, x)
    assert g.total_params == m.count_params() and g.nodes["inner/dense"].outputs[0].shape == (3, 3)
    assert neuralscope.summary(m).total_params == m.count_params()
    import tempfile
    from neuralscope.track import Run
    with Run(tempfile.mkdtemp()) as run:
        m.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[neuralscope.keras.Callback(run, every=2, data=(x, y))])
        assert run.read().scalars("gradients/norm/conv").steps.tolist() == [2]
    print("ok", keras.backend.backend())
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_adapter_works_on_the_other_backends(backend, on_keras_backend):
    on_keras_backend(BACKEND_SCRIPT, backend)
