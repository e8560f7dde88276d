"""Tabular options of :func:`~neuralscope.attribution.explain`, for every method:
``feature_names`` (one per column), ``groups`` (one-hot or other column groups attributed as
one feature) and ``background`` (a sample of training data that absent features take).

Shapley-type methods (KernelSHAP, LIME, exact Shapley) treat each group as one player and
average over the background rows; gradient methods sum their column attributions per group
(their attributions are additive) and take the background as a distribution of baselines:
GradientSHAP samples it, Integrated Gradients is averaged over up to ``n_baselines`` rows
(Erion et al. 2021's expected gradients by quadrature). Every tabular result reports
``expected_value`` (``E[f(background)]``) and ``additivity_error``
(``|sum(values) - (f(x) - E[f(background)])|``) per row. For signals, ``feature_names``
names the channels and ``sampling_rate`` (Hz) or ``time`` (one value per sample) set the
plots' time axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError, UnknownOptionError
from .base import Method, output_scores, prepare_inputs
from .result import Attribution
from .shapley import prepare_background

TABULAR_OPTIONS = ("feature_names", "groups", "background", "sampling_rate", "time")


@dataclass
class Columns:
    """How the columns of a tabular input map to the features of a result: ``labels[c]``
    = the feature of column ``c``; ``names`` one per feature; ``grouped`` whether any
    feature spans several columns."""

    labels: np.ndarray
    names: list[str]
    grouped: bool

    def values(self, x: np.ndarray) -> np.ndarray:
        """One value per feature and row, for colouring plots: the column's value, or for a
        group the position of its largest column (the category of a one-hot group)."""
        out = np.empty((x.shape[0], len(self.names)))
        for k in range(len(self.names)):
            cols = np.flatnonzero(self.labels == k)
            out[:, k] = x[:, cols[0]] if cols.size == 1 else np.argmax(x[:, cols], axis=1)
        return out

    def sum_columns(self, a: np.ndarray) -> np.ndarray:
        """Column attributions ``(B, F)`` summed per feature ``(B, M)``."""
        out = np.zeros((a.shape[0], len(self.names)), dtype=a.dtype)
        np.add.at(out.T, self.labels, a.T)
        return out


def columns(n: int, feature_names: Sequence[str] | None = None, groups: Any = None) -> Columns:
    """The :class:`Columns` of an input with ``n`` columns. ``groups``: a dict ``{name:
    [columns]}`` or a list of column lists (columns by index or by feature name); columns in
    no group stay features of their own.

    Example:
        >>> c = columns(5, ["age", "red", "green", "blue", "income"], groups={"colour": ["red", "green", "blue"]})
        >>> c.names, c.labels.tolist()
        (['age', 'colour', 'income'], [0, 1, 1, 1, 2])
    """
    names = _check_names(n, feature_names)
    if groups is None:
        return Columns(np.arange(n), names, False)
    items = list(groups.items()) if isinstance(groups, dict) else [(None, g) for g in groups]
    owner: dict[int, int] = {}
    for gi, (_, cols) in enumerate(items):
        for c in cols:
            idx = _column_index(c, names, n)
            if idx in owner:
                raise InputShapeError(f"Column {names[idx]!r} is in two groups; each column may belong to one group.")
            owner[idx] = gi
    labels, out_names, seen = np.empty(n, dtype=np.int64), [], {}
    for c in range(n):
        key = ("g", owner[c]) if c in owner else ("c", c)
        if key not in seen:
            seen[key] = len(out_names)
            gname = items[owner[c]][0] if c in owner else None
            out_names.append(str(gname) if gname is not None else
                             names[c] if c not in owner else "+".join(names[i] for i in sorted(owner) if owner[i] == owner[c]))
        labels[c] = seen[key]
    return Columns(labels, out_names, True)


def _check_names(n: int, feature_names: Sequence[str] | None) -> list[str]:
    if feature_names is None:
        return [f"x{k}" for k in range(n)]
    if isinstance(feature_names, str) or not hasattr(feature_names, "__len__"):
        raise InputShapeError(f"feature_names must be a list of {n} strings, not {type(feature_names).__name__}.")
    names = [str(f) for f in feature_names]
    if len(names) != n:
        raise InputShapeError(f"Got {len(names)} feature names for inputs with {n} columns; give one name per column.")
    return names


def _column_index(c: Any, names: list[str], n: int) -> int:
    if isinstance(c, str):
        if c not in names:
            raise InputShapeError(f"Group column {c!r} is not a feature name; the names are {', '.join(names[:8])}...")
        return names.index(c)
    if not (isinstance(c, (int, np.integer)) and 0 <= c < n):
        raise InputShapeError(f"Group column {c!r} is not a column index in 0..{n - 1}.")
    return int(c)


class BackgroundIntegratedGradients(Method):
    """Integrated Gradients averaged over a distribution of baselines (the rows of a
    background set; up to ``n_baselines`` of them, spread evenly): its values add up to
    ``f(x) - E[f(background)]`` (expected gradients, Erion et al. 2021, arXiv:1906.10670,
    with each path integrated by quadrature instead of one random point).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        >>> r = BackgroundIntegratedGradients(net, background=torch.randn(8, 4)).attribute(torch.randn(2, 4), 0)
        >>> bool(r.metrics["additivity_error"].max() < 1e-2)
        True
    """

    name = "integrated_gradients"
    paper = "Sundararajan et al. 2017, arXiv:1703.01365; Erion et al. 2021, arXiv:1906.10670"

    def __init__(self, model: nn.Module, background: Any = None, n_baselines: int = 16, steps: int = 32,
                 rule: str = "gausslegendre", memory_budget: int | None = None):
        super().__init__(model, background=background, n_baselines=n_baselines, steps=steps, rule=rule)
        self.background, self.n_baselines, self.steps, self.rule = background, n_baselines, steps, rule
        self.memory_budget = memory_budget

    def _attribute(self, x, target):
        from .gradient import integrate_gradients

        bg = prepare_background(x, self.background)
        pick = np.unique(np.linspace(0, bg.shape[0] - 1, min(self.n_baselines, bg.shape[0])).round().astype(int))
        out, fx = output_scores(self.model, x, target)
        total = torch.zeros_like(x, dtype=torch.float64)
        fb = torch.zeros(x.shape[0], dtype=torch.float64)
        for k in pick:
            b = bg[int(k)].expand_as(x)
            total += integrate_gradients(self.model, x, b, target, self.steps, self.rule, self.memory_budget,
                                         reference=out).double()
            fb += output_scores(self.model, b, target, rows=torch.arange(x.shape[0]))[1].double().cpu()
        attr = total / len(pick)
        expected = (fb / len(pick)).numpy()
        err = np.abs(attr.sum(1).cpu().numpy() - (fx.double().cpu().numpy() - expected))
        return attr.float(), {"expected_value": expected, "additivity_error": err, "baselines": len(pick)}, {
            "outputs": out}


def explain_tabular(model: nn.Module, inputs: Any, target: Any, method: str, *, layer: Any = None,
                    neuron: Any = None, **options) -> Attribution:
    """:func:`~neuralscope.attribution.explain` with the tabular options (see the module
    docstring) taken out, checked against the inputs, passed on where the method uses them,
    and applied to the result."""
    from .explain import ALIASES, METHODS, make_method

    if layer is not None or neuron is not None:
        raise InputShapeError("feature_names=, groups= and background= name and mask input features; "
                              "they do not combine with layer= or neuron=.")

    names, groups = options.pop("feature_names", None), options.pop("groups", None)
    when = {k: options.pop(k) for k in ("sampling_rate", "time") if k in options}
    _check_rows(inputs, names)
    x = prepare_inputs(model, inputs)
    if x.dim() != 2 and groups is not None:
        raise InputShapeError(f"groups= needs tabular inputs (batch, columns), got shape {tuple(x.shape)}.")
    cols = columns(x.shape[1], names, groups) if x.dim() == 2 else None
    if x.dim() != 2 and names is not None and len(names) != x.shape[1]:
        raise InputShapeError(f"Got {len(names)} feature names for inputs with {x.shape[1]} channels; give one per channel.")
    name = ALIASES.get(method, method)
    cls = METHODS.get(name)
    players = bool(getattr(cls, "players", False))
    if "background" in options:
        options = _route_background(name, cls, x, options)
    if players and cols is not None and cols.grouped:
        options["mask"] = torch.as_tensor(cols.labels)
    if name == "integrated_gradients" and "background" in options:
        res = BackgroundIntegratedGradients(model, **options).attribute(x, target)
    else:
        res = make_method(model, method, **options).attribute(x, target)
    res.extras.update(_time_extras(x, when))
    return finish(res, cols, names, players)


def _time_extras(x: torch.Tensor, when: dict) -> dict:
    """``sampling_rate``/``time`` of a signal, checked, for the plots' time axis."""
    if not when:
        return {}
    from ..plot.signal import time_axis

    if x.dim() != 3:
        raise InputShapeError(f"sampling_rate= and time= describe signals (batch, channels, length), "
                              f"not inputs of shape {tuple(x.shape)}.")
    time_axis(x.shape[-1], when.get("sampling_rate"), when.get("time"))
    out = {"sampling_rate": when.get("sampling_rate")}
    if when.get("time") is not None:
        out["time"] = np.asarray(when["time"], dtype=float)
    return out


