"""Extract attention weights from a model without editing it.

Three capture paths, picked automatically (``method="auto"``):

``"hf"``
    Hugging Face models loaded with ``attn_implementation="eager"``: the forward pass is
    run with ``output_attentions=True`` and the model's own weights are returned.
``"mha"``
    Models built from :class:`torch.nn.MultiheadAttention` (``nn.TransformerEncoderLayer``,
    torchvision's ViT...).  Those layers usually call the module with ``need_weights=False``;
    a forward pre-hook asks the module for per-head weights (``need_weights=True,
    average_attn_weights=False``) and a forward hook hands the caller exactly the output
    type it asked for, so the rest of the model runs as before.
``"sdpa"``
    Anything that calls :func:`torch.nn.functional.scaled_dot_product_attention`
    (Hugging Face ``sdpa`` models, hand-written attention): the call's query and key are
    captured and the weights recomputed as ``softmax(q kᵀ · scale + mask)`` with the same
    mask, causal flag, scale and grouped-query layout.

All hooks, the capture mode and the MHA fast-path switch are removed again inside
:func:`neuralscope.adapters.torch.preserve_model_state`, also when the forward pass raises.
"""
from __future__ import annotations

import collections
import inspect
import math
import sys
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..adapters.torch import as_inputs, forward_with_context, model_device, preserve_model_state
from ..errors import InputShapeError, NeuralscopeError
from .maps import AttentionMaps

METHODS = ("auto", "hf", "mha", "sdpa")
_MHA_ARG_NAMES = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                  "average_attn_weights", "is_causal")
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
            ``F.scaled_dot_product_attention``). It runs in eval mode (no dropout) and is
            left exactly as found.
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
    if not isinstance(model, nn.Module):
        raise TypeError(f"attention() needs a torch.nn.Module, not {type(model).__name__}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    if method == "auto":
        method = _pick_method(model)
    args, kwargs = as_inputs(inputs)
    dev = model_device(model)
    args = tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)
    kwargs = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    with preserve_model_state(model), torch.no_grad():
        model.eval()  # dropout off: the maps are the model's deterministic attention
        if method == "hf":
            names, maps = _capture_hf(model, args, kwargs)
        elif method == "mha":
            names, maps = _capture_mha(model, args, kwargs)
        else:
            names, maps = _capture_sdpa(model, args, kwargs)
    if not maps:
        raise NoAttentionError(_nothing_found(model, method))
    if layers is not None:
        keep = [i for i, n in enumerate(names) if any(s in n for s in layers)]
        if not keep:
            from ..errors import LayerNotFoundError

            raise LayerNotFoundError(", ".join(layers), names, what="attention layer")
        names, maps = [names[i] for i in keep], [maps[i] for i in keep]
    weights = _stack(maps)
    mask = _key_mask(kwargs, weights.shape[0], weights.shape[-1])
    toks = _tokens(tokens, kwargs, args, weights.shape[0], weights.shape[-1])
    return AttentionMaps(weights, names, tokens=toks, mask=mask, source=method)


# -- choosing a path ----------------------------------------------------------------------
def _is_hf(model: nn.Module) -> bool:
    # a Hugging Face model cannot exist unless transformers is imported: skip its slow import
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return False
    return isinstance(model, transformers.PreTrainedModel)


def _pick_method(model: nn.Module) -> str:
    if _is_hf(model):
        impl = getattr(model.config, "_attn_implementation", "eager")
        return "hf" if impl in (None, "eager") else "sdpa"
    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()):
        return "mha"
    return "sdpa"


def _nothing_found(model: nn.Module, method: str) -> str:
    counts = collections.Counter(type(m).__name__ for m in model.modules())
    found = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.most_common(12))
    return (f"Found no attention in {type(model).__name__} (method {method!r}): it has no "
            "nn.MultiheadAttention, is not a Hugging Face model returning attentions, and did not "
            f"call F.scaled_dot_product_attention during forward; its modules are: {found}.")


# -- Hugging Face ---------------------------------------------------------------------------
def _capture_hf(model, args, kwargs):
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
    return _hf_layer_names(model, len(atts)), [a.float() for a in atts]


def _hf_layer_names(model: nn.Module, count: int) -> list[str]:
    """Names of the transformer blocks: the first ModuleList holding ``count`` blocks."""
    for name, m in model.named_modules():
        if isinstance(m, nn.ModuleList) and len(m) == count and name:
            return [f"{name}.{i}" for i in range(count)]
    return [f"layer {i}" for i in range(count)]


def _run(model, args, kwargs):
    if args and not kwargs:
        return forward_with_context(model, tuple(args))
    if not args:
        return forward_with_context(model, dict(kwargs))
    # both positional and keyword arguments: wrap so forward_with_context sees one call
    return forward_with_context(_Bound(model, kwargs), tuple(args))


class _Bound(nn.Module):
    def __init__(self, model, kwargs):
        super().__init__()
        self.inner = model
        self.kw = kwargs

    def forward(self, *args):
        return self.inner(*args, **self.kw)


