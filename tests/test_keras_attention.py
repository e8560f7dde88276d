"""Attention maps of Keras MultiHeadAttention layers, checked against the softmax of the
layer's own query/key projections (computed here from its weights)."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from neuralscope.attention import NoAttentionError, attention  # noqa: E402
from neuralscope.errors import LayerNotFoundError  # noqa: E402
from neuralscope.testing import KerasSnapshot  # noqa: E402


class Block(keras.layers.Layer):
    """A transformer block as users write it: the attention layer lives inside a custom layer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.mha = keras.layers.MultiHeadAttention(3, 4, name="self_attn")
        self.norm = keras.layers.LayerNormalization()

    def call(self, x):
        return self.norm(x + self.mha(x, x))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 8))
    h = Block(name="block1")(x)
    top = keras.layers.MultiHeadAttention(2, 4, name="top")
    h, _ = top(h, h, return_attention_scores=True)  # the caller's own request is honoured
    return keras.Model(x, h)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((2, 6, 8), dtype=np.float32)


def test_keras_attention_equals_softmax_of_the_layers_own_projections(model, x):
    snap = KerasSnapshot.of(model)
    maps = attention(model, x, tokens=list("abcdef"))
    assert maps.layer_names == ["block1/self_attn", "top"] and maps.source == "keras"
    assert maps.weights.shape == (2, 2, 3, 6, 6)  # two heads of "top" zero-padded to three
    mha = model.get_layer("block1").mha
    q, k = mha._query_dense(x).numpy(), mha._key_dense(x).numpy()
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(4)
    s = np.exp(s - s.max(-1, keepdims=True))
    # float32 softmax: 1e-6
    np.testing.assert_allclose(maps.weights[:, 0], s / s.sum(-1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(maps.weights[:, 1, :2].sum(-1), 1.0, atol=1e-5)
    assert snap.differences(model) == []


def test_keras_attention_has_rollout_flow_and_views(model, x):
    maps = attention(model, x, layers=["self_attn"])
    assert maps.layer_names == ["block1/self_attn"]
    assert maps.rollout().shape == (6, 6) and maps.to_dict()["kind"] == "attention"


def test_keras_model_without_attention_says_so(x):
    dense = keras.Sequential([keras.Input((6, 8)), keras.layers.Dense(3)])
    with pytest.raises(NoAttentionError, match="no keras.layers.MultiHeadAttention"):
        attention(dense, x)


def test_unknown_keras_attention_layer_lists_the_names(model, x):
    with pytest.raises(LayerNotFoundError, match="top"):
        attention(model, x, layers=["tpo"])
