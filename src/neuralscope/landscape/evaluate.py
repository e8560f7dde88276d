"""Many weight points evaluated at once.

A point is ``center + sum_j c_j * direction_j``. Points are evaluated in chunks: the chunk's
weights are built as one ``(points, n_weights)`` matrix product and the forward pass runs
over the whole chunk with :func:`torch.func.vmap` around
:func:`torch.func.functional_call`, so the model is never copied and never written to. A
model (or loss function) that ``vmap`` cannot batch falls back to one point at a time, with
the same results.

The split follows the memory each pass needs: a probe forward pass on a few examples
measures the bytes of every layer's output per example. When neuralscope splits the data
itself (an ``(x, y)`` pair without ``batch_size``), a pass is sized to keep its activations
near :data:`WORKING_SET` (32 MiB): small networks run many points of all examples at once
(passes much larger than that ran up to 2.6x slower on two cores: fresh memory and cache
misses cost more than the arithmetic saved). When not even two points fit, points go one at a
time without ``vmap`` (a one-point ``vmap`` turns each convolution into a batched-weight
convolution that ran slower than the plain one), in batches of up to :data:`DIRECT_BATCH`
examples, with images and convolution weights channels-last (oneDNN's layout on CPUs). ``memory_budget`` caps a pass in every case. After
the first chunk the time of the whole job is estimated and printed (stderr) before the rest
runs; a progress bar shows the points done. The model runs in eval mode (BatchNorm with its
running statistics, no dropout), like the reference code of Li et al. 2018.
"""
from __future__ import annotations

import contextlib
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

DEFAULT_BUDGET = 2 * 1024 ** 3
WORKING_SET = 32 * 1024 ** 2
DIRECT_BATCH = 2048  # examples per pass when points go one at a time (oneDNN runs big batches best)


@dataclass
class Plan:
    """How an evaluation is split: ``points`` in chunks of ``chunk``, over ``batches`` data batches."""

    points: int
    chunk: int
    examples: int
    batches: int
    bytes_per_point: int
    seconds: float | None = None  # the estimate, once the first chunk ran

    def describe(self) -> str:
        est = f"; estimated {_fmt_seconds(self.seconds)} in all" if self.seconds is not None else ""
        return (f"{self.points} weight points x {self.examples} examples, {self.chunk} points per pass "
                f"(~{self.bytes_per_point * self.chunk / 2 ** 20:.0f} MiB){est}")


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
    if chunk == 1 and obj.resizable:  # one point at a time: no vmap, big batches within the budget
        obj.rebatch(max(16, min(DIRECT_BATCH, budget // per_example)))
        per_point = per_example * max(len(y) for _, y in obj.batches) + 2 * n_weights
    return Plan(n_points, int(chunk), obj.n_examples, len(obj.batches), per_point)


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
        loss = np.zeros(len(coords))
        acc = np.zeros(len(coords)) if accuracy else None
        run_chunk = _one_by_one(obj, accuracy) if plan.chunk == 1 else _vmapped(obj, accuracy)
        bar = progress(total=len(coords), desc=desc, enabled=show_progress, unit="pt")
        t0 = time.perf_counter()
        try:
            for start in range(0, len(coords), plan.chunk):
                c = torch.as_tensor(coords[start:start + plan.chunk], dtype=base.dtype, device=base.device)
                stacked = _split(base[None] + c @ dmat, center)
                with torch.no_grad(), _autocast(base.device, dtype), warnings.catch_warnings():
                    # torch's note that some op runs unbatched under vmap: results are the same
                    warnings.filterwarnings("ignore", message="There is a performance drop")
                    try:
                        lo, co = run_chunk(stacked)
                    except (RuntimeError, NotImplementedError):
                        if run_chunk.__name__ == "one_by_one":
                            raise
                        run_chunk = _one_by_one(obj, accuracy)  # vmap cannot batch this model
                        lo, co = run_chunk(stacked)
                loss[start:start + len(c)] = lo
                if acc is not None:
                    acc[start:start + len(c)] = co
                bar.update(len(c))
                if start == 0:
                    plan.seconds = (time.perf_counter() - t0) * math.ceil(len(coords) / plan.chunk)
                    if verbose or (verbose is None and plan.seconds > 5):
                        print(f"neuralscope: {desc}: {plan.describe()}", file=sys.stderr, flush=True)
                if on_progress is not None:
                    on_progress(start + len(c), len(coords))
        finally:
            bar.close()
    return loss, acc, plan


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


def _batch_stats(obj: Objective, weights: Direction, x, y, accuracy: bool):
    out = obj.forward(weights, x)
    lo = obj.loss_fn(out.float(), y)
    co = (out.argmax(-1) == y).sum() if accuracy else lo * 0
    return lo, co


def _vmapped(obj: Objective, accuracy: bool):
    def vmapped(stacked: Direction):
        n = obj.n_examples
        lo_tot, co_tot = 0.0, 0.0
        for x, y in obj.batches:
            lo, co = vmap(lambda w, x=x, y=y: _batch_stats(obj, w, x, y, accuracy), randomness="same")(stacked)
            lo_tot = lo_tot + lo.double().cpu().numpy() * (len(y) / n)
            co_tot = co_tot + co.double().cpu().numpy() / n
        return lo_tot, co_tot
    return vmapped


def _one_by_one(obj: Objective, accuracy: bool):
    """Points in turn, each over every batch; images and convolution weights channels-last
    (oneDNN's fast layout on CPUs; the same arithmetic)."""
    batches = [(_channels_last(x), y) for x, y in obj.batches]

    def one_by_one(stacked: Direction):
        k = len(next(iter(stacked.values())))
        n = obj.n_examples
        lo_tot, co_tot = np.zeros(k), np.zeros(k)
        for i in range(k):
            w = {name: _channels_last(t[i]) for name, t in stacked.items()}
            for x, y in batches:
                lo, co = _batch_stats(obj, w, x, y, accuracy)
                lo_tot[i] += float(lo) * len(y) / n
                co_tot[i] += float(co) / n
        return lo_tot, co_tot
    return one_by_one


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 and t.device.type == "cpu" else t
