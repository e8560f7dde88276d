"""Attention weights of Keras models: every ``keras.layers.MultiHeadAttention`` (also inside
custom layers such as a transformer block) returns its softmax scores when asked
(``return_attention_scores=True``); for one forward pass each such layer's ``call`` is
intercepted to ask for them, and the layer hands its caller exactly what the caller asked
for. The interception is removed afterwards, also when the pass raises (and the Keras
adapter's guard would remove a leftover one). Works on every Keras backend.

Example:
    >>> import keras, numpy as np
    >>> x = keras.Input((5, 8))
    >>> y = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    >>> names, w = capture_keras(keras.Model(x, y), np.zeros((1, 5, 8), np.float32))
    >>> names, w.shape
    (['mha'], (1, 1, 2, 5, 5))
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from ..adapters.keras import KerasAdapter


def attention_layers(adapter: KerasAdapter) -> list[tuple[str, Any]]:
    """``(name, layer)`` of every MultiHeadAttention layer in model order: adapter names for
    layers of the model and its nested models, ``owner/name`` inside custom layers."""
    keras = adapter.keras
    found: dict[int, tuple[str, Any]] = {}
    for info in adapter.named_layers():
        layer = info.layer
        if isinstance(layer, keras.layers.MultiHeadAttention):
            found.setdefault(id(layer), (info.name, layer))
        elif not isinstance(layer, keras.Model):
            for sub in layer._flatten_layers(include_self=False, recursive=True):
                if isinstance(sub, keras.layers.MultiHeadAttention):
                    found.setdefault(id(sub), (adapter.join(info.name, sub.name), sub))
    return list(found.values())


@contextlib.contextmanager
def _scores_of(layers: list[tuple[str, Any]], kept: dict[str, list]) -> Iterator[None]:
    patched = []
    try:
        for name, layer in layers:
            original = layer.call

            def call(*args, __orig=original, __name=name, **kwargs):
                wanted = bool(kwargs.get("return_attention_scores", False))
                kwargs["return_attention_scores"] = True
                out, scores = __orig(*args, **kwargs)
                kept[__name].append(scores)
                return (out, scores) if wanted else out

            object.__setattr__(layer, "call", call)
            patched.append(layer)
        yield
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")


def capture_keras(model: Any, inputs: Any) -> tuple[list[str], np.ndarray]:
    """Layer names and the weights ``(batch, layers, heads, queries, keys)`` (float32) of
    every MultiHeadAttention call in one inference pass; a layer called twice gives two
    entries (``name``, ``name#2``)."""
    from .extract import NoAttentionError

    adapter = KerasAdapter(model)
    layers = attention_layers(adapter)
    if not layers:
        raise NoAttentionError(
            f"The Keras model {model.name!r} has no keras.layers.MultiHeadAttention layer "
            "(attention written with other layers cannot be read).")
    kept: dict[str, list] = {name: [] for name, _ in layers}
    with adapter.preserved(), _scores_of(layers, kept):
        adapter.forward(inputs)
    names, maps = [], []
    for name, calls in kept.items():
        for i, s in enumerate(calls):
            names.append(name if i == 0 else f"{name}#{i + 1}")
            maps.append(adapter.to_numpy(s).astype(np.float32, copy=False))
    if not maps:
        raise NoAttentionError("No MultiHeadAttention layer ran during the forward pass.")
    shape = np.max([m.shape for m in maps], axis=0)  # smaller maps are zero-padded
    out = np.zeros((shape[0], len(maps), *shape[1:]), dtype=np.float32)
    for i, m in enumerate(maps):
        out[:, i, :m.shape[1], :m.shape[2], :m.shape[3]] = m
    return names, out


__all__ = ["attention_layers", "capture_keras"]
