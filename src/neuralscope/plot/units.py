"""Bar and line charts of a layer's units, for activation results: the units of one
example as sorted, labelled bars (the largest ``top`` of them, the rest counted in the
title), and chosen units as lines across examples or training steps.

Both take ``ax=None`` and return the axes they drew.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import new_axes


def unit_bars(values: np.ndarray, ax=None, *, top: int = 40, names: Sequence[str] | None = None,
              title: str = "", ylabel: str = "activation"):
    """One bar per unit, sorted by value (largest first), labelled with the unit's index or
    name; at most ``top`` bars (by ``|value|``), the title says how many were left out.

    Example:
        >>> ax = unit_bars(np.array([0.5, -1.0, 2.0]), names=["a", "b", "c"])
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['c', 'a', 'b']
    """
    v = np.asarray(values, dtype=float).ravel()
    names = list(names) if names is not None else [str(k) for k in range(v.size)]
    keep = np.argsort(-np.abs(np.nan_to_num(v)), kind="stable")[:top]
    order = keep[np.argsort(-np.nan_to_num(v[keep], nan=-np.inf), kind="stable")]
    ax = ax or new_axes((min(2.5 + 0.22 * len(order), 12), 3.6))
    colours = np.where(v[order] >= 0, "#4c72b0", "#c44e52")
    ax.bar(np.arange(len(order)), np.nan_to_num(v[order]), color=colours, width=0.8)
    ax.axhline(0, color="0.4", lw=0.6)
    rotate = len(order) > 12 or max((len(names[k]) for k in order), default=0) > 4
    ax.set_xticks(np.arange(len(order)), [names[k] for k in order], rotation=90 if rotate else 0, fontsize=7)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_xlabel("unit (sorted by activation)")
    ax.set_ylabel(ylabel)
    left = v.size - len(order)
    ax.set_title(title + (f" (the {len(order)} largest |values| of {v.size} units)" if left else ""), fontsize=10)
    return ax


def unit_lines(values: np.ndarray, ax=None, *, units: Sequence[int] | None = None, top: int = 8,
               x: Sequence[float] | None = None, xlabel: str = "example", title: str = "",
               names: Sequence[str] | None = None):
    """Chosen units (default: the ``top`` with the largest variance) as lines over the
    columns of ``values`` ``(units, examples or steps)``, with a legend naming each unit.

    Example:
        >>> ax = unit_lines(np.arange(12.0).reshape(3, 4) ** 2, top=2)
        >>> [line.get_label() for line in ax.lines[:2]]
        ['unit 2', 'unit 1']
    """
    v = np.asarray(values, dtype=float)
    if units is None:
        units = np.argsort(-np.nan_to_num(v.var(1)), kind="stable")[:top]
    xs = np.arange(v.shape[1]) if x is None else np.asarray(x, dtype=float)
    names = list(names) if names is not None else [f"unit {k}" for k in range(v.shape[0])]
    ax = ax or new_axes((8, 3.8))
    for k in units:
        ax.plot(xs, v[k], lw=1.2, marker="o" if v.shape[1] <= 30 else None, ms=3, label=names[k])
    ax.axhline(0, color="0.4", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("activation")
    ax.legend(fontsize=7, ncols=2 if len(units) > 6 else 1, loc="best", frameon=False)
    ax.set_title(title, fontsize=10)
    return ax


__all__ = ["unit_bars", "unit_lines"]
