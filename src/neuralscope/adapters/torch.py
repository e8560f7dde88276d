"""The PyTorch adapter: module lookup, input normalisation, guarded forward passes, the one
place forward hooks are registered (:func:`module_hooks`), the one tensor walk
(:func:`iter_tensors`), and the guarantee that a model is left exactly as it was found.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputShapeError, LayerNotFoundError, ModelForwardError, check_batch, check_materialized
from ..gcpause import paused_gc
from .base import Adapter, Inputs, LayerInfo, ParamInfo, Recording, select_layers

# Per-module hook dictionaries of torch.nn.Module (names vary a little across versions).
_HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
    "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks", "_global_forward_hooks_always_called")

_NO_KEYS: frozenset = frozenset()


def hook_keys(module: nn.Module) -> dict[str, set]:
    """The ids of every hook registered on ``module`` (not its children), per hook kind."""
    return {name: set(getattr(module, name).keys()) for name in _HOOK_DICTS
            if isinstance(getattr(module, name, None), dict)}


@dataclass
class ModelState:
    """A snapshot of everything a visualization could disturb in a model.

    Parameters are not copied: neuralscope never writes them (tests check that bit for
    bit). Buffers are copied because a forward pass in training mode updates BatchNorm
    statistics; gradients are copied because a backward pass accumulates into them. Restoring
    writes only what differs, and puts back the very ``.grad`` tensors that were there.
    Capturing and restoring a 26-module transformer takes about 0.2 ms.
    """

    modules: list[tuple[nn.Module, bool, list[tuple[dict, frozenset]]]]
    params: list[tuple[dict, str, nn.Parameter, bool, torch.Tensor | None, torch.Tensor | None]]
    buffers: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    @classmethod
    def capture(cls, model: nn.Module) -> "ModelState":
        """The snapshot of ``model``, taken with the garbage collector paused: the many small
        tuples and buffer copies of a big model would otherwise start full collections over
        all of its objects (a 10,000-module model: 0.52 s -> 0.09 s CPU)."""
        with paused_gc():
            return cls._capture(model)

    @classmethod
    def _capture(cls, model: nn.Module) -> "ModelState":
        modules, params, buffers = [], [], []
        for m in model.modules():
            d = m.__dict__
            hooks = [(h, frozenset(h) if h else _NO_KEYS) for h in map(d.get, _HOOK_DICTS) if h is not None]
            modules.append((m, m.training, hooks))
            # ScriptModules keep parameters in C++ and cannot have them swapped from Python
            script = isinstance(m, torch.jit.ScriptModule)
            for name, p in (m.named_parameters(recurse=False) if script else m._parameters.items()):
                if p is not None:
                    g = p.grad
                    params.append(({} if script else m._parameters, "" if script else name, p,
                                   p.requires_grad, g, None if g is None else g.detach().clone()))
            for b in m._buffers.values():
                if b is not None:
                    buffers.append((b, b.detach().clone()))
        if any(p.is_meta for _, _, p, *_ in params) or any(b.is_meta for b, _ in buffers):
            check_materialized(model)  # raises ModelNotBuiltError naming the first meta tensor
        return cls(modules, params, buffers)

    def restore(self) -> None:
        for m, training, hooks in self.modules:
            for h, before in hooks:
                if h and h.keys() != before:  # (an empty dict has nothing to take away)
                    for k in [k for k in h if k not in before]:
                        del h[k]
            if m.training != training:
                m.training = training
        for own, name, p, requires_grad, grad, saved in self.params:
            if name and own.get(name) is not p:
                own[name] = p
            if p.requires_grad != requires_grad:
                p.requires_grad_(requires_grad)
            if p.grad is not grad:
                p.grad = grad
            if grad is not None and not torch.equal(grad, saved):
                with torch.no_grad():
                    grad.copy_(saved)
        with torch.no_grad():
            for b, saved in self.buffers:
                if b.shape == saved.shape and not torch.equal(b, saved):
                    b.copy_(saved)


@contextlib.contextmanager
def preserve_model_state(model: nn.Module) -> Iterator[ModelState]:
    """Run a block and put ``model`` back as it was: modes, ``requires_grad``, ``.grad``,
    buffers and hooks, also when the block raises.

    Example:
        >>> m = torch.nn.Linear(2, 1)
        >>> with preserve_model_state(m):
        ...     _ = m.eval(); _ = m.register_forward_hook(lambda *a: None)
        >>> m.training, len(m._forward_hooks)
        (True, 0)
    """
    state = ModelState.capture(model)
    try:
        yield state
    finally:
        state.restore()


#: A hook factory: ``(qualified_name, module) -> hook`` (the hook has torch's own signature).
HookFactory = Callable[[str, nn.Module], Callable]


@contextlib.contextmanager
def module_hooks(chosen: Sequence[tuple[str, nn.Module]], *, post: HookFactory | None = None,
                 pre: HookFactory | None = None, with_kwargs: bool = False) -> Iterator[None]:
    """Forward hooks on the ``(name, module)`` pairs in ``chosen`` for the block, removed on
    exit also when it raises: the one place neuralscope registers module forward hooks.

    ``post(name, module)`` / ``pre(name, module)`` make each module's hook (torch's
    signatures: ``hook(module, args, output)``, ``pre_hook(module, args)``, with ``kwargs``
    after ``args`` when ``with_kwargs``); a hook that returns a value replaces the output
    (or the inputs). Factories, not wrappers: a hook costs one Python call.
    :class:`~neuralscope.capture.Recorder` and :meth:`TorchAdapter.hooks` build on it.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
        >>> seen = []
        >>> with module_hooks(list(net.named_children()), post=lambda n, m: lambda *a: seen.append(n)):
        ...     _ = net(torch.zeros(1, 2))
        >>> seen, len(net[0]._forward_hooks)
        (['0', '1'], 0)
    """
    handles: list = []
    try:
        add_hooks(chosen, post=post, pre=pre, with_kwargs=with_kwargs, handles=handles)
        yield
    finally:
        for h in handles:
            h.remove()


def add_hooks(chosen: Sequence[tuple[str, nn.Module]], *, post: HookFactory | None = None,
              pre: HookFactory | None = None, with_kwargs: bool = False, handles: list | None = None) -> list:
    """Register the hooks of :func:`module_hooks` and return their handles (appended to
    ``handles`` as they are made, so a caller can remove those made before an error): for
    hooks that outlive one block (``watch()`` keeps its own until ``unwatch()``). The
    caller removes them; :func:`module_hooks` is the form that cannot forget to."""
    handles = [] if handles is None else handles
    for name, m in chosen:
        if pre is not None:
            handles.append(m.register_forward_pre_hook(pre(name, m), with_kwargs=with_kwargs))
        if post is not None:
            handles.append(m.register_forward_hook(post(name, m), with_kwargs=with_kwargs))
    return handles


def layer_names(model: nn.Module) -> list[str]:
    """Qualified names of all submodules (the root is ``""``)."""
    return [n for n, _ in model.named_modules()]


def resolve_layer(model: nn.Module, spec: str | nn.Module) -> tuple[str, nn.Module]:
    """One ``(qualified_name, module)`` for a name or a module object; clear error otherwise."""
    found = resolve_layers(model, spec)
    if len(found) != 1:
        raise LayerNotFoundError(str(spec), [n for n, _ in found], what="single layer matching")
    return found[0]


def resolve_layers(model: nn.Module, spec: Any) -> list[tuple[str, nn.Module]]:
    """Modules chosen by qualified name, glob (``"layer2.*"``), module type, module object,
    or a list of those; in the order the specs are given (each one's matches in model
    order), without duplicates.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
        >>> [n for n, _ in resolve_layers(net, torch.nn.ReLU)]
        ['1']
    """
    return select_layers(list(model.named_modules()), spec, layer_type=nn.Module)


def as_inputs(inputs: Any) -> tuple[tuple, dict]:
    """Normalise what a user passes as model inputs into ``(args, kwargs)``.

    A tensor becomes ``(tensor,)``; a tuple or list is positional; a dict is keyword
    arguments (Hugging Face style, e.g. ``{"input_ids": ..., "attention_mask": ...}``);
    an :class:`~neuralscope.adapters.base.Inputs` is taken as it is.
    """
    if isinstance(inputs, Inputs):
        return tuple(inputs.args), dict(inputs.kwargs)
    if torch.is_tensor(inputs):
        return (inputs,), {}
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    if hasattr(inputs, "keys") and hasattr(inputs, "__getitem__"):  # BatchEncoding and friends
        return (), {k: inputs[k] for k in inputs.keys()}
    raise InputShapeError(
        f"Model inputs must be a tensor, a tuple of tensors or a dict of tensors, not {type(inputs).__name__}.")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's first floating parameter (float32 otherwise)."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32


class TorchAdapter(Adapter):
    """The adapter interface (:class:`~neuralscope.adapters.base.Adapter`) for PyTorch models.

    Layer names are ``named_modules()`` names (``"layer1.0.conv1"``); weights are already in
    the canonical layout; recording and replacing use forward hooks, removed on return.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> a = TorchAdapter(net)
        >>> a.forward(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """

    framework = "torch"
    separator = "."
    channels_axis = 1

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
        super().__init__(model)

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    @property
    def dtype(self) -> torch.dtype:
        return model_dtype(self.model)

    @property
    def layer_type(self) -> type:
        return nn.Module

    def named_layers(self) -> list[LayerInfo]:
        out = []
        for name, m in self.model.named_modules():
            if not name:
                continue
            tr = nt = 0
            for p in m.parameters():
                if p.requires_grad:
                    tr += p.numel()
                else:
                    nt += p.numel()
            out.append(LayerInfo(name, type(m).__name__, tr, nt, m, next(m.children(), None) is None))
        return out

    def layers(self, spec: Any) -> list[tuple[str, nn.Module]]:
        return resolve_layers(self.model, spec)

    def layer(self, spec: Any) -> tuple[str, nn.Module]:
        return resolve_layer(self.model, spec)

    def weights(self, layer: Any) -> dict[str, np.ndarray]:
        _, m = self.layer(layer)
        own = dict(m.named_parameters(recurse=False))
        own.update((n, b) for n, b in m.named_buffers(recurse=False) if b is not None and b.is_floating_point())
        return {n: t.detach().float().cpu().numpy() for n, t in own.items() if t is not None}

    def parameters(self, layers: Any = None) -> list[ParamInfo]:
        if layers is None:
            named = list(self.model.named_parameters())
        else:
            named = [(self.join(ln, n), p) for ln, m in self.layers(layers) for n, p in m.named_parameters(recurse=False)]
        return [ParamInfo(n, p.detach().float().cpu().numpy(), p.requires_grad) for n, p in named]

    def normalize_inputs(self, inputs: Any, *, layout: str | None = None) -> Inputs:
        if isinstance(inputs, Inputs) and layout is None:
            return inputs
        args, kwargs = as_inputs(_numpy_to_tensor(inputs))
        fix = lambda t: _to_channels_first(t, layout)
        return Inputs(tuple(_map_tensors(a, fix) for a in args), {k: _map_tensors(v, fix) for k, v in kwargs.items()})

    def float_batch(self, inputs: Any, what: str = "inputs") -> torch.Tensor:
        """One floating batch ``(B, ...)`` checked (a batch dimension, at least one example,
        finite values) and moved to the model's device and dtype: the input of a gradient
        method. A numpy array is taken as a tensor; token ids and other structures are
        refused, naming the method that takes them.

        Example:
            >>> TorchAdapter(torch.nn.Linear(2, 1).double()).float_batch(np.zeros((3, 2), "float32")).dtype
            torch.float64
        """
        if isinstance(inputs, np.ndarray):
            inputs = torch.from_numpy(inputs)
        if not torch.is_tensor(inputs):
            raise InputShapeError(
                f"The {what} must be a tensor of shape (batch, ...), not {type(inputs).__name__}; "
                "for token ids use neuralscope.attribution.text.explain_text.")
        if inputs.dim() < 2:
            raise InputShapeError(
                f"The {what} must have a batch dimension first, got shape {tuple(inputs.shape)}; "
                "use x.unsqueeze(0) for a single example.")
        if not inputs.is_floating_point():
            raise InputShapeError(
                f"The {what} must be floating point to be attributed, got {inputs.dtype}; "
                "for token ids use neuralscope.attribution.text.explain_text.")
        check_batch(inputs, f"The {what}")  # at least one example, finite values
        return inputs.detach().to(device=self.device, dtype=self.dtype)

    def checked_inputs(self, inputs: Any) -> Inputs:
        """Any model inputs (tensors, token ids, a tuple or dict of them, numpy arrays)
        normalised, after the batch check every model-running function makes (at least one
        example, finite values)."""
        check_batch(_numpy_to_tensor(inputs) if not isinstance(inputs, Inputs) else (inputs.args, inputs.kwargs))
        return self.normalize_inputs(inputs)

    def preserved(self):
        return preserve_model_state(self.model)

    def forward(self, inputs: Any):
        return forward_with_context(self.model, inputs)

    def hooks(self, layers: Any = "all", *, post: HookFactory | None = None, pre: HookFactory | None = None,
              with_kwargs: bool = False, skip_scripted: bool = False) -> contextlib.AbstractContextManager:
        """Forward hooks on chosen layers for a block (:func:`module_hooks`): for analyses that
        follow every module call (graph reading, summaries, backward rules); ``"all"`` is every
        module with the root (named ``""``), ``"leaves"`` every module without children,
        ``skip_scripted`` leaves out TorchScript modules (they take no hooks). Analyses that
        only need outputs use :meth:`recording`."""
        if isinstance(layers, str) and layers in ("all", "leaves"):
            chosen = [(n, m) for n, m in self.model.named_modules()
                      if layers == "all" or next(m.children(), None) is None]
        else:
            chosen = self.layers(layers)
        if skip_scripted:
            chosen = [(n, m) for n, m in chosen if not isinstance(m, torch.jit.ScriptModule)]
        return module_hooks(chosen, post=post, pre=pre, with_kwargs=with_kwargs)

    def recording(self, layers: Any, *, keep: str = "live", replace: dict | None = None, **options: Any):
        """A live :class:`~neuralscope.capture.Recorder` of ``layers`` for the block (every
        forward pass the block runs is recorded): ``keep="live"`` keeps the outputs as they are
        (still attached to the autograd graph), ``"tensors"`` detached copies, ``"stats"``
        running statistics, ``"none"`` only call counts; ``replace={name: fn}`` hands the rest
        of the model ``fn(output)`` instead (``None`` keeps the output). Other options are
        :func:`~neuralscope.capture.capture`'s. The one capture mechanism of PyTorch models."""
        from ..capture import capture

        return capture(self.model, layers, keep=keep, replace=replace, **options)

    def record(self, inputs: Any, layers: Any, *, replace: dict | None = None) -> Recording:
        chosen = [n for n, _ in self.layers(layers)] if layers is not None else []
        with self.recording(chosen, replace=replace, to_cpu=False, in_order=False) as rec:
            out = forward_with_context(self.model, self.normalize_inputs(inputs))
        return Recording(out, rec.kept())

    def recorded_batches(self, inputs: Any, layers: Any, *, batch_size: int = 256, desc: str = "",
                         eval: bool = True, output_index: int | None = None,
                         to_cpu: bool = True) -> Iterator[dict[str, list[torch.Tensor]]]:
        """Per batch, detached copies of the chosen modules' outputs (``output_index``: that
        element of a tuple output), on the CPU or (``to_cpu=False``) where they were made; the
        batches run on the model's device without gradients, in eval mode unless ``eval`` is
        false, and the model's modes are restored when the iteration ends."""
        chosen = [m for _, m in self.layers(layers)]
        with preserve_model_state(self.model), torch.no_grad():
            if eval:
                self.model.eval()
            for batch in self.batches(inputs, batch_size, desc):
                batch = Inputs(tuple(self.to_device(a) for a in batch.args),
                               {k: self.to_device(v) for k, v in batch.kwargs.items()})
                with self.recording(chosen, keep="tensors", output_index=output_index, to_cpu=to_cpu) as rec:
                    forward_with_context(self.model, batch)
                yield {n: rec.outputs(n) for n in rec.names}  # (raises LayerNotRunError for one that never ran)

    def attention_weights(self, inputs: Any, method: str = "auto") -> tuple:
        """Every attention layer's weights in one forward pass: ``(names, maps, stacked,
        path)``. The adapter picks the capture path (``method="auto"``): a Hugging Face
        model's own attentions, ``nn.MultiheadAttention`` answered from weights computed once,
        or ``F.scaled_dot_product_attention`` calls caught and answered from their weights
        (the fused kernels run wherever no weights are asked for); see
        :mod:`neuralscope.attention.extract`."""
        from ..attention.extract import capture_torch

        x = self.normalize_inputs(inputs)
        return capture_torch(self.model, x.args, x.kwargs, method)

    def recurrent_layers(self) -> list[tuple[str, nn.Module]]:
        return [(n, m) for n, m in self.model.named_modules() if isinstance(m, nn.RNNBase)]

    def sequence_states(self, output: torch.Tensor, layer: Any) -> torch.Tensor | None:
        """An ``nn.RNN/LSTM/GRU`` output as ``(batch, time, units)`` (``batch_first`` or not)."""
        if output.dim() != 3:
            return None
        return output if getattr(layer, "batch_first", True) else output.transpose(0, 1)

    def activation_of(self, layer: Any) -> str | None:
        """The nonlinearity an activation module applies (``"relu"``, ``"softplus"``...)."""
        from ..nonlinearities import nonlinearity

        return type(layer).__name__.lower() if nonlinearity(layer) is not None else None

    def allows_standin(self, example: torch.Tensor) -> bool:
        """Whether an equivalent stand-in of the model (the frozen trace or folded fx graph of
        :mod:`neuralscope.attribution.fastpath`) may run instead of it on batches like
        ``example``: on the CPU in float32/float64, a plain module (not TorchScript, not an
        adapter view of several inputs or of a Keras model), every module in eval mode, and
        no hooks anywhere, global or on a module (a trace would skip them)."""
        if example.device.type != "cpu" or example.dtype not in (torch.float32, torch.float64):
            return False
        if isinstance(self.model, torch.jit.ScriptModule) or getattr(self.model, "neuralscope_no_standin", False):
            return False
        from torch.nn.modules import module as module_globals

        if any(getattr(module_globals, name, None) for name in _GLOBAL_HOOKS):
            return False
        for m in self.model.modules():
            if m.training or isinstance(m, torch.jit.ScriptModule):
                return False
            d = m.__dict__
            if any(d.get(name) for name in _HOOK_DICTS[:7]):  # forward/backward hooks of any kind
                return False
        return True

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)

    def to_device(self, inputs: Any) -> Any:
        """Move tensors in ``inputs`` to the model's device (dtype untouched)."""
        dev = self.device
        return _map_tensors(inputs, lambda t: t.to(dev))


