"""Many weight points evaluated, many at once or one at a time.

A point is ``center + sum_j c_j * direction_j``. Points are evaluated in chunks: the chunk's
weights are built as one ``(points, n_weights)`` matrix product and, when many points fit a
pass, the forward pass runs over the whole chunk with :func:`torch.func.vmap` around
:func:`torch.func.functional_call`, so the model is never copied and never written to. A
model (or loss function) that ``vmap`` cannot batch falls back to one point at a time, with
the same results.

The split follows the memory each pass needs: a probe forward pass on a few examples
measures the bytes of every layer's output per example. When neuralscope splits the data
itself (an ``(x, y)`` pair without ``batch_size``), a pass is sized to keep its activations
near :data:`WORKING_SET` (32 MiB): small networks run many points of all examples at once
(passes much larger than that ran up to 2.6x slower on two cores: fresh memory and cache
misses cost more than the arithmetic saved). When fewer than :data:`LOOP_BELOW` points fit,
points go one at a time without ``vmap`` (a few-point ``vmap`` turns each convolution into a
batched-weight convolution, and ran 1.5-3x slower), in batches of up to :data:`DIRECT_BATCH`
examples, through one :class:`~neuralscope.adapters.inference_copy.InferenceCopy` of the model:
each point's weights are written into it in place (the user's model is only read), images and
convolution weights channels-last, BatchNorms folded into the convolutions before them and
conv+ReLU pairs fused where that gives the same output (checked on a probe batch), and, for
``dtype``, the copy cast to it instead of autocast. A model that cannot be copied goes through
``functional_call`` one point at a time instead. ``memory_budget`` caps a pass in every case
(the working copy's weights counted). After the first chunk (one pass of ``vmap``, or
:data:`LOOP_STEP` points one at a time) the time of the whole job is estimated and printed
(stderr) before the rest runs; a progress bar shows the points done. The model runs in eval
mode (BatchNorm with its running statistics, no dropout), like the reference code of Li et
al. 2018.
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import vmap

from ..adapters.torch import TorchAdapter, preserve_model_state
from ..progress import progress
from .directions import Direction, flatten
from .objective import Objective
from ..adapters.inference_copy import InferenceCopy

DEFAULT_BUDGET = 2 * 1024 ** 3
WORKING_SET = 32 * 1024 ** 2
DIRECT_BATCH = 2048  # examples per pass when points go one at a time (oneDNN runs big batches best)
# Fewer points than this per vmap pass: one point at a time through a working copy instead. Measured
# (CPU time per point, 1 thread, loaded): DigitsCNN width 8/16/32 on 256/400/64 digits and MLPs of
# 256/512 units on 1,797: the working copy 1.5-3x faster than vmap at 2-16 points per pass; vmap
# ahead only when over 16 points fit (tiny models on a few hundred examples).
LOOP_BELOW = 16
LOOP_STEP = 16  # points between progress updates when they go one at a time
PROBE = 8  # examples the working copy's BatchNorm fold is checked on


@dataclass
class Plan:
    """How an evaluation is split: ``points`` in chunks of ``chunk``, over ``batches`` data batches."""

    points: int
    chunk: int
    examples: int
    batches: int
    bytes_per_point: int
    step: int = 1  # points evaluated between two progress updates
    method: str = ""  # "vmap", or how points go one at a time ("working copy, ...")
    seconds: float | None = None  # the estimate, once the first chunk ran

    def describe(self) -> str:
        est = f"; estimated {_fmt_seconds(self.seconds)} in all" if self.seconds is not None else ""
        return (f"{self.points} weight points x {self.examples} examples, {self.chunk} points per pass "
                f"(~{self.bytes_per_point * self.chunk / 2 ** 20:.0f} MiB; {self.method}){est}")


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def parse_budget(budget: int | str | None) -> int:
    """Bytes from an int or a string such as ``"2GB"`` / ``"512MB"``."""
    if budget is None:
        return DEFAULT_BUDGET
    if isinstance(budget, str):
        s = budget.strip().upper().replace("IB", "B")
        for unit, mult in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024), ("B", 1)):
            if s.endswith(unit) and s[:-len(unit)].strip().replace(".", "", 1).isdigit():
                return int(float(s[:-len(unit)]) * mult)
        from ..errors import InputShapeError

        raise InputShapeError(f"memory_budget {budget!r} is not a size; write e.g. '2GB' or '512MB'.")
    return int(budget)


def bytes_per_example(obj: Objective, center: Direction) -> int:
    """Bytes of all layer outputs for one example, measured on a probe pass of a few examples."""
    x = obj.batches[0][0][:8]
    total = [x.numel() * x.element_size()]

    def hook(mod, args, out):
        if torch.is_tensor(out):
            total[0] += out.numel() * out.element_size()

    with TorchAdapter(obj.model).hooks("all", post=lambda name, m: hook), torch.no_grad():
        obj.forward(center, x)
    return max(1, math.ceil(total[0] / len(x)))


def make_plan(obj: Objective, center: Direction, n_points: int, budget: int, chunk: int | None) -> Plan:
    n_weights = sum(t.numel() * t.element_size() for t in center.values())
    per_example = 2 * bytes_per_example(obj, center)
    if obj.resizable:
        obj.rebatch(max(16, min(WORKING_SET, budget) // per_example))
    largest = max(len(y) for _, y in obj.batches)
    per_point = per_example * largest + 2 * n_weights
    if chunk is None:
        chunk = int(max(1, min(n_points, min(WORKING_SET, budget) // per_point, 256)))
        chunk = 1 if chunk < LOOP_BELOW else chunk
    if chunk == 1 and obj.resizable:  # one point at a time: no vmap, big batches within the budget
        obj.rebatch(max(16, min(DIRECT_BATCH, (budget - 3 * n_weights) // per_example)))
    if chunk == 1:  # the working copy's weights besides the point's
        per_point = per_example * max(len(y) for _, y in obj.batches) + 3 * n_weights
    step = chunk if chunk > 1 else int(max(1, min(LOOP_STEP, n_points, WORKING_SET // max(1, n_weights))))
    return Plan(n_points, int(chunk), obj.n_examples, len(obj.batches), per_point, step=step)


def evaluate_points(obj: Objective, center: Direction, directions: list[Direction], coords: np.ndarray, *,
                    accuracy: bool = True, memory_budget: int | str | None = None, points_per_batch: int | None = None,
                    dtype: torch.dtype | None = None, show_progress: bool | None = None, verbose: bool | None = None,
                    on_progress: Callable[[int, int], None] | None = None, desc: str = "loss landscape"
                    ) -> tuple[np.ndarray, np.ndarray | None, Plan]:
    """Loss (and accuracy) at ``center + coords @ directions`` for every row of ``coords``.

    Returns ``(loss, accuracy or None, plan)`` as float64 arrays of length ``len(coords)``.
    ``on_progress(done, total)`` is called after every chunk (it may raise to stop: the model
    is left as found).
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
    accuracy = accuracy and obj.classifies
    with preserve_model_state(obj.model):
        obj.model.eval()
        plan = make_plan(obj, center, len(coords), parse_budget(memory_budget), points_per_batch)
        base = flatten(center)
        dmat = torch.stack([flatten(d).to(base.dtype) for d in directions]) if directions else base[None] * 0
        runner = _vmapped(obj, accuracy, dtype) if plan.chunk > 1 else _one_at_a_time(obj, accuracy, dtype)
        plan.method = runner.method
        loss = np.zeros(len(coords))
        acc = np.zeros(len(coords)) if accuracy else None
        bar = progress(total=len(coords), desc=desc, enabled=show_progress, unit="pt")
        t0 = time.perf_counter()
        try:
            for start in range(0, len(coords), plan.step):
                c = torch.as_tensor(coords[start:start + plan.step], dtype=base.dtype, device=base.device)
                stacked = _split(base[None] + c @ dmat, center)
                try:
                    lo, co = runner(stacked)
                except (RuntimeError, NotImplementedError):
                    if runner.method != "vmap":
                        raise
                    runner = _one_at_a_time(obj, accuracy, dtype)  # vmap cannot batch this model
                    plan.method = runner.method
                    lo, co = runner(stacked)
                loss[start:start + len(c)] = lo
                if acc is not None:
                    acc[start:start + len(c)] = co
                bar.update(len(c))
                if start == 0:
                    _estimate(plan, time.perf_counter() - t0, desc, verbose)
                if on_progress is not None:
                    on_progress(start + len(c), len(coords))
        finally:
            bar.close()
    return loss, acc, plan


