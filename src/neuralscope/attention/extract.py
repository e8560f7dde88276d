"""Extract attention weights from a model without editing it.

Three capture paths, picked automatically (``method="auto"``):

``"hf"``
    Hugging Face models: the forward pass is run with ``output_attentions=True`` and the
    model's own weights are returned; each layer's attention softmax writes straight into
    the result's buffer (same values, no copy afterwards). A model loaded with another kernel
    than ``sdpa`` (flash, flex...) that picks its attention function from its config per call
    is lent eager attention for that one pass (its configs are put back afterwards).
``"mha"``
    Models built from :class:`torch.nn.MultiheadAttention` (``nn.TransformerEncoderLayer``,
    torchvision's ViT...).  Those layers usually call the module with ``need_weights=False``.
    For one forward pass each module's ``forward`` is shadowed (an instance attribute,
    removed afterwards) by :func:`_mha_direct`, which computes the per-head weights once,
    straight into the result's buffer, and the module's output from those same weights; the
    caller gets exactly the output type it asked for. Configurations outside that path ask the
    module itself for ``need_weights=True, average_attn_weights=False``. A stock
    ``nn.TransformerEncoderLayer`` (no hooks, eval mode) is run as its own unfused branch does,
    step for step, without a module call per sub-layer (PyTorch's fused whole-layer kernel
    never calls the attention module, so it cannot be used while capturing).
``"sdpa"``
    Anything that calls :func:`torch.nn.functional.scaled_dot_product_attention`
    (hand-written attention, Hugging Face ``sdpa`` models, or any model with
    ``method="sdpa"``): a :class:`~torch.overrides.TorchFunctionMode` catches the call and
    answers it with :func:`_sdpa_direct`: the weights ``softmax(q kᵀ · scale + mask)`` (same
    mask, causal flag, scale and grouped-query layout) are computed once, straight into the
    result's buffer when a Hugging Face config gives the layer count, and the call's output is
    made from them (on the CPU that costs about what the SDPA kernel costs). Calls outside that
    path (dropout, gradients, other dtypes) run as asked and the weights are recomputed beside
    them. Each call is named after the innermost running module, read from the stack.

All hooks, shadowed forwards, capture modes, lent configs and the MHA fast-path switch are
removed again, also when the forward pass raises (inside
:func:`neuralscope.adapters.torch.preserve_model_state`). Result buffers of 32 MB and more
reuse the memory of results the caller has dropped (:class:`_BufferPool`, bounded).
``benchmarks/attention.py`` measures what each path costs over a plain forward.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import math
import sys
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..adapters.torch import as_inputs, forward_with_context, model_device, preserve_model_state
from ..errors import InputShapeError, NeuralscopeError
from .maps import AttentionMaps

METHODS = ("auto", "hf", "mha", "sdpa")
_MISSING = object()
_SDPA_SIGNATURE = inspect.Signature([
    inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for n, d in (
        ("query", inspect.Parameter.empty), ("key", inspect.Parameter.empty),
        ("value", inspect.Parameter.empty), ("attn_mask", None), ("dropout_p", 0.0),
        ("is_causal", False), ("scale", None), ("enable_gqa", False))])


class NoAttentionError(NeuralscopeError, ValueError):
    """A model in which no attention could be found."""


def attention(model: nn.Module, inputs: Any, tokens: Any = None, *, method: str = "auto",
              layers: Sequence[str] | None = None) -> AttentionMaps:
    """Every attention head of every layer for a batch of inputs.

    Args:
        model: a PyTorch module (Hugging Face, ``nn.MultiheadAttention``-based, or calling
            ``F.scaled_dot_product_attention``), or a Keras model with
            ``keras.layers.MultiHeadAttention`` layers (any backend). It runs in eval mode
            (no dropout) and is left exactly as found.
        inputs: a tensor, a tuple of tensors, or a dict of keyword tensors (a tokenizer's
            output); an ``attention_mask`` in a dict marks padding.
        tokens: token strings for the keys/queries: one list (shared by every example), a
            list of lists (one per example), or a Hugging Face tokenizer (its
            ``convert_ids_to_tokens`` is applied to ``inputs["input_ids"]``).
        method: ``"auto"``, ``"hf"``, ``"mha"`` or ``"sdpa"`` (see the module docstring).
        layers: keep only the attention layers whose names contain one of these strings.

    Returns:
        :class:`AttentionMaps` with ``weights`` of shape
        ``(batch, layers, heads, queries, keys)`` as float32 numpy.

    Example:
        >>> from neuralscope.zoo import TinyTransformer
        >>> m = TinyTransformer().eval()
        >>> maps = attention(m, m.example_input(2))
        >>> maps.weights.shape
        (2, 2, 4, 12, 12)
    """
    from ..adapters.keras import is_keras_model

    if is_keras_model(model):
        return _keras_attention(model, inputs, tokens, layers)
    if not isinstance(model, nn.Module):
        raise TypeError(f"attention() needs a torch.nn.Module or a keras.Model, not {type(model).__name__}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    args, kwargs = as_inputs(inputs)
    named = list(model.named_modules())  # one walk over the modules, shared by what follows
    if method == "auto":
        method = _pick_method(model, named)
    dev = model_device(model)
    args = tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)
    kwargs = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    stacked = None  # (batch, layers, heads, q, k) already laid out by the capture, when it could
    with _hf_hook_flags(model), preserve_model_state(model), torch.no_grad():
        if any(m.training for _, m in named):
            model.eval()  # dropout off: the maps are the model's deterministic attention
        if method == "hf":
            names, maps, stacked = _capture_hf(model, args, kwargs)
        elif method == "mha":
            names, maps, stacked = _capture_mha(model, args, kwargs, named)
        else:
            names, maps, stacked = _capture_sdpa(model, args, kwargs)
    if not maps:
        raise NoAttentionError(_nothing_found(model, method))
    if layers is not None:
        keep = [i for i, n in enumerate(names) if any(s in n for s in layers)]
        if not keep:
            from ..errors import LayerNotFoundError

            raise LayerNotFoundError(", ".join(layers), names, what="attention layer")
        names, maps = [names[i] for i in keep], [maps[i] for i in keep]
        stacked = None if stacked is None else stacked[:, keep]
    weights = _stack(maps) if stacked is None else stacked
    mask = _key_mask(kwargs, weights.shape[0], weights.shape[-1])
    toks = _tokens(tokens, kwargs, args, weights.shape[0], weights.shape[-1])
    return AttentionMaps(weights, names, tokens=toks, mask=mask, source=method)


def _keras_attention(model: Any, inputs: Any, tokens: Any, layers: Sequence[str] | None) -> AttentionMaps:
    """:func:`attention` for a Keras model: the scores of every MultiHeadAttention layer
    (:mod:`neuralscope.attention.keras`)."""
    from .keras import capture_keras

    names, weights = capture_keras(model, inputs)
    if layers is not None:
        keep = [i for i, n in enumerate(names) if any(s in n for s in layers)]
        if not keep:
            from ..errors import LayerNotFoundError

            raise LayerNotFoundError(", ".join(layers), names, what="attention layer")
        names, weights = [names[i] for i in keep], weights[:, keep]
    toks = _tokens(tokens, {}, (), weights.shape[0], weights.shape[-1])
    return AttentionMaps(weights, names, tokens=toks, source="keras")


# -- choosing a path ----------------------------------------------------------------------
def _is_hf(model: nn.Module) -> bool:
    # a Hugging Face model cannot exist unless transformers is imported: skip its slow import
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return False
    return isinstance(model, transformers.PreTrainedModel)


def _pick_method(model: nn.Module, named: list[tuple[str, nn.Module]] | None = None) -> str:
    if _is_hf(model):
        impl = getattr(model.config, "_attn_implementation", "eager")
        if impl in (None, "eager"):
            return "hf"
        if impl == "sdpa" and getattr(model, "dtype", None) == torch.float32:
            # SDPA calls answered from weights computed once (benchmarks/attention.py, MiniLM:
            # 1.09x the plain forward at 8 x 68 tokens where lent eager attention takes 1.11x,
            # and at 2 x 512 where eager attention itself takes 1.4x)
            return "sdpa"
        return "hf" if _can_run_eager(model) else "sdpa"
    if any(isinstance(m, nn.MultiheadAttention) for _, m in (named or model.named_modules())):
        return "mha"
    return "sdpa"


def _nothing_found(model: nn.Module, method: str) -> str:
    counts = collections.Counter(type(m).__name__ for m in model.modules())
    found = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.most_common(12))
    return (f"Found no attention in {type(model).__name__} (method {method!r}): it has no "
            "nn.MultiheadAttention, is not a Hugging Face model returning attentions, and did not "
            f"call F.scaled_dot_product_attention during forward; its modules are: {found}.")


# -- Hugging Face ---------------------------------------------------------------------------
_HF_HOOK_FLAG = "_output_capturing_hooks_installed"


@contextlib.contextmanager
def _hf_hook_flags(model: nn.Module) -> Iterator[None]:
    """Put back transformers' "capture hooks installed" marks as found.

    transformers installs its output-capturing hooks on a model's first
    ``output_attentions=True`` call and marks the model as hooked; ``preserve_model_state``
    removes hooks a call added, so a mark left behind would make every later
    ``output_attentions=True`` call of the user's return no attentions.
    """
    if not _is_hf(model):
        yield
        return
    saved = [(m, m.__dict__.get(_HF_HOOK_FLAG, _MISSING)) for m in model.modules()]
    try:
        yield
    finally:
        for m, flag in saved:
            if flag is _MISSING:
                m.__dict__.pop(_HF_HOOK_FLAG, None)
            else:
                m.__dict__[_HF_HOOK_FLAG] = flag


def _can_run_eager(model: nn.Module) -> bool:
    """Whether every Hugging Face (sub)model here picks its attention function per call from
    ``config._attn_implementation`` (transformers' AttentionInterface), so eager can be lent."""
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return False
    for m in model.modules():
        if isinstance(m, transformers.PreTrainedModel):
            check = getattr(type(m), "_can_set_attn_implementation", None)
            try:
                if check is None or not check():
                    return False
            except Exception:  # noqa: BLE001 - a heuristic of transformers; no means no
                return False
    return True


def _configs(model: nn.Module) -> list[Any]:
    """Every Hugging Face config object in the model, sub-configs included, each once."""
    found: dict[int, Any] = {}
    todo = [getattr(m, "config", None) for m in model.modules()]
    while todo:
        cfg = todo.pop()
        if cfg is None or id(cfg) in found or not hasattr(cfg, "_attn_implementation_internal"):
            continue
        found[id(cfg)] = cfg
        todo.extend(getattr(cfg, k, None) for k in getattr(cfg, "sub_configs", {}) or {})
    return list(found.values())


@contextlib.contextmanager
def _eager_attention(model: nn.Module) -> Iterator[None]:
    """Run a Hugging Face model with eager attention, then put every config back as found.

    A model loaded with ``sdpa`` (or another kernel) returns no attention weights; its eager
    implementation computes the same attention and materialises the weights, so borrowing it
    for one forward pass gives the model's own maps at the cost of a plain forward. Only
    ``config._attn_implementation_internal`` changes, and only while the block runs.
    """
    configs = _configs(model)
    if all(getattr(c, "_attn_implementation_internal", None) in (None, "eager") for c in configs) \
            or not _can_run_eager(model):
        yield
        return
    saved = [(c, c._attn_implementation_internal) for c in configs]
    try:
        for c, _ in saved:
            c._attn_implementation_internal = "eager"
        yield
    finally:
        for c, impl in saved:
            c._attn_implementation_internal = impl


class _SoftmaxInto(TorchFunctionMode):
    """Writes each last-dimension softmax of a 4-D float32 tensor into the next slot of a
    buffer, so the attention probabilities an eager model returns already lie in the result.

    Values are unchanged (the same softmax, only its output memory differs). A softmax that
    turns out not to be an attention map only means the returned maps are not the buffer's
    slots in order, and they are copied as usual.
    """

    _SOFTMAX = (F.softmax, torch.softmax, torch.Tensor.softmax)

    def __init__(self, buffer: _LayerBuffer):
        super().__init__()
        self.buffer = buffer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._SOFTMAX and args and torch.is_tensor(args[0]):
            x = args[0]
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            at = 3 if func is F.softmax else 2  # F.softmax(input, dim, _stacklevel, dtype)
            dtype = kwargs.get("dtype", args[at] if len(args) > at else None)
            if x.dim() == 4 and x.dtype == torch.float32 and dim in (-1, 3) and dtype in (None, torch.float32) \
                    and not x.requires_grad:
                out = self.buffer.slot(tuple(x.shape), x.dtype, x.device)
                if out is not None:
                    return torch.softmax(x, -1, out=out)
        return func(*args, **kwargs)


def _hf_layer_count(model: nn.Module) -> int | None:
    layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    return layers if isinstance(layers, int) and 0 < layers <= 1024 else None


def _capture_hf(model, args, kwargs):
    buffer = _LayerBuffer(_hf_layer_count(model))
    with _eager_attention(model), (_SoftmaxInto(buffer) if buffer.capacity else contextlib.nullcontext()):
        out = _run(model, args, {**kwargs, "output_attentions": True})
    atts = getattr(out, "attentions", None)
    if atts is None and isinstance(out, dict):
        atts = out.get("attentions")
    if not atts or any(a is None for a in atts):
        impl = getattr(getattr(model, "config", None), "_attn_implementation", "?")
        raise NoAttentionError(
            f"{type(model).__name__} returned no attentions with output_attentions=True "
            f"(attention implementation {impl!r}); load it with attn_implementation=\"eager\" "
            "or call attention(..., method=\"sdpa\").")
    atts = list(atts)
    return _hf_layer_names(model, len(atts)), atts, buffer.stacked(atts)


def _hf_layer_names(model: nn.Module, count: int) -> list[str]:
    """Names of the transformer blocks: the first ModuleList holding ``count`` blocks."""
    for name, m in model.named_modules():
        if isinstance(m, nn.ModuleList) and len(m) == count and name:
            return [f"{name}.{i}" for i in range(count)]
    return [f"layer {i}" for i in range(count)]


def _run(model, args, kwargs):
    # no per-module hooks: on a 2-layer model they cost more than the capture itself
    if args and not kwargs:
        return forward_with_context(model, tuple(args))
    if not args:
        return forward_with_context(model, dict(kwargs))
    # both positional and keyword arguments: wrap so the guard sees one call
    return forward_with_context(_Bound(model, kwargs), tuple(args))


class _Bound(nn.Module):
    def __init__(self, model, kwargs):
        super().__init__()
        self.inner = model
        self.kw = kwargs

    def forward(self, *args):
        return self.inner(*args, **self.kw)


# -- nn.MultiheadAttention --------------------------------------------------------------------


#: from this size on, fresh CPU result memory is allocated by numpy (see :func:`_empty`)
_HUGE_FROM = 32 << 20
#: CPU result buffers from this size on are recycled through :data:`_POOL` (smaller ones are
#: recycled by the C allocator, which hands back recently freed, still cached memory: pooling
#: TinyTransformer's 8 MB buffer measured 1.24x the plain forward against 1.18x without)
_POOL_FROM = _HUGE_FROM


class _Recycled:
    """The owner of a result buffer's memory, seen by numpy through ``__array_interface__``.

    Every array and tensor made from the buffer keeps this object alive (numpy records it as
    the array's base); when the last of them is gone the memory goes back to :data:`_POOL`
    instead of to the operating system.
    """

    def __init__(self, mem: np.ndarray, shape: tuple[int, ...]):
        self.mem = mem
        self.__array_interface__ = {"data": (mem.ctypes.data, False), "shape": tuple(shape),
                                    "typestr": "<f4", "version": 3}

    def __del__(self):
        try:
            _POOL.give(self.mem)
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to recycle into
            pass


class _BufferPool:
    """A few freed result buffers, kept for the next call (thread-safe, bounded).

    Writing a layer's weights into fresh memory costs the operating system's page faults and
    zeroing; on a VM that is most of what materialising the weights costs over a kernel that
    never does (MiniLM, 2 x 512 tokens: about 40 ms of a 190 ms forward). PyTorch's own
    intermediate tensors are recycled by the C allocator; large result buffers are not, so
    results the caller has dropped are recycled here: at most :attr:`blocks` buffers and
    :attr:`max_bytes` in all, each reused only for a request of at least half its size. Every
    element a result shows is written by the call that returns it.
    """

    def __init__(self, blocks: int = 4, max_bytes: int = 512 << 20):
        import threading

        self.blocks, self.max_bytes = blocks, max_bytes
        self.recycle = True  # False: take nothing, keep nothing (benchmarks/attention.py)
        self.free: list[np.ndarray] = []
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray | None:
        if not self.recycle:
            return None
        with self.lock:
            fits = [m for m in self.free if nbytes <= m.nbytes <= 2 * nbytes]
            if not fits:
                return None
            mem = min(fits, key=lambda m: m.nbytes)
            self.free = [m for m in self.free if m is not mem]
            return mem

    def give(self, mem: np.ndarray) -> None:
        if mem.nbytes > self.max_bytes or not self.recycle:
            return
        with self.lock:
            self.free.append(mem)
            while len(self.free) > self.blocks or sum(m.nbytes for m in self.free) > self.max_bytes:
                self.free.pop(0)

    def clear(self) -> None:
        with self.lock:
            self.free = []


_POOL = _BufferPool()


def _empty(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """An uninitialised float32 tensor for a result buffer.

    On the CPU, buffers of :data:`_POOL_FROM` bytes or more reuse the memory of results the
    caller has dropped (:class:`_BufferPool`), and fresh ones come from numpy, which asks the
    kernel for transparent huge pages (``madvise``; torch's allocator does not: the first
    write into a fresh 150 MB buffer then costs about 9 ms instead of about 45 ms of 4 KiB
    page faults). Smaller ones come from torch's allocator.
    """
    nbytes = math.prod(shape) * 4
    if torch.device(device).type != "cpu" or nbytes < _POOL_FROM:
        return torch.empty(shape, dtype=torch.float32, device=device)
    mem = _POOL.take(nbytes)
    if mem is None:
        mem = np.empty(nbytes // 4, dtype=np.float32)
    return torch.from_numpy(np.asarray(_Recycled(mem, shape)))


class _LayerBuffer:
    """Room for up to ``capacity`` layers of float32 weights of one shape, laid out
    ``(layers, ...)`` so each layer is one contiguous slot a kernel can write into. When the
    records are its first slots in order, the result is the buffer itself: no copy, and slots
    never used were never touched (no memory behind them).
    """

    def __init__(self, capacity: int | None):
        self.capacity = capacity or 0
        self.buffer: torch.Tensor | None = None
        self.used = 0

    def slot(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        """The next layer's slot, or None when this call does not fit the buffer."""
        if not self.capacity or dtype != torch.float32:
            return None
        if self.buffer is None:
            self.buffer = _empty((self.capacity,) + tuple(shape), device)
        if self.used >= self.capacity or self.buffer.shape[1:] != tuple(shape) or self.buffer.device != device:
            return None
        self.used += 1
        return self.buffer[self.used - 1]

    def stacked(self, maps: list[torch.Tensor]) -> np.ndarray | None:
        """``(batch, layers, heads, q, k)`` as a view of the buffer, when ``maps`` are its slots."""
        buf = self.buffer
        if buf is None or self.used == 0 or len(maps) != self.used:
            return None
        if any(w.dim() != 4 or w.data_ptr() != buf[i].data_ptr() for i, w in enumerate(maps)):
            return None
        B, H, L, S = maps[0].shape
        return buf[:self.used].view(self.used, B, H, L, S).cpu().numpy().transpose(1, 0, 2, 3, 4)


class _MHACapture:
    """Runs every ``nn.MultiheadAttention`` of a model through :func:`_mha_direct`.

    Each module's ``forward`` is shadowed by an instance attribute for the duration of one
    forward pass (removed again in ``finally``): the weights are computed once, straight into
    one float32 buffer laid out ``(layers, batch * heads, queries, keys)``, and the same
    weights make the module's output. That is the work PyTorch's own CPU kernel does (it
    materialises the weights too), with no copy afterwards. Calls the direct path does not
    cover (unbatched input, ``bias_k``/``add_zero_attn``, unusual masks) ask the module itself
    for ``need_weights=True, average_attn_weights=False``.

    PyTorch's MHA fast path is switched off meanwhile (and restored): its fused whole-layer
    kernel in ``nn.TransformerEncoderLayer`` never calls the attention module, and
    ``nn.TransformerEncoder`` would otherwise turn padded batches into nested tensors.
    """

    def __init__(self, modules: list[tuple[str, nn.Module]], named: dict[str, nn.Module] | None = None):
        self.modules = modules
        self.named = named
        self.records: list[tuple[str, torch.Tensor]] = []
        self.calls: collections.Counter = collections.Counter()
        self.buffer = _LayerBuffer(len(modules))

    def run(self, model, args, kwargs) -> tuple[list[str], list[torch.Tensor]]:
        shadowed = []
        fast = torch.backends.mha.get_fastpath_enabled()
        try:
            torch.backends.mha.set_fastpath_enabled(False)
            names = {id(m): n for n, m in self.modules}
            layers = _plain_encoder_layers(model, self.modules, self.named)  # before any forward is shadowed
            for name, m in self.modules:
                shadowed.append((m, m.__dict__.get("forward", _MISSING)))
                m.forward = functools.partial(self._forward, name, m)
            for layer in layers:
                shadowed.append((layer, _MISSING))
                layer.forward = functools.partial(self._encoder_layer, names[id(layer.self_attn)], layer)
            _run(model, args, kwargs)
        finally:
            for m, old in shadowed:
                if old is _MISSING:
                    m.__dict__.pop("forward", None)
                else:
                    m.forward = old
            torch.backends.mha.set_fastpath_enabled(fast)
        return [n for n, _ in self.records], [w for _, w in self.records]

    def _encoder_layer(self, name, layer, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """``nn.TransformerEncoderLayer``'s eval forward (its unfused branch, step for step)
        with the attention through :meth:`_forward`, without a module call per sub-layer
        (on a small model their Python overhead is most of what the fused kernel saves)."""
        if src_key_padding_mask is not None or src_mask is not None:  # the layer's own mask checks
            src_key_padding_mask = F._canonical_mask(
                mask=src_key_padding_mask, mask_name="src_key_padding_mask",
                other_type=F._none_or_dtype(src_mask), other_name="src_mask", target_type=src.dtype)
            src_mask = F._canonical_mask(mask=src_mask, mask_name="src_mask", other_type=None, other_name="",
                                         target_type=src.dtype, check_other=False)
        n1, n2 = layer.norm1, layer.norm2

        def sa(x):
            return self._forward(name, layer.self_attn, x, x, x, src_key_padding_mask, False, src_mask, True,
                                 is_causal)[0]

        def ff(x):
            h = layer.activation(F.linear(x, layer.linear1.weight, layer.linear1.bias))
            return F.linear(h, layer.linear2.weight, layer.linear2.bias)

        x = src
        if layer.norm_first:
            x = x + sa(F.layer_norm(x, n1.normalized_shape, n1.weight, n1.bias, n1.eps))
            return x + ff(F.layer_norm(x, n2.normalized_shape, n2.weight, n2.bias, n2.eps))
        x = F.layer_norm(x + sa(x), n1.normalized_shape, n1.weight, n1.bias, n1.eps)
        return F.layer_norm(x + ff(x), n2.normalized_shape, n2.weight, n2.bias, n2.eps)

    def _forward(self, name, m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                 average_attn_weights=True, is_causal=False):
        self.calls[name] += 1
        label = name if self.calls[name] == 1 else f"{name}#{self.calls[name]}"
        if _direct_ok(m, query, key, value, key_padding_mask, attn_mask, is_causal):
            b, l, s = (0, 1, 1) if m.batch_first else (1, 0, 0)
            shape = (query.shape[b] * m.num_heads, query.shape[l], key.shape[s])
            attn_out, w = _mha_direct(m, query, key, value, key_padding_mask, attn_mask,
                                      out=self.buffer.slot(shape, query.dtype, query.device))
            self.records.append((label, w))
            if need_weights:  # the caller gets its own copy: the buffer is the result's
                w = w.mean(dim=1) if average_attn_weights else w.clone()
            return attn_out, (w if need_weights else None)
        attn_out, w = type(m).forward(m, query, key, value, key_padding_mask=key_padding_mask, need_weights=True,
                                      attn_mask=attn_mask, average_attn_weights=False, is_causal=is_causal)
        self.records.append((label, (w.unsqueeze(0) if w.dim() == 3 else w).detach()))
        if not need_weights:
            return attn_out, None
        return attn_out, (w.mean(dim=-3) if average_attn_weights else w)


def _no_hooks(m: nn.Module) -> bool:
    return not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
                or "forward" in m.__dict__)


_ENCODER_PARTS = {"self_attn": nn.MultiheadAttention, "linear1": nn.Linear, "linear2": nn.Linear,
                  "norm1": nn.LayerNorm, "norm2": nn.LayerNorm, "dropout": nn.Dropout, "dropout1": nn.Dropout,
                  "dropout2": nn.Dropout}
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks", "_global_forward_hooks_always_called")


def _plain_encoder_layers(model: nn.Module, attention: list[tuple[str, nn.Module]],
                          named: dict[str, nn.Module] | None = None) -> list[nn.Module]:
    """The ``nn.TransformerEncoderLayer`` blocks :meth:`_MHACapture._encoder_layer` runs exactly
    as the module would: the stock classes throughout, eval mode (dropout is the identity),
    and no hooks or shadowed forwards on the block or anything in it (its own forward would
    run those; ours calls the sub-layers' functions directly)."""
    from torch.nn.modules import module as module_globals

    if any(getattr(module_globals, g, None) for g in _GLOBAL_HOOKS) or not hasattr(F, "_canonical_mask") \
            or not hasattr(F, "_none_or_dtype"):
        return []
    found = []
    for name, attn in attention:
        parent, _, leaf = name.rpartition(".")
        if leaf != "self_attn":
            continue
        if named is not None:
            m = named.get(parent)
        else:
            try:
                m = model.get_submodule(parent)
            except AttributeError:
                continue
        if type(m) is not nn.TransformerEncoderLayer or m.training or not _no_hooks(m):
            continue
        subs = m._modules
        act = m.__dict__.get("activation", subs.get("activation"))
        extra = set(subs) - set(_ENCODER_PARTS) - ({"activation"} if isinstance(act, nn.Module) else set())
        if extra or any(type(subs.get(k)) is not t for k, t in _ENCODER_PARTS.items()):
            continue
        if isinstance(act, nn.Module) and (type(act) not in (nn.ReLU, nn.GELU) or not _no_hooks(act) or act.training):
            continue
        if all(_no_hooks(p) and not p.training for p in subs.values() if p is not act) \
                and not attn.out_proj._modules and _no_hooks(attn.out_proj):
            found.append(m)
    return found


def _direct_ok(m, query, key, value, key_padding_mask, attn_mask, is_causal) -> bool:
    """Whether :func:`_mha_direct` computes exactly what the module's own forward would."""
    if type(m).forward is not nn.MultiheadAttention.forward or _autocast(query.device.type):
        return False  # a subclass's own forward, or autocast's dtype rules: let the module run
    if m.bias_k is not None or m.bias_v is not None or m.add_zero_attn or (m.training and m.dropout > 0):
        return False
    if query.dim() != 3 or key.dim() != 3 or value.dim() != 3 or query.is_nested or key.is_nested:
        return False
    if not query.dtype.is_floating_point or key.dtype != query.dtype or value.dtype != query.dtype:
        return False
    w = m.in_proj_weight if m._qkv_same_embed_dim else m.q_proj_weight
    if w.dtype != query.dtype or (is_causal and attn_mask is None):  # the module raises for the latter
        return False
    B = query.shape[0] if m.batch_first else query.shape[1]
    L = query.shape[1] if m.batch_first else query.shape[0]
    S = key.shape[1] if m.batch_first else key.shape[0]
    for mask, shapes in ((attn_mask, ((L, S), (B * m.num_heads, L, S))), (key_padding_mask, ((B, S),))):
        if mask is not None and (tuple(mask.shape) not in shapes
                                 or not (mask.dtype == torch.bool or mask.dtype.is_floating_point)):
            return False
    return True


def _autocast(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # older torch: no device argument
        return torch.is_autocast_enabled()


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean mask (True = not allowed) as -inf/0, a float mask as is: MultiheadAttention's rule."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask, float("-inf"))
    return mask.to(dtype)


def _mha_direct(m: nn.MultiheadAttention, query, key, value, key_padding_mask=None, attn_mask=None,
                out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.MultiheadAttention``'s eval forward with the per-head weights, in one pass.

    The same computation as ``F.multi_head_attention_forward(need_weights=True)``: in-projection,
    ``softmax(q · sqrt(1/head_dim) · kᵀ + attn_mask + key_padding_mask)``, weights times values,
    out-projection. The weights are written into ``out`` (``(batch * heads, L, S)``) when given.
    Returns the output in the module's layout and the weights as ``(batch, heads, L, S)``.
    """
    same_qkv, same_kv = query is key and key is value, key is value
    if not m.batch_first:
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    B, L, E = query.shape
    S, H = key.shape[1], m.num_heads
    dh = E // H
    bias = m.in_proj_bias
    scale = math.sqrt(1.0 / float(dh))  # the module's own scaling, applied to q
    if m._qkv_same_embed_dim and same_qkv and bias is not None and _TRANSFORM_QKV is not None:
        # the module's own fast path: one GEMM, then bias, q scaled by 1/sqrt(dh) and the
        # (B, H, L, dh) layout in one pass (a strided copy plus a bias pre-fill cost twice that)
        qh, kh, vh = _TRANSFORM_QKV(F.linear(query, m.in_proj_weight).contiguous(), bias, H)
    elif m._qkv_same_embed_dim and same_qkv:  # one projection, one copy into (3, B, H, L, dh)
        qkv = F.linear(query, m.in_proj_weight, bias).view(B, L, 3, H, dh).permute(2, 0, 3, 1, 4).contiguous()
        qh, kh, vh = qkv[0].mul_(scale), qkv[1], qkv[2]
    else:
        bq, bk, bv = bias.chunk(3) if bias is not None else (None, None, None)
        wq, wk, wv = (m.in_proj_weight.chunk(3) if m._qkv_same_embed_dim
                      else (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight))
        qh = torch.empty((B, H, L, dh), dtype=query.dtype, device=query.device)
        torch.mul(F.linear(query, wq, bq).view(B, L, H, dh).transpose(1, 2), scale, out=qh)
        if m._qkv_same_embed_dim and same_kv:
            kv = F.linear(key, m.in_proj_weight[E:], None if bias is None else bias[E:])
            kh, vh = kv.view(B, S, 2, H, dh).permute(2, 0, 3, 1, 4).contiguous()
        else:
            kh = F.linear(key, wk, bk).view(B, S, H, dh).transpose(1, 2).contiguous()
            vh = F.linear(value, wv, bv).view(B, S, H, dh).transpose(1, 2).contiguous()
    w = torch.empty((B * H, L, S), dtype=qh.dtype, device=qh.device) if out is None else out
    torch.bmm(qh.view(B * H, L, dh), kh.view(B * H, S, dh).transpose(1, 2), out=w)
    if attn_mask is not None:
        w.add_(_additive(attn_mask, qh.dtype))
    if key_padding_mask is not None:
        w.view(B, H, L, S).add_(_additive(key_padding_mask, qh.dtype).view(B, 1, 1, S))
    torch.softmax(w, -1, out=w)
    ctx = torch.bmm(w, vh.view(B * H, S, dh)).view(B, H, L, dh).transpose(1, 2).reshape(B, L, E)
    attn_out = F.linear(ctx, m.out_proj.weight, m.out_proj.bias)
    return (attn_out if m.batch_first else attn_out.transpose(0, 1)), w.view(B, H, L, S)


#: ``torch._transform_bias_rescale_qkv`` (what ``nn.MultiheadAttention``'s fast path runs), when
#: this torch has it
_TRANSFORM_QKV = getattr(torch, "_transform_bias_rescale_qkv", None)


def _capture_mha(model, args, kwargs, named=None):
    mha = [(n, m) for n, m in (named or model.named_modules()) if isinstance(m, nn.MultiheadAttention)]
    if not mha:
        return [], [], None
    cap = _MHACapture(mha, None if named is None else dict(named))
    names, maps = cap.run(model, args, kwargs)
    return names, maps, cap.buffer.stacked(maps)


# -- F.scaled_dot_product_attention --------------------------------------------------------------
class _SDPACapture(TorchFunctionMode):
    """Records the weights of every ``F.scaled_dot_product_attention`` call; other ops pass.

    A call :func:`_sdpa_direct` covers (float32, no dropout, no gradient wanted) is answered by
    it: the weights are computed once, into the result's buffer, and the call's output is made
    from those same weights (what eager attention does; on the CPU it costs about what the SDPA
    kernel costs, which never materialises them). Other calls run as asked and their weights
    are recomputed beside them by :func:`sdpa_weights`.

    The call is named after the innermost module of the model whose code is running (read
    from the Python stack at that moment, so no hook runs on the other module calls).
    """

    def __init__(self, model: nn.Module, capacity: int | None = None):
        super().__init__()
        self.names = {id(m): n or type(model).__name__ for n, m in model.named_modules()}
        self.records: list[tuple[str, torch.Tensor]] = []
        self.calls: collections.Counter = collections.Counter()
        self.buffer = _LayerBuffer(capacity)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.scaled_dot_product_attention:
            return func(*args, **kwargs)
        bound = _SDPA_SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        q, k = a["query"], a["key"]
        out = None
        if q.dim() == 4 and k.dim() == 4 and q.dtype == torch.float32 and k.dtype == torch.float32:
            out = self.buffer.slot((q.shape[0], q.shape[1], q.shape[2], k.shape[2]), q.dtype, q.device)
        result = None
        if _sdpa_direct_ok(q, k, a["value"], a["attn_mask"], a["dropout_p"], a["is_causal"], a["enable_gqa"]):
            result, w = _sdpa_direct(q, k, a["value"], a["attn_mask"], a["is_causal"], a["scale"], out=out)
        else:
            w = sdpa_weights(q, k, a["attn_mask"], a["is_causal"], a["scale"], a["enable_gqa"], out=out)
        name = self._caller()
        self.calls[name] += 1
        label = name if self.calls[name] == 1 else f"{name}#{self.calls[name]}"
        if w.dim() == 3:
            w = w.unsqueeze(1)
        elif w.dim() == 2:
            w = w[None, None]
        elif w.dim() > 4:
            w = w.flatten(1, -3)
        self.records.append((label, w.detach()))
        return func(*args, **kwargs) if result is None else result

    def _caller(self) -> str:
        frame = sys._getframe(2)
        while frame is not None:
            if "self" in frame.f_code.co_varnames:
                owner = frame.f_locals.get("self")
                if owner is not None and id(owner) in self.names:
                    return self.names[id(owner)]
            frame = frame.f_back
        return "attention"


#: a layer's weights up to this size are computed in one batched product; larger ones in
#: slices of about :data:`_SLICE_BYTES` (a few heads of one example), each used for its part
#: of the output while it is still in the cache (measured on MiniLM, 2 x 512 tokens: 8.5 ms a
#: layer against 10 ms in one piece and 11.5 ms for the SDPA kernel itself)
_WHOLE_BYTES = 8 << 20
_SLICE_BYTES = 4 << 20


def _sdpa_direct_ok(q, k, v, attn_mask, dropout_p, is_causal, enable_gqa) -> bool:
    """Whether :func:`_sdpa_direct` computes what ``F.scaled_dot_product_attention`` would."""
    if not (torch.is_tensor(q) and torch.is_tensor(k) and torch.is_tensor(v)):
        return False
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or q.is_nested or k.is_nested or v.is_nested:
        return False
    if not (q.dtype == k.dtype == v.dtype == torch.float32) or not (q.device == k.device == v.device):
        return False
    if dropout_p or (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)):
        return False
    B, H, L, E = q.shape
    if k.shape[0] != B or v.shape[0] != B or k.shape[3] != E or v.shape[2] != k.shape[2]:
        return False
    if k.shape[1] != H or v.shape[1] != H:
        if not (enable_gqa and k.shape[1] == v.shape[1] and k.shape[1] and H % k.shape[1] == 0):
            return False
    if attn_mask is not None:
        if is_causal or not torch.is_tensor(attn_mask) or attn_mask.device != q.device:
            return False  # SDPA refuses both at once: let it say so
        if not (attn_mask.dtype == torch.bool or attn_mask.dtype == torch.float32) or attn_mask.dim() > 4:
            return False
        try:
            torch.broadcast_shapes(attn_mask.shape, (B, H, L, k.shape[2]))
        except RuntimeError:
            return False
    return True


def _sdpa_direct(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
                 is_causal: bool = False, scale: float | None = None, *,
                 out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``F.scaled_dot_product_attention(q, k, v, ...)`` and its weights, from one softmax.

    The weights ``softmax(q kᵀ · scale + mask)`` (PyTorch's documented reference, as in
    :func:`sdpa_weights`) are written into ``out`` (``(B, H, L, S)`` float32, contiguous) when
    given and then multiplied with ``v``. Key/value heads are repeated for grouped queries.
    Rows whose keys are all masked get zero weights and a zero output, as the kernel gives.
    Returns ``(output, weights)``; the output is laid out like the CPU kernel's (``B, L, H``
    in memory).
    """
    B, H, L, E = q.shape
    S, Ev = k.shape[2], v.shape[3]
    if k.shape[1] != H:  # grouped-query attention
        k, v = k.repeat_interleave(H // k.shape[1], dim=1), v.repeat_interleave(H // v.shape[1], dim=1)
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    if out is None or out.shape != (B, H, L, S) or out.dtype != torch.float32 or not out.is_contiguous():
        out = _empty((B, H, L, S), q.device)
    bias = None  # additive, broadcastable to (B, H, L, S)
    if is_causal:
        bias = torch.zeros((L, S), dtype=torch.float32, device=q.device).masked_fill_(
            torch.ones(L, S, dtype=torch.bool, device=q.device).tril_().logical_not_(), float("-inf"))
    elif attn_mask is not None:
        bias = (torch.zeros(attn_mask.shape, dtype=torch.float32, device=q.device).masked_fill_(
            attn_mask.logical_not(), float("-inf")) if attn_mask.dtype == torch.bool else attn_mask)
    result = torch.empty((B, L, H, Ev), dtype=q.dtype, device=q.device).transpose(1, 2)
    if out.numel() * 4 <= _WHOLE_BYTES:
        w = out.view(B * H, L, S)
        w.baddbmm_(q.reshape(B * H, L, E), k.reshape(B * H, S, E).transpose(1, 2), beta=0, alpha=scale)
        if bias is not None:
            out.add_(bias)
        torch.softmax(w, -1, out=w)
        if bias is not None:  # rows with every key masked: 0/0
            torch.nan_to_num_(w, nan=0.0)
        result.copy_(torch.matmul(out, v))
        return result, out
    step = max(1, min(H, _SLICE_BYTES // max(1, L * S * 4)))
    bias = None if bias is None else bias.expand(B, H, L, S)
    for b in range(B):
        for h in range(0, H, step):
            w = out[b, h:h + step]
            w.baddbmm_(q[b, h:h + step], k[b, h:h + step].transpose(1, 2), beta=0, alpha=scale)
            if bias is not None:
                w.add_(bias[b, h:h + step])
            torch.softmax(w, -1, out=w)
            if bias is not None:
                torch.nan_to_num_(w, nan=0.0)
            torch.bmm(w, v[b, h:h + step], out=result[b, h:h + step])
    return result, out


def sdpa_weights(query: torch.Tensor, key: torch.Tensor, attn_mask: torch.Tensor | None = None,
                 is_causal: bool = False, scale: float | None = None,
                 enable_gqa: bool = False, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """The attention weights ``F.scaled_dot_product_attention`` uses for this query and key.

    Follows PyTorch's documented reference: ``softmax(q kᵀ · scale + bias)``, where a boolean
    mask keeps the positions that are True, a float mask is added, ``is_causal`` keeps the
    lower triangle (top-left aligned), and ``enable_gqa`` repeats key heads for query groups.
    Rows with every key masked are returned as zeros. Computed in float32 (or float64), into
    ``out`` when given (a contiguous tensor of the result's shape and dtype).

    Example:
        >>> q = k = torch.randn(1, 2, 5, 8)
        >>> sdpa_weights(q, k, is_causal=True)[0, 0, 0].tolist()[1:]
        [0.0, 0.0, 0.0, 0.0]
    """
    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    q, k = query.to(dtype), key.to(dtype)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if enable_gqa and k.dim() >= 3 and k.shape[-3] != q.shape[-3]:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    batch = q.shape[:-2]
    if k.shape[:-2] == batch and q.dim() >= 3:  # one batched GEMM that also applies the scale
        if out is None or out.shape != batch + (L, S) or out.dtype != dtype or not out.is_contiguous():
            out = torch.empty(batch + (L, S), dtype=dtype, device=q.device)
        out.view(-1, L, S).baddbmm_(q.reshape(-1, L, q.shape[-1]), k.reshape(-1, S, k.shape[-1]).transpose(1, 2),
                                    beta=0, alpha=scale)
        w = out
    else:  # batch dimensions that broadcast (or none)
        w = torch.matmul(q, k.transpose(-2, -1)).mul_(scale)
    # from here on every step works in place
    if is_causal:
        w.masked_fill_(torch.ones(L, S, dtype=torch.bool, device=w.device).tril(diagonal=0).logical_not_(),
                       float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            w.masked_fill_(attn_mask.logical_not(), float("-inf"))
        else:
            w.add_(attn_mask.to(dtype))
    torch.softmax(w, -1, out=w)
    if is_causal or attn_mask is not None:  # rows with every key masked: 0/0
        torch.nan_to_num_(w, nan=0.0)
    return w


def _capture_sdpa(model, args, kwargs):
    # how many calls to make room for: a Hugging Face model's layer count (a wrong guess only
    # costs the copy the buffer would have saved)
    mode = _SDPACapture(model, capacity=_hf_layer_count(model))
    with mode:
        _run(model, args, kwargs)
    maps = [w for _, w in mode.records]
    return [n for n, _ in mode.records], maps, mode.buffer.stacked(maps)


# -- assembling the result ---------------------------------------------------------------------------
def _stack(maps: list[torch.Tensor]) -> np.ndarray:
    """One ``(batch, layers, heads, q, k)`` float32 array; smaller maps are zero-padded.

    Empties ``maps`` as it goes, so each layer's tensor is freed once copied and the peak
    memory stays near one copy of the result (it matters for long sequences).
    """
    B = max(m.shape[0] for m in maps)
    H = max(m.shape[1] for m in maps)
    Q = max(m.shape[2] for m in maps)
    K = max(m.shape[3] for m in maps)
    out = np.zeros((B, len(maps), H, Q, K), dtype=np.float32)
    dest = torch.from_numpy(out)  # torch's copy_ converts dtypes and runs on all threads
    for i in range(len(maps)):
        m, maps[i] = maps[i], None
        dest[:, i, :m.shape[1], :m.shape[2], :m.shape[3]].copy_(m.expand(B, -1, -1, -1) if m.shape[0] == 1 else m)
        del m
    return out


def _key_mask(kwargs: dict, batch: int, keys: int) -> np.ndarray | None:
    m = kwargs.get("attention_mask")
    if m is None or not torch.is_tensor(m) or m.dim() != 2 or m.shape != (batch, keys):
        return None
    return m.detach().cpu().numpy().astype(bool)


def _tokens(tokens: Any, kwargs: dict, args: tuple, batch: int, keys: int):
    if tokens is None:
        return None
    if hasattr(tokens, "convert_ids_to_tokens"):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or not torch.is_tensor(ids):
            raise InputShapeError("A tokenizer was given as tokens but the inputs hold no input_ids tensor.")
        return [tokens.convert_ids_to_tokens(row.tolist()) for row in ids.reshape(-1, ids.shape[-1])]
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], str):
        tokens = [tokens] * batch
    tokens = [list(map(str, t)) for t in tokens]
    if len(tokens) != batch:
        raise InputShapeError(f"tokens holds {len(tokens)} sequences but the batch has {batch} examples.")
    for i, t in enumerate(tokens):
        if len(t) != keys:
            raise InputShapeError(
                f"tokens[{i}] has {len(t)} strings but the attention maps have {keys} keys.")
    return tokens
