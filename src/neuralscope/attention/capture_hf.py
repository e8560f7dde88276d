"""Hugging Face models: their own ``output_attentions=True`` maps, written straight into one
buffer (``method="hf"``); eager attention lent for one pass to a model loaded with another
kernel."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import NoAttentionError
from .buffers import LayerBuffer
from .running import run_model

_MISSING = object()


def is_hf(model: nn.Module) -> bool:
    # a Hugging Face model cannot exist unless transformers is imported: skip its slow import
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return False
    return isinstance(model, transformers.PreTrainedModel)



_HF_HOOK_FLAG = "_output_capturing_hooks_installed"


@contextlib.contextmanager
def hf_hook_flags(model: nn.Module) -> Iterator[None]:
    """Put back transformers' "capture hooks installed" marks as found.

    transformers installs its output-capturing hooks on a model's first
    ``output_attentions=True`` call and marks the model as hooked; ``preserve_model_state``
    removes hooks a call added, so a mark left behind would make every later
    ``output_attentions=True`` call of the user's return no attentions.
    """
    if not is_hf(model):
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


def can_run_eager(model: nn.Module) -> bool:
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
            or not can_run_eager(model):
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


class SoftmaxInto(TorchFunctionMode):
    """Writes each last-dimension softmax of a 4-D float32 tensor into the next slot of a
    buffer, so the attention probabilities an eager model returns already lie in the result.

    Values are unchanged (the same softmax, only its output memory differs). A softmax that
    turns out not to be an attention map only means the returned maps are not the buffer's
    slots in order, and they are copied as usual.
    """

    _SOFTMAX = (F.softmax, torch.softmax, torch.Tensor.softmax)

    def __init__(self, buffer: LayerBuffer):
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


def hf_layer_count(model: nn.Module) -> int | None:
    layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    return layers if isinstance(layers, int) and 0 < layers <= 1024 else None


def capture_hf(model, args, kwargs):
    buffer = LayerBuffer(hf_layer_count(model))
    with _eager_attention(model), (SoftmaxInto(buffer) if buffer.capacity else contextlib.nullcontext()):
        out = run_model(model, args, {**kwargs, "output_attentions": True})
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

