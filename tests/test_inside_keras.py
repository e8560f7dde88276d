"""Every inside view on Keras models, through the adapter: values equal what Keras itself
computes (read by a multi-output keras.Model, not by neuralscope's recorder), the model is
left as found, and the views run on the JAX and torch backends too."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from neuralscope.inspect.activations import (activation_heatmap, activation_histograms, dead_units,  # noqa: E402
                                             feature_maps, hidden_states, unit_activations)
from neuralscope.inspect.embedding import embed, embed_layer  # noqa: E402
from neuralscope.inspect.weights import (conv_filters, project_weights, weight_heatmap,  # noqa: E402
                                         weight_histograms, weight_stats)
from neuralscope.plot.animation import (embeddings_over_training, feature_maps_over_training,  # noqa: E402
                                        weights_over_training)


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1)),
                             keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv"),
                             keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(name="flat"),
                             keras.layers.Dense(12, activation="tanh", name="fc"), keras.layers.Dense(10, name="head")],
                            name="cnn")


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:60, :, :, None] / 16).astype("float32"), d.target[:60]


def keras_outputs(model, x, name):
    return keras.Model(model.inputs, model.get_layer(name).output)(x).numpy()


def test_weight_views_show_keras_kernels_in_the_canonical_layout(cnn, unchanged):
    with unchanged(cnn):
        heat = weight_heatmap(cnn, "head")
        hist = weight_histograms(cnn)
        stats = weight_stats(cnn)
        filters = conv_filters(cnn, "conv")
        proj = project_weights(cnn, "fc")
    np.testing.assert_array_equal(heat.matrix, cnn.get_layer("head").kernel.numpy().T)  # (out, in)
    assert heat.name == "head/kernel" and heat.row_label == "output unit"
    assert hist.names == ["conv/kernel", "conv/bias", "fc/kernel", "fc/bias", "head/kernel", "head/bias"]
    assert int(hist.counts[0].sum()) == 6 * 1 * 3 * 3
    assert [r["numel"] for r in stats.rows] == [54, 6, 96 * 12, 12, 120, 10]
    np.testing.assert_array_equal(filters.weight, cnn.get_layer("conv").kernel.numpy().transpose(3, 2, 0, 1))
    assert proj.coords.shape == (12, 2)


def test_activation_views_equal_keras_outputs(cnn, digits, unchanged):
    x, y = digits
    conv = keras_outputs(cnn, x, "conv")  # (N, H, W, C)
    fc = keras_outputs(cnn, x, "fc")
    with unchanged(cnn):
        fm = feature_maps(cnn, x, "conv", index=3, order="index")
        unit = unit_activations(cnn, x, "conv", unit=2, k=4)
        heat = activation_heatmap(cnn, x, "fc", labels=y, sort_by_label=False)
        hist = activation_histograms(cnn, x, ["conv", "fc"], batch_size=16)
    np.testing.assert_allclose(fm.maps, conv[3].transpose(2, 0, 1), atol=1e-6)
    assert fm.image.shape == (1, 8, 8)  # the input drawn beside the maps, channels first
    np.testing.assert_allclose(unit.values, conv[..., 2].mean((1, 2)), atol=1e-6)
    np.testing.assert_allclose(heat.values, fc.T, atol=1e-6)
    assert int(hist.counts[1].sum()) + hist.nonfinite[1] == fc.size


def test_dead_units_on_keras_layers_with_fused_activations(digits, unchanged):
    x, _ = digits
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(5, activation="relu", name="h"),
                          keras.layers.Dense(3, activation="sigmoid", name="s")])
    kernel, bias = m.get_layer("h").get_weights()
    bias[[1, 3]] = -1e3  # units 1 and 3 can never fire on inputs in [0, 1]
    m.get_layer("h").set_weights([kernel, bias])
    with unchanged(m):
        r = dead_units(m, x, batch_size=16)
    assert [(d["name"], d["type"]) for d in r.layers] == [("h", "Dense(relu)"), ("s", "Dense(sigmoid)")]
    want = np.flatnonzero((keras_outputs(m, x, "h") > 0).sum(0) == 0)
    assert r.layers[0]["dead_units"].tolist() == want.tolist() and {1, 3} <= set(want.tolist())


def test_hidden_states_of_a_keras_lstm(digits, unchanged):
    x, _ = digits
    seqs = x[..., 0]  # each digit read row by row: 8 steps of 8 features
    m = keras.Sequential([keras.Input((8, 8)), keras.layers.LSTM(7, return_sequences=True, name="lstm"),
                          keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(10)])
    with unchanged(m):
        hs = hidden_states(m, seqs, index=5)
    np.testing.assert_allclose(hs.states, keras_outputs(m, seqs, "lstm")[5], atol=1e-6)  # (time, units)
    np.testing.assert_array_equal(hs.inputs, seqs[5])


def test_embed_layer_of_a_keras_model_is_the_embedding_of_its_activations(cnn, digits):
    x, y = digits
    e = embed_layer(cnn, x, "fc", labels=y)
    np.testing.assert_allclose(e.coords, embed(keras_outputs(cnn, x, "fc"), labels=y).coords, atol=1e-5)
    assert e.images is not None  # channels-last image batches become hover thumbnails


def test_animations_across_keras_checkpoints_leave_the_model_alone(digits, unchanged):
    x, y = digits
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                          keras.layers.Flatten(), keras.layers.Dense(10, name="head")])
    first = m.get_weights()
    second = [w + 0.5 for w in first]
    with unchanged(m):
        fmo = feature_maps_over_training(m, [first, second], x, "conv", steps=[0, 1])
        emb = embeddings_over_training(m, [first, second], x, "head", labels=y)
    assert len(fmo.frames) == 2 and not np.allclose(fmo.frames[0].maps, fmo.frames[1].maps)
    assert len(emb.frames) == 2
    later = keras.models.clone_model(m)
    later.set_weights(second)
    w = weights_over_training([m, later], "head/kernel")
    np.testing.assert_allclose(w.frames[1].matrix - w.frames[0].matrix, 0.5, atol=1e-6)


VIEWS_SCRIPT = textwrap.dedent("""
    import numpy as np, keras
    from neuralscope.inspect.activations import feature_maps, dead_units, hidden_states, activation_histograms
    from neuralscope.inspect.weights import weight_heatmap, conv_filters, weight_histograms
    from neuralscope.inspect.embedding import embed_layer
    from neuralscope.testing import model_unchanged
    m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
                          keras.layers.Flatten(), keras.layers.Dense(4, name="head")])
    x = np.random.default_rng(0).random((5, 6, 6, 1), dtype=np.float32)
    with model_unchanged(m):
        assert feature_maps(m, x, "conv").maps.shape == (3, 4, 4)
        assert weight_heatmap(m, "head").matrix.shape == (4, 48)
        assert conv_filters(m, "conv").weight.shape == (3, 1, 3, 3)
        assert len(weight_histograms(m).names) == 4 and len(activation_histograms(m, x).names) == 3
        assert dead_units(m, x).layers[0]["units"] == 3
        assert embed_layer(m, x, "head").coords.shape == (5, 2)
    r = keras.Sequential([keras.Input((4, 3)), keras.layers.GRU(5, return_sequences=True, name="gru")])
    assert hidden_states(r, x[:, :4, :3, 0]).states.shape == (4, 5)
    print("ok", keras.backend.backend())
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_inside_views_run_on_the_other_keras_backends(backend, on_keras_backend):
    on_keras_backend(VIEWS_SCRIPT, backend)
