"""``neuralscope.curvature``: the Hessian of the loss at a model's weights, estimated from
Hessian-vector products (see :mod:`neuralscope.landscape.hessian` for the methods).

Per layer means the layer's own diagonal block of the Hessian: the second derivatives with
respect to that layer's parameters with every other weight held fixed.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..adapters.keras import is_keras_model, preserve_keras_state
from ..adapters.torch import preserve_model_state
from ..errors import InputShapeError, LayerNotFoundError
from ..progress import progress
from . import hessian
from .directions import Direction, flatten, weights_of
from .keras import KerasHessianOperator, KerasObjective, keras_layer_variables
from .objective import LossFn, make_objective
from .results import Curvature

METHODS = ("lanczos", "power")


def curvature(model: nn.Module, data: Any, loss_fn: LossFn | None = None, *, top_k: int = 1,
              method: str = "lanczos", trace: bool = True, density: bool = False, per_layer: bool = False,
              max_iter: int = 100, tol: float = 1e-3, trace_samples: int = 100, density_steps: int = 80,
              density_runs: int = 1, seed: int = 0, batch_size: int | None = None,
              layers: Sequence[str] | None = None, show_progress: bool | None = None,
              on_progress: Callable[[int], None] | None = None) -> Curvature:
    """Top Hessian eigenvalues, Hutchinson trace and (``density=True``) the eigenvalue density
    of ``loss_fn(model(x), y)`` averaged over ``data``, for the whole model and (``per_layer``)
    for each layer's block. The model runs in eval mode and is left exactly as found.

    ``method="lanczos"`` (default) or ``"power"`` (power iteration with deflation, as
    PyHessian); both stop when the estimate changes by less than ``tol`` (relative).
    ``on_progress(products)`` is called after every Hessian-vector product.

    Example:
        >>> import torch, neuralscope
        >>> model = torch.nn.Linear(3, 1, bias=False)
        >>> x = torch.eye(3) * torch.tensor([[1.0], [2.0], [3.0]])   # loss = mean((x w - y)^2)
        >>> c = neuralscope.curvature(model, (x, torch.zeros(3, 1)), top_k=3)
        >>> c.eigenvalues.round(3).tolist(), round(c.trace, 3)  # H = 2/3 diag(1, 4, 9)
        ([6.0, 2.667, 0.667], 9.333)
    """
    if method not in METHODS:
        raise InputShapeError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    keras = is_keras_model(model)
    obj = KerasObjective(model, data, loss_fn, batch_size) if keras else make_objective(model, data, loss_fn,
                                                                                       batch_size)
    t0 = time.perf_counter()
    bar = progress(desc="Hessian-vector products", enabled=show_progress, unit="hvp")

    count = [0]

    def tick(_products: int) -> None:
        count[0] += 1
        bar.update(1)
        if on_progress is not None:
            on_progress(count[0])

    with preserve_keras_state(model) if keras else preserve_model_state(model):
        center = obj.center() if keras else weights_of(model.eval())
        try:
            whole = _estimate(obj, center, None, top_k, method, trace, max_iter, tol, trace_samples, seed, tick)
            dens = None
            if density:
                op = _operator(obj, center, None)
                grid, d, _ = hessian.slq_density(op, density_steps, density_runs, seed, callback=tick)
                dens = (grid, d)
            per = {}
            if per_layer or layers:
                for name, params in (keras_layer_variables(obj, layers) if keras else
                                     _layer_params(model, center, layers)):
                    per[name] = _estimate(obj, center, params, top_k, method, trace, max_iter, tol,
                                          trace_samples, seed, tick)
                    per[name]["n_params"] = sum(center[p].numel() for p in params)
        finally:
            bar.close()
    meta = {"method": method, "tol": tol, "examples": obj.n_examples, "seconds": time.perf_counter() - t0,
            "hessian_vector_products": count[0], "model": type(model).__name__}
    return Curvature(whole["eigenvalues"], trace=whole.get("trace"), trace_std=whole.get("trace_std"),
                     layers=per, density=dens, n_params=int(flatten(center).numel()), meta=meta)


def _operator(obj, center: Direction, names: list[str] | None):
    if isinstance(obj, KerasObjective):
        return KerasHessianOperator(obj, names)
    return hessian.HessianOperator(obj, center, names)


def _estimate(obj, center, names, k, method, trace, max_iter, tol, samples, seed, tick) -> dict:
    op = _operator(obj, center, names)
    k = min(k, op.size)
    if method == "lanczos":
        values = hessian.lanczos(op, k, max_iter, tol, seed, tick)
    else:
        values, _ = hessian.power_iteration(op, k, max_iter, tol, seed, tick)
    out: dict = {"eigenvalues": np.asarray(values, dtype=float)}
    if trace:
        out["trace"], out["trace_std"], out["trace_samples"] = hessian.hutchinson_trace(
            op, samples, tol, seed + 1, callback=tick)
    return out


def _layer_params(model: nn.Module, center: Direction, layers: Sequence[str] | None) -> list[tuple[str, list[str]]]:
    """``(layer, its parameter names)`` for every module owning parameters (or the chosen ones)."""
    owned = []
    for mname, mod in model.named_modules():
        names = [f"{mname}.{p}" if mname else p for p, _ in mod.named_parameters(recurse=False)]
        names = [n for n in names if n in center]
        if names:
            owned.append((mname or "(root)", names))
    if layers is None:
        return owned
    table = dict(owned)
    missing = [name for name in layers if name not in table]
    if missing:
        raise LayerNotFoundError(missing[0], list(table), what="layer with parameters")
    return [(name, table[name]) for name in layers]


def hessian_eigenvalues(model: nn.Module, data: Any, loss_fn: LossFn | None = None, *, k: int = 1,
                        method: str = "lanczos", max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
                        **kwargs) -> np.ndarray:
    """The ``k`` largest Hessian eigenvalues of the loss (see :func:`curvature`).

    Example:
        >>> import torch, neuralscope
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> neuralscope.hessian_eigenvalues(torch.nn.Linear(2, 1, bias=False), (x, torch.zeros(2, 1)), k=2).round(3)
        array([4., 1.])
    """
    return curvature(model, data, loss_fn, top_k=k, method=method, trace=False, max_iter=max_iter, tol=tol,
                     seed=seed, **kwargs).eigenvalues


def hvp(model: nn.Module, data: Any, vector: Direction, loss_fn: LossFn | None = None) -> Direction:
    """The Hessian-vector product ``H v`` of the mean loss over ``data``; ``vector`` and the
    result are dicts of parameter name -> tensor (every floating-point parameter).

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(1, 1, bias=False)
        >>> hvp(m, (torch.tensor([[3.0]]), torch.zeros(1, 1)), {"weight": torch.ones(1, 1)})["weight"]
        tensor([[18.]])
    """
    obj = make_objective(model, data, loss_fn)
    with preserve_model_state(model):
        model.eval()
        center = weights_of(model)
        missing = [n for n in center if n not in vector]
        if missing:
            raise InputShapeError(f"vector has no entry for parameter {missing[0]!r}; give one tensor per "
                                  "floating-point parameter (see dict(model.named_parameters())).")
        op = hessian.HessianOperator(obj, center)
        flat = op(flatten({n: vector[n].to(center[n].dtype) for n in center}))
    from .directions import unflatten

    return unflatten(flat, center)

