"""``nn.MultiheadAttention`` models (``method="mha"``): each module's forward shadowed for one
pass by :func:`mha_direct`, which computes the per-head weights once, into the result's buffer."""
from __future__ import annotations

import collections
import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .buffers import LayerBuffer
from .running import run_model

_MISSING = object()


class MHACapture:
    """Runs every ``nn.MultiheadAttention`` of a model through :func:`mha_direct`.

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
        self.buffer = LayerBuffer(len(modules))

    def run(self, model, args, kwargs) -> tuple[list[str], list[torch.Tensor]]:
        shadowed = []
        fast = torch.backends.mha.get_fastpath_enabled()
        try:
            torch.backends.mha.set_fastpath_enabled(False)
            names = {id(m): n for n, m in self.modules}
            layers = plain_encoder_layers(model, self.modules, self.named)  # before any forward is shadowed
            for name, m in self.modules:
                shadowed.append((m, m.__dict__.get("forward", _MISSING)))
                m.forward = functools.partial(self._forward, name, m)
            for layer in layers:
                shadowed.append((layer, _MISSING))
                layer.forward = functools.partial(self._encoder_layer, names[id(layer.self_attn)], layer)
            run_model(model, args, kwargs)
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
        if mha_direct_ok(m, query, key, value, key_padding_mask, attn_mask, is_causal):
            b, l, s = (0, 1, 1) if m.batch_first else (1, 0, 0)
            shape = (query.shape[b] * m.num_heads, query.shape[l], key.shape[s])
            attn_out, w = mha_direct(m, query, key, value, key_padding_mask, attn_mask,
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


def plain_encoder_layers(model: nn.Module, attention: list[tuple[str, nn.Module]],
                          named: dict[str, nn.Module] | None = None) -> list[nn.Module]:
    """The ``nn.TransformerEncoderLayer`` blocks :meth:`MHACapture._encoder_layer` runs exactly
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


def mha_direct_ok(m, query, key, value, key_padding_mask, attn_mask, is_causal) -> bool:
    """Whether :func:`mha_direct` computes exactly what the module's own forward would."""
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


def mha_direct(m: nn.MultiheadAttention, query, key, value, key_padding_mask=None, attn_mask=None,
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


def capture_mha(model, args, kwargs, named=None):
    mha = [(n, m) for n, m in (named or model.named_modules()) if isinstance(m, nn.MultiheadAttention)]
    if not mha:
        return [], [], None
    cap = MHACapture(mha, None if named is None else dict(named))
    names, maps = cap.run(model, args, kwargs)
    return names, maps, cap.buffer.stacked(maps)

