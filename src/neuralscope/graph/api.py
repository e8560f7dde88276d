"""``graph(model, example_inputs)``: the structure of a model as a :class:`Graph`.

Readers are tried in order until one works, so a model that can run forward always gets a
graph: torch.fx symbolic tracing (cleanest: functional ops between modules, real shapes),
then ``torch.export`` (handles most Python control flow that fx cannot), then forward-hook
tracing (anything that runs). ``Graph.method`` says which reader won; the reasons the
others gave up are in ``Graph.attempts``.

Files are read too: ``graph("model.onnx")``, a TorchScript archive (``torch.jit.save``)
or a ``torch.export`` archive (``.pt2``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..adapters.torch import as_inputs, forward_with_context, model_device, preserve_model_state
from ..errors import FileFormatError, InputShapeError, ModelForwardError
from ..gcpause import paused_gc
from .model import Graph

METHODS = ("auto", "fx", "export", "hooks")


def graph(model_or_path: Any, example_inputs: Any = None, *, depth: int | None = None,
          method: str = "auto") -> Graph:
    """The structure of a model: modules, functional ops, tensor shapes, module hierarchy.

    Args:
        model_or_path: a ``torch.nn.Module``, a Keras model (read from its own layer graph,
            see :mod:`neuralscope.graph.extract_keras`), or a path to an ``.onnx`` file, a
            TorchScript archive, a ``torch.export`` archive (``.pt2``) or a Keras
            ``.keras`` / ``.h5`` file.
        example_inputs: what the model is called with (a tensor, a tuple of tensors, or a
            dict of keyword tensors). Shapes come from a real forward pass on them, run in
            eval mode without gradients; the model is left exactly as it was found.
            Optional for files that carry their own shapes.
        depth: the default expansion level used when the graph is drawn (``depth=1``: only
            the model's direct children); stored as ``graph.default_depth``.
        method: ``"auto"`` (fx, then export, then hooks), or one reader by name.

    Raises:
        InputShapeError: the inputs do not fit the model (one sentence saying which shape).
        ModelForwardError: the model raises in forward; names the failing module.
        FileFormatError: a missing or corrupt model file.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN()
        >>> g = graph(net, net.example_input(1))
        >>> g.method, g.total_params == sum(p.numel() for p in net.parameters())
        ('fx', True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    with paused_gc():  # (a big model's reading would wake the collector many times)
        g = _read(model_or_path, example_inputs, method)
    g.default_depth = depth
    return g


def _read(model_or_path: Any, example_inputs: Any, method: str) -> Graph:
    from ..adapters.keras import is_keras_model

    if isinstance(model_or_path, (str, os.PathLike)):
        g = _read_file(Path(model_or_path), example_inputs)
    elif is_keras_model(model_or_path):  # before nn.Module: on Keras's torch backend a Keras model is both
        from .extract_keras import read_keras

        g = read_keras(model_or_path, example_inputs)
    elif isinstance(model_or_path, nn.Module):
        if example_inputs is None:
            example_inputs = _default_inputs(model_or_path)
        g = _read_module(model_or_path, example_inputs, method)
    else:
        raise TypeError(f"graph() takes a torch.nn.Module, a keras.Model or a model file path, "
                        f"not {type(model_or_path).__name__}.")
    return g


def _default_inputs(model: nn.Module) -> Any:
    if hasattr(model, "example_input"):
        return model.example_input(1)
    raise InputShapeError(f"graph() needs example_inputs for {type(model).__name__}: pass a tensor of the "
                          "shape the model expects, e.g. graph(model, torch.randn(1, 3, 224, 224)).")


def _read_module(model: nn.Module, example_inputs: Any, method: str) -> Graph:
    from .extract_fx import plain_forward

    args, kwargs = as_inputs(example_inputs)
    dev = model_device(model)
    args = tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)
    kwargs = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    inputs = kwargs if kwargs else args
    attempts: dict[str, str] = {}
    checked = False
    with preserve_model_state(model):
        model.eval()
        order = ("fx", "export", "hooks") if method == "auto" else (method,)
        for name in order:
            try:
                with plain_forward():
                    g = _READERS[name](model, args, kwargs)
                g.mark_shared_params(model)  # tied weights and reused modules counted once
                g.attempts = attempts
                return g
            except Exception as exc:  # the next reader is tried
                if not checked:
                    # Is it the model (wrong input, a bug in forward) or the reader? A plain
                    # forward pass answers, with an error naming the failing module.
                    checked = True
                    with plain_forward():
                        _checked_forward(model, args, kwargs, inputs)
                attempts[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                if method != "auto":
                    raise ModelForwardError(
                        f"The {name} reader could not read {type(model).__name__}: {attempts[name]}") from exc
    raise ModelForwardError(  # pragma: no cover - the hooks reader reads anything that runs
        f"No reader could read {type(model).__name__}: " + "; ".join(f"{k}: {v}" for k, v in attempts.items()))


def _checked_forward(model: nn.Module, args: tuple, kwargs: dict, inputs: Any) -> None:
    try:
        forward_with_context(model, inputs)
    except ModelForwardError as exc:
        cause = exc.__cause__
        if isinstance(cause, (RuntimeError, ValueError, IndexError)) and _looks_like_shape_error(cause):
            shapes = ", ".join(str(tuple(a.shape)) for a in args if torch.is_tensor(a)) or ", ".join(
                f"{k}={tuple(v.shape)}" for k, v in kwargs.items() if torch.is_tensor(v))
            raise InputShapeError(
                f"Input of shape {shapes} does not fit {type(model).__name__}: {exc}"
            ) from cause
        raise


_SHAPE_WORDS = ("shape", "size", "dimension", "expected input", "mat1 and mat2", "channels", "out of range",
                "must match", "number of dims", "cannot be multiplied", "batch", "input.size")


def _looks_like_shape_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(w in text for w in _SHAPE_WORDS)


def _read_fx(model, args, kwargs):
    from .extract_fx import read_fx

    return read_fx(model, args, kwargs)


def _read_export(model, args, kwargs):
    from .extract_export import read_export

    return read_export(model, args, kwargs)


def _read_hooks(model, args, kwargs):
    from .extract_hooks import read_hooks

    return read_hooks(model, args, kwargs)


_READERS = {"fx": _read_fx, "export": _read_export, "hooks": _read_hooks}


def _read_file(path: Path, example_inputs: Any) -> Graph:
    from .extract_keras import is_keras_file, load_keras_file, read_keras

    if not path.exists():
        raise FileFormatError(f"No model file at {str(path)!r}.")
    if is_keras_file(path):
        return read_keras(load_keras_file(path), example_inputs)
    if path.is_dir():
        raise FileFormatError(f"{str(path)!r} is a directory, not a model file.")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .extract_onnx import read_onnx

        return read_onnx(path)
    from .extract_archive import read_archive

    return read_archive(path, example_inputs)


__all__ = ["graph", "METHODS"]
