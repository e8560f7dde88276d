"""Activation functions themselves: their curves and their derivatives.

Derivatives come from autograd on a dense grid, so any callable works (``torch.nn``
modules, ``torch.nn.functional`` functions, lambdas).

Example:
    >>> import torch
    >>> f = activation_functions(["relu", "tanh", torch.sigmoid])
    >>> f.names
    ['relu', 'tanh', 'sigmoid']
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LayerNotFoundError
from ..result import Result

BUILTIN: dict[str, Callable] = {
    "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "elu": F.elu, "selu": F.selu,
    "gelu": F.gelu, "silu": F.silu, "mish": F.mish, "softplus": F.softplus, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "hardtanh": F.hardtanh, "hardswish": F.hardswish, "relu6": F.relu6,
    "softsign": F.softsign,
}


class ActivationFunctions(Result):
    """Values ``y[i]`` and derivatives ``dy[i]`` of each function ``names[i]`` on grid ``x``."""

    kind = "activation_functions"
    schema = {"kind": "str", "x": "float[n]", "functions": [{"name": "str", "y": "float[n]", "dy": "float[n]"}]}

    def __init__(self, names, x, y, dy):
        self.names, self.x, self.y, self.dy = list(names), x, y, dy

    def to_dict(self) -> dict:
        return {"kind": self.kind, "x": self.x, "functions": [
            {"name": n, "y": y, "dy": d} for n, y, d in zip(self.names, self.y, self.dy)]}

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
        axes = np.atleast_1d(ax)
        for i, n in enumerate(self.names):
            color = f"C{i % 10}"
            axes[0].plot(self.x, self.y[i], label=n, color=color, lw=1.8)
            if len(axes) > 1:
                axes[1].plot(self.x, self.dy[i], label=n, color=color, lw=1.8)
        titles = ("f(x)", "f\u2032(x) (autograd)")
        for a, t in zip(axes, titles):
            a.axhline(0, color="0.5", lw=0.6)
            a.axvline(0, color="0.5", lw=0.6)
            a.set_xlabel("x")
            a.set_ylabel(t)
            a.set_title(t)
            a.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        return ax


def activation_functions(functions: Sequence[str | Callable] = ("relu", "gelu", "silu", "sigmoid", "tanh"),
                         *, x_range: tuple[float, float] = (-5.0, 5.0), points: int = 1001) -> ActivationFunctions:
    """Evaluate activation functions and their derivatives on ``points`` values in
    ``x_range``. Names: ``relu leaky_relu elu selu gelu silu mish softplus sigmoid tanh
    hardtanh hardswish relu6 softsign``; or any callable tensor -> tensor.

    Example:
        >>> f = activation_functions(["sigmoid"], x_range=(0, 0), points=1)
        >>> round(float(f.dy[0][0]), 4)  # sigmoid'(0) = 1/4
        0.25
    """
    x = torch.linspace(x_range[0], x_range[1], points, dtype=torch.float64)
    names, ys, dys = [], [], []
    for f in functions:
        if isinstance(f, str):
            if f not in BUILTIN:
                raise LayerNotFoundError(f, list(BUILTIN), what="activation function")
            name, fn = f, BUILTIN[f]
        elif callable(f):
            name = getattr(f, "__name__", None) or type(f).__name__
            fn = f
        else:
            raise TypeError(f"An activation function must be a name or a callable, not {type(f).__name__}.")
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        (dy,) = torch.autograd.grad(y.sum(), xi, allow_unused=True)
        dy = torch.zeros_like(x) if dy is None else dy
        names.append(name)
        ys.append(y.detach().numpy())
        dys.append(dy.detach().numpy())
    return ActivationFunctions(names, x.numpy(), np.array(ys), np.array(dys))


__all__ = ["ActivationFunctions", "activation_functions", "BUILTIN"]
