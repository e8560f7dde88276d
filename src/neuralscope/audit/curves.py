"""Deletion and insertion AUCs for a whole shard: the curves of
:func:`neuralscope.attribution.metrics.deletion_insertion` (Petsiuk et al. 2018; zeros
deleted, pixels inserted into a Gaussian blur with sigma = height / 16), computed for many
examples at once.

The same numbers as that function (tested to 1e-6 in AUC), with less work per example:

* the forward stand-in (:func:`~neuralscope.attribution.pixel_curves.curve_forward`: a frozen
  oneDNN trace, or an inference copy, where the model allows one) is built once per audit,
  not once per shard;
* rows that every curve shares are run once: the unperturbed input (deletion at 0 and
  insertion at 1: the audit's own forward already has it) and the all-zeros input (deletion
  at 1: one row for every example), so a curve of ``steps`` steps costs ``2 * steps - 1``
  forward rows per example instead of ``2 * steps + 2``;
* perturbed rows are built and run in blocks (:mod:`neuralscope.attribution.pixel_curves`:
  plain NCHW rows for the frozen trace, blocks that stay near the caches, one Python thread
  per core on an idle machine), and the blur is two small matrix products.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from ..adapters.torch import first_tensor
from ..attribution.pixel_curves import CurveForward, CurveJob, blur, block_rows, curve_forward, fill_curves, pixel_order, \
    step_pixels
from ..errors import InputShapeError

__all__ = ["shard_aucs", "blur"]


class CurveModel:
    """The model's forward for perturbed rows: a stand-in built on first use and kept for
    every later shard of the same audit (shapes and dtype must not change)."""

    def __init__(self, model: nn.Module):
        self.model, self._run, self._key = model, None, None

    def __call__(self, rows: torch.Tensor, example: torch.Tensor, reference: torch.Tensor,
                 passes: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        key = (tuple(example.shape[1:]), example.dtype, example.device, dtype)
        if self._run is None or key != self._key:
            self._run = curve_forward(self.model, example[:1], reference[:1], max(passes, 64), dtype)
            self._key = key
        return first_tensor(self._run(rows))

    @property
    def threadsafe(self) -> bool:
        """Whether blocks of rows may run on several Python threads at once: only the frozen
        trace (it keeps no state between calls; the model itself, or a copy of it, may have
        hooks or a framework underneath that expects one caller)."""
        return isinstance(self._run, CurveForward) and self._run.threadsafe


def shard_aucs(fwd: CurveModel, x: torch.Tensor, maps: np.ndarray, target: torch.Tensor, p_input: torch.Tensor,
               logits: torch.Tensor, steps: int, dtype: torch.dtype | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion AUCs of ``maps`` for the examples ``x`` (``(N, C, H, W)``),
    explaining class ``target``; ``p_input`` is each example's target probability on its
    unperturbed input and ``logits`` the model's output on ``x`` (checks the stand-in).
    ``dtype``: the perturbed rows run in it (reduced precision,
    :func:`~neuralscope.attribution.pixel_curves.curve_forward`); the unperturbed point stays
    the model's own."""
    n, c, h, w = x.shape
    if maps.shape != (n, h * w):
        raise InputShapeError(f"The maps have shape {maps.shape}, the inputs {n} examples of {h} x {w} pixels; "
                              "deletion/insertion curves need one map value per pixel.")
    pixels = pixel_order(maps.reshape(n, h, w)).to(x.device)
    xs, base = x.contiguous(), blur(x, max(1.0, h / 16)).contiguous()
    passes = n * (2 * steps - 1) + 1

    def probs(rows: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = fwd(rows, x, logits, passes, dtype)
        return torch.softmax(out.double(), 1).gather(1, target[ex][:, None])[:, 0].cpu()

    dele = torch.empty(steps + 1, n, dtype=torch.float64)
    ins = torch.empty(steps + 1, n, dtype=torch.float64)
    dele[0] = ins[steps] = p_input.double().cpu()
    with torch.no_grad():
        dele[steps] = probs(torch.zeros_like(xs[:1]), torch.zeros(1, dtype=torch.long, device=x.device)).expand(n) \
            if steps else dele[0]
    jobs = [CurveJob(dele, torch.zeros_like(xs), xs, 1, steps - 1), CurveJob(ins, xs, base, 0, steps - 1)]
    fill_curves(jobs, pixels, step_pixels(steps, h * w), block_rows(fwd.model, x), probs, fwd.threadsafe)
    fractions = np.linspace(0, 1, steps + 1)
    auc = lambda v: np.trapezoid(v.T.numpy(), fractions, axis=1)
    return auc(dele), auc(ins)
