"""Exception types raised by neuralscope.

Every error says in one sentence what was wrong and where, and how to fix it.  Each type
subclasses the built-in exception a caller would expect (``ValueError``, ``TypeError``...)
so ``except ValueError`` keeps working.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class NeuralscopeError(Exception):
    """Base class of every error raised by neuralscope."""


class LayerNotFoundError(NeuralscopeError, KeyError, ValueError):
    """A layer name, glob or module that is not part of the model."""

    def __init__(self, name: str, valid: Iterable[str], what: str = "layer"):
        valid = [v for v in valid if v]
        close = difflib.get_close_matches(str(name), valid, n=5, cutoff=0.4)
        if not close:
            close = [v for v in valid if str(name).split(".")[-1] in v][:5]
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else (
            f" Valid names include: {', '.join(repr(v) for v in valid[:8])}." if valid else "")
        self.name, self.suggestions = name, close
        super().__init__(f"No {what} named {name!r} in the model.{hint}")

    def __str__(self) -> str:  # KeyError would otherwise add quotes around the message
        return str(self.args[0])


class InputShapeError(NeuralscopeError, ValueError):
    """Inputs whose shape, dtype or device does not fit the model or the method."""


class TargetError(NeuralscopeError, ValueError):
    """A target (class index, callable) that does not fit the model's output."""


class ModelForwardError(NeuralscopeError, RuntimeError):
    """The model raised while running forward; the message names the failing module."""

    def __init__(self, message: str, module: str | None = None):
        self.module = module
        super().__init__(message)


class NonFiniteError(NeuralscopeError, ValueError):
    """NaN or Inf where a finite tensor is required."""


class FileFormatError(NeuralscopeError, ValueError):
    """A file that is missing, corrupt or not in the expected format."""


class OutputPathError(NeuralscopeError, ValueError):
    """An output path that cannot be written (its directory does not exist, it is a directory)."""


class RunLockedError(NeuralscopeError, RuntimeError):
    """A run directory that another process is already writing."""


class ModelNotBuiltError(NeuralscopeError, ValueError):
    """A model whose weights do not exist yet (a Keras model never built or called, a torch
    model on the ``meta`` device)."""


class UnsupportedModelError(NeuralscopeError, TypeError):
    """An object that is not a model of a framework neuralscope has an adapter for."""


class UnknownOptionError(NeuralscopeError, TypeError):
    """An option (keyword argument) that the called method does not take."""


def check_finite(tensor, what: str) -> None:
    """Raise :class:`NonFiniteError` if ``tensor`` holds NaN or Inf."""
    import torch

    if torch.is_tensor(tensor) and tensor.is_floating_point():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            n = int(bad.sum())
            raise NonFiniteError(
                f"{what} contains {n} NaN/Inf value(s) out of {tensor.numel()}; "
                "replace them (e.g. torch.nan_to_num) before calling neuralscope.")


def check_batch(inputs, what: str = "The inputs") -> None:
    """The one check of a batch given to a function that runs a model: every tensor in
    ``inputs`` (a tensor, a tuple/list or a dict of them) holds at least one example and only
    finite values; raises :class:`InputShapeError` or :class:`NonFiniteError` otherwise."""
    import torch

    if isinstance(inputs, dict) or (hasattr(inputs, "keys") and not torch.is_tensor(inputs)):
        items = [(f"{what} [{k!r}]", inputs[k]) for k in inputs.keys()]
    elif isinstance(inputs, (tuple, list)):
        items = [(f"{what} [{i}]" if len(inputs) > 1 else what, t) for i, t in enumerate(inputs)]
    else:
        items = [(what, inputs)]
    for name, t in items:
        if torch.is_tensor(t) and t.dim() and t.shape[0] == 0:
            raise InputShapeError(f"{name} are an empty batch (shape {tuple(t.shape)}); pass at least "
                                  "one example.")
        check_finite(t, name)


def check_materialized(model) -> None:
    """Raise :class:`ModelNotBuiltError` if a torch model has parameters or buffers on the
    ``meta`` device (shapes without values), which nothing can be computed from."""
    tensors = getattr(model, "parameters", None)
    if tensors is None or not callable(tensors):
        return
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.device.type == "meta":
            raise ModelNotBuiltError(
                f"{type(model).__name__} has its weights on the 'meta' device (parameter {name!r}): "
                "they hold no values; materialise them first, e.g. model.to_empty(device='cpu') "
                "then model.load_state_dict(...).")


class NoAttentionError(NeuralscopeError, ValueError):
    """A model in which no attention could be found."""
