"""Engines run :func:`~neuralscope.audit.compute.compute_shard` over the pending shards and
hand each result back to the driver, which alone writes the run.

* :class:`LocalEngine` — this process, shard after shard; needs nothing but torch.
* :class:`RayEngine` — Ray actors (imported only when chosen), each holding one copy of
  the model (on a GPU where the cluster has them). The driver streams shards to them with
  a bounded number in flight; an actor that dies is restarted by Ray and its shard retried
  (``max_restarts`` / ``max_task_retries``). Ray schedules the work across machines; this
  module only submits and collects.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from torch import nn

from ..errors import NeuralscopeError
from .compute import AuditSpec, compute_shard
from .curves import CurveModel
from .source import Shard

__all__ = ["LocalEngine", "RayEngine", "make_engine", "EngineError"]


class EngineError(NeuralscopeError, ValueError):
    """An engine that does not exist or cannot start."""


class LocalEngine:
    """Compute shards one after another in this process."""

    name = "local"

    def run(self, model: nn.Module, spec: AuditSpec, shards: Iterable[Shard]) -> Iterator[tuple[int, dict]]:
        curves = CurveModel(model)  # its forward stand-in serves every shard
        for s in shards:
            yield s.index, compute_shard(model, spec, s.x, s.labels, s.masks, s.start, curves)


class _Worker:
    """One model copy in a Ray actor."""

    def __init__(self, model: nn.Module, spec: AuditSpec, use_gpu: bool):
        import torch

        self.device = torch.device("cuda") if use_gpu and torch.cuda.is_available() else torch.device("cpu")
        self.model, self.spec = model.to(self.device), spec
        self.curves = CurveModel(self.model)

    def compute(self, index: int, start: int, x, labels, masks) -> tuple[int, dict]:
        return index, compute_shard(self.model, self.spec, x, labels, masks, start, self.curves)

    def pid(self) -> int:
        import os

        return os.getpid()

    def describe(self) -> dict:
        """Where this worker runs: its process, the GPUs Ray assigned it, the torch device."""
        import os

        import ray

        return {"pid": os.getpid(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "device": str(self.device),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


class RayEngine:
    """Compute shards on Ray actors (``workers`` of them; default: one per CPU of the
    cluster, or one per GPU where it has GPUs). Connects to a running Ray (``ray.init()``
    first for a cluster) or starts a local one.

    Where the cluster declares GPUs, each actor asks Ray for ``gpus_per_worker`` of them
    (default 1; a fraction packs several actors on one GPU), Ray sets the actor's
    ``CUDA_VISIBLE_DEVICES`` and the actor moves its model copy to ``cuda``; an actor whose
    process sees no CUDA device runs on its CPU. ``gpus_per_worker=0`` keeps the work on CPUs.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, cpus_per_worker: float = 1, in_flight: int = 2,
                 max_retries: int = 3, gpus_per_worker: float | None = None):
        self.workers, self.cpus, self.in_flight, self.retries = workers, cpus_per_worker, in_flight, max_retries
        self.gpus = gpus_per_worker
        self.actors: list = []
        self._model_ref = None

    def _request(self, resources: dict) -> tuple[int, float]:
        """(number of actors, GPUs per actor) for a cluster with these resources."""
        gpus = float(resources.get("GPU", 0))
        per = (1.0 if gpus else 0.0) if self.gpus is None else float(self.gpus)
        if per and per > gpus:
            raise EngineError(f"gpus_per_worker={per:g} but the Ray cluster has {gpus:g} GPUs; "
                              "ask for fewer (a fraction shares a GPU) or gpus_per_worker=0 for CPUs.")
        n = self.workers or (int(gpus // per) if per else max(1, int(resources.get("CPU", 1) // self.cpus)))
        return max(1, n), per

    def _start(self, model: nn.Module, spec: AuditSpec) -> None:
        try:
            import ray
        except ImportError:
            raise EngineError("engine='ray' needs Ray: pip install 'neuralscope[ray]'.") from None
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        n, per = self._request(ray.cluster_resources())
        actor = ray.remote(num_cpus=self.cpus, num_gpus=per, max_restarts=self.retries,
                           max_task_retries=self.retries)(_Worker)
        # one serialised copy shared by the actors (moved to their device there); the engine
        # holds the reference so that a restarted actor can still read it
        self._model_ref = ray.put(model)
        self.actors = [actor.remote(self._model_ref, spec, per > 0) for _ in range(n)]

    def run(self, model: nn.Module, spec: AuditSpec, shards: Iterable[Shard]) -> Iterator[tuple[int, dict]]:
        import ray

        self._start(model, spec)
        pending: dict = {}
        free = list(range(len(self.actors))) * self.in_flight
        it = iter(shards)
        try:
            while True:
                while free and (s := next(it, None)) is not None:
                    a = free.pop()
                    pending[self.actors[a].compute.remote(s.index, s.start, s.x, s.labels, s.masks)] = a
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                free.append(pending.pop(ready[0]))
                yield ray.get(ready[0])
        finally:
            for a in self.actors:
                ray.kill(a)
            self.actors, self._model_ref = [], None

    def worker_pids(self) -> list[int]:
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def worker_info(self) -> list[dict]:
        """Each running actor's process, assigned GPUs and torch device (while ``run`` runs)."""
        import ray

        return ray.get([a.describe.remote() for a in self.actors])


def make_engine(engine: Any) -> Any:
    if engine in (None, "local"):
        return LocalEngine()
    if engine == "ray":
        return RayEngine()
    if hasattr(engine, "run"):
        return engine
    raise EngineError(f"engine must be 'local', 'ray' or an engine object (LocalEngine(), RayEngine(workers=4)), "
                      f"not {engine!r}.")
