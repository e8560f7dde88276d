"""Deletion and insertion AUCs for a whole shard: the curves of
:func:`neuralscope.attribution.metrics.deletion_insertion` (Petsiuk et al. 2018; zeros
deleted, pixels inserted into a Gaussian blur with sigma = height / 16), computed for many
examples at once.

The same numbers as that function (tested to 1e-6 in AUC), with less work per example:

* the forward stand-in (:func:`~neuralscope.attribution.fastpath.forward_model`, a frozen
  oneDNN trace where the model allows it) is built once per audit, not once per shard;
* rows that every curve shares are run once: the unperturbed input (deletion at 0 and
  insertion at 1: the audit's own forward already has it) and the all-zeros input (deletion
  at 1: one row for every example), so a curve of ``steps`` steps costs ``2 * steps - 1``
  forward rows per example instead of ``2 * steps + 2``;
* perturbed rows are built in channels-last layout (oneDNN's) with one masked select per
  batch, and the blur is two small matrix products.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..adapters.torch import first_tensor
from ..attribution.base import internal_batch_size
from ..attribution.fastpath import forward_model
from ..errors import InputShapeError

__all__ = ["shard_aucs", "blur"]


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """:func:`~neuralscope.attribution.gradient.gaussian_blur` of ``(N, C, H, W)`` images as
    ``Kh @ x @ Kw^T``, with the reflect padding folded into the two (H x H, W x W) matrices."""
    kh, kw = _blur_matrix(x.shape[-2], sigma, x), _blur_matrix(x.shape[-1], sigma, x)
    return kh @ x @ kw.T


def _blur_matrix(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    pad = min(radius, size - 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum())[radius - pad: radius + pad + 1]
    k = (k / k.sum()).double()
    m = torch.zeros(size, size, dtype=torch.float64)
    for i in range(size):
        for j, wt in zip(range(i - pad, i + pad + 1), k.tolist()):
            src = -j if j < 0 else (2 * (size - 1) - j if j >= size else j)  # reflect
            m[i, src] += wt
    return m.to(device=like.device, dtype=like.dtype)


def _ranks(maps: np.ndarray) -> torch.Tensor:
    """Rank of every pixel by the map, 0 = most important (the order deletion_insertion uses)."""
    flat = torch.as_tensor(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1)
    order = flat.argsort(1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1]).expand(len(flat), -1))
    return ranks


class CurveModel:
    """The model's forward for perturbed rows: a stand-in built on first use and kept for
    every later shard of the same audit (shapes and dtype must not change)."""

    def __init__(self, model: nn.Module):
        self.model, self._run, self._key = model, None, None

    def __call__(self, rows: torch.Tensor, example: torch.Tensor, reference: torch.Tensor,
                 passes: int) -> torch.Tensor:
        key = (tuple(example.shape[1:]), example.dtype, example.device)
        if self._run is None or key != self._key:
            self._run, self._key = forward_model(self.model, example[:1], reference[:1], max(passes, 64)), key
        return first_tensor(self._run(rows))


def shard_aucs(fwd: CurveModel, x: torch.Tensor, maps: np.ndarray, target: torch.Tensor, p_input: torch.Tensor,
               logits: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion AUCs of ``maps`` for the examples ``x`` (``(N, C, H, W)``),
    explaining class ``target``; ``p_input`` is each example's target probability on its
    unperturbed input and ``logits`` the model's output on ``x`` (checks the stand-in)."""
    n, c, h, w = x.shape
    hw = h * w
    if maps.shape != (n, hw):
        raise InputShapeError(f"The maps have shape {maps.shape}, the inputs {n} examples of {h} x {w} pixels; "
                              "deletion/insertion curves need one map value per pixel.")
    fractions = np.linspace(0, 1, steps + 1)
    ks = torch.tensor([round(f * hw) for f in fractions])
    ranks = _ranks(maps).to(device=x.device, dtype=torch.int32).view(n, h, w, 1)
    nhwc = lambda t: t.permute(0, 2, 3, 1).contiguous()
    xs, base = nhwc(x), nhwc(blur(x, max(1.0, h / 16)))
    per = max(1, internal_batch_size(fwd.model, x[:1], backward=False))
    passes = n * (2 * steps - 1) + 1

    def probs(rows_nhwc: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = fwd(rows_nhwc.permute(0, 3, 1, 2), x, logits, passes)
        return torch.softmax(out.double(), 1).gather(1, target[ex][:, None])[:, 0].cpu()

    dele = torch.empty(steps + 1, n, dtype=torch.float64)
    ins = torch.empty(steps + 1, n, dtype=torch.float64)
    dele[0] = ins[steps] = p_input.double().cpu()
    with torch.no_grad():
        dele[steps] = probs(torch.zeros_like(xs[:1]), torch.zeros(1, dtype=torch.long)).expand(n) \
            if steps else dele[0]
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        for curve, first, last, make in (
                (dele, 1, steps - 1, lambda m, ex: torch.where(m, zero, xs[ex])),
                (ins, 0, steps - 1, lambda m, ex: torch.where(m, xs[ex], base[ex]))):
            _fill(curve, first, last, n, per, ks, ranks, make, probs)
    auc = lambda v: np.trapezoid(v.T.numpy(), fractions, axis=1)
    return auc(dele), auc(ins)


def _fill(curve: torch.Tensor, first: int, last: int, n: int, per: int, ks: torch.Tensor, ranks: torch.Tensor,
          make: Callable, probs: Callable) -> None:
    """Rows ``curve[first..last]`` (steps x examples), about ``per`` forward rows at a time:
    several whole steps per batch (masks broadcast over the examples, no gather) or, for
    shards larger than ``per``, part of one step."""
    s_per, e_per = max(1, per // n), min(n, per)
    for s0 in range(first, last + 1, s_per):
        steps = torch.arange(s0, min(last + 1, s0 + s_per))
        for e0 in range(0, n, e_per):
            ex = torch.arange(e0, min(n, e0 + e_per))
            mask = ranks[None, e0:e0 + len(ex)] < ks[steps].to(ranks.device).view(-1, 1, 1, 1, 1)
            rows = make(mask, slice(e0, e0 + len(ex)))
            p = probs(rows.reshape(-1, *rows.shape[2:]), ex.repeat(len(steps)))
            curve[s0:s0 + len(steps), e0:e0 + len(ex)] = p.view(len(steps), len(ex))
