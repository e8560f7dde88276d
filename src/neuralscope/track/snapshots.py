"""Weight snapshots of a watched model: ``run.watch(model, snapshots=N)`` stores the model's
floating-point parameters and buffers every ``N`` training steps, so that the path of the
weights can be drawn afterwards (:func:`neuralscope.trajectory` takes the run).

Each snapshot is one ``.npz`` file (float32 arrays named by ``state_dict`` key, read back
without pickle) in the run's artifacts, series ``weights/snapshot``, taken at the training
forward pass of its step (the weights the step starts from). The tensors are copied on the
training thread and encoded on the store's writer thread. The snapshots of a run together
stay under ``budget`` bytes: when the next one would not fit, recording stops and a note
says so (watch with a larger ``snapshots`` interval or ``snapshot_budget``).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

SERIES = "weights/snapshot"
DEFAULT_BUDGET = 256 * 1024 ** 2


class Snapshots:
    """Takes the snapshots of one watched model (the watcher calls :meth:`take`)."""

    def __init__(self, writer, model: nn.Module, every: int, budget: int = DEFAULT_BUDGET):
        if not isinstance(every, int) or every < 0:
            raise ValueError(f"snapshots must be a step interval (a positive integer) or 0 for none, not {every!r}.")
        self.writer, self.model, self.every, self.budget = writer, model, every, int(budget)
        self.used = 0
        self.stopped = False

    def due(self, step: int) -> bool:
        return self.every > 0 and not self.stopped and step % self.every == 0

    @torch.no_grad()
    def take(self, step: int) -> None:
        state = {n: t.detach().to("cpu", torch.float32, copy=True)
                 for n, t in self.model.state_dict(keep_vars=True).items() if t.is_floating_point()}
        size = sum(t.numel() * 4 for t in state.values())
        if self.used + size > self.budget:
            self.stopped = True
            self.writer.note(step, "info", "snapshots_stopped",
                             f"Weight snapshots stopped at step {step}: the next one would pass the budget of "
                             f"{self.budget / 2 ** 20:.0f} MiB; watch with a larger snapshots interval or "
                             "snapshot_budget to cover the whole run.", series=SERIES)
            return
        self.used += size
        self.writer.weights(SERIES, step, lambda: _npz(state), {"tensors": len(state), "bytes": size})


def _npz(state: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{_key(n): t.numpy() for n, t in state.items()})
    return buf.getvalue()


def _key(name: str) -> str:
    return name.replace("/", "\\")  # npz member names are file names: no "/"


def read_snapshots(run: Any) -> tuple[list[int], list[dict[str, torch.Tensor]]]:
    """The weight snapshots of a run (a :class:`~neuralscope.track.Run`, a
    :class:`~neuralscope.track.RunReader` or its directory): ``(steps, state_dicts)`` in step
    order.

    Example:
        >>> import tempfile, torch
        >>> from neuralscope.track import Run
        >>> net = torch.nn.Linear(3, 1); opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> with Run(tempfile.mkdtemp()) as run:
        ...     _ = run.watch(net, every=100, what=(), snapshots=2)
        ...     for _ in range(5):
        ...         opt.zero_grad(); net(torch.randn(8, 3)).pow(2).mean().backward(); opt.step()
        >>> steps, states = read_snapshots(run)
        >>> steps, sorted(states[0])
        ([0, 2, 4], ['bias', 'weight'])
    """
    from .store import RunReader

    if isinstance(run, RunReader):
        reader = run
    elif hasattr(run, "watch"):  # a Run: what it queued is written first
        run.flush()
        reader = RunReader(run.path)
    else:
        reader = RunReader(Path(run))
    rows = sorted((r for r in reader.artifacts(SERIES, kind="weights") if r["path"]), key=lambda r: r["step"])
    states = []
    for r in rows:
        with np.load(r["path"], allow_pickle=False) as z:
            states.append({k.replace("\\", "/"): torch.from_numpy(z[k].copy()) for k in z.files})
    return [int(r["step"]) for r in rows], states
