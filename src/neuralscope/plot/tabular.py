"""The pictures shap users know, drawn from an :class:`~neuralscope.attribution.result.Attribution`
of tabular inputs ``(rows, features)``: global importance (:func:`bar`), the beeswarm summary
(:func:`beeswarm`), a dependence plot with an automatic interaction colour
(:func:`dependence`), a waterfall (:func:`waterfall`) and a force-style bar (:func:`force`)
for one row, and a decision plot for many rows (:func:`decision`).

Every function takes ``ax=None`` and returns the axes it drew. Only the ``max_display``
most important features get a row of their own; the rest are folded into one row that says
how many ("27 other features"), so labels never overlap. Values are signed and drawn on a
diverging scale (red pushes the output up, blue down) centred at zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputShapeError
from . import new_axes

POSITIVE, NEGATIVE = "#d6204e", "#1e88e5"  # shap's colours: red raises the output, blue lowers it
VALUE_CMAP = "coolwarm"  # feature value, low (blue) to high (red)


@dataclass
class Table:
    """The numbers every tabular picture reads: ``values`` ``(B, M)``, ``data`` (each
    feature's value per row, ``(B, M)``), ``names``, ``base`` (``E[f(background)]`` per row,
    0 without one) and ``output`` (``base + sum(values)``)."""

    values: np.ndarray
    data: np.ndarray | None
    names: list[str]
    base: np.ndarray
    output: np.ndarray
    has_base: bool

    @classmethod
    def of(cls, res: Any) -> "Table":
        v = np.asarray(res.attributions, dtype=float)
        if v.ndim != 2:
            raise InputShapeError(f"Tabular plots need attributions of shape (rows, features), got {v.shape}; "
                                  "for signals use neuralscope.plot.signal.")
        names = list(res.feature_names) if res.feature_names is not None else [f"x{k}" for k in range(v.shape[1])]
        data = res.extras.get("feature_values")
        if data is None and res.inputs is not None and np.ndim(res.inputs) == 2:
            data = res.inputs
        base = res.metrics.get("expected_value")
        has_base = base is not None
        base = np.zeros(v.shape[0]) if base is None else np.broadcast_to(np.asarray(base, dtype=float), v.shape[0])
        data = None if data is None else np.asarray(data, dtype=float)
        return cls(v, data, names, base, base + v.sum(1), has_base)

    def order(self) -> np.ndarray:
        """Features by mean ``|value|``, most important first."""
        return np.argsort(-np.abs(self.values).mean(0), kind="stable")


def _split(order: np.ndarray, max_display: int) -> tuple[np.ndarray, np.ndarray]:
    """The features shown on their own and those folded into one "N other features" row."""
    if len(order) <= max_display:
        return order, order[:0]
    return order[:max_display - 1], order[max_display - 1:]


def _others(n: int) -> str:
    return f"{n} other feature{'s' if n != 1 else ''}"


def _height(rows: int) -> float:
    return min(0.5 + 0.34 * rows, 9.5) + 0.9


def bar(res: Any, ax=None, max_display: int = 20):
    """Global importance: mean ``|value|`` per feature over all rows, largest on top.

    Example:
        >>> import torch
        >>> from neuralscope.attribution import explain
        >>> net = torch.nn.Linear(5, 2)
        >>> r = explain(net, torch.randn(20, 5), target=0, method="exact_shapley", background=torch.randn(8, 5))
        >>> len(bar(r, max_display=3).get_yticklabels())
        3
    """
    t = Table.of(res)
    shown, folded = _split(t.order(), max_display)
    imp = np.abs(t.values).mean(0)
    heights = list(imp[shown]) + ([float(np.abs(t.values[:, folded].sum(1)).mean())] if folded.size else [])
    labels = [t.names[k] for k in shown] + ([_others(folded.size)] if folded.size else [])
    ax = ax or new_axes((7.5, _height(len(labels))))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, heights, color=POSITIVE, height=0.7)
    for yi, h in zip(y, heights):
        ax.text(h, yi, f" {h:.3g}", va="center", fontsize=8, color=POSITIVE)
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_xlabel(f"mean |{_value_word(res)}| (average impact on the output)")
    ax.set_xlim(0, max(heights) * 1.18 if heights else 1)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    _clean(ax)
    ax.set_title(f"Global importance: {res.method} over {t.values.shape[0]} rows", fontsize=10)
    return ax


def beeswarm(res: Any, ax=None, max_display: int = 20, max_points: int = 2000, seed: int = 0):
    """The summary plot: one row per feature (most important on top), one dot per example at
    its value, stacked where dots crowd, coloured by the feature's value (low blue to high
    red, by percentile so outliers do not wash the colours out).

    Example:
        >>> import numpy as np
        >>> from neuralscope.attribution.result import Attribution
        >>> rng = np.random.default_rng(0)
        >>> r = Attribution(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), "kernel_shap", feature_names=list("abcd"))
        >>> beeswarm(r).get_title()
        'kernel_shap: 50 rows'
    """
    import matplotlib

    t = Table.of(res)
    shown, folded = _split(t.order(), max_display)
    rows = t.values.shape[0]
    pick = np.random.default_rng(seed).permutation(rows)[:max_points] if rows > max_points else np.arange(rows)
    cols = [t.values[pick, k] for k in shown] + ([t.values[pick][:, folded].sum(1)] if folded.size else [])
    colour = [_scaled(t.data[pick, k]) if t.data is not None else None for k in shown] + ([None] if folded.size else [])
    labels = [t.names[k] for k in shown] + ([_others(folded.size)] if folded.size else [])
    ax = ax or new_axes((8, _height(len(labels))))
    cmap = matplotlib.colormaps[VALUE_CMAP]
    for r, (v, c) in enumerate(zip(cols, colour)):
        y = len(labels) - 1 - r + _swarm_offsets(v, 0.4)
        ax.scatter(v, y, s=9, c="#999999" if c is None else cmap(c), linewidths=0, alpha=0.85, rasterized=True)
    ax.axvline(0, color="#666", lw=0.8, zorder=0)
    ax.set_yticks(np.arange(len(labels))[::-1], labels, fontsize=9)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(f"{_value_word(res)} (impact on the output)")
    _clean(ax)
    if t.data is not None:
        sm = matplotlib.cm.ScalarMappable(cmap=cmap)
        cb = ax.figure.colorbar(sm, ax=ax, fraction=0.04, pad=0.02, aspect=40, ticks=[0, 1])
        cb.ax.set_yticklabels(["low", "high"])
        cb.set_label("feature value", labelpad=-8)
        cb.outline.set_visible(False)
    note = f" (a sample of {len(pick)})" if len(pick) < rows else ""
    ax.set_title(f"{res.method}: {rows} rows{note}", fontsize=10)
    return ax


def _scaled(v: np.ndarray) -> np.ndarray:
    """Values to [0, 1] by their 5th and 95th percentiles (clipped)."""
    lo, hi = np.nanpercentile(v, [5, 95])
    if hi <= lo:
        lo, hi = np.nanmin(v), np.nanmax(v)
    return np.clip((v - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def _swarm_offsets(v: np.ndarray, width: float, bins: int = 100) -> np.ndarray:
    """Vertical offsets that stack dots falling in the same horizontal bin symmetrically
    around the row (a beeswarm), scaled so the fullest bin spans ``width``."""
    if v.size == 0:
        return v
    lo, hi = float(v.min()), float(v.max())
    b = np.zeros(v.size, dtype=int) if hi <= lo else np.minimum(((v - lo) / (hi - lo) * bins).astype(int), bins - 1)
    order = np.argsort(b, kind="stable")
    rank = np.empty(v.size, dtype=int)
    counts = np.bincount(b, minlength=bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(v.size) - starts[b[order]]
    side = np.where(rank % 2 == 0, 1, -1) * ((rank + 1) // 2)
    scale = width / max(1, counts.max() // 2)
    return side * min(scale, 0.08)


def dependence(res: Any, feature: int | str, ax=None, interaction: int | str | None = "auto"):
    """A feature's value (x) against its attribution (y) for every row, coloured by the
    feature it interacts with most (``"auto"``: the one whose value best explains the
    spread of the attributions at similar values of ``feature``), or by ``interaction``.

    Example:
        >>> import numpy as np
        >>> from neuralscope.attribution.result import Attribution
        >>> rng = np.random.default_rng(0)
        >>> r = Attribution(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), "kernel_shap", feature_names=list("abcd"))
        >>> dependence(r, "a", interaction="c").get_title()
        'Dependence: a (colour: c)'
    """
    import matplotlib

    t = Table.of(res)
    if t.data is None:
        raise InputShapeError("A dependence plot needs the feature values; the result holds no tabular inputs.")
    k = _feature_index(t, feature)
    j = _interaction_index(t, k) if interaction == "auto" else (
        None if interaction is None else _feature_index(t, interaction))
    ax = ax or new_axes((6.5, 4.5))
    x, y = t.data[:, k], t.values[:, k]
    if j is None:
        ax.scatter(x, y, s=10, c=POSITIVE, linewidths=0, alpha=0.8)
    else:
        cmap = matplotlib.colormaps[VALUE_CMAP]
        ax.scatter(x, y, s=10, c=cmap(_scaled(t.data[:, j])), linewidths=0, alpha=0.85)
        cb = ax.figure.colorbar(matplotlib.cm.ScalarMappable(cmap=cmap), ax=ax, fraction=0.05, pad=0.02, ticks=[0, 1])
        cb.ax.set_yticklabels(["low", "high"])
        cb.set_label(t.names[j])
    ax.axhline(0, color="#666", lw=0.8, zorder=0)
    ax.set_xlabel(t.names[k])
    ax.set_ylabel(f"{_value_word(res)} of {t.names[k]}")
    ax.set_title(f"Dependence: {t.names[k]}" + (f" (colour: {t.names[j]})" if j is not None else ""), fontsize=10)
    _clean(ax, left=True)
    return ax


def _feature_index(t: Table, feature: int | str) -> int:
    if isinstance(feature, str):
        if feature not in t.names:
            import difflib

            close = difflib.get_close_matches(feature, t.names, n=3)
            raise InputShapeError(f"No feature named {feature!r}" + (f"; did you mean {', '.join(map(repr, close))}?"
                                                                     if close else "; see result.feature_names."))
        return t.names.index(feature)
    if not 0 <= int(feature) < len(t.names):
        raise InputShapeError(f"Feature index {feature} is out of range 0..{len(t.names) - 1}.")
    return int(feature)


def _interaction_index(t: Table, k: int, bins: int = 10) -> int | None:
    """The feature whose value correlates most with ``k``'s attributions within bins of
    ``k``'s value (the residual spread a single curve cannot explain), after removing the
    part of each feature that ``k``'s value predicts linearly (so a copy of ``k`` is not
    chosen)."""
    if t.values.shape[1] < 2 or t.values.shape[0] < 4:
        return None
    edges = np.unique(np.quantile(t.data[:, k], np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, t.data[:, k], side="right") - 1, 0, max(len(edges) - 2, 0))
    score = np.zeros(t.values.shape[1])
    for b in np.unique(which):
        sel = which == b
        if sel.sum() < 3:
            continue
        y = t.values[sel, k] - t.values[sel, k].mean()
        d = t.data[sel] - t.data[sel].mean(0)
        dk = d[:, k]
        d = d - np.outer(dk, (dk @ d) / (dk @ dk + 1e-12))  # what k's own value does not explain
        den = np.sqrt((d ** 2).sum(0) * (y ** 2).sum()) + 1e-12
        score += np.abs((d * y[:, None]).sum(0) / den)
    score[k] = -1
    return int(np.argmax(score)) if score.max() > 0 else None


def waterfall(res: Any, index: int = 0, ax=None, max_display: int = 10):
    """One row: from the expected output ``E[f(background)]`` at the bottom, each feature's
    value as a step (red up, blue down; largest at the top, the rest folded), ending at the
    row's output ``f(x)``. Feature values are shown beside the names.

    Example:
        >>> import numpy as np
        >>> from neuralscope.attribution.result import Attribution
        >>> rng = np.random.default_rng(0)
        >>> r = Attribution(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), "kernel_shap", feature_names=list("abcd"))
        >>> len(waterfall(r, 3, max_display=3).get_yticklabels())
        3
    """
    t = Table.of(res)
    _check_row(t, index)
    v = t.values[index]
    shown, folded = _split(np.argsort(-np.abs(v), kind="stable"), max_display)
    steps = list(v[shown]) + ([float(v[folded].sum())] if folded.size else [])
    labels = [_with_value(t, index, k) for k in shown] + ([_others(folded.size)] if folded.size else [])
    steps, labels = steps[::-1], labels[::-1]  # smallest at the bottom, drawn first from the base
    ax = ax or new_axes((8, _height(len(labels)) + 0.3))
    left = t.base[index]
    span = max(np.abs(steps).sum(), 1e-12)
    for y, s in enumerate(steps):
        colour = POSITIVE if s >= 0 else NEGATIVE
        ax.barh(y, s, left=left, color=colour, height=0.65)
        inside = abs(s) > 0.12 * span
        ax.text(left + s / 2 if inside else max(left, left + s) + 0.01 * span, y, f"{s:+.3g}", va="center",
                ha="center" if inside else "left", fontsize=8, color="white" if inside else colour)
        left += s
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.axvline(t.base[index], color="#888", lw=0.8, ls="--")
    ax.axvline(t.output[index], color="#333", lw=0.8, ls="--")
    base_word = "E[f(background)]" if t.has_base else "0"
    ax.set_xlabel(f"output: {base_word} = {t.base[index]:.3g}  ->  f(x) = {t.output[index]:.3g}")
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.margins(x=0.12)
    _clean(ax)
    ax.set_title(f"{res.method}, row {index}: how each feature moves the output", fontsize=10)
    return ax


def _with_value(t: Table, row: int, k: int) -> str:
    if t.data is None:
        return t.names[k]
    return f"{t.names[k]} = {t.data[row, k]:.3g}"


def _check_row(t: Table, index: int) -> None:
    if not 0 <= int(index) < t.values.shape[0]:
        raise InputShapeError(f"Row {index} is out of range: the result has {t.values.shape[0]} rows.")


def force(res: Any, index: int = 0, ax=None):
    """One row as a force-style bar: the features pushing the output up (red, from the
    left) and down (blue, from the right) meet at ``f(x)``. Segments are labelled with
    ``name = value`` below the bar, largest first, on two staggered lines; a label that would
    overlap another is left out, so labels never overlap.

    Example:
        >>> import numpy as np
        >>> from neuralscope.attribution.result import Attribution
        >>> rng = np.random.default_rng(0)
        >>> r = Attribution(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), "kernel_shap", feature_names=list("abcd"))
        >>> force(r, 0).get_title()
        'kernel_shap, row 0'
    """
    t = Table.of(res)
    _check_row(t, index)
    v = t.values[index]
    ax = ax or new_axes((10, 2.6))
    pos = [k for k in np.argsort(-v) if v[k] > 0]
    neg = [k for k in np.argsort(v) if v[k] < 0]
    fx = t.output[index]
    centres, x = {}, fx - v[pos].sum()
    for k in pos[::-1]:  # the largest push ends at f(x)
        _force_segment(ax, x, v[k], POSITIVE)
        centres[k], x = x + v[k] / 2, x + v[k]
    x = fx
    for k in neg:
        _force_segment(ax, x, -v[k], NEGATIVE)
        centres[k], x = x - v[k] / 2, x - v[k]
    ax.axvline(fx, color="#222", lw=1.2)
    ax.text(fx, 0.4, f"f(x) = {fx:.3g}", ha="center", va="bottom", fontsize=10, weight="bold")
    if t.has_base:
        ax.axvline(t.base[index], color="#888", lw=0.8, ls="--")
        ax.text(t.base[index], 0.4, f"E[f] = {t.base[index]:.3g}", ha="center", va="bottom", fontsize=8,
                color="#555")
    ax.set_ylim(-1.25, 0.75)
    ax.set_yticks([])
    ax.margins(x=0.05)
    ax.set_xlabel("output (red pushes higher, blue lower)")
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    _force_labels(ax, t, index, centres)
    ax.set_title(f"{res.method}, row {index}", fontsize=10, pad=4)
    return ax


def _force_segment(ax, start, width, colour):
    ax.barh(0, width, left=start, height=0.5, color=colour, edgecolor="white", linewidth=0.8)


def _force_labels(ax, t: Table, row: int, centres: dict) -> None:
    """Label the segments from the largest down; drop a label that would overlap one
    already placed on both staggered lines."""
    renderer = ax.figure.canvas.get_renderer()
    placed: list = []
    for k in sorted(centres, key=lambda k: -abs(t.values[row, k])):
        colour = POSITIVE if t.values[row, k] > 0 else NEGATIVE
        for y in (-0.32, -0.72):
            txt = ax.text(centres[k], y, _with_value(t, row, k), ha="center", va="top", fontsize=8, color=colour)
            box = txt.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(p) for p in placed) and _inside(ax, box, renderer):
                placed.append(box)
                break
            txt.remove()


def _inside(ax, box, renderer) -> bool:
    ab = ax.get_window_extent(renderer)
    return box.x0 >= ab.x0 - 2 and box.x1 <= ab.x1 + 2


def decision(res: Any, ax=None, max_display: int = 20, max_rows: int = 200, highlight: Any = None):
    """Many rows as lines: each starts at the expected output at the bottom and adds the
    features' values from the least important (bottom) to the most important (top), ending
    at its output; lines are coloured by their output. ``max_rows`` rows are drawn (evenly
    spread over the result); ``highlight`` rows are drawn thick and dashed.

    Example:
        >>> import numpy as np
        >>> from neuralscope.attribution.result import Attribution
        >>> rng = np.random.default_rng(0)
        >>> r = Attribution(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), "kernel_shap", feature_names=list("abcd"))
        >>> decision(r, max_rows=10).get_title()
        'Decision plot: kernel_shap, 10 of 50 rows'
    """
    import matplotlib

    t = Table.of(res)
    shown, folded = _split(t.order(), max_display)
    rows = np.unique(np.linspace(0, t.values.shape[0] - 1, min(max_rows, t.values.shape[0])).round().astype(int))
    steps = [t.values[:, folded].sum(1)] if folded.size else []
    steps += [t.values[:, k] for k in shown[::-1]]
    labels = ([_others(folded.size)] if folded.size else []) + [t.names[k] for k in shown[::-1]]
    path = t.base[:, None] + np.cumsum(np.stack(steps, 1), 1)
    path = np.concatenate([t.base[:, None], path], 1)
    ax = ax or new_axes((8, _height(len(labels)) + 0.4))
    norm = matplotlib.colors.Normalize(*np.percentile(t.output, [2, 98]))
    cmap = matplotlib.colormaps[VALUE_CMAP]
    ys = np.arange(len(labels) + 1) - 0.5
    for r in rows:
        ax.plot(path[r], ys, color=cmap(norm(t.output[r])), lw=0.9, alpha=0.6 if len(rows) > 20 else 0.9)
    for r in np.atleast_1d(highlight) if highlight is not None else []:
        ax.plot(path[int(r)], ys, color="#111", lw=2, ls="--")
    ax.axvline(t.base.mean(), color="#888", lw=0.8, ls="--")
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.set_ylim(-0.6, len(labels) - 0.2)
    ax.set_xlabel("output (cumulative, from E[f(background)] at the bottom)" if t.has_base else "cumulative sum")
    cb = ax.figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04, pad=0.02)
    cb.set_label("output f(x)")
    note = f"{len(rows)} of {t.values.shape[0]} rows" if len(rows) < t.values.shape[0] else f"{len(rows)} rows"
    ax.set_title(f"Decision plot: {res.method}, {note}", fontsize=10)
    _clean(ax, left=True)
    return ax


def summary(res: Any, ax=None, max_display: int = 20):
    """The default picture of a tabular result: the beeswarm for many rows, the waterfall
    for one."""
    return waterfall(res, 0, ax=ax) if len(res) == 1 else beeswarm(res, ax=ax, max_display=max_display)


def _value_word(res: Any) -> str:
    return "SHAP value" if "shap" in res.method else "attribution"


def _clean(ax, left: bool = False) -> None:
    for s in ("right", "top") + (() if left else ("left",)):
        ax.spines[s].set_visible(False)
    ax.tick_params(axis="y", length=0)


#: the names :mod:`neuralscope` exports them under
importance_bar, dependence_plot, force_plot, decision_plot = bar, dependence, force, decision

__all__ = ["Table", "bar", "beeswarm", "dependence", "waterfall", "force", "decision", "summary", "importance_bar",
           "dependence_plot", "force_plot", "decision_plot"]
