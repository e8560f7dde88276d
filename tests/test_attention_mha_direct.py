"""The direct nn.MultiheadAttention path: one pass computes the weights (straight into the
result's buffer) and the module's output from them. Every configuration is checked against
what the module itself returns with ``need_weights=True, average_attn_weights=False``, and the
output the rest of the model saw against the module's normal output."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.attention import attention
from neuralscope.errors import ModelForwardError

# float32 softmax weights from two code paths differ by a few ulps (~1e-7); the bar is 1e-5.
ATOL = 1e-5


class Calls(nn.Module):
    """Calls its attention module the way a user's model would, and keeps what it got back."""

    def __init__(self, mha: nn.MultiheadAttention, **call_kwargs):
        super().__init__()
        self.mha = mha
        self.call_kwargs = call_kwargs
        self.got = None

    def forward(self, q, k=None, v=None):
        k = q if k is None else k
        v = k if v is None else v
        self.got = self.mha(q, k, v, **self.call_kwargs)
        return self.got[0]


def _own(mha, q, k, v, **kw):
    """The module's own per-head weights and output (its reference path)."""
    kw = {n: a for n, a in kw.items() if n not in ("need_weights", "average_attn_weights")}
    with torch.no_grad():
        out, w = mha(q, k, v, need_weights=True, average_attn_weights=False, **kw)
    return out, w


def _check(model: Calls, *tensors, unchanged):
    """attention() on ``model(*tensors)`` against the module's own weights and output."""
    q, k, v = (tensors + (tensors[-1],) * 2)[:3]
    with unchanged(model):
        maps = attention(model, tensors if len(tensors) > 1 else q)
    ref_out, ref_w = _own(model.mha, q, k, v, **model.call_kwargs)
    if ref_w.dim() == 3:
        ref_w = ref_w.unsqueeze(0)
    np.testing.assert_allclose(maps.weights[:, 0], ref_w.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.got[0].numpy(), ref_out.numpy(), atol=ATOL, rtol=0)
    assert all("forward" not in m.__dict__ for m in model.modules())
    return maps


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_self_attention_maps_and_outputs_equal_the_modules_own(unchanged, batch_first, bias):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first)
    x = torch.randn(3, 7, 16) if batch_first else torch.randn(7, 3, 16)
    maps = _check(Calls(mha, need_weights=False), x, unchanged=unchanged)
    assert maps.weights.shape == (3, 1, 4, 7, 7) and maps.source == "mha"
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)


def test_cross_attention_with_separate_key_and_value_dims(unchanged):
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(16, 2, kdim=10, vdim=6, batch_first=True)
    q, k, v = torch.randn(2, 5, 16), torch.randn(2, 9, 10), torch.randn(2, 9, 6)
    maps = _check(Calls(mha, need_weights=False), q, k, v, unchanged=unchanged)
    assert maps.weights.shape == (2, 1, 2, 5, 9)


def test_cross_attention_key_is_value_and_distinct_key_value(unchanged):
    torch.manual_seed(2)
    mha = nn.MultiheadAttention(12, 3, batch_first=True)
    q, kv = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    _check(Calls(mha, need_weights=False), q, kv, unchanged=unchanged)
    _check(Calls(mha, need_weights=False), q, kv, torch.randn(2, 6, 12), unchanged=unchanged)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # torch's, for the mixed case
@pytest.mark.parametrize("kind", ["float2d", "bool3d", "float_padding", "bool_padding_and_float_mask"])
def test_masks_are_applied_as_the_module_applies_them(unchanged, kind):
    torch.manual_seed(3)
    B, L, H = 2, 6, 2
    mha = nn.MultiheadAttention(8, H, batch_first=True)
    x = torch.randn(B, L, 8)
    pad = torch.tensor([[False] * L, [False] * 4 + [True] * 2])
    kw = {"float2d": {"attn_mask": torch.randn(L, L)},
          "bool3d": {"attn_mask": torch.rand(B * H, L, L) > 0.7},
          "float_padding": {"key_padding_mask": torch.where(pad, -1e4, 0.0)},
          "bool_padding_and_float_mask": {"key_padding_mask": pad, "attn_mask": torch.randn(L, L)}}[kind]
    if kind == "bool3d":
        kw["attn_mask"][..., 0] = False  # keep one key per row so no row is empty
    maps = _check(Calls(mha, need_weights=False, **kw), x, unchanged=unchanged)
    if "padding" in kind:
        assert np.all(maps.weights[1, 0, :, :, 4:] < 1e-6)


