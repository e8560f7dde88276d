"""``neuralscope.loss_landscape``: the loss (and accuracy) on a line or a plane through a
model's weights, along filter-normalised random directions (Li et al. 2018) or towards other
weights (linear interpolation between two checkpoints, Goodfellow et al. 2015)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError
from .directions import Direction, difference, random_direction, state_of, weights_of
from ..adapters.keras import is_keras_model
from ..progress import progress
from .evaluate import evaluate_points
from .keras import KerasObjective, evaluate_keras
from .objective import LossFn, make_objective
from .results import LossLandscape


def loss_landscape(model: nn.Module, data: Any, loss_fn: LossFn | None = None, *, dims: int = 2,
                   steps: int | tuple[int, int] = 25, span: float | tuple[float, float] | None = None,
                   to: Any = None, directions: Sequence[Direction] | None = None, seed: int = 0,
                   norm: str | None = "filter", ignore: str | None = "biasbn", accuracy: bool = True,
                   batch_size: int | None = None, memory_budget: int | str | None = None,
                   points_per_batch: int | None = None, dtype: torch.dtype | None = None,
                   show_progress: bool | None = None, verbose: bool | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> LossLandscape:
    """The loss of ``model`` on ``data`` at ``w + a d1 (+ b d2)`` for a grid of ``a`` (and ``b``).

    * ``data``: an ``(inputs, targets)`` pair or an iterable of such batches (a DataLoader);
      ``loss_fn(output, targets)`` returns the batch mean (default: cross-entropy for integer
      targets, mean squared error otherwise). Accuracy is added for integer class targets.
    * ``dims``: 1 (a curve) or 2 (a surface); ``steps`` grid points per axis over ``span``
      (default ``(-1, 1)``; an odd ``steps`` puts the trained weights on the grid).
    * directions: filter-normalised Gaussian directions drawn with ``seed`` (``norm``,
      ``ignore`` as in :func:`~neuralscope.landscape.directions.random_direction`); ``to``
      (a model, state_dict or checkpoint file of the same architecture) makes the first
      direction ``to - model`` (0 = model, 1 = ``to``; default span ``(-0.5, 1.5)``);
      ``directions`` gives them explicitly (dicts of parameter name -> tensor).
    * speed and memory: points are evaluated ``points_per_batch`` at a time with ``vmap``
      when many fit a pass (default: sized from a probe pass so that a pass's activations stay
      near 32 MiB and under ``memory_budget``, 2 GB), otherwise one at a time through a single
      private working copy of the model (its weights written per point; channels-last,
      BatchNorms folded into convolutions and conv+ReLU fused on CPUs, where that gives the same
      output), the exact float32 path for convolutional networks on whole data sets; see
      :mod:`~neuralscope.landscape.evaluate`. ``dtype=torch.bfloat16`` is reduced precision,
      only on request: the working copy runs in bfloat16 (``vmap`` passes under autocast),
      about 3.5x less CPU time per point on CPUs with AMX; on the trained digits CNN over 1,797
      digits the loss differs from float32 by at most 1.5-2.3% of its value over a 51x51 grid
      (most where the loss is smallest; 0.2% of the plane's loss range), accuracy by under 1
      point in 100. The time estimate is printed before the bulk of the work when it is over 5 s
      (``verbose`` forces or silences it); ``on_progress(done, total)`` is called after each chunk.

    The model runs in eval mode, is never written to and is left exactly as found.

    A Keras 3 model (TensorFlow backend) is taken through the adapter: the same directions in
    PyTorch's weight layout, points evaluated one at a time with its variables assigned and
    restored bit for bit afterwards (see :mod:`~neuralscope.landscape.keras`); ``data`` is then
    an ``(x, y)`` pair of arrays and ``loss_fn(y_true, y_pred)`` a Keras loss.

    Example:
        >>> import torch, neuralscope
        >>> _ = torch.manual_seed(0); model = torch.nn.Linear(4, 3)
        >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
        >>> ls = neuralscope.loss_landscape(model, (x, y), steps=5)
        >>> ls.loss.shape, ls.accuracy.shape
        ((5, 5), (5, 5))
        >>> bool(abs(ls.loss[2, 2] - torch.nn.functional.cross_entropy(model(x), y).item()) < 1e-6)
        True
    """
    if dims not in (1, 2):
        raise InputShapeError(f"dims must be 1 or 2, not {dims!r}.")
    keras = is_keras_model(model)
    obj = KerasObjective(model, data, loss_fn, batch_size) if keras else make_objective(model, data, loss_fn,
                                                                                       batch_size)
    center = obj.center() if keras else weights_of(model)
    if not center:
        raise InputShapeError(f"{type(model).__name__} has no floating-point parameters to move along.")
    dirs, labels, kind = _directions(center, dims, to, directions, seed, norm, ignore)
    nx, ny = (steps, steps) if isinstance(steps, int) else tuple(steps)
    lo, hi = _span(span, kind)
    xs = np.linspace(lo, hi, int(nx))
    ys = np.linspace(lo, hi, int(ny)) if len(dirs) == 2 else None
    if ys is None:
        coords = xs[:, None]
    else:
        gx, gy = np.meshgrid(xs, ys)
        coords = np.stack([gx.ravel(), gy.ravel()], 1)
    coords = np.vstack([coords, np.zeros((1, coords.shape[1]))])  # the model's own weights, always
    if keras:
        with progress(total=len(coords), desc="loss landscape", enabled=show_progress, unit="pt") as bar:
            loss, acc = evaluate_keras(obj, center, dirs, coords, accuracy, bar, on_progress)
        chunk = 1
    else:
        loss, acc, plan = evaluate_points(obj, center, dirs, coords, accuracy=accuracy, memory_budget=memory_budget,
                                          points_per_batch=points_per_batch, dtype=dtype, show_progress=show_progress,
                                          verbose=verbose, on_progress=on_progress)
        chunk = plan.chunk
    shape = (len(xs),) if ys is None else (len(ys), len(xs))
    meta = {"model": type(model).__name__, "examples": obj.n_examples, "points": len(coords) - 1, "seed": seed,
            "norm": norm, "ignore": ignore, "points_per_batch": chunk, "dtype": str(dtype or "model"),
            "center_accuracy": None if acc is None else float(acc[-1])}
    return LossLandscape(xs, loss[:-1].reshape(shape), y=ys,
                         accuracy=None if acc is None else acc[:-1].reshape(shape), direction=kind,
                         axis_labels=labels, center_loss=float(loss[-1]), meta=meta)


def _span(span, kind: str) -> tuple[float, float]:
    if span is None:
        return (-0.5, 1.5) if kind == "interpolation" else (-1.0, 1.0)
    if isinstance(span, (int, float)):
        return -float(span), float(span)
    lo, hi = span
    if not lo < hi:
        raise InputShapeError(f"span must go from low to high, got {span!r}.")
    return float(lo), float(hi)


def _directions(center: Direction, dims: int, to, given, seed: int, norm, ignore):
    if given is not None:
        dirs = [state_of(d, center) for d in given]
        if len(dirs) not in (1, 2):
            raise InputShapeError(f"directions must hold 1 or 2 directions, not {len(dirs)}.")
        return dirs, tuple(f"direction {i + 1}" for i in range(len(dirs))), "custom"
    if to is not None:
        dirs = [difference(state_of(to, center), center)]
        labels = ["interpolation (0 = model, 1 = other weights)"]
        if dims == 2:
            dirs.append(random_direction(center, seed=seed, norm=norm, ignore=ignore))
            labels.append("filter-normalised random direction")
        return dirs, tuple(labels), "interpolation"
    dirs = [random_direction(center, seed=seed + i, norm=norm, ignore=ignore) for i in range(dims)]
    what = "filter-normalised" if norm == "filter" else "random"
    return dirs, tuple(f"{what} direction {i + 1}" for i in range(dims)), "random"
