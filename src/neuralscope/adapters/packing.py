"""Models with several inputs, seen by attribution methods as a model with one.

A model called as ``model(x1, x2)`` or ``model(**{"image": ..., "meta": ...})`` is wrapped in
:class:`PackedModel`, whose single input is every input flattened and laid side by side,
``(B, D1 + D2 + ...)``. Gradient methods then need no code for tuples: the gradient w.r.t.
the packed vector is, slice by slice, the gradient w.r.t. each input, and a straight path from
a packed baseline moves every input along its own straight path with the same ``alpha``
(exactly what Captum does for a tuple of inputs), so Integrated Gradients' completeness holds
for the sum over all inputs. :func:`unpack` splits a packed map back into one map per input.

The wrapper shares the model's submodules (same names, same objects), so layer names that
work for the model work for the wrapper.

Example:
    >>> import torch
    >>> spec = InputPacking.of((torch.zeros(2, 3), torch.ones(2, 1, 2)))
    >>> flat = spec.pack((torch.zeros(2, 3), torch.ones(2, 1, 2)))
    >>> tuple(flat.shape), [tuple(t.shape) for t in spec.unpack(flat)]
    ((2, 5), [(2, 3), (2, 1, 2)])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError


def is_multi_input(inputs: Any) -> bool:
    """Whether ``inputs`` are several tensors (a tuple/list or a dict of array-likes)."""
    if isinstance(inputs, dict):
        return True
    return isinstance(inputs, (tuple, list)) and len(inputs) > 0 and all(
        torch.is_tensor(t) or isinstance(t, np.ndarray) for t in inputs)


@dataclass(frozen=True)
class InputPacking:
    """How several inputs are laid into one ``(B, D)`` tensor: their names (``None`` for
    positional inputs), shapes after the batch dimension and sizes."""

    names: tuple[str, ...] | None
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, inputs: Any) -> "InputPacking":
        names, tensors = _split(inputs)
        if not tensors:
            raise InputShapeError("The model inputs hold no tensor; pass a tuple or dict of (batch, ...) tensors.")
        batch = {int(t.shape[0]) if t.dim() else -1 for t in tensors}
        if len(batch) != 1 or -1 in batch:
            raise InputShapeError(
                "Every input of a model with several inputs needs the same batch dimension first; got shapes "
                + ", ".join(str(tuple(t.shape)) for t in tensors) + ".")
        return cls(names, tuple(tuple(int(s) for s in t.shape[1:]) for t in tensors))

    @property
    def sizes(self) -> list[int]:
        return [int(np.prod(s)) if s else 1 for s in self.shapes]

    @property
    def labels(self) -> list[str]:
        """A name per input: the dict keys, or ``input 0``, ``input 1``..."""
        return list(self.names) if self.names is not None else [f"input {i}" for i in range(len(self.shapes))]

    def pack(self, inputs: Any) -> torch.Tensor:
        """The inputs flattened per example and concatenated, ``(B, sum of sizes)``."""
        _, tensors = _split(inputs)
        if len(tensors) != len(self.shapes):
            raise InputShapeError(f"Expected {len(self.shapes)} inputs, got {len(tensors)}.")
        for t, shape, label in zip(tensors, self.shapes, self.labels):
            if tuple(t.shape[1:]) != shape:
                raise InputShapeError(
                    f"{label} has shape {tuple(t.shape)} where (batch, {', '.join(map(str, shape))}) was expected.")
        dtype = torch.promote_types(*[t.dtype for t in tensors]) if len(tensors) > 1 else tensors[0].dtype
        return torch.cat([t.reshape(t.shape[0], -1).to(dtype) for t in tensors], dim=1)

    def unpack(self, flat: Any) -> list:
        """Split ``(B, D)`` rows (tensor or numpy) back into one array per input."""
        out, start = [], 0
        for size, shape in zip(self.sizes, self.shapes):
            part = flat[:, start:start + size]
            out.append(part.reshape(part.shape[0], *shape))
            start += size
        return out

    def call_args(self, parts: Sequence[torch.Tensor]) -> Any:
        """The unpacked parts as the model takes them: a tuple or a dict."""
        return dict(zip(self.names, parts)) if self.names is not None else tuple(parts)


def _split(inputs: Any) -> tuple[tuple[str, ...] | None, list[torch.Tensor]]:
    if isinstance(inputs, dict):
        names = tuple(str(k) for k in inputs)
        values = list(inputs.values())
    elif isinstance(inputs, (tuple, list)):
        names, values = None, list(inputs)
    else:
        raise InputShapeError(f"Several inputs are a tuple or a dict of tensors, not {type(inputs).__name__}.")
    tensors = []
    for v in values:
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        if not torch.is_tensor(v):
            raise InputShapeError(f"Every model input must be a tensor or numpy array, not {type(v).__name__}.")
        tensors.append(v)
    return names, tensors


class PackedModel(nn.Module):
    """``model`` called on one packed input (see the module docstring). Submodules,
    parameters and buffers are the model's own (shared, not copied), under the same names."""

    def __init__(self, model: nn.Module, packing: InputPacking):
        super().__init__()
        object.__setattr__(self, "inner", model)  # not a child: the names stay the model's
        self._modules = model._modules
        self._parameters = model._parameters
        self._buffers = model._buffers
        self.training = model.training
        self.packing = packing
        self.neuralscope_no_standin = True  # the fast paths trace one-input models only

    def forward(self, flat: torch.Tensor):
        from .torch import forward_with_context

        return forward_with_context(self.inner, self.packing.call_args(self.packing.unpack(flat)))

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = object.__getattribute__(self, "inner")
            if name == "activation_bytes" and hasattr(inner, name):  # the inner model measures unpacked inputs
                packing = object.__getattribute__(self, "__dict__")["packing"]
                return lambda flat: _call_unpacked(inner.activation_bytes, packing, flat)
            return getattr(inner, name)


def _call_unpacked(fn, packing: InputPacking, flat: torch.Tensor):
    args = packing.call_args(packing.unpack(flat))
    return fn(**args) if isinstance(args, dict) else fn(*args)


__all__ = ["InputPacking", "PackedModel", "is_multi_input"]
