"""Pixel-perturbation curves in blocks: the rows of deletion/insertion curves (Petsiuk et al.
2018), built and run a block at a time. Shared by
:func:`~neuralscope.attribution.metrics.deletion_insertion` and the audit's
:mod:`neuralscope.audit.curves`.

Where the time goes (SceneCNN at 64x64 on this project's 2-core machine, one intra-op
thread): the model's forward, 0.11 ms a row through the frozen oneDNN trace
(:class:`~neuralscope.attribution.fastpath.FrozenForward`) fed plain NCHW rows; models the
trace does not serve (a ViT's matrix products) run through an
:class:`~neuralscope.adapters.inference_copy.InferenceCopy` (:func:`curve_forward`). So:

* a block holds consecutive steps of a few examples, built in NCHW into a buffer the thread
  reuses (a fresh one costs page faults): the first step by one ``torch.where`` over the
  pixel ranks, each later one as a copy of the step before with only its newly changed
  pixels scattered in (64x64 RGB, 8 steps x 16 examples, one thread: 8.5 us a row instead
  of 13.5 us for a ``torch.where`` of every row into fresh memory, loaded);
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

import copy
import math
import threading
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from ..adapters.inference_copy import InferenceCopy
from ..adapters.torch import TorchAdapter, forward_with_context
from ..errors import InputShapeError
from .base import activation_bytes_per_example, internal_batch_size
from .fastpath import AGREEMENT, FrozenForward, eligible, forward_model
from .threads import map_rows, pass_threads

#: bytes of activations one block of rows may hold on the CPU (see the module docstring)
BLOCK_BYTES = 32 * 1024 ** 2
#: most consecutive steps of one block (the rest of the block: more examples)
STEPS_PER_BLOCK = 8


class PixelOrder(NamedTuple):
    """The pixels of ``N`` maps from most to least important: ``order[i, r]`` is the flat
    index (``y * W + x``) of example ``i``'s pixel of rank ``r``, and ``ranks`` the rank of
    every pixel, ``(N, 1, H, W)`` (0 = most important)."""

    order: torch.Tensor
    ranks: torch.Tensor

    def to(self, device: torch.device | str) -> "PixelOrder":
        return PixelOrder(self.order.to(device), self.ranks.to(device))


def pixel_order(maps: np.ndarray | torch.Tensor) -> PixelOrder:
    """The :class:`PixelOrder` of ``(N, H, W)`` maps: a descending float64 argsort, the order
    of every deletion/insertion curve here."""
    m = torch.as_tensor(np.asarray(maps, dtype=np.float64))
    flat = m.reshape(len(m), -1)
    order = flat.argsort(1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1]).expand(len(flat), -1))
    return PixelOrder(order, ranks.view(len(m), 1, *m.shape[-2:]))


def pixel_ranks(maps: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` rank of every pixel of ``(N, H, W)`` maps, 0 = most important
    (:func:`pixel_order`'s ``ranks``)."""
    return pixel_order(maps).ranks


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


class CurveForward(NamedTuple):
    """The function that runs a curve's rows, and what it is: ``"frozen trace"``
    (:class:`~neuralscope.attribution.fastpath.FrozenForward`), ``"inference copy"``
    (:class:`~neuralscope.adapters.inference_copy.InferenceCopy`) or ``"model"`` (the model's
    own forward)."""

    run: Callable[[torch.Tensor], torch.Tensor]
    kind: str

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        return self.run(rows)

    @property
    def standin(self) -> bool:
        """Whether the rows run through an equivalent of the model rather than the model."""
        return self.kind != "model"

    @property
    def threadsafe(self) -> bool:
        """Whether blocks may run on several Python threads at once: only the frozen trace
        keeps no state between calls (a model, or a copy of one, may have Python state)."""
        return self.kind == "frozen trace"


