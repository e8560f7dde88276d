"""Intra-op threads for the methods that run the model many times without gradients
(occlusion, feature ablation, exact Shapley values, KernelSHAP, LIME).

Each torch operation on a large tensor splits its work over the intra-op threads and
waits at a barrier until every thread is done. When other processes keep the cores busy,
one of our threads is often not scheduled and the rest spin, then sleep, at every barrier:
measured on this project's 2-core machine with a load average of 12-18, a 12-64-32-2 MLP on
81,920 rows in passes of 1,024 rows took 1.18 s of CPU time (11.3 s wall) with 2 threads and
0.020 s (0.17 s wall) with one; in passes of 81,920 rows, 0.073 s against 0.032 s. On a busy
machine the extra thread buys no core, only waiting; these methods then run on one thread
and give the process its setting back afterwards.

"Busy" is the 1-minute load average above the number of cores: more runnable threads than
cores, on average, than the machine can run. A process running alone with all its threads
brings the load to at most the core count, so it keeps them.

Large models keep their threads on a busy machine too: each of their operations runs long
beside a barrier's wait, and a second thread still buys time. Occlusion of ResNet-50 (25.6M
parameters; 2 images at 112x112, 49 windows) on a 2-core AMD EPYC beside two busy loops (load
4.4): 9.94 s on one thread, 5.16 s on two, Captum 6.81 s (best of two, interleaved). So the
rule drops threads only for models under :data:`LARGE_MODEL` parameters (the MLP above has 3k).
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import nn

from ..progress import progress

T = TypeVar("T")

#: parameters from which a model's passes keep every intra-op thread on a busy machine
LARGE_MODEL = 1_000_000


def machine_busy() -> bool:
    """Whether other work keeps the cores busy (1-minute load average above the cores)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # (no load average on this platform: assume the machine is ours)
        return False
    return load > (os.cpu_count() or 1)


def large_model(model: Any) -> bool:
    """Whether ``model`` (an ``nn.Module``; anything else is not) has at least
    :data:`LARGE_MODEL` parameters."""
    if not isinstance(model, nn.Module):
        return False
    return sum(p.numel() for p in model.parameters()) >= LARGE_MODEL


@contextmanager
def pass_threads(device: torch.device | str = "cpu", model: Any = None) -> Iterator[int]:
    """Run a block of many forward passes of ``model`` on one intra-op thread when the
    machine is busy (CPU only; models with fewer than :data:`LARGE_MODEL` parameters, or none
    given), else on the process's setting; yields the thread count used and restores the
    setting afterwards, also on error. (The setting is the process's: other Python threads
    running torch at the same time share it for the block's duration.)"""
    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or before == 1 or large_model(model) or not machine_busy():
        yield before
        return
    torch.set_num_threads(1)
    try:
        yield 1
    finally:
        torch.set_num_threads(before)


def on_pass_threads(method: Callable) -> Callable:
    """Decorate a method's ``_attribute(self, x, target)`` to run in :func:`pass_threads`."""
    @functools.wraps(method)
    def wrapped(self, x, target):
        with pass_threads(x.device, getattr(self, "model", None)):
            return method(self, x, target)
    return wrapped


def map_rows(fn: Callable[[int], T], count: int, *, parallel: bool, desc: str = "",
             enabled: bool | None = None) -> list[T]:
    """``[fn(0), ..., fn(count - 1)]`` with a progress bar. With ``parallel`` (rows that are
    independent CPU work, e.g. a fused MLP chain's passes) on an idle machine with several
    intra-op threads, the rows run on that many Python threads instead, each torch operation
    on one thread: small matrix products split over threads spend much of their time at
    the split's barrier, a row per thread has none. The thread setting is restored
    afterwards, also on error.

    Example:
        >>> map_rows(lambda i: i * i, 4, parallel=True)
        [0, 1, 4, 9]
    """
    workers = torch.get_num_threads()
    if not parallel or count < 2 or workers < 2 or machine_busy():
        return [fn(i) for i in progress(range(count), desc=desc, enabled=enabled)]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(workers, count)) as pool:
            return list(progress(pool.map(fn, range(count)), total=count, desc=desc, enabled=enabled))
    finally:
        torch.set_num_threads(workers)


__all__ = ["machine_busy", "pass_threads", "on_pass_threads", "map_rows"]
