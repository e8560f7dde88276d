"""Directions in weight space: filter-normalised random directions (Li et al. 2018) and the
straight line between two sets of weights.

A direction is a ``dict`` from parameter name to a tensor of that parameter's shape, on the
parameter's device and dtype, the same structure :func:`torch.func.functional_call` takes.
Only floating-point parameters take part; the model itself is never touched.

Filter normalisation (Li, Xu, Taylor, Studer, Goldstein, *Visualizing the Loss Landscape of
Neural Nets*, NeurIPS 2018, Sec. 4): draw ``d ~ N(0, I)`` of the weights' shape, then scale
each filter ``d_i`` (a slice along the first dimension: a conv filter, a row of a linear
layer) to the norm of the matching weight filter, ``d_i <- d_i * ||w_i|| / ||d_i||``. That
removes the scale invariance of ReLU networks, so that landscapes of different networks can
be compared. Parameters with one dimension or none (biases, BatchNorm) get a zero direction
(``ignore="biasbn"``, what the paper's experiments use) or a copy of themselves
(``ignore=None``, the reference code's default).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InputShapeError

Direction = dict[str, torch.Tensor]

__all__ = [
    "Direction",
    "difference",
    "filter_normalize",
    "flatten",
    "random_direction",
    "state_of",
    "unflatten",
    "weights_of",
]


def weights_of(model: nn.Module) -> Direction:
    """The model's floating-point parameters, detached (views, not copies: never write to them)."""
    return {n: p.detach() for n, p in model.named_parameters() if p.is_floating_point()}


def filter_normalize(direction: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor],
                     ignore: str | None = "biasbn") -> Direction:
    """Scale every filter of ``direction`` to the norm of the same filter of ``weights``.

    Example:
        >>> w = {"conv": torch.ones(2, 3)}
        >>> d = filter_normalize({"conv": torch.tensor([[3.0, 0, 4], [0, 1, 0]])}, w)
        >>> d["conv"].norm(dim=1)  # each row now has the norm of its weight row, sqrt(3)
        tensor([1.7321, 1.7321])
    """
    if ignore not in ("biasbn", None):
        raise InputShapeError(f"ignore must be 'biasbn' or None, not {ignore!r}.")
    out: Direction = {}
    for name, w in weights.items():
        d = direction[name].to(w.dtype)
        if w.dim() <= 1:
            out[name] = torch.zeros_like(w) if ignore == "biasbn" else w.clone()
            continue
        dn = d.reshape(d.shape[0], -1).norm(dim=1)
        wn = w.reshape(w.shape[0], -1).norm(dim=1)
        scale = (wn / (dn + 1e-10)).reshape(-1, *([1] * (w.dim() - 1)))
        out[name] = d * scale
    return out


def random_direction(weights: Mapping[str, torch.Tensor], *, seed: int = 0, norm: str | None = "filter",
                     ignore: str | None = "biasbn") -> Direction:
    """A random Gaussian direction, filter-normalised to ``weights`` (``norm="filter"``),
    scaled to the norm of all weights together (``norm="model"``) or raw (``norm=None``).

    The draw happens on the CPU with its own generator, so a seed gives the same direction on
    every device.

    Example:
        >>> w = {"fc.weight": torch.ones(4, 3), "fc.bias": torch.ones(4)}
        >>> d = random_direction(w, seed=1)
        >>> torch.allclose(d["fc.weight"].norm(dim=1), torch.full((4,), 3 ** 0.5)), d["fc.bias"].abs().sum().item()
        (True, 0.0)
    """
    g = torch.Generator().manual_seed(int(seed))
    raw = {n: torch.randn(w.shape, generator=g, dtype=torch.float64).to(w.device, w.dtype)
           for n, w in weights.items()}
    if norm == "filter":
        return filter_normalize(raw, weights, ignore)
    if norm == "model":
        scale = flatten(weights).norm() / (flatten(raw).norm() + 1e-10)
        return {n: d * scale for n, d in raw.items()}
    if norm is None:
        return raw
    raise InputShapeError(f"norm must be 'filter', 'model' or None, not {norm!r}.")


def state_of(obj: Any, names: Mapping[str, torch.Tensor] | None = None) -> Direction:
    """Floating-point weights of a module, a state_dict or a ``torch.save`` file, restricted to
    (and checked against) ``names`` when given."""
    from ..plot.animation import _state

    state = weights_of(obj) if isinstance(obj, nn.Module) else {k: v.detach() for k, v in _state(obj).items()}
    if names is None:
        return {k: v for k, v in state.items() if v.is_floating_point()}
    missing = [n for n in names if n not in state]
    if missing:
        raise InputShapeError(f"The checkpoint has no parameter {missing[0]!r} ({len(missing)} missing); "
                              "pass weights of the same architecture.")
    out = {}
    for n, ref in names.items():
        t = state[n]
        if t.shape != ref.shape:
            raise InputShapeError(f"Parameter {n!r} has shape {tuple(t.shape)} in the checkpoint but "
                                  f"{tuple(ref.shape)} in the model; pass weights of the same architecture.")
        out[n] = t.to(ref.device, ref.dtype)
    return out


def difference(target: Mapping[str, torch.Tensor], origin: Mapping[str, torch.Tensor]) -> Direction:
    """``target - origin`` per parameter: moving 1 along it goes from ``origin`` to ``target``."""
    return {n: target[n] - o for n, o in origin.items()}


def flatten(tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """All tensors as one vector (in the dict's order)."""
    return torch.cat([t.reshape(-1) for t in tensors.values()])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Direction:
    """Split ``vector`` back into tensors shaped like ``like``."""
    out, i = {}, 0
    for n, t in like.items():
        out[n] = vector[i:i + t.numel()].reshape(t.shape).to(t.dtype)
        i += t.numel()
    return out
