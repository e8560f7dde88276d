"""Pixel-perturbation curves in blocks: the rows of deletion/insertion curves (Petsiuk et al.
2018), built and run a block at a time. Shared by
:func:`~neuralscope.attribution.metrics.deletion_insertion` and the audit's
:mod:`neuralscope.audit.curves`.

Where the time goes (SceneCNN at 64x64 on this project's 2-core machine, one intra-op
thread): the model's forward, 0.11 ms a row through the frozen oneDNN trace
(:class:`~neuralscope.attribution.fastpath.FrozenForward`) fed plain NCHW rows. So:

* a block's rows are built in NCHW with one ``torch.where`` of a mask broadcast over the
  channels (several whole steps per block: the steps' masks broadcast over the examples);
* a block holds at most :data:`BLOCK_BYTES` of activations, so that it stays near the
  caches (SceneCNN, 418 kB of activations a row, one thread: 0.10 ms a row in blocks of 64
  or 128 rows, 0.15 ms in blocks of 8, 0.21 ms in blocks of 1,024);
* blocks are independent, so with the frozen trace they run on one Python thread per core
  with one intra-op thread each on an idle machine (no barrier inside every operation), and
  one after another on one intra-op thread while the machine is busy
  (:mod:`~neuralscope.attribution.threads`).

Example:
    >>> ranks = pixel_ranks(np.array([[[0.1, 0.9], [0.5, 0.2]]]))
    >>> ranks.tolist()
    [[[[3, 0], [1, 2]]]]
    >>> step_pixels(4, 4).tolist()
    [0, 1, 2, 3, 4]
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from .base import activation_bytes_per_example, internal_batch_size
from .threads import map_rows, pass_threads

#: bytes of activations one block of rows may hold on the CPU (see the module docstring)
BLOCK_BYTES = 32 * 1024 ** 2


def pixel_ranks(maps: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` rank of every pixel of ``(N, H, W)`` maps, 0 = most important (a
    descending float64 argsort: the order of every deletion/insertion curve here)."""
    m = torch.as_tensor(np.asarray(maps, dtype=np.float64))
    flat = m.reshape(len(m), -1)
    order = flat.argsort(1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1]).expand(len(flat), -1))
    return ranks.view(len(m), 1, *m.shape[-2:])


def step_pixels(steps: int, pixels: int) -> torch.Tensor:
    """How many of ``pixels`` are changed at each of the ``steps + 1`` points of a curve."""
    return torch.tensor([round(f * pixels) for f in np.linspace(0, 1, steps + 1)])


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """:func:`~neuralscope.attribution.gradient.gaussian_blur` of ``(N, C, H, W)`` images as
    ``Kh @ x @ Kw^T``, with the reflect padding folded into the two (H x H, W x W) matrices
    (the same blur to float32 rounding, without a one-channel convolution per image plane)."""
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


class CurveJob(NamedTuple):
    """The rows ``first..last`` of one curve, ``curve[k, i]`` (steps x examples):
    ``make(changed, examples)`` builds them from ``changed``, the ``(S, E, 1, H, W)`` mask
    of the pixels changed at those steps, for the slice ``examples``."""

    curve: torch.Tensor
    make: Callable[[torch.Tensor, slice], torch.Tensor]
    first: int
    last: int


def block_rows(model: nn.Module, x: torch.Tensor, budget: int | None = None) -> int:
    """Rows of one block: within the forward memory budget and, on the CPU, within
    :data:`BLOCK_BYTES` of activations (at least 8 rows)."""
    per = max(1, internal_batch_size(model, x[:1], backward=False, budget=budget))
    if x.device.type != "cpu":
        return per
    return max(1, min(per, max(8, BLOCK_BYTES // max(1, activation_bytes_per_example(model, x[:1])))))


def fill_curves(jobs: list[CurveJob], ranks: torch.Tensor, ks: torch.Tensor, per: int,
                probs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], parallel: bool) -> None:
    """Fill every job's rows, about ``per`` rows a block; ``probs(rows, examples)`` is the
    curve value of each row (``examples``: the example of each row). ``parallel``: blocks
    may run on several Python threads at once (``probs`` keeps no state)."""
    n, _, h, w = ranks.shape
    ks = ks.to(ranks.device)
    blocks = [(job, s, e) for job in jobs for s, e in _blocks(job.first, job.last, n, per)]

    def run(i: int) -> None:
        job, s, e = blocks[i]
        with torch.no_grad():
            changed = ranks[None, e] < ks[s].view(-1, 1, 1, 1, 1)
            rows = job.make(changed, e)
            ex = torch.arange(e.start, e.stop, device=ranks.device).repeat(s.stop - s.start)
            job.curve[s, e] = probs(rows.reshape(-1, *rows.shape[2:]), ex).view(s.stop - s.start, -1)

    with pass_threads(ranks.device):
        map_rows(run, len(blocks), parallel=parallel, enabled=False)


def _blocks(first: int, last: int, n: int, per: int) -> list[tuple[slice, slice]]:
    """(steps, examples) slices covering steps ``first..last`` of ``n`` examples, about
    ``per`` rows each: several whole steps per block or, when one step has more than
    ``per`` examples, part of one step."""
    s_per, e_per = max(1, per // n), math.ceil(n / math.ceil(n / per))  # examples split evenly
    return [(slice(s0, min(last + 1, s0 + s_per)), slice(e0, min(n, e0 + e_per)))
            for s0 in range(first, last + 1, s_per) for e0 in range(0, n, e_per)]


__all__ = ["BLOCK_BYTES", "CurveJob", "blur", "block_rows", "fill_curves", "pixel_ranks", "step_pixels"]
