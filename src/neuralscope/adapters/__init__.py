"""Framework adapters: everything that knows a framework's API lives here.

Analyses talk to an :class:`~neuralscope.adapters.base.Adapter` (named layers, weights in
one layout, input normalisation, a recording forward, the guard that leaves the model as it
was found); :func:`for_model` picks the adapter of a model. ``adapters/torch.py`` serves
PyTorch modules and ``adapters/keras.py`` Keras 3 models (imported only when Keras is).
"""
from typing import Any

from ..errors import UnsupportedModelError
from .base import Adapter, Inputs, LayerInfo, ParamInfo, Recording, select_layers  # noqa: F401
from .torch import (  # noqa: F401
    ModelState,
    TorchAdapter,
    as_inputs,
    forward_with_context,
    preserve_model_state,
    resolve_layer,
    resolve_layers,
)


def for_model(model: Any) -> Adapter:
    """The adapter for ``model``: :class:`~neuralscope.adapters.keras.KerasAdapter` for a
    Keras model (also on Keras's torch backend, where a Keras model is an ``nn.Module`` too:
    names are then Keras layer names), :class:`TorchAdapter` for a ``torch.nn.Module``; an
    adapter is returned as it is.

    Example:
        >>> import torch
        >>> type(for_model(torch.nn.Linear(2, 2))).__name__
        'TorchAdapter'
    """
    if isinstance(model, Adapter):
        return model
    from .keras import KerasAdapter, is_keras_model

    if is_keras_model(model):
        return KerasAdapter(model)
    import torch

    if isinstance(model, torch.nn.Module):
        return TorchAdapter(model)
    raise UnsupportedModelError(
        f"neuralscope cannot read a {type(model).__module__}.{type(model).__name__}; pass a torch.nn.Module "
        "or a keras.Model (or a model file path to neuralscope.graph).")


def is_torch_module(model: Any) -> bool:
    """Whether ``model`` is a plain PyTorch module (not a Keras model on the torch backend)."""
    import torch

    from .keras import is_keras_model

    return isinstance(model, torch.nn.Module) and not is_keras_model(model)