@pytest.mark.parametrize("average", [True, False])
def test_caller_asking_for_weights_gets_what_the_module_would_return(unchanged, average):
    torch.manual_seed(4)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(2, 5, 8)
    model = Calls(mha, need_weights=True, average_attn_weights=average)
    with unchanged(model):
        maps = attention(model, x)
    with torch.no_grad():
        _, own = mha(x, x, x, need_weights=True, average_attn_weights=average)
    np.testing.assert_allclose(model.got[1].numpy(), own.numpy(), atol=ATOL, rtol=0)
    # the caller's tensor is its own: writing into it does not touch the result
    before = maps.weights.copy()
    model.got[1].fill_(7.0)
    np.testing.assert_array_equal(maps.weights, before)


@pytest.mark.parametrize("config", ["add_bias_kv", "add_zero_attn", "unbatched"])
def test_configurations_outside_the_direct_path_ask_the_module(unchanged, config):
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, add_bias_kv=config == "add_bias_kv",
                                add_zero_attn=config == "add_zero_attn")
    x = torch.randn(5, 8) if config == "unbatched" else torch.randn(2, 5, 8)
    maps = _check(Calls(mha, need_weights=False), x, unchanged=unchanged)
    extra = 1 if config in ("add_bias_kv", "add_zero_attn") else 0
    assert maps.weights.shape[-1] == 5 + extra


def test_double_precision_model(unchanged):
    torch.manual_seed(6)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    maps = _check(Calls(mha, need_weights=False), x, unchanged=unchanged)
    assert maps.weights.dtype == np.float32


