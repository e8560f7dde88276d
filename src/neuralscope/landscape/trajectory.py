"""``neuralscope.trajectory``: the path of the weights during training, projected on the two
principal directions of the checkpoints (Li et al. 2018, Sec. 7), drawn over the loss of that
plane.

As in the paper's code, the directions are the first two principal components of
``w_i - w_last`` (the checkpoints relative to the last one, centred for the PCA), and each
checkpoint's coordinates are its projection ``(w_i - w_last) . d_j``: the last checkpoint is
the origin. Random directions would show almost nothing here: in a space of thousands of
dimensions a path is nearly orthogonal to any random plane.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError
from .directions import flatten, state_of, unflatten, weights_of
from .evaluate import evaluate_points
from .objective import LossFn, make_objective
from .results import LossLandscape, Trajectory


def trajectory(checkpoints: Sequence[Any] | Any, model: nn.Module | None = None, data: Any = None,
               loss_fn: LossFn | None = None, *, steps: Sequence[int] | None = None, grid: int = 21,
               margin: float = 0.25, show_progress: bool | None = None,
               on_progress: Callable[[int, int], None] | None = None, **evaluate_kwargs) -> Trajectory:
    """Project ``checkpoints`` (modules, state_dicts or ``torch.save`` files, in training order;
    or a run recorded with ``run.watch(model, snapshots=N)``: a ``Run``, ``RunReader`` or run
    directory, whose weight snapshots and their steps are used) on their two principal directions; with ``model`` (the architecture) and ``data``, also
    compute the loss on a ``grid x grid`` plane covering the path (``margin`` of its extent
    added on each side), centred on the last checkpoint with its buffers.

    Example:
        >>> import torch, neuralscope
        >>> _ = torch.manual_seed(0); net = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> x, y = torch.randn(16, 2), torch.randn(16, 1)
        >>> ckpts = []
        >>> for _ in range(8):
        ...     opt.zero_grad(); torch.nn.functional.mse_loss(net(x), y).backward(); opt.step()
        ...     ckpts.append({k: v.clone() for k, v in net.state_dict().items()})
        >>> tr = neuralscope.trajectory(ckpts, net, (x, y), grid=5)
        >>> tr.coords.shape, tr.landscape.loss.shape, bool(abs(tr.coords[-1]).max() < 1e-6)
        ((8, 2), (5, 5), True)
    """
    if _is_run(checkpoints):
        from ..track.snapshots import read_snapshots

        run_steps, checkpoints = read_snapshots(checkpoints)
        steps = run_steps if steps is None else steps
        if len(checkpoints) < 3:
            raise InputShapeError(f"The run holds {len(checkpoints)} weight snapshots; a trajectory needs at least 3: "
                                  "watch the model with run.watch(model, snapshots=N) and a smaller N.")
    if len(checkpoints) < 3:
        raise InputShapeError(f"A trajectory needs at least 3 checkpoints, got {len(checkpoints)}.")
    steps = list(range(len(checkpoints))) if steps is None else list(steps)
    if len(steps) != len(checkpoints):
        raise InputShapeError(f"{len(steps)} steps for {len(checkpoints)} checkpoints; give one step per checkpoint.")
    like = weights_of(model) if model is not None else state_of(checkpoints[-1])
    states = [state_of(c, like) for c in checkpoints]
    mat = torch.stack([flatten(s).double().cpu() for s in states])
    diffs = mat - mat[-1]
    centred = diffs - diffs.mean(0)
    _, sv, vt = torch.linalg.svd(centred, full_matrices=False)
    dirs = vt[:2]
    coords = (diffs @ dirs.T).numpy()
    explained = (sv ** 2 / (sv ** 2).sum()).numpy()[:2] if float(sv.sum()) > 0 else np.zeros(2)
    landscape = None
    if model is not None and data is not None:
        landscape = _plane(model, data, loss_fn, checkpoints[-1], states[-1], dirs, coords, explained, grid,
                           margin, show_progress, on_progress, evaluate_kwargs)
    return Trajectory(coords, steps, explained, landscape=landscape,
                      meta={"checkpoints": len(checkpoints), "parameters": int(mat.shape[1])})


def _plane(model, data, loss_fn, last_ckpt, center, dirs, coords, explained, grid, margin, show_progress,
           on_progress, kwargs) -> LossLandscape:
    obj = make_objective(model, data, loss_fn, kwargs.pop("batch_size", None))
    last_buffers = _buffers_of(last_ckpt, obj.buffers)
    obj.buffers = last_buffers
    directions = [unflatten(d.to(next(iter(center.values())).device), center) for d in dirs]
    (x0, y0), (x1, y1) = coords.min(0), coords.max(0)
    pad_x, pad_y = margin * max(x1 - x0, 1e-8), margin * max(y1 - y0, 1e-8)
    xs = np.linspace(x0 - pad_x, x1 + pad_x, grid)
    ys = np.linspace(y0 - pad_y, y1 + pad_y, grid)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.vstack([np.stack([gx.ravel(), gy.ravel()], 1), np.zeros((1, 2))])
    loss, acc, _ = evaluate_points(obj, center, directions, pts, show_progress=show_progress,
                                      on_progress=on_progress, desc="trajectory plane", **kwargs)
    meta = {"model": type(model).__name__, "examples": obj.n_examples, "points": len(pts) - 1}
    return LossLandscape(xs, loss[:-1].reshape(grid, grid), y=ys,
                         accuracy=None if acc is None else acc[:-1].reshape(grid, grid), direction="pca",
                         axis_labels=(f"PC 1 ({explained[0]:.0%} of the path's variance)",
                                      f"PC 2 ({explained[1]:.0%})"), center_loss=float(loss[-1]), meta=meta)


def _is_run(obj: Any) -> bool:
    from ..track.store import RunReader, is_run_dir

    if isinstance(obj, RunReader) or (hasattr(obj, "watch") and hasattr(obj, "path")):
        return True
    return isinstance(obj, (str, Path)) and Path(obj).is_dir() and is_run_dir(Path(obj))


def _buffers_of(ckpt: Any, current: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's buffers (BatchNorm statistics) where it has them, else the model's."""
    from ..plot.animation import _state

    if isinstance(ckpt, nn.Module):
        state = dict(ckpt.named_buffers())
    else:
        state = _state(ckpt)
    return {n: (state[n].detach().to(b.device, b.dtype) if n in state and state[n].shape == b.shape else b)
            for n, b in current.items()}