def _numpy_to_tensor(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        return {k: _numpy_to_tensor(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_numpy_to_tensor(v) for v in obj)
    return obj


def _to_channels_first(t: Any, layout: str | None) -> Any:
    if layout not in (None, "channels_first", "channels_last"):
        raise ValueError(f"layout must be 'channels_first' or 'channels_last', not {layout!r}.")
    if layout == "channels_last" and torch.is_tensor(t) and t.dim() >= 3:
        return t.movedim(-1, 1)
    return t


def _map_tensors(obj: Any, fn) -> Any:
    if torch.is_tensor(obj):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists, dicts and dataclass-like outputs."""
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from iter_tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from iter_tensors(v)
    elif hasattr(obj, "to_tuple"):  # Hugging Face ModelOutput
        yield from iter_tensors(obj.to_tuple())


def replace_first_tensor(output: Any, new: torch.Tensor) -> Any:
    """``output`` with its first tensor replaced by ``new`` (a tensor, or the first item of
    a tuple or list): what a layer's replaced output looks like to the rest of the model."""
    if torch.is_tensor(output):
        return new
    if isinstance(output, tuple):
        return (new,) + tuple(output[1:])
    if isinstance(output, list):
        return [new] + list(output[1:])
    raise InputShapeError(f"Cannot replace the output of a layer that returns {type(output).__name__}.")


def first_tensor(obj: Any) -> torch.Tensor:
    for t in iter_tensors(obj):
        return t
    raise TypeError(f"The model returned {type(obj).__name__} with no tensor in it.")



def forward_with_context(model: nn.Module, inputs: Any):
    """Run ``model`` on ``inputs``; if it raises, re-raise as :class:`ModelForwardError`
    naming the innermost module that was running and what it said. Costs nothing when the
    model does not raise.

    The innermost module that was running is read from the exception's traceback (the deepest
    frame whose ``self`` is one of ``model``'s modules: its ``_call_impl`` or ``forward``), so
    no hook runs on the way, and PyTorch's fused kernels that refuse hooked modules stay
    available.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> forward_with_context(net, torch.zeros(1, 3))
        Traceback (most recent call last):
        ...
        neuralscope.errors.ModelForwardError: The model raised in module '0' (Linear): ...
    """
    args, kwargs = as_inputs(inputs)
    try:
        return model(*args, **kwargs)
    except ModelForwardError:
        raise
    except Exception as exc:  # re-raised with the module's name
        names = {id(m): n for n, m in model.named_modules()}
        failing = None
        tb = exc.__traceback__
        while tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            if owner is not None and id(owner) in names:
                failing = names[id(owner)]
            tb = tb.tb_next
        if failing == "":
            failing = None
        mod = dict(model.named_modules()).get(failing) if failing is not None else None
        where = (f"module {failing!r} ({type(mod).__name__})" if failing is not None else
                 f"the top-level {type(model).__name__}.forward")
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelForwardError(
            f"The model raised in {where}: {type(exc).__name__}: {first_line}", module=failing) from exc

__all__: Sequence[str] = [
    "ModelState", "TorchAdapter", "as_inputs", "forward_with_context", "module_hooks", "add_hooks",
    "iter_tensors",
    "first_tensor", "replace_first_tensor", "layer_names", "model_device", "model_dtype", "preserve_model_state",
    "resolve_layer", "resolve_layers",
]
