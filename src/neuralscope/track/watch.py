"""``run.watch(model)``: per-layer weights, gradients and activations on every Nth step.

What stays on the model between watched steps is one forward pre-hook on the root module
that counts training forward passes (one Python call per step). On a watched step that
hook

* records each parameter's norm and histogram (``weights``),
* keeps a copy of the parameters, so that at the next forward pass (after the optimizer
  stepped) the update-to-weight ratio ``||w_next - w|| / ||w||`` is logged for that step,
* registers a post-accumulate-grad hook on each parameter (``gradients``: norm, histogram,
  NaN/Inf count of ``p.grad`` once backward has filled it) and a forward hook on each layer
  (``activations``: mean, std, histogram and, after a ReLU-family module, the fraction of
  dead units, i.e. channels that are <= 0 for every example in the batch, as
  :mod:`neuralscope.nonlinearities` defines them).

Everything is written through the run's :class:`~neuralscope.track.store.StoreWriter`.

Those extra hooks are removed at the next forward pass, by :meth:`Watcher.finish_pending`
or by ``run.unwatch()``; nothing of neuralscope runs on the other steps.

Series names (all scalars at the watched step): ``weights/norm/<param>``,
``gradients/norm/<param>``, ``gradients/norm/<layer>`` (all parameters of the layer
together), ``gradients/nonfinite/<param>``, ``updates/ratio/<param>``,
``activations/mean/<layer>``, ``activations/std/<layer>``, ``activations/dead/<layer>``;
histograms ``weights/<param>``, ``gradients/<param>``, ``activations/<layer>``.

With ``snapshots=N`` the floating-point weights and buffers are also stored every ``N``
steps (``weights/snapshot``, bounded by ``snapshot_budget`` bytes; see
:mod:`neuralscope.track.snapshots`), for :func:`neuralscope.trajectory`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from ..adapters.torch import add_hooks, resolve_layers
from ..errors import check_materialized
from ..histogram import histogram
from ..nonlinearities import dead_mask, nonlinearity
from .snapshots import DEFAULT_BUDGET, Snapshots

__all__ = ["Watcher"]

_WHAT = {"weights", "gradients", "activations"}


class Watcher:
    """Records a model's internals into a run on every ``every``-th training forward pass.

    A forward pass counts when the model is in training mode and autograd is enabled
    (validation passes under ``torch.no_grad()`` or in eval mode do not). The k-th counted
    pass (from ``first_step``) is step ``first_step + k``; it is watched when that number is
    a multiple of ``every``.

    Example:
        >>> import tempfile, torch
        >>> from neuralscope.track import Run
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> with Run(tempfile.mkdtemp()) as run:
        ...     _ = run.watch(net, every=2)
        ...     for step in range(4):
        ...         opt.zero_grad(); net(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
        >>> run.read().scalars("gradients/norm/0.weight").steps.tolist()
        [0, 2]
    """

    def __init__(self, run, model: nn.Module, every: int = 100,
                 what: Iterable[str] = ("weights", "gradients", "activations"), layers: Any = None,
                 bins: int = 64, first_step: int = 0, snapshots: int = 0, snapshot_budget: int = DEFAULT_BUDGET):
        if not isinstance(model, nn.Module):
            raise TypeError(f"watch() needs a torch.nn.Module, not {type(model).__name__}.")
        check_materialized(model)  # a meta-device model has no values to watch
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, not {every!r}.")
        what = {what} if isinstance(what, str) else set(what)
        if not what <= _WHAT:
            raise ValueError(f"what must be a subset of {sorted(_WHAT)}, not {sorted(what - _WHAT)}.")
        self.run, self.model, self.every, self.what, self.bins = run, model, every, what, bins
        self.writer = run.writer  # the store's typed interface (None on a rank that does not write)
        self.step = first_step
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.owner = {n: n.rsplit(".", 1)[0] if "." in n else "" for n, _ in self.params}
        if layers is None:
            self.layers = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
        else:
            self.layers = resolve_layers(model, layers)
        self._temp: list = []
        self._pending: dict | None = None
        self._reported = False
        self.snapshots = Snapshots(self.writer, model, snapshots, snapshot_budget)  # weights for trajectories
        (self._handle,) = add_hooks([("", model)], pre=lambda name, m: self._on_forward)

    # the only code that runs on every step
    def _on_forward(self, module, args):
        if self.writer is None or not (module.training and torch.is_grad_enabled()):
            return
        step = self.step
        self.step += 1
        try:
            if self._pending is not None:
                self.finish_pending()
            if step % self.every == 0:
                self._begin(step)
            if self.snapshots.due(step):
                self.snapshots.take(step)
        except Exception as exc:  # noqa: BLE001 - watching must never break training
            self._failed(step, exc)

    def _failed(self, step: int, exc: Exception) -> None:
        """Record why watching failed (once) and drop this step's hooks; training goes on."""
        for h in self._temp:
            h.remove()
        self._temp, self._pending = [], None
        if not self._reported:
            self._reported = True
            self.writer.note(step, "warning", "watch_error",
                             f"watch() could not record step {step}: {type(exc).__name__}: {exc}")

    # -- a watched step -----------------------------------------------------------------
    @torch.no_grad()
    def _begin(self, step: int) -> None:
        pending = {"step": step, "scalars": {}, "grad_norms": {}, "grad_bad": {}}
        names = [n for n, _ in self.params]
        tensors = [p.detach() for _, p in self.params]
        if tensors and ("weights" in self.what or "gradients" in self.what):
            norms = torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]).tolist()
            pending["weight_norms"] = dict(zip(names, norms))
        if "weights" in self.what:
            for (n, p), norm in zip(self.params, pending.get("weight_norms", {}).values()):
                pending["scalars"][f"weights/norm/{n}"] = norm
                self.writer.histogram(f"weights/{n}", step, histogram(p.detach(), self.bins))
            pending["snapshot"] = [t.clone() for t in tensors]
        if "gradients" in self.what:
            for n, p in self.params:
                self._temp.append(p.register_post_accumulate_grad_hook(self._grad_hook(n)))
        if "activations" in self.what:
            add_hooks(self.layers, post=self._act_hook, handles=self._temp)  # the adapter's hook mechanism
        self._pending = pending

    def _grad_hook(self, name: str):
        def hook(p: torch.Tensor) -> None:
            pending = self._pending
            if pending is None or p.grad is None:
                return
            try:
                grad_stats(p, pending)
            except Exception as exc:  # noqa: BLE001 - never break the backward pass
                self._failed(pending["step"], exc)

        def grad_stats(p: torch.Tensor, pending: dict) -> None:
            with torch.no_grad():
                g = p.grad.detach()
                step = pending["step"]
                pending["grad_norms"][name] = torch.linalg.vector_norm(g.float())
                hist = histogram(g, self.bins)
                pending["grad_bad"][name] = hist.nonfinite
                self.writer.histogram(f"gradients/{name}", step, hist)
        return hook

    def _act_hook(self, name: str, module: nn.Module):
        rule = nonlinearity(module)

        def hook(mod, args, output) -> None:
            pending = self._pending
            if pending is None or not torch.is_tensor(output) or not output.is_floating_point():
                return
            try:
                act_stats(output, pending)
            except Exception as exc:  # noqa: BLE001 - never break the forward pass
                self._failed(pending["step"], exc)

        def act_stats(output: torch.Tensor, pending: dict) -> None:
            with torch.no_grad():
                a = output.detach()
                step = pending["step"]
                name_h = f"activations/{name}"
                # one histogram pass also gives count, sum and sum of squares: mean and std
                hist = histogram(a, self.bins)
                self.writer.histogram(name_h, step, hist)
                nonfinite = hist.nonfinite
                num, total, sq = hist.num, hist.sum, hist.sum_sq
                s = pending["scalars"]
                if num and not nonfinite:
                    mean = total / num
                    s[f"activations/mean/{name}"] = mean
                    s[f"activations/std/{name}"] = math.sqrt(max(sq - num * mean * mean, 0.0) / (num - 1)) if num > 1 else 0.0
                elif nonfinite:
                    s[f"activations/mean/{name}"] = math.nan
                dead = dead_mask(rule, a) if a.dim() >= 2 else None  # the shared definition
                if dead is not None:
                    s[f"activations/dead/{name}"] = dead.float().mean()
        return hook

    @torch.no_grad()
    def finish_pending(self) -> None:
        """Log what the watched step collected (called by the next forward pass, by
        ``run.flush()`` and by ``run.unwatch()``) and remove the step's hooks."""
        for h in self._temp:
            h.remove()
        self._temp = []
        pending, self._pending = self._pending, None
        if pending is None:
            return
        step = pending["step"]
        scalars = pending["scalars"]
        snap = pending.get("snapshot")
        if snap is not None:
            now = [p.detach() for _, p in self.params]
            diffs = torch.stack([torch.linalg.vector_norm((a - b).float()) for a, b in zip(now, snap)]).tolist()
            for (n, _), d in zip(self.params, diffs):
                w = pending["weight_norms"][n]
                if w > 0:  # a zero tensor (a fresh bias) has no ratio
                    scalars[f"updates/ratio/{n}"] = d / w
        grads = pending["grad_norms"]
        if grads:
            gn = dict(zip(grads, torch.stack(list(grads.values())).tolist()))
            bad = pending["grad_bad"]
            layer_sq: dict[str, float] = {}
            for n, v in gn.items():
                scalars[f"gradients/norm/{n}"] = v
                scalars[f"gradients/nonfinite/{n}"] = bad[n]
                layer_sq[self.owner[n]] = layer_sq.get(self.owner[n], 0.0) + v * v
            for layer, sq in layer_sq.items():
                if layer:  # a parameter directly on the root has no layer name
                    scalars[f"gradients/norm/{layer}"] = math.sqrt(sq)
        out = {k: (float(v) if torch.is_tensor(v) else v) for k, v in scalars.items()}
        if out:
            self.writer.scalars(step, out)

    def remove(self) -> None:
        """Finish the pending step and remove every hook this watcher registered."""
        try:
            self.finish_pending()
        finally:
            for h in self._temp:
                h.remove()
            self._temp = []
            self._handle.remove()