def _check_rows(inputs: Any, names: Sequence[str] | None) -> None:
    """Name the first row and column holding NaN/Inf (tabular inputs)."""
    from ..errors import NonFiniteError

    a = np.asarray(inputs.detach().cpu() if torch.is_tensor(inputs) else inputs, dtype=float)
    if a.ndim != 2 or np.isfinite(a).all():
        return
    rows = np.flatnonzero(~np.isfinite(a).all(1))
    col = int(np.flatnonzero(~np.isfinite(a[rows[0]]))[0])
    label = repr(str(names[col])) if names is not None and len(names) == a.shape[1] else f"{col}"
    raise NonFiniteError(f"{len(rows)} input row(s) hold NaN/Inf, the first is row {int(rows[0])} in column {label}; "
                         "impute or drop them before explaining.")


def _route_background(name: str, cls: type | None, x: torch.Tensor, options: dict) -> dict:
    """Check the background against the inputs and hand it to the method under the name it uses."""
    options = dict(options)
    options["background"] = prepare_background(x, options["background"])
    if name == "gradient_shap":
        options["baselines"] = options.pop("background")
    elif name != "integrated_gradients" and (cls is None or "background" not in cls.accepted_options()):
        raise UnknownOptionError(
            f"Method {name!r} takes no background data; use kernel_shap, exact_shapley, lime, gradient_shap "
            "or integrated_gradients with background=, or a single baseline=.")
    return options


def finish(res: Attribution, cols: Columns | None, names: Sequence[str] | None, players: bool) -> Attribution:
    """Name the features of a result; per-feature values for grouped columns (the players'
    values, or column attributions summed per group); each feature's value per row."""
    if cols is None:
        res.feature_names = list(names) if names is not None else None
        return res
    inputs = np.asarray(res.inputs)
    if cols.grouped:
        coefs = res.extras.get("coefficients")
        a = np.stack(coefs).astype(np.float32) if players and coefs is not None else cols.sum_columns(res.attributions)
        res.extras["column_attributions"] = res.attributions
        res.extras["columns"] = cols.labels.tolist()
        res.attributions = a
    res.feature_names = cols.names
    res.extras["feature_values"] = cols.values(inputs)
    return res


__all__ = ["Columns", "columns", "explain_tabular", "finish", "BackgroundIntegratedGradients", "TABULAR_OPTIONS"]
