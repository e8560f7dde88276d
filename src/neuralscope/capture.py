"""Record what chosen layers compute while the user runs their own forward/backward passes.

:func:`capture` is a context manager. Inside it, every forward pass of the model records the
outputs of the chosen modules (and, with ``gradients=True``, the gradients flowing back into
those outputs). It keeps either the full tensors (``keep="tensors"``) or only running
statistics (``keep="stats"``: count, mean, std, min, max, non-finite count, optionally the
fraction of zeros and per-unit statistics), which costs almost nothing and works over many batches on
large models. All hooks are removed when the block ends, also when it raises.

Example:
    >>> import torch
    >>> from neuralscope.zoo import MLP
    >>> net = MLP()
    >>> with capture(net, layers="body.*") as rec, torch.no_grad():
    ...     _ = net(net.example_input(4))
    >>> rec.names
    ['body.0', 'body.1', 'body.2', 'body.3']
    >>> tuple(rec["body.1"].shape)
    (4, 128)
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal

import numpy as np
import torch
from torch import nn

from .adapters.torch import first_tensor, iter_tensors, module_hooks, resolve_layers
from .errors import NeuralscopeError


class LayerNotRunError(NeuralscopeError, LookupError):
    """A layer chosen for capture that never ran (or never received a gradient)."""


@dataclass
class RunningStats:
    """Statistics of every value a layer produced, accumulated over calls.

    Global numbers (count, mean, std, min, max, non-finite count; zero fraction where
    ``count_zeros``) are always kept; per-unit numbers (unit = dimension 1 of the output,
    the channel of a conv map or the feature of a linear layer) only with ``per_unit=True``.

    A float32 output on the CPU is read once, by the compiled :mod:`neuralscope._reduce`
    (sum, sum of squares, min and max together), and its numbers kept as floats. Otherwise,
    or where it holds NaN or infinity, or where that module was not built, the hook does three
    cheap passes (sum, dot product with itself, ``aminmax``) and keeps the per-call results as
    0-d tensors on the output's device (no host synchronisation beyond one finiteness check);
    either is summed in float64 when read. Outputs on the CPU larger than ``_PIECE`` values go
    through the three passes piece by piece, last piece first (the end of a fresh output is
    what is still in cache), each piece recorded as a call would be (so NaN/Inf are counted
    per piece).
    The std comes from the sums of values and squares, so it loses relative precision when
    ``|mean|`` is far larger than the std.

    Zeros are counted on the CPU as ``n - dot(sign(x), sign(x))`` in pieces of at most
    2**24 values (sums of zeros and ones, exact in float32; ``count_nonzero`` took 9x as long).
    With ``per_unit=True`` an all-finite output is reduced per unit only (sums, squares, min,
    max, and the positives from the same ``sign``), and the global numbers are the per-unit
    ones combined (min and max exactly, sums in float64); an output holding NaN or infinity
    takes the general path (NaN counted per unit, non-finite values left out of the global
    numbers).

    Example:
        >>> st = RunningStats(per_unit=True, count_zeros=True)
        >>> st.update(torch.tensor([[0.0, 1.0], [2.0, -3.0]]))
        >>> st.count, st.min, st.max, st.zero_fraction, st.unit_stats()["active"].tolist()
        (4, -3.0, 2.0, 0.25, [0.5, 0.5])
    """

    per_unit: bool = False
    count_zeros: bool = False
    calls: int = 0
    nonfinite: int = 0
    shape: tuple | None = None
    _parts: list = field(default_factory=list)  # (n, mean, var, min, max, zeros) per call
    _merged: tuple | None = None
    unit_count: int = 0
    _unit_sum: Any = None
    _unit_sumsq: Any = None
    _unit_min: Any = None
    _unit_max: Any = None
    _unit_pos: Any = None
    _unit_nan: Any = None

    def update(self, t: torch.Tensor) -> None:
        t = t.detach()
        if not t.is_floating_point():
            t = t.float()
        self.calls += 1
        self.shape = tuple(t.shape)
        if t.numel() == 0:
            return
        if self.per_unit and t.dim() >= 2 and self._update_from_units(t):
            return
        flat = _flat_view(t)
        if not self._update_in_one_pass(flat):
            self._update_in_passes(flat)
        if self.per_unit and t.dim() >= 2:
            self._update_units(t)

    def _update_in_one_pass(self, flat: torch.Tensor) -> bool:
        """Add the global numbers of a finite float32 CPU vector in one pass (the compiled
        :mod:`neuralscope._reduce`); False (nothing recorded) for anything else, or where
        that module was not built."""
        if _ONE_PASS is None or flat.dtype != torch.float32 or flat.device.type != "cpu" or not flat.is_contiguous():
            return False
        total, sq, lo, hi = _ONE_PASS(flat.data_ptr(), flat.numel())
        if not math.isfinite(sq):  # NaN/Inf somewhere: the piecewise path counts them
            return False
        self._add_part(flat.numel(), total, sq, lo, hi, _zero_count(flat) if self.count_zeros else None)
        return True

    def _update_in_passes(self, flat: torch.Tensor) -> None:
        """Add the global numbers of ``flat`` by torch's three reductions, in pieces on the CPU
        (last piece first: the end of a fresh output is the part still in cache)."""
        if flat.numel() <= _PIECE or flat.device.type != "cpu":
            self._update_flat(flat)
        else:
            for piece in reversed(flat.split(_PIECE)):
                self._update_flat(piece)

    def _update_flat(self, flat: torch.Tensor) -> None:
        """Add the global numbers of the vector ``flat``: sum, sum of squares, min, max (and zeros)."""
        total = flat.sum()
        sq = torch.dot(flat, flat) if flat.dtype in (torch.float32, torch.float64) else (flat.float() ** 2).sum()
        if not math.isfinite(sq.item()):  # any NaN/Inf makes the sum of squares non-finite: count, use the rest
            good = torch.isfinite(flat)
            self.nonfinite += int(flat.numel() - good.sum())
            flat = flat[good]
            if flat.numel() == 0:
                return
            total, sq = flat.sum(), torch.dot(flat.float(), flat.float())
        lo, hi = torch.aminmax(flat)
        zeros = _zero_count(flat) if self.count_zeros else None
        self._add_part(flat.numel(), total, sq, lo, hi, zeros)

    def _add_part(self, n: int, total, sq, lo, hi, zeros) -> None:
        self._parts.append((n, total, sq, lo, hi, zeros))
        if len(self._parts) >= 512:
            self._merge()

    def _update_from_units(self, t: torch.Tensor) -> bool:
        """Per-unit and global statistics of an all-finite output from per-unit reductions only;
        False (nothing recorded) when ``t`` holds NaN or infinity."""
        dims = [d for d in range(t.dim()) if d != 1]
        x = t if t.dtype in (torch.float32, torch.float64) else t.float()
        usq = (x * x).sum(dims)
        sq = usq.double().sum()
        if not math.isfinite(sq.item()):  # a NaN or an infinity: the general path counts them
            return False
        usum, umin, umax = x.sum(dims).double(), x.amin(dims), x.amax(dims)
        sign = torch.sign(x)
        zeros = t.numel() - _nonzero_count_of_signs(_flat_view(sign)) if self.count_zeros else None
        if t.numel() // t.shape[1] <= _EXACT_COUNT:  # per-unit sums of zeros and ones stay exact
            upos = sign.clamp_(min=0).sum(dims).long()
        else:
            upos = (x > 0).sum(dims)
        self._add_part(t.numel(), usum.sum(), sq, umin.amin(), umax.amax(), zeros)
        self._add_units(t, usum, usq.double(), umin, umax, upos, torch.zeros_like(upos))
        return True

    def _update_units(self, t: torch.Tensor) -> None:
        """Per-unit statistics of an output that may hold NaN (counted, and taken as 0)."""
        dims = [d for d in range(t.dim()) if d != 1]
        x = torch.nan_to_num(t.float(), nan=0.0)
        usum, usq = x.sum(dims).double(), (x * x).sum(dims).double()
        umin, umax = x.amin(dims), x.amax(dims)
        upos = (x > 0).sum(dims)
        unan = torch.isnan(t).sum(dims)
        self._add_units(t, usum, usq, umin, umax, upos, unan)

    def _add_units(self, t, usum, usq, umin, umax, upos, unan) -> None:
        self.unit_count += t.numel() // t.shape[1]
        if self._unit_sum is None or self._unit_sum.shape != usum.shape:
            self._unit_sum, self._unit_sumsq, self._unit_min, self._unit_max, self._unit_pos, self._unit_nan = (
                usum, usq, umin, umax, upos, unan)
        else:
            self._unit_nan += unan
            self._unit_sum += usum
            self._unit_sumsq += usq
            self._unit_min = torch.minimum(self._unit_min, umin)
            self._unit_max = torch.maximum(self._unit_max, umax)
            self._unit_pos += upos

    def _merge(self) -> tuple:
        """Combine the per-call sums (and the previous merge) in float64."""
        parts = self._parts
        if not parts:
            return self._merged or (0, 0.0, 0.0, math.nan, math.nan, 0)
        n = sum(p[0] for p in parts)
        if all(torch.is_tensor(p[1]) for p in parts):  # (on an accelerator: one transfer per number)
            s = float(torch.stack([p[1].double() for p in parts]).sum())
            sq = float(torch.stack([p[2].double() for p in parts]).sum())
            lo = float(torch.stack([p[3].double() for p in parts]).min())
            hi = float(torch.stack([p[4].double() for p in parts]).max())
        else:  # plain floats from the one-pass path (mixed with tensors where some pass fell back)
            s, sq = math.fsum(float(p[1]) for p in parts), math.fsum(float(p[2]) for p in parts)
            lo, hi = min(float(p[3]) for p in parts), max(float(p[4]) for p in parts)
        zeros = int(sum(int(p[5]) for p in parts)) if self.count_zeros else 0
        if self._merged is not None and self._merged[0]:
            n0, s0, sq0, lo0, hi0, z0 = self._merged
            n, s, sq, lo, hi, zeros = n + n0, s + s0, sq + sq0, min(lo, lo0), max(hi, hi0), zeros + z0
        self._merged = (n, s, sq, lo, hi, zeros)
        self._parts = []
        return self._merged

    # -- read-outs (plain Python numbers / numpy arrays) ---------------------------------
    @property
    def count(self) -> int:
        """How many finite values were seen."""
        return self._merge()[0]

    @property
    def mean(self) -> float:
        n, s = self._merge()[:2]
        return s / n if n else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation, from the sums of values and of squares."""
        n, s, sq = self._merge()[:3]
        return math.sqrt(max(sq / n - (s / n) ** 2, 0.0)) if n else math.nan

    @property
    def min(self) -> float:
        return self._merge()[3] if self.count else math.nan

    @property
    def max(self) -> float:
        return self._merge()[4] if self.count else math.nan

    @property
    def zero_fraction(self) -> float:
        """Fraction of exact zeros (NaN unless captured with ``count_zeros=True``)."""
        if not self.count_zeros or not self.count:
            return math.nan
        return self._merge()[5] / self.count

    def unit_stats(self) -> dict[str, np.ndarray]:
        """Per-unit ``mean``, ``std``, ``min``, ``max`` (NaN counted as 0), ``active`` (fraction
        > 0) and ``nan`` (fraction NaN: a unit with NaN is broken, not dead)."""
        if self._unit_sum is None:
            raise LayerNotRunError("No per-unit statistics were recorded; pass per_unit=True to capture().")
        n = self.unit_count
        mean = (self._unit_sum / n).cpu().numpy()
        var = (self._unit_sumsq / n).cpu().numpy() - mean ** 2
        return {"mean": mean, "std": np.sqrt(np.maximum(var, 0)), "min": self._unit_min.cpu().numpy(),
                "max": self._unit_max.cpu().numpy(), "active": (self._unit_pos.double() / n).cpu().numpy(),
                "nan": (self._unit_nan.double() / n).cpu().numpy()}

    def to_dict(self) -> dict:
        d = {"calls": self.calls, "count": self.count, "mean": self.mean, "std": self.std,
             "min": self.min, "max": self.max, "zero_fraction": self.zero_fraction,
             "nonfinite": self.nonfinite, "shape": list(self.shape or ())}
        if self._unit_sum is not None:
            d["units"] = self.unit_stats()
        return d