def curve_forward(model: nn.Module, example: torch.Tensor, reference: torch.Tensor, passes: int,
                  dtype: torch.dtype | None = None) -> CurveForward:
    """How ``passes`` rows like ``example`` (one example, ``(1, C, H, W)``) run through
    ``model`` without gradients, ``reference`` being the model's output on ``example``: the
    frozen trace where :func:`~neuralscope.attribution.fastpath.forward_model` builds one
    (mostly convolutional models: SceneCNN 0.09-0.10 ms a row at 64x64, one thread); else,
    where a stand-in is :func:`~neuralscope.attribution.fastpath.eligible`, an
    :class:`~neuralscope.adapters.inference_copy.InferenceCopy` (SceneViT 0.27-0.28 ms a row
    against 0.55-0.60 eager) whose output on the example agrees with ``reference``; else the
    model itself. Every one of these computes the model's function to float rounding.

    ``dtype`` (e.g. ``torch.bfloat16``, an explicit choice): the rows run through an
    inference copy cast to it, outputs returned in float32 (SceneCNN, one thread: 0.042-0.049
    ms a row against 0.089-0.098 through the frozen trace; target probabilities within
    1.3e-4 of float32's on random inputs, loaded 2-core Xeon with AMX)."""
    if dtype is not None and dtype != example.dtype:
        return _reduced_copy(model, example, dtype)
    run = forward_model(model, example, reference, passes)
    if isinstance(run, FrozenForward):
        return CurveForward(run, "frozen trace")
    eager = CurveForward(lambda rows: forward_with_context(model, rows), "model")
    if not torch.is_tensor(reference) or not eligible(model, example, passes):
        return eager
    try:
        inference = InferenceCopy(model, _two(example))
        with torch.no_grad():
            got = inference(_two(example))
    except (RuntimeError, TypeError, ValueError, NotImplementedError, copy.Error):  # not copyable or refused
        return eager
    return CurveForward(inference, "inference copy") if _agrees(got, _two(reference)) else eager


def _two(t: torch.Tensor) -> torch.Tensor:
    """Two copies of a one-example batch: a stand-in that baked in a batch size of one fails on it."""
    return torch.cat([t, t])


def _reduced_copy(model: nn.Module, example: torch.Tensor, dtype: torch.dtype) -> CurveForward:
    """An inference copy of ``model`` cast to ``dtype``, outputs in float32; a clear error
    where the model allows no copy (hooks, training mode, not on the CPU, not copyable)."""
    if not (dtype.is_floating_point and TorchAdapter(model).allows_standin(example)):
        raise InputShapeError(
            f"dtype={dtype} runs the curves through a reduced-precision copy of the model, which needs a "
            "floating dtype and a PyTorch model on the CPU in eval mode without hooks; leave dtype=None.")
    try:
        inference = InferenceCopy(model, _two(example), dtype=dtype)
    except (RuntimeError, TypeError, ValueError, NotImplementedError, copy.Error) as exc:
        raise InputShapeError(f"The model cannot run in {dtype} ({str(exc).strip().splitlines()[0]}); "
                              "leave dtype=None.") from exc
    return CurveForward(lambda rows: inference(rows).float(), f"inference copy, {str(dtype).replace('torch.', '')}")


def _agrees(got, reference: torch.Tensor) -> bool:
    if not torch.is_tensor(got) or got.shape != reference.shape:
        return False
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    return bool((got.float() - reference.float()).abs().max() <= AGREEMENT * max(scale, 1.0))


class CurveJob(NamedTuple):
    """The rows ``first..last`` of one curve, ``curve[k, i]`` (steps x examples): at step
    ``k`` the pixels changed so far take their values in ``changed_to`` (all channels of a
    pixel together), the others keep theirs in ``kept`` (both ``(N, C, H, W)``)."""

    curve: torch.Tensor
    changed_to: torch.Tensor
    kept: torch.Tensor
    first: int
    last: int