def _estimate(plan: Plan, first: float, desc: str, verbose: bool | None) -> None:
    """The whole job's time from the first chunk's, printed (stderr) when over 5 s or ``verbose``."""
    plan.seconds = first * math.ceil(plan.points / plan.step)
    if verbose or (verbose is None and plan.seconds > 5):
        print(f"neuralscope: {desc}: {plan.describe()}", file=sys.stderr, flush=True)


def _split(flat: torch.Tensor, like: Direction) -> Direction:
    out, i = {}, 0
    for n, t in like.items():
        out[n] = flat[:, i:i + t.numel()].reshape(len(flat), *t.shape).to(t.dtype)
        i += t.numel()
    return out


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _batch_stats(out: torch.Tensor, y: torch.Tensor, loss_fn, accuracy: bool):
    lo = loss_fn(out.float(), y)
    co = (out.argmax(-1) == y).sum() if accuracy else lo * 0
    return lo, co


def _quiet_no_grad(device: torch.device, dtype: torch.dtype | None):
    """No gradients, autocast to ``dtype`` (if any), and torch's note that some op runs unbatched
    under vmap silenced (the results are the same)."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    stack.enter_context(_autocast(device, dtype))
    stack.enter_context(warnings.catch_warnings())
    warnings.filterwarnings("ignore", message="There is a performance drop")
    return stack


def _vmapped(obj: Objective, accuracy: bool, dtype: torch.dtype | None):
    """Many points per pass: ``vmap`` over the points of ``functional_call`` (autocast for ``dtype``)."""
    device = obj.batches[0][0].device

    def vmapped(stacked: Direction):
        n = obj.n_examples
        lo_tot, co_tot = 0.0, 0.0
        with _quiet_no_grad(device, dtype):
            for x, y in obj.batches:
                lo, co = vmap(lambda w, x=x, y=y: _batch_stats(obj.forward(w, x), y, obj.loss_fn, accuracy),
                              randomness="same")(stacked)
                lo_tot = lo_tot + lo.double().cpu().numpy() * (len(y) / n)
                co_tot = co_tot + co.double().cpu().numpy() / n
        return lo_tot, co_tot
    vmapped.method = "vmap"
    return vmapped


def _one_at_a_time(obj: Objective, accuracy: bool, dtype: torch.dtype | None):
    """Points in turn, each over every batch, through one :class:`InferenceCopy` of the model
    (weights written in place, channels-last, BatchNorms folded, cast to ``dtype``); through
    ``functional_call`` (autocast for ``dtype``) when the model cannot be copied."""
    try:
        work = InferenceCopy(obj.model, obj.batches[0][0][:PROBE], dtype=dtype)
    except (RuntimeError, TypeError, NotImplementedError, copy.Error) as exc:  # deepcopy or dtype refused
        return _functional_one_at_a_time(obj, accuracy, dtype, reason=_first_line(exc))
    batches = [(work.inputs(x), y) for x, y in obj.batches]

    def point_stats(weights: Direction):
        work.load(weights)
        return [_batch_stats(work.module(x), y, obj.loss_fn, accuracy) for x, y in batches]

    runner = _point_by_point(obj, point_stats, obj.batches[0][0].device, None)
    runner.method = ", ".join(filter(None, ["working copy", work.describe()]))
    return runner


def _functional_one_at_a_time(obj: Objective, accuracy: bool, dtype: torch.dtype | None, reason: str):
    batches = [(_channels_last(x), y) for x, y in obj.batches]

    def point_stats(weights: Direction):
        w = {name: _channels_last(t) for name, t in weights.items()}
        return [_batch_stats(obj.forward(w, x), y, obj.loss_fn, accuracy) for x, y in batches]

    runner = _point_by_point(obj, point_stats, obj.batches[0][0].device, dtype)
    runner.method = f"functional_call (no working copy: {reason})"
    return runner


def _point_by_point(obj: Objective, point_stats, device: torch.device, dtype: torch.dtype | None):
    """A chunk runner from ``point_stats(weights) -> [(loss, correct) per batch]``."""
    def one_by_one(stacked: Direction):
        k = len(next(iter(stacked.values())))
        n = obj.n_examples
        lo_tot, co_tot = np.zeros(k), np.zeros(k)
        with _quiet_no_grad(device, dtype):
            for i in range(k):
                for (lo, co), (_, y) in zip(point_stats({name: t[i] for name, t in stacked.items()}), obj.batches):
                    lo_tot[i] += float(lo) * len(y) / n
                    co_tot[i] += float(co) / n
        return lo_tot, co_tot
    return one_by_one


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 and t.device.type == "cpu" else t