try:  # sum, sum of squares, min and max of a float32 vector in one pass (built by pip install)
    from ._reduce import float32_stats as _ONE_PASS
except ImportError:  # pragma: no cover - a machine without a C compiler: torch's three passes
    _ONE_PASS = None

#: zeros are counted in pieces of at most this many values: a float32 sum of zeros and ones
#: is exact up to 2**24
_EXACT_COUNT = 1 << 24

#: larger outputs on the CPU are reduced in pieces of this many values (4 MiB of float32, half
#: the 8 MiB L3 cache of the machine it was tuned on), all reductions of a piece before the next,
#: so that the second and third passes read the cache instead of memory. Hook time over a
#: ResNet-50 forward (batch 4, 2 threads, loaded): 256K values 11% slower than no pieces, 512K
#: 5% faster to 6% slower, 1M 8-10% faster, 2M the same
_PIECE = 1 << 20


def _zero_count(flat: torch.Tensor) -> int | torch.Tensor:
    """How many values of the finite vector ``flat`` are zero (-0.0 included)."""
    if flat.device.type != "cpu" or flat.dtype not in (torch.float32, torch.float64):
        return flat.numel() - torch.count_nonzero(flat)
    return flat.numel() - _nonzero_count_of_signs(torch.sign(flat))


def _nonzero_count_of_signs(signs: torch.Tensor) -> int:
    """The number of non-zero entries of a vector of -1, 0 and 1: its dot product with itself,
    one BLAS pass (``count_nonzero`` on the CPU takes about 9x as long), in exact pieces."""
    if signs.device.type != "cpu":
        return int(torch.count_nonzero(signs))
    return sum(int(torch.dot(piece, piece)) for piece in signs.split(_EXACT_COUNT))