def test_module_called_twice_gives_two_layers(unchanged):
    torch.manual_seed(7)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            y = self.mha(x, x, x, need_weights=False)[0]
            return self.mha(y, y, y, need_weights=False)[0]

    x = torch.randn(2, 5, 8)
    with unchanged(model := Twice()):
        maps = attention(model, x)
    assert maps.layer_names == ["mha", "mha#2"]
    y, w0 = _own(mha, x, x, x)
    _, w1 = _own(mha, y, y, y)
    np.testing.assert_allclose(maps.weights[:, 0], w0.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(maps.weights[:, 1], w1.numpy(), atol=ATOL, rtol=0)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")  # the plain forward runs nested
def test_encoder_with_padding_matches_each_layer(unchanged, norm_first):
    """norm_first=False would run nested tensors in a plain forward; capture keeps them padded."""
    torch.manual_seed(8)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True,
                                       norm_first=norm_first)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    x = torch.randn(2, 6, 16)
    pad = torch.tensor([[False] * 6, [False] * 3 + [True] * 3])

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = enc

        def forward(self, x):
            return self.enc(x, src_key_padding_mask=pad)

    model = Model().eval()
    with torch.no_grad():
        plain = model(x)
    with unchanged(model):
        maps = attention(model, x)
    h = x
    with torch.no_grad():
        for i, lyr in enumerate(enc.layers):
            y = lyr.norm1(h) if norm_first else h
            _, ref = lyr.self_attn(y, y, y, key_padding_mask=pad, need_weights=True, average_attn_weights=False)
            np.testing.assert_allclose(maps.weights[:, i], ref.numpy(), atol=ATOL, rtol=0)
            h = lyr(h, src_key_padding_mask=pad)
    # the nested-tensor forward leaves padded positions zero; compare the real tokens
    np.testing.assert_allclose(h[0].numpy(), plain[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(h[1, :3].numpy(), plain[1, :3].numpy(), atol=1e-5, rtol=0)
    assert torch.backends.mha.get_fastpath_enabled()


def test_raising_forward_restores_forward_attributes_and_keeps_a_users_own(unchanged):
    torch.manual_seed(9)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    patched = nn.MultiheadAttention.forward.__get__(mha)
    mha.forward = patched  # a user's own instance-level forward must survive

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            self.mha(x, x, x, need_weights=False)
            raise RuntimeError("boom after attention")

    model = Bad()
    with unchanged(model), pytest.raises(ModelForwardError, match="boom"):
        attention(model, torch.randn(1, 3, 8))
    assert mha.__dict__["forward"] is patched
    assert torch.backends.mha.get_fastpath_enabled()


def test_subclass_with_its_own_forward_runs_its_forward(unchanged):
    """A subclass that changes the call (here: scales the query) is not bypassed."""
    torch.manual_seed(10)

    class Scaled(nn.MultiheadAttention):
        def forward(self, query, key, value, **kw):
            return super().forward(query * 2.0, key, value, **kw)

    mha = Scaled(8, 2, batch_first=True)
    x = torch.randn(2, 5, 8)
    model = Calls(mha, need_weights=False)
    with unchanged(model):
        maps = attention(model, x)
    with torch.no_grad():
        out, ref = mha(x, x, x, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(maps.weights[:, 0], ref.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.got[0].numpy(), out.numpy(), atol=ATOL, rtol=0)


def test_under_autocast_the_module_runs_its_own_forward(unchanged):
    torch.manual_seed(11)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(2, 5, 8)
    model = Calls(mha, need_weights=False)
    with unchanged(model), torch.autocast("cpu", dtype=torch.bfloat16):
        maps = attention(model, x)
        with torch.no_grad():
            _, ref = mha(x, x, x, need_weights=True, average_attn_weights=False)
    assert maps.weights.dtype == np.float32
    np.testing.assert_allclose(maps.weights[:, 0], ref.float().numpy(), atol=ATOL, rtol=0)


def test_encoder_decoder_transformer_maps_every_attention_call(unchanged):
    """nn.Transformer: encoder self-attention, decoder self- and cross-attention (other key
    length), all captured in call order and equal to each module's own weights."""
    torch.manual_seed(12)
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                           dropout=0.0, batch_first=True).eval()
    src, tgt = torch.randn(2, 7, 16), torch.randn(2, 5, 16)
    with unchanged(model):
        maps = attention(model, (src, tgt))
    assert maps.layer_names == ["encoder.layers.0.self_attn", "decoder.layers.0.self_attn",
                                "decoder.layers.0.multihead_attn"]
    assert maps.weights.shape == (2, 3, 2, 7, 7)  # padded to the longest query and key
    with torch.no_grad():
        enc = model.encoder.layers[0]
        _, w_enc = enc.self_attn(src, src, src, need_weights=True, average_attn_weights=False)
        memory = model.encoder(src)
        dec = model.decoder.layers[0]
        _, w_self = dec.self_attn(tgt, tgt, tgt, need_weights=True, average_attn_weights=False)
        x = dec.norm1(tgt + dec.self_attn(tgt, tgt, tgt, need_weights=False)[0])
        _, w_cross = dec.multihead_attn(x, memory, memory, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(maps.weights[:, 0, :, :7, :7], w_enc.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(maps.weights[:, 1, :, :5, :5], w_self.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(maps.weights[:, 2, :, :5, :7], w_cross.numpy(), atol=ATOL, rtol=0)


def test_only_the_modules_that_ran_are_layers(unchanged):
    torch.manual_seed(13)

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.MultiheadAttention(8, 2, batch_first=True)
            self.b = nn.MultiheadAttention(8, 2, batch_first=True)  # never called

        def forward(self, x):
            return self.a(x, x, x, need_weights=False)[0]

    model = TwoBranches()
    x = torch.randn(2, 4, 8)
    with unchanged(model):
        maps = attention(model, x)
    assert maps.layer_names == ["a"] and maps.weights.shape == (2, 1, 2, 4, 4)
    np.testing.assert_allclose(maps.weights[:, 0], _own(model.a, x, x, x)[1].numpy(), atol=ATOL, rtol=0)