# -- nn.MultiheadAttention --------------------------------------------------------------------
def _capture_mha(model, args, kwargs):
    records: list[tuple[str, torch.Tensor]] = []
    calls: collections.Counter = collections.Counter()
    handles = []
    asked: dict[int, list[tuple[bool, bool]]] = {}
    mha = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    if not mha:
        return [], []

    def pre_hook(name):
        def hook(module, a, kw):
            kw = dict(kw)
            a = list(a)
            # move positional flags into keywords so they can be replaced
            for i in range(len(a) - 1, 2, -1):
                kw[_MHA_ARG_NAMES[i]] = a.pop(i)
            asked.setdefault(id(module), []).append(
                (kw.get("need_weights", True), kw.get("average_attn_weights", True)))
            kw["need_weights"] = True
            kw["average_attn_weights"] = False
            return tuple(a), kw
        return hook

    def post_hook(name):
        def hook(module, a, kw, output):
            need, average = asked[id(module)].pop()
            attn_out, w = output
            calls[name] += 1
            label = name if calls[name] == 1 else f"{name}#{calls[name]}"
            if w.dim() == 3:  # unbatched call: (heads, L, S)
                w = w.unsqueeze(0)
            records.append((label, w.detach().float()))
            if not need:
                return attn_out, None
            return (attn_out, w.mean(dim=1) if average else w) if w.dim() == 4 else output
        return hook

    fast = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        for name, m in mha:
            handles.append(m.register_forward_pre_hook(pre_hook(name), with_kwargs=True))
            handles.append(m.register_forward_hook(post_hook(name), with_kwargs=True))
        _run(model, args, kwargs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        for h in handles:
            h.remove()
    return [n for n, _ in records], [w for _, w in records]


# -- F.scaled_dot_product_attention --------------------------------------------------------------
class _SDPACapture(TorchFunctionMode):
    def __init__(self, stack):
        super().__init__()
        self.stack = stack
        self.records: list[tuple[str, torch.Tensor]] = []
        self.calls: collections.Counter = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            bound = _SDPA_SIGNATURE.bind(*args, **kwargs)
            bound.apply_defaults()
            w = sdpa_weights(**{k: v for k, v in bound.arguments.items() if k not in ("value", "dropout_p")})
            name = self.stack[-1] if self.stack else "attention"
            self.calls[name] += 1
            label = name if self.calls[name] == 1 else f"{name}#{self.calls[name]}"
            if w.dim() == 3:
                w = w.unsqueeze(1)
            elif w.dim() == 2:
                w = w[None, None]
            elif w.dim() > 4:
                w = w.flatten(1, -3)
            self.records.append((label, w.detach().float()))
        return func(*args, **kwargs)


def sdpa_weights(query: torch.Tensor, key: torch.Tensor, attn_mask: torch.Tensor | None = None,
                 is_causal: bool = False, scale: float | None = None,
                 enable_gqa: bool = False) -> torch.Tensor:
    """The attention weights ``F.scaled_dot_product_attention`` uses for this query and key.

    Follows PyTorch's documented reference: ``softmax(q kᵀ · scale + bias)``, where a boolean
    mask keeps the positions that are True, a float mask is added, ``is_causal`` keeps the
    lower triangle (top-left aligned), and ``enable_gqa`` repeats key heads for query groups.
    Rows with every key masked are returned as zeros. Computed in float32 (or float64).

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
    logits = (q @ k.transpose(-2, -1)) * scale
    keep = None
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril(diagonal=0)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            keep = attn_mask if keep is None else (keep & attn_mask)
        else:
            logits = logits + attn_mask.to(dtype)
    if keep is not None:
        logits = logits.masked_fill(~keep, float("-inf"))
    w = torch.softmax(logits, dim=-1)
    return torch.nan_to_num(w, nan=0.0)


def _capture_sdpa(model, args, kwargs):
    stack: list[str] = []
    handles = []
    for name, m in model.named_modules():
        def pre(module, a, name=name):
            stack.append(name or type(model).__name__)

        def post(module, a, out, name=name):
            if stack:
                stack.pop()
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    mode = _SDPACapture(stack)
    try:
        with mode:
            _run(model, args, kwargs)
    finally:
        for h in handles:
            h.remove()
    return [n for n, _ in mode.records], [w for _, w in mode.records]


# -- assembling the result ---------------------------------------------------------------------------
def _stack(maps: list[torch.Tensor]) -> np.ndarray:
    B = max(m.shape[0] for m in maps)
    H = max(m.shape[1] for m in maps)
    Q = max(m.shape[2] for m in maps)
    K = max(m.shape[3] for m in maps)
    out = np.zeros((B, len(maps), H, Q, K), dtype=np.float32)
    for i, m in enumerate(maps):
        a = m.cpu().numpy()
        if a.shape[0] == 1 and B > 1:
            a = np.broadcast_to(a, (B,) + a.shape[1:])
        out[:, i, :a.shape[1], :a.shape[2], :a.shape[3]] = a
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
