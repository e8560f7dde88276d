"""What every attribution method shares, written once: input checks, target handling,
the model guard, internal batch sizes from a memory budget, and the method base class.

A method subclass implements ``_attribute(x, target)`` returning the attribution tensor
(and optionally metrics/extras); :class:`Method.attribute` does the rest.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.torch import TorchAdapter, first_tensor, forward_with_context, iter_tensors, preserve_model_state
from ..errors import TargetError, UnknownOptionError

TargetSpec = Any  # None | int | Sequence[int] | Tensor | Callable[[output], Tensor]

#: default memory budget (bytes) for the activations of one internal batch on the CPU
DEFAULT_CPU_BUDGET = 2 * 1024 ** 3
#: the CPU budget for forward-only batches: larger ones are slower per row, as they leave
#: the caches (ResNet-50, channels-last, 2 cores: 13 ms per 112x112 image in batches of 16,
#: 15 ms in batches of 64; at 224x224 batches of 4-8 beat 16)
CPU_FORWARD_BUDGET = 512 * 1024 ** 2


@contextlib.contextmanager
def guard(model: nn.Module) -> Iterator[None]:
    """Run a block with the model's parameters frozen (no backward into weights) and put
    everything back afterwards, also on error: modes, ``requires_grad``, ``.grad``,
    buffers, hooks and the parameter objects themselves.

    On the CPU, 2-D convolutions run on channels-last copies of their weights inside the
    block (oneDNN's fast layout: 1.3x for a ResNet-50 forward and backward, 1.75x for a
    forward alone, on this project's 2-core machine). The user's parameters are swapped
    back afterwards untouched; results agree with the contiguous layout to float rounding.
    Methods that run the model hundreds of times use an equivalent stand-in built inside
    this block (:mod:`neuralscope.attribution.fastpath`).
    """
    with preserve_model_state(model):
        for p in model.parameters():
            p.requires_grad_(False)
        _channels_last_conv_weights(model)
        yield


def _channels_last_conv_weights(model: nn.Module) -> None:
    """Swap every CPU ``Conv2d`` weight for a channels-last copy (the guard swaps back)."""
    for m in model.modules():
        w = m._parameters.get("weight") if isinstance(m, nn.Conv2d) else None
        if (w is None or w.dim() != 4 or w.device.type != "cpu" or not w.is_floating_point()
                or w.is_contiguous(memory_format=torch.channels_last)):
            continue
        m._parameters["weight"] = nn.Parameter(
            w.detach().contiguous(memory_format=torch.channels_last), requires_grad=False)


def prepare_inputs(model: nn.Module, inputs: Any, what: str = "inputs") -> torch.Tensor:
    """Check and move a floating batch ``(B, ...)`` to the model's device and dtype (the
    adapter's :meth:`~neuralscope.adapters.torch.TorchAdapter.float_batch`)."""
    return TorchAdapter(model).float_batch(inputs, what)


class Target:
    """What is explained: one scalar per example taken from the model's output.

    ``None`` = the predicted class (argmax of the first output), an ``int`` = that class for
    every example, a list/tensor = one class per example, a callable ``fn(output) -> (N,)``
    = any scalar per row (a regression output, a segmentation region, a token's logit).
    """

    def __init__(self, spec: TargetSpec, batch: int):
        self.spec, self.batch = spec, batch
        self.indices: torch.Tensor | None = None
        self.fn: Callable | None = None
        if callable(spec) and not torch.is_tensor(spec):
            self.fn = spec
        elif spec is not None:
            try:
                t = torch.as_tensor(spec)
            except (TypeError, ValueError, RuntimeError):
                t = None
            if t is None or isinstance(spec, str):
                raise TargetError(f"A target must be a class index, a list of indices or a callable, "
                                  f"not {spec!r}; map class names to indices first (e.g. classes.index({spec!r})).")
            if t.dtype.is_floating_point or t.dtype == torch.bool or t.dim() > 1:
                raise TargetError(f"A target must be a class index, a list of indices or a callable, not {spec!r}.")
            if t.dim() == 0:
                t = t.expand(batch)
            if t.numel() != batch:
                raise TargetError(f"Got {t.numel()} targets for a batch of {batch} examples; give one per example.")
            self.indices = t.long().clone()

    def resolve(self, output: Any) -> None:
        """Fix the class indices from the output of the unperturbed batch (once)."""
        if self.fn is not None:
            return
        out = first_tensor(output)
        if out.dim() != 2:
            raise TargetError(
                f"The model output has shape {tuple(out.shape)}; class-index targets need (batch, classes). "
                "Pass target=callable(output) -> one scalar per example.")
        k = out.shape[1]
        if self.indices is None:
            self.indices = out.detach().argmax(1).cpu()
        bad = (self.indices < 0) | (self.indices >= k)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise TargetError(
                f"Target {int(self.indices[i])} for example {i} is out of range: the model has {k} outputs (0..{k - 1}).")

    def scores(self, output: Any, rows: torch.Tensor | None = None) -> torch.Tensor:
        """One scalar per output row; ``rows[i]`` = which example row ``i`` belongs to."""
        if self.fn is not None:
            s = self.fn(output)
            if not torch.is_tensor(s) or s.dim() != 1 or s.shape[0] != first_tensor(output).shape[0]:
                raise TargetError(
                    "A target callable must return one scalar per row of the output, shape (N,), got "
                    f"{tuple(s.shape) if torch.is_tensor(s) else type(s).__name__}.")
            return s
        if self.indices is None:
            self.resolve(output)
        out = first_tensor(output)
        idx = self.indices.to(out.device)
        if rows is not None:
            idx = idx[rows.to(out.device)]
        elif out.shape[0] != idx.shape[0]:
            raise TargetError(f"Output has {out.shape[0]} rows for {idx.shape[0]} targets.")
        return out.gather(1, idx[:, None])[:, 0]

    def subset(self, examples: torch.Tensor) -> "Target":
        """The target restricted to some examples (after :meth:`resolve`)."""
        t = Target(self.fn, int(examples.numel())) if self.fn is not None else Target(None, int(examples.numel()))
        if self.indices is not None:
            t.indices = self.indices[examples.cpu()]
        return t

    def as_list(self) -> list | None:
        return None if self.indices is None else [int(i) for i in self.indices]

    def describe(self) -> str:
        if self.fn is not None:
            return getattr(self.fn, "__name__", "callable")
        return "predicted class" if self.spec is None else "class index"


def example_rows(batch: int, repeats: int, device=None) -> torch.Tensor:
    """Row -> example index for a batch stacked ``repeats`` times, repeat-major."""
    return torch.arange(batch, device=device).repeat(repeats)


# -- memory budget -------------------------------------------------------------------
_PER_EXAMPLE_CACHE: dict[tuple, int] = {}


def activation_bytes_per_example(model: nn.Module, example: torch.Tensor) -> int:
    """Bytes of module outputs one example produces in a forward pass (measured once with
    hooks on a single example, then cached per model and input shape)."""
    own = getattr(model, "activation_bytes", None)  # adapter views measure themselves
    if callable(own):
        return max(int(own(example[:1])), example[:1].numel() * example.element_size())
    key = (id(model), tuple(example.shape[1:]), example.dtype, str(example.device))
    if key in _PER_EXAMPLE_CACHE:
        return _PER_EXAMPLE_CACHE[key]
    total = [0]

    def hook(module, args, output):
        for t in iter_tensors(output):
            total[0] += t.numel() * t.element_size()

    with TorchAdapter(model).hooks("leaves", post=lambda name, module: hook), torch.no_grad():
        forward_with_context(model, example[:1])
    per = max(total[0], example[:1].numel() * example.element_size())
    _PER_EXAMPLE_CACHE[key] = per
    return per


def memory_budget(device: torch.device, budget: int | None = None) -> int:
    """The bytes one internal batch may use: ``budget`` if given; on CUDA half of the free
    memory; on the CPU :data:`DEFAULT_CPU_BUDGET`."""
    if budget is not None:
        return int(budget)
    if device.type == "cuda" and torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    return DEFAULT_CPU_BUDGET


def internal_batch_size(model: nn.Module, example: torch.Tensor, *, backward: bool = True,
                        budget: int | None = None, cap: int = 1024) -> int:
    """How many rows one internal batch may hold so that activations (and the saved tensors
    of a backward pass) stay within the memory budget."""
    per = activation_bytes_per_example(model, example) * (2 if backward else 1)
    limit = memory_budget(example.device, budget)
    if budget is None and not backward and example.device.type == "cpu":
        limit = min(limit, CPU_FORWARD_BUDGET)
    return int(max(1, min(cap, limit // max(per, 1))))


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def output_scores(model: nn.Module, x: torch.Tensor, target: Target, rows: torch.Tensor | None = None,
                  grad: bool = False):
    """Forward ``x`` and return ``(output, scores)``."""
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        out = forward_with_context(model, x)
        if rows is None:
            target.resolve(out)
        return out, target.scores(out, rows)


def input_gradients(model: nn.Module, x: torch.Tensor, target: Target, rows: torch.Tensor | None = None):
    """Gradient of the target score w.r.t. the inputs only (parameters are frozen by
    :func:`guard`); returns ``(grad, output, scores)``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = forward_with_context(model, x)
        if rows is None:
            target.resolve(out)
        s = target.scores(out, rows)
        (g,) = torch.autograd.grad(s.sum(), x)
    return g, out, s.detach()


#: The one "auto steps" rule of the path methods (Integrated Gradients, at the input or at a
#: layer): every example starts with this many steps; the examples whose completeness error
#: is still above the tolerance get twice the steps, again and again, up to ``max_steps``.
AUTO_STEPS_START = 16
#: The default ``max_steps`` of that rule.
AUTO_MAX_STEPS = 1024


def auto_steps(integrate: Callable[[torch.Tensor | None, int], tuple[torch.Tensor, torch.Tensor]], n: int, *,
               tolerance: float, max_steps: int = AUTO_MAX_STEPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(attributions, completeness errors, steps used)`` of ``n`` examples under the one
    auto-steps rule (:data:`AUTO_STEPS_START`, doubled per example while its error is above
    ``tolerance``, at most ``max_steps``). ``integrate(rows, steps)`` returns the attributions
    and errors of the examples ``rows`` (``None``: all of them) with ``steps`` steps.

    Example:
        >>> def integrate(rows, steps):  # error halves with each doubling: 16 -> 0.04, 64 -> 0.01
        ...     err = torch.full((3 if rows is None else len(rows),), 0.64 / steps)
        ...     return err.clone(), err
        >>> auto_steps(integrate, 3, tolerance=0.01)[2].tolist()
        [64, 64, 64]
    """
    steps = AUTO_STEPS_START
    attr, err = integrate(None, steps)
    used = torch.full((n,), steps)
    while steps * 2 <= max_steps:
        todo = (err > tolerance).nonzero()[:, 0]
        if todo.numel() == 0:
            break
        steps *= 2
        attr[todo], err[todo] = integrate(todo, steps)
        used[todo] = steps
    return attr, err, used


class Method:
    """Base class of the attribution methods: ``Method(model, **options).attribute(x, target)``.

    Subclasses set ``name``, ``paper``, ``signed`` and implement ``_attribute``.
    """

    name: ClassVar[str] = "method"
    paper: ClassVar[str] = ""
    #: whether attributions carry a sign (drawn with a diverging map centred at zero)
    signed: ClassVar[bool] = True
    #: a layer method attributes to a hidden layer: it takes any inputs the model takes
    #: (token ids, dicts), checked by the adapter, and returns maps of the layer's shape
    attributes_layer: ClassVar[bool] = False

    def __init__(self, model: nn.Module, **options):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
        self.model = model
        self.options = options
        type(self).check_options(options)

    @property
    def adapter(self) -> TorchAdapter:
        """The model's adapter: layers, inputs and recording forward passes go through it."""
        return TorchAdapter(self.model)

    @classmethod
    def accepted_options(cls) -> list[str]:
        """The keyword options the method declares (its ``__init__`` and those of the bases
        it forwards ``**kwargs`` to)."""
        import inspect

        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is Method:
                continue
            params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[2:]
            names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                      and p.name not in names]
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        return names

    @classmethod
    def check_options(cls, options: dict) -> None:
        """Raise :class:`~neuralscope.errors.UnknownOptionError` for an option the method does not take."""
        accepted = cls.accepted_options()
        unknown = [k for k in options if k not in accepted]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], accepted, n=1, cutoff=0.6)
            raise UnknownOptionError(
                f"Method {cls.name!r} takes no option {unknown[0]!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; its options are {', '.join(accepted) if accepted else 'none'}.")

    def attribute(self, inputs: torch.Tensor, target: TargetSpec = None):
        """Attributions for a batch; returns an :class:`~neuralscope.attribution.result.Attribution`.

        ``inputs`` may also be a tuple or dict of tensors (a model with several inputs): the
        result then holds one map per input (see :meth:`Attribution.parts`)."""
        from ..adapters.packing import is_multi_input

        if is_multi_input(inputs) and not self.attributes_layer:
            return self._attribute_several(inputs, target)
        return self._attribute_one(inputs, target)

    __call__ = attribute

    def _attribute_several(self, inputs: Any, target: TargetSpec):
        """Run the method on the model seen through :class:`~neuralscope.adapters.packing.PackedModel`
        and split the maps back per input."""
        from ..adapters.packing import InputPacking, PackedModel, is_multi_input

        packing = InputPacking.of(inputs)
        model = self.model
        flat = packing.pack(inputs)
        self.model = PackedModel(model, packing)
        baseline = getattr(self, "baseline", None)
        if is_multi_input(baseline):  # one baseline per input, packed like the inputs
            self.baseline = packing.pack(baseline)
        try:
            with preserve_model_state(model):
                res = self._attribute_one(flat, target)
        finally:
            self.model = model
            if is_multi_input(baseline):
                self.baseline = baseline
        return res.split_inputs(packing)

    def _attribute_one(self, inputs: Any, target: TargetSpec):
        from .result import Attribution

        if self.attributes_layer:
            x = self.adapter.checked_inputs(inputs)
            tgt = Target(target, self.adapter.batch_size_of(x))
        else:
            x = self.adapter.float_batch(inputs)
            tgt = Target(target, x.shape[0])
        with guard(self.model):
            res = self._attribute(x, tgt)
            attr, metrics, extras = (res if isinstance(res, tuple) else (res, {}, {}))
            with torch.no_grad():
                out = first_tensor(forward_with_context(self.model, x)) if "outputs" not in extras else extras.pop("outputs")
        layer = extras.pop("layer", None)
        return Attribution(
            attributions=_np(attr), inputs=None if self.attributes_layer else _np(x), method=self.name,
            targets=tgt.as_list(), outputs=_np(first_tensor(out)), options=_jsonable_options(self.options),
            metrics=metrics, signed=self.signed, extras=extras, paper=self.paper, layer=layer)

    def _attribute(self, x: torch.Tensor, target: Target):
        raise NotImplementedError


def _np(t):
    if t is None:
        return None
    if torch.is_tensor(t):
        return t.detach().float().cpu().numpy()
    return np.asarray(t)


def _jsonable_options(options: dict) -> dict:
    out = {}
    for k, v in options.items():
        if torch.is_tensor(v):
            out[k] = f"tensor{tuple(v.shape)}"
        elif isinstance(v, nn.Module):
            out[k] = type(v).__name__
        elif callable(v):
            out[k] = getattr(v, "__name__", "callable")
        elif isinstance(v, (int, float, str, bool, type(None))):
            out[k] = v
        elif isinstance(v, (list, tuple)):
            out[k] = [x if isinstance(x, (int, float, str, bool)) else str(x) for x in v]
        else:
            out[k] = str(v)
    return out


__all__: Sequence[str] = [
    "Method", "Target", "guard", "prepare_inputs", "internal_batch_size", "memory_budget",
    "input_gradients", "output_scores", "example_rows", "chunks", "auto_steps", "AUTO_STEPS_START",
    "AUTO_MAX_STEPS",
]
