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
    removed afterwards) by :func:`mha_direct`, which computes the per-head weights once,
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
    answers it with :func:`sdpa_direct`: the weights ``softmax(q kᵀ · scale + mask)`` (same
    mask, causal flag, scale and grouped-query layout) are computed once, straight into the
    result's buffer when a Hugging Face config gives the layer count, and the call's output is
    made from them (on the CPU that costs about what the SDPA kernel costs). Calls outside that
    path (dropout, gradients, other dtypes) run as asked and the weights are recomputed beside
    them. Each call is named after the innermost running module, read from the stack.

All hooks, shadowed forwards, capture modes, lent configs and the MHA fast-path switch are
removed again, also when the forward pass raises (inside
:func:`neuralscope.adapters.torch.preserve_model_state`). Result buffers of 32 MB and more
reuse the memory of results the caller has dropped (:class:`BufferPool`, bounded).
``benchmarks/attention.py`` measures what each path costs over a plain forward.
"""
from __future__ import annotations

import collections
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.torch import model_device, preserve_model_state
from ..errors import InputShapeError, LayerNotFoundError, NoAttentionError
from .buffers import stack_maps
from .capture_hf import can_run_eager, capture_hf, hf_hook_flags, is_hf
from .capture_mha import capture_mha
from .capture_sdpa import capture_sdpa, sdpa_weights  # noqa: F401 - re-exported
from .maps import AttentionMaps

METHODS = ("auto", "hf", "mha", "sdpa")
_MISSING = object()


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
    from ..adapters import for_model

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    adapter = for_model(model)
    x = adapter.normalize_inputs(inputs)
    names, maps, stacked, source = adapter.attention_weights(x, method)  # the adapter picks the capture path
    if layers is not None:
        keep = _kept_layers(names, layers)
        names, maps = [names[i] for i in keep], [maps[i] for i in keep]
        stacked = None if stacked is None else stacked[:, keep]
    weights = stack_maps(maps) if stacked is None else stacked
    mask = _key_mask(x.kwargs, weights.shape[0], weights.shape[-1])
    toks = _tokens(tokens, x.kwargs, x.args, weights.shape[0], weights.shape[-1])
    return AttentionMaps(weights, names, tokens=toks, mask=mask, source=source)


def capture_torch(model: nn.Module, args: tuple, kwargs: dict, method: str = "auto") -> tuple:
    """One forward pass of a PyTorch model recording every attention layer's weights:
    ``(names, maps, stacked, method)`` by the ``"hf"``, ``"mha"`` or ``"sdpa"`` path (see the
    module docstring; ``"auto"`` picks one), the model in eval mode and left as found. Called
    by :meth:`~neuralscope.adapters.torch.TorchAdapter.attention_weights`."""
    named = list(model.named_modules())  # one walk over the modules, shared by what follows
    if method == "auto":
        method = pick_method(model, named)
    dev = model_device(model)
    args = tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)
    kwargs = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in kwargs.items()}
    with hf_hook_flags(model), preserve_model_state(model), torch.no_grad():
        if any(m.training for _, m in named):
            model.eval()  # dropout off: the maps are the model's deterministic attention
        if method == "hf":
            names, maps, stacked = capture_hf(model, args, kwargs)
        elif method == "mha":
            names, maps, stacked = capture_mha(model, args, kwargs, named)
        else:
            names, maps, stacked = capture_sdpa(model, args, kwargs)
    if not maps:
        raise NoAttentionError(_nothing_found(model, method))
    return names, maps, stacked, method


def _kept_layers(names: list[str], wanted: Sequence[str]) -> list[int]:
    """Indices of the attention layers whose names contain one of ``wanted``."""
    keep = [i for i, n in enumerate(names) if any(s in n for s in wanted)]
    if not keep:
        raise LayerNotFoundError(", ".join(wanted), names, what="attention layer")
    return keep

def pick_method(model: nn.Module, named: list[tuple[str, nn.Module]] | None = None) -> str:
    """The capture path ``method="auto"`` takes for a PyTorch model (see the module docstring)."""
    if is_hf(model):
        impl = getattr(model.config, "_attn_implementation", "eager")
        if impl in (None, "eager"):
            return "hf"
        if impl == "sdpa" and getattr(model, "dtype", None) == torch.float32:
            # SDPA calls answered from weights computed once (benchmarks/attention.py, MiniLM:
            # 1.09x the plain forward at 8 x 68 tokens where lent eager attention takes 1.11x,
            # and at 2 x 512 where eager attention itself takes 1.4x)
            return "sdpa"
        return "hf" if can_run_eager(model) else "sdpa"
    if any(isinstance(m, nn.MultiheadAttention) for _, m in (named or model.named_modules())):
        return "mha"
    return "sdpa"


def _nothing_found(model: nn.Module, method: str) -> str:
    counts = collections.Counter(type(m).__name__ for m in model.modules())
    found = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.most_common(12))
    return (f"Found no attention in {type(model).__name__} (method {method!r}): it has no "
            "nn.MultiheadAttention, is not a Hugging Face model returning attentions, and did not "
            f"call F.scaled_dot_product_attention during forward; its modules are: {found}.")


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