def _flat_view(t: torch.Tensor) -> torch.Tensor:
    """All values of ``t`` as one vector, without a copy for the dense layouts convolutions
    produce (contiguous and channels-last: the order does not matter to a sum or a min);
    ``reshape`` of a channels-last map would copy it (as long as the reductions themselves)."""
    if t.is_contiguous():
        return t.view(-1)
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(-1)
    if t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
        return t.permute(0, 2, 3, 4, 1).reshape(-1)
    return t.reshape(-1)


@dataclass
class _Slot:
    name: str
    module: nn.Module
    outputs: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    stats: RunningStats | None = None
    grad_stats: RunningStats | None = None
    calls: int = 0
    grad_calls: int = 0


class Recorder:
    """What :func:`capture` recorded, by layer name.

    ``rec[name]`` / :meth:`output` is the layer's output (calls concatenated along the
    batch dimension), :meth:`outputs` the list of calls, :meth:`gradient` the gradient with
    respect to the output, :meth:`stats` the running statistics. Asking for a layer that
    never ran raises :class:`LayerNotRunError` saying so.

    The one capture mechanism for PyTorch models: :meth:`TorchAdapter.record
    <neuralscope.adapters.torch.TorchAdapter.record>` and every analysis that needs a layer's
    output (CAM, layer attribution, feature visualization, activations, tracking) record
    through it, and its hooks are registered by :func:`~neuralscope.adapters.torch.module_hooks`.
    """

    def __init__(self, model: nn.Module, chosen: list[tuple[str, nn.Module]], *, gradients: bool,
                 keep: str, to_cpu: bool, per_unit: bool, output_index: int | None, count_zeros: bool = False,
                 replace: dict[str, Callable[[Any], Any]] | None = None):
        self.model = model
        self.gradients = gradients
        self.keep = keep
        self.to_cpu = to_cpu
        self.output_index = output_index
        self.replace = dict(replace or {})
        self.forward_calls = 0
        self._slots: dict[str, _Slot] = {}
        for name, module in chosen:
            slot = _Slot(name, module)
            if keep == "stats":
                slot.stats = RunningStats(per_unit=per_unit, count_zeros=count_zeros)
                slot.grad_stats = RunningStats(per_unit=per_unit)
            self._slots[name] = slot

    # -- hook machinery ------------------------------------------------------------------
    def _pick(self, output: Any) -> torch.Tensor | None:
        if torch.is_tensor(output):
            return output
        if self.output_index is not None:
            ts = list(iter_tensors(output))
            return ts[self.output_index] if len(ts) > self.output_index else None
        try:
            return first_tensor(output)
        except TypeError:
            return None

    def _keep(self, t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        return t.to("cpu", non_blocking=True) if self.to_cpu and t.device.type != "cpu" else t.clone()

    def _forward_hook(self, name: str, module: nn.Module):
        if name not in self._slots:  # the root, hooked to count forward passes
            return self._count_forward
        slot, pick, fn = self._slots[name], self._pick, self.replace.get(name)
        is_tensor, keep, grads = torch.is_tensor, self.keep, self.gradients
        if keep == "stats" and fn is None and not grads:  # the hot path of capture(keep="stats")
            update = slot.stats.update

            def stats_hook(module, args, output):
                t = output if is_tensor(output) else pick(output)
                if t is not None:
                    slot.calls += 1
                    update(t)
            return stats_hook
        store = {"tensors": self._keep, "live": lambda t: t}.get(keep)

        def hook(module, args, output):
            t = output if is_tensor(output) else pick(output)
            if t is not None:
                slot.calls += 1
                if slot.stats is not None:
                    slot.stats.update(t)
                elif store is not None:
                    slot.outputs.append(store(t))
                if grads and t.requires_grad:
                    t.register_hook(self._grad_hook(slot))
            return None if fn is None else fn(output)
        return hook

    def _grad_hook(self, slot: _Slot):
        def hook(grad):
            slot.grad_calls += 1
            if slot.grad_stats is not None:
                slot.grad_stats.update(grad)
            else:
                slot.grads.insert(0, self._keep(grad))  # backward visits calls last-first
        return hook

    def _count_forward(self, module, args, output):
        self.forward_calls += 1

    def hooked(self) -> contextlib.AbstractContextManager:
        """The recording hooks for a block (the model's root counts forward passes)."""
        root = [] if "" in self._slots else [("", self.model)]
        return module_hooks(root + [(n, s.module) for n, s in self._slots.items()], post=self._forward_hook)

    def kept(self) -> dict[str, list]:
        """Every kept output per layer, one entry per call (empty for a layer that never ran)."""
        return {n: list(s.outputs) for n, s in self._slots.items()}

    # -- access -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Qualified names of the chosen layers, in model order."""
        return list(self._slots)

    @property
    def missing(self) -> list[str]:
        """Chosen layers that never ran."""
        return [n for n, s in self._slots.items() if s.calls == 0]

    def _slot(self, name: str) -> _Slot:
        if isinstance(name, nn.Module):
            hits = [n for n, s in self._slots.items() if s.module is name]
            if hits:
                name = hits[0]
        if name not in self._slots:
            from .errors import LayerNotFoundError

            raise LayerNotFoundError(str(name), self.names, what="captured layer")
        slot = self._slots[name]
        if slot.calls == 0:
            ran = [n for n, s in self._slots.items() if s.calls]
            raise LayerNotRunError(
                f"Layer {name!r} ({type(slot.module).__name__}) was chosen for capture but never ran "
                f"during the {self.forward_calls} forward pass(es) of the model"
                + (f"; layers that ran: {', '.join(ran[:6])}{'...' if len(ran) > 6 else ''}." if ran else "."))
        return slot

    def calls(self, name: str) -> int:
        """How many times the layer ran."""
        return self._slot(name).calls

    def outputs(self, name: str) -> list[torch.Tensor]:
        """Every recorded output of the layer, one tensor per call."""
        slot = self._slot(name)
        self._need_tensors()
        return list(slot.outputs)

    def output(self, name: str) -> torch.Tensor:
        """The layer's output; several calls are concatenated along dimension 0."""
        return self._cat(name, self.outputs(name), "outputs")

    __getitem__ = output

    def __contains__(self, name: str) -> bool:
        return name in self._slots

    def __iter__(self):
        return iter(self.names)

    def gradients_of(self, name: str) -> list[torch.Tensor]:
        """Every recorded gradient with respect to the layer's output, one per call."""
        slot = self._slot(name)
        self._need_tensors()
        self._need_grads(slot)
        return list(slot.grads)

    def gradient(self, name: str) -> torch.Tensor:
        """The gradient with respect to the layer's output (calls concatenated on dim 0)."""
        return self._cat(name, self.gradients_of(name), "gradients")

    def stats(self, name: str) -> RunningStats:
        """The running statistics of the layer's outputs (``keep="stats"``)."""
        slot = self._slot(name)
        if slot.stats is None:
            raise LayerNotRunError("capture(keep='tensors') keeps tensors, not statistics; "
                                   "use keep='stats' or compute them from rec[name].")
        return slot.stats

    def grad_stats(self, name: str) -> RunningStats:
        """The running statistics of the gradients at the layer's output (``keep="stats"``)."""
        slot = self._slot(name)
        self._need_grads(slot)
        if slot.grad_stats is None:
            raise LayerNotRunError("capture(keep='tensors') keeps tensors; use keep='stats'.")
        return slot.grad_stats

    def clear(self) -> None:
        """Forget what was recorded so far (hooks stay attached)."""
        for slot in self._slots.values():
            slot.outputs.clear()
            slot.grads.clear()
            slot.calls = slot.grad_calls = 0
            if slot.stats is not None:
                slot.stats = RunningStats(per_unit=slot.stats.per_unit, count_zeros=slot.stats.count_zeros)
                slot.grad_stats = RunningStats(per_unit=slot.stats.per_unit)
        self.forward_calls = 0

    def to_dict(self) -> dict:
        """Shapes and call counts per layer, plus statistics when ``keep="stats"``."""
        out = {}
        for n, s in self._slots.items():
            d: dict[str, Any] = {"type": type(s.module).__name__, "calls": s.calls}
            if s.stats is not None and s.calls:
                d["stats"] = s.stats.to_dict()
                if s.grad_calls:
                    d["grad_stats"] = s.grad_stats.to_dict()
            elif s.outputs:
                d["shape"] = list(s.outputs[0].shape)
            out[n] = d
        return out

    def _need_tensors(self) -> None:
        if self.keep not in ("tensors", "live"):
            what = "keeps only statistics" if self.keep == "stats" else "keeps no outputs"
            raise LayerNotRunError(f"capture(keep={self.keep!r}) {what}; use rec.stats(name) "
                                   "or capture with keep='tensors'.")

    def _need_grads(self, slot: _Slot) -> None:
        if not self.gradients:
            raise LayerNotRunError("Gradients were not captured; pass gradients=True to capture().")
        if slot.grad_calls == 0:
            raise LayerNotRunError(
                f"Layer {slot.name!r} ran but received no gradient: call backward() inside the capture "
                "block, and make sure its output requires grad (not under torch.no_grad()).")

    @staticmethod
    def _cat(name: str, ts: list[torch.Tensor], what: str) -> torch.Tensor:
        if len(ts) == 1:
            return ts[0]
        if len({tuple(t.shape[1:]) for t in ts}) > 1 or any(t.dim() == 0 for t in ts):
            raise ValueError(f"Layer {name!r} ran {len(ts)} times with different shapes; "
                             f"use rec.{what}({name!r}) for the list of calls.")
        return torch.cat(ts, 0)

    def __repr__(self) -> str:
        return f"Recorder({len(self._slots)} layers, keep={self.keep!r}, forward passes={self.forward_calls})"


def default_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every leaf module (a module without children), the usual meaning of "every layer"."""
    return [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]


_KEEP = ("tensors", "stats", "live", "none")


@contextlib.contextmanager
def capture(model: nn.Module, layers: Any = None, *, gradients: bool = False,
            keep: Literal["tensors", "stats", "live", "none"] = "tensors", to_cpu: bool = True,
            per_unit: bool = False, count_zeros: bool = False, output_index: int | None = None,
            replace: dict[str, Callable[[Any], Any]] | None = None, in_order: bool = True) -> Iterator[Recorder]:
    """Record the outputs (and optionally gradients) of chosen layers during the block.

    Args:
        model: the PyTorch module whose layers to watch.
        layers: qualified name, glob (``"layer2.*"``), module type (``nn.Conv2d``), module
            object, or a list of those; ``None`` means every leaf module.
        gradients: also record the gradient with respect to each output (run ``backward``
            inside the block).
        keep: ``"tensors"`` keeps detached copies of every output; ``"stats"`` keeps only
            running statistics (:class:`RunningStats`) — cheap, for many batches;
            ``"live"`` keeps the outputs themselves (attached to the autograd graph, for
            objectives and gradients at a layer); ``"none"`` only counts calls.
        to_cpu: move kept tensors to the CPU (``keep="tensors"`` only).
        per_unit: with ``keep="stats"``, also keep per-unit (dimension 1) statistics.
        count_zeros: with ``keep="stats"``, also count exact zeros (the sparsity of ReLU
            outputs; one more pass over each output).
        output_index: which tensor to take from layers that return tuples (LSTM: 0 is the
            output sequence); by default the first tensor.
        replace: ``{name: fn}``: the rest of the model sees ``fn(output)`` instead of the
            layer's output (``None`` from ``fn`` keeps it); what is kept is the output
            before the replacement. Named layers are added to ``layers``.
        in_order: list the layers in model order (else in the order ``layers`` gives them).

    The model itself is not modified: only forward hooks (and tensor hooks on outputs) are
    added, and they are removed on exit even when the block raises.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
        >>> with capture(net, keep="stats") as rec, torch.no_grad():
        ...     _ = net(torch.randn(10, 3))
        >>> rec.stats("1").min >= 0
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"capture() needs a torch.nn.Module, got {type(model).__name__}.")
    if keep not in _KEEP:
        raise ValueError(f"keep must be one of {', '.join(map(repr, _KEEP))}, not {keep!r}.")
    chosen = default_layers(model) if layers is None else resolve_layers(model, layers)
    for name in replace or {}:
        if name not in dict(chosen):
            chosen += resolve_layers(model, name)
    if in_order:
        position = {n: i for i, (n, _) in enumerate(model.named_modules())}
        chosen = sorted(chosen, key=lambda nm: position.get(nm[0], 0))
    if not chosen:
        chosen = [("", model)] if layers is None else chosen
    rec = Recorder(model, chosen, gradients=gradients, keep=keep, to_cpu=to_cpu, per_unit=per_unit,
                   output_index=output_index, count_zeros=count_zeros, replace=replace)
    with rec.hooked():
        yield rec


__all__ = ["capture", "Recorder", "RunningStats", "LayerNotRunError", "default_layers"]
