"""The one table of nonlinearities and what a dead or saturated unit means after each.

Tracking (``run.watch``'s ``activations/dead/<layer>``, the Keras callback, the run's
diagnostics) and ``inspect.dead_units`` all look a layer's nonlinearity up here, so "dead
unit" means one thing everywhere. A unit is dimension 1 of a layer's output (a convolution
channel, a dense feature).

* **dead** (the ReLU family): the unit's output is never above the threshold (0) for any
  example and position, so (for ReLU, exactly; for its smooth and leaky relatives, nearly)
  no gradient flows back through it and it cannot recover.
* **saturated** (bounded nonlinearities): the output sits within ``eps`` of a bound, where
  the derivative vanishes (sigmoid and tanh: ``1 - eps`` from their limits).

Softplus (``log(1 + e^x)``) is **saturating at its lower bound 0, not dead-able**: its output
is positive for every finite input, so "never above 0" can never hold and a dead count
would read 0% by construction; but an output near 0 means ``x`` far below 0, where its
derivative ``sigmoid(x) = 1 - e^-softplus(x)`` is below ``eps`` too: the unit is stuck exactly
as a saturated sigmoid is. So Softplus units are reported as saturated (output <= ``eps``),
and a Softplus layer gets no ``activations/dead`` series in tracking.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Nonlinearity", "NONLINEARITIES", "nonlinearity", "dead_mask", "saturated_mask"]


@dataclass(frozen=True)
class Nonlinearity:
    """One row of the table: ``names`` (lowercase, as ``Adapter.activation_of`` gives them
    and as PyTorch's class names read in lowercase), whether units ``die`` (never above
    0), and the ``bounds`` where they saturate (``None``: never; a ``None`` bound: that
    side is open)."""

    names: tuple[str, ...]
    dies: bool
    bounds: tuple[float | None, float | None] | None = None

    @property
    def name(self) -> str:
        return self.names[0]


NONLINEARITIES: tuple[Nonlinearity, ...] = (
    Nonlinearity(("relu",), dies=True),
    Nonlinearity(("relu6",), dies=True),
    Nonlinearity(("leaky_relu", "leakyrelu"), dies=True),
    Nonlinearity(("prelu",), dies=True),
    Nonlinearity(("rrelu",), dies=True),
    Nonlinearity(("elu",), dies=True),
    Nonlinearity(("selu",), dies=True),
    Nonlinearity(("celu",), dies=True),
    Nonlinearity(("gelu",), dies=True),
    Nonlinearity(("silu", "swish"), dies=True),
    Nonlinearity(("mish",), dies=True),
    Nonlinearity(("hardswish", "hard_swish", "hard_silu"), dies=True),
    Nonlinearity(("softplus",), dies=False, bounds=(0.0, None)),
    Nonlinearity(("sigmoid",), dies=False, bounds=(0.0, 1.0)),
    Nonlinearity(("hardsigmoid", "hard_sigmoid"), dies=False, bounds=(0.0, 1.0)),
    Nonlinearity(("tanh",), dies=False, bounds=(-1.0, 1.0)),
    Nonlinearity(("softsign",), dies=False, bounds=(-1.0, 1.0)),
    Nonlinearity(("hardtanh", "hard_tanh"), dies=False, bounds=(-1.0, 1.0)),
)

_BY_NAME = {n: row for row in NONLINEARITIES for n in row.names}


def nonlinearity(layer: Any = None, kind: str | None = None) -> Nonlinearity | None:
    """The row of ``kind`` (a name such as ``"relu"``, as ``Adapter.activation_of`` gives it)
    or, without it, of ``layer`` (a PyTorch activation module, looked up by its class name);
    ``None`` for anything else. A ``Hardtanh`` module's row carries its own bounds.

    Example:
        >>> import torch
        >>> nonlinearity(torch.nn.ReLU()).dies, nonlinearity(kind="softplus").bounds
        (True, (0.0, None))
        >>> nonlinearity(torch.nn.Linear(2, 2)) is None
        True
    """
    if kind is None and layer is not None:
        kind = type(layer).__name__
    row = _BY_NAME.get(kind.lower()) if isinstance(kind, str) else None
    if row is not None and row.name == "hardtanh" and hasattr(layer, "min_val"):
        row = Nonlinearity(row.names, False, (float(layer.min_val), float(layer.max_val)))
    return row


def _units_first(t):
    """``t`` (batch, units, ...) as (units, everything else); a 1-D ``t`` is one unit per value."""
    if t.dim() == 1:
        t = t[:, None]
    return t.transpose(0, 1).reshape(t.shape[1], -1)


def dead_mask(row: Nonlinearity | None, t, threshold: float = 0.0):
    """Per unit (dimension 1 of ``t``, a torch tensor): whether it is never above
    ``threshold`` in ``t`` (NaN is not "at or below": a unit full of NaN is broken, not
    dead); ``None`` when ``row``'s units do not die."""
    if row is None or not row.dies:
        return None
    return (_units_first(t) <= threshold).all(dim=1)


def saturated_mask(row: Nonlinearity | None, t, eps: float):
    """Elementwise: where ``t`` lies within ``eps`` of ``row``'s bounds; ``None`` when
    ``row`` does not saturate."""
    if row is None or row.bounds is None:
        return None
    lo, hi = row.bounds
    out = None
    if lo is not None:
        out = t <= lo + eps
    if hi is not None:
        upper = t >= hi - eps
        out = upper if out is None else out | upper
    return out