def block_rows(model: nn.Module, x: torch.Tensor, budget: int | None = None) -> int:
    """Rows of one block: within the forward memory budget and, on the CPU, within
    :data:`BLOCK_BYTES` of activations (at least 8 rows)."""
    per = max(1, internal_batch_size(model, x[:1], backward=False, budget=budget))
    if x.device.type != "cpu":
        return per
    return max(1, min(per, max(8, BLOCK_BYTES // max(1, activation_bytes_per_example(model, x[:1])))))


def fill_curves(jobs: list[CurveJob], pixels: PixelOrder, ks: torch.Tensor, per: int,
                probs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], parallel: bool) -> None:
    """Fill every job's rows, at most ``per`` rows a block; ``probs(rows, examples)`` is the
    curve value of each row (``examples``: the example of each row). ``parallel``: blocks
    may run on several Python threads at once (``probs`` keeps no state)."""
    n = pixels.order.shape[0]
    ks = [int(k) for k in ks]
    blocks = [(job, s, e) for job in jobs for s, e in _blocks(job.first, job.last, n, per)]
    buffers = threading.local()

    def run(i: int) -> None:
        job, s, e = blocks[i]
        with torch.no_grad():
            rows = build_rows(job, pixels, ks, s, e, _buffer(buffers, job.kept, s, e))
            ex = torch.arange(e.start, e.stop, device=job.kept.device).repeat(s.stop - s.start)
            job.curve[s, e] = probs(rows.reshape(-1, *rows.shape[2:]), ex).view(s.stop - s.start, -1)

    with pass_threads(pixels.order.device):
        map_rows(run, len(blocks), parallel=parallel, enabled=False)


def build_rows(job: CurveJob, pixels: PixelOrder, ks: list[int], steps: slice, examples: slice,
               out: torch.Tensor) -> torch.Tensor:
    """The block's rows into ``out`` (``(S, E, C, H, W)``, NCHW rows): the first step's by
    one ``torch.where`` over the ranks, each later step as a copy of the step before with
    only its newly changed pixels written (indices of :class:`PixelOrder`: a copy and a
    scatter instead of a masked select of every value; the same values)."""
    kept, new = job.kept[examples], job.changed_to[examples]
    e, c = kept.shape[:2]
    hw = kept[0, 0].numel()
    torch.where(pixels.ranks[examples] < ks[steps.start], new, kept, out=out[0])
    flat_out, flat_new = out.view(len(out), e, c * hw), new.reshape(e, c * hw)
    channels = (torch.arange(c, device=kept.device) * hw).view(1, c, 1)
    for j in range(1, len(out)):
        flat_out[j].copy_(flat_out[j - 1])
        lo, hi = ks[steps.start + j - 1], ks[steps.start + j]
        if hi > lo:
            idx = (pixels.order[examples, None, lo:hi] + channels).reshape(e, -1)
            flat_out[j].scatter_(1, idx, flat_new.gather(1, idx))
    return out


def _buffer(store: threading.local, like: torch.Tensor, steps: slice, examples: slice) -> torch.Tensor:
    """A ``(S, E, C, H, W)`` tensor for a block's rows, reused by this thread from block to
    block: a fresh block of several MiB costs page faults on every block."""
    shape = (steps.stop - steps.start, examples.stop - examples.start, *like.shape[1:])
    size = math.prod(shape)
    buf = getattr(store, "rows", None)
    if buf is None or buf.numel() < size or buf.dtype != like.dtype or buf.device != like.device:
        buf = store.rows = torch.empty(size, dtype=like.dtype, device=like.device)
    return buf[:size].view(shape)


def _blocks(first: int, last: int, n: int, per: int) -> list[tuple[slice, slice]]:
    """(steps, examples) slices covering steps ``first..last`` of ``n`` examples, at most
    ``per`` rows each: up to :data:`STEPS_PER_BLOCK` consecutive steps of the same examples
    (each step after a block's first is built from the one before; several examples a step
    keep the Python work per row small), the examples split evenly."""
    span = last - first + 1
    if span <= 0:
        return []
    s_per = min(span, per, STEPS_PER_BLOCK)
    e_max = min(n, max(1, per // s_per))
    e_per = math.ceil(n / math.ceil(n / e_max))
    return [(slice(s0, min(last + 1, s0 + s_per)), slice(e0, min(n, e0 + e_per)))
            for s0 in range(first, last + 1, s_per) for e0 in range(0, n, e_per)]


__all__ = ["BLOCK_BYTES", "CurveForward", "CurveJob", "PixelOrder", "blur", "block_rows", "build_rows", "curve_forward",
           "fill_curves", "pixel_order", "pixel_ranks", "step_pixels"]
