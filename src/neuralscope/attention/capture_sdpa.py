"""Models that call ``F.scaled_dot_product_attention`` (``method="sdpa"``): each call answered
from weights computed once, into the result's buffer, or recomputed beside it."""
from __future__ import annotations

import collections
import inspect
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .buffers import LayerBuffer, empty_buffer
from .capture_hf import hf_layer_count
from .running import run_model

_SDPA_SIGNATURE = inspect.Signature([
    inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for n, d in (
        ("query", inspect.Parameter.empty), ("key", inspect.Parameter.empty),
        ("value", inspect.Parameter.empty), ("attn_mask", None), ("dropout_p", 0.0),
        ("is_causal", False), ("scale", None), ("enable_gqa", False))])



class SDPACapture(TorchFunctionMode):
    """Records the weights of every ``F.scaled_dot_product_attention`` call; other ops pass.

    A call :func:`sdpa_direct` covers (float32, no dropout, no gradient wanted) is answered by
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
        self.buffer = LayerBuffer(capacity)

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
        if sdpa_direct_ok(q, k, a["value"], a["attn_mask"], a["dropout_p"], a["is_causal"], a["enable_gqa"]):
            result, w = sdpa_direct(q, k, a["value"], a["attn_mask"], a["is_causal"], a["scale"], out=out)
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
#: slices of about :data:`SLICE_BYTES` (a few heads of one example), each used for its part
#: of the output while it is still in the cache (measured on MiniLM, 2 x 512 tokens: 8.5 ms a
#: layer against 10 ms in one piece and 11.5 ms for the SDPA kernel itself)
WHOLE_BYTES = 8 << 20
SLICE_BYTES = 4 << 20


def sdpa_direct_ok(q, k, v, attn_mask, dropout_p, is_causal, enable_gqa) -> bool:
    """Whether :func:`sdpa_direct` computes what ``F.scaled_dot_product_attention`` would."""
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


def sdpa_direct(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
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
        out = empty_buffer((B, H, L, S), q.device)
    bias = None  # additive, broadcastable to (B, H, L, S)
    if is_causal:
        bias = torch.zeros((L, S), dtype=torch.float32, device=q.device).masked_fill_(
            torch.ones(L, S, dtype=torch.bool, device=q.device).tril_().logical_not_(), float("-inf"))
    elif attn_mask is not None:
        bias = (torch.zeros(attn_mask.shape, dtype=torch.float32, device=q.device).masked_fill_(
            attn_mask.logical_not(), float("-inf")) if attn_mask.dtype == torch.bool else attn_mask)
    result = torch.empty((B, L, H, Ev), dtype=q.dtype, device=q.device).transpose(1, 2)
    if out.numel() * 4 <= WHOLE_BYTES:
        w = out.view(B * H, L, S)
        w.baddbmm_(q.reshape(B * H, L, E), k.reshape(B * H, S, E).transpose(1, 2), beta=0, alpha=scale)
        if bias is not None:
            out.add_(bias)
        torch.softmax(w, -1, out=w)
        if bias is not None:  # rows with every key masked: 0/0
            torch.nan_to_num_(w, nan=0.0)
        result.copy_(torch.matmul(out, v))
        return result, out
    step = max(1, min(H, SLICE_BYTES // max(1, L * S * 4)))
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


def capture_sdpa(model, args, kwargs):
    # how many calls to make room for: a Hugging Face model's layer count (a wrong guess only
    # costs the copy the buffer would have saved)
    mode = SDPACapture(model, capacity=hf_layer_count(model))
    with mode:
        run_model(model, args, kwargs)
    maps = [w for _, w in mode.records]
    return [n for n, _ in mode.records], maps, mode.buffer.stacked(maps)

