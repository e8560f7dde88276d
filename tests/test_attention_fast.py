"""The fast capture paths give what the model's own code gives.

``_sdpa_direct`` answers ``F.scaled_dot_product_attention`` calls (checked against torch's own
kernel on the same inputs), and stock ``nn.TransformerEncoderLayer`` blocks run without a
module call per sub-layer (checked against the layers' own forward and their attention
modules' ``need_weights=True`` maps). Tolerance: 1e-5, the issue's bar; float32 results of two
code paths differ by a few ulps.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralscope.attention import attention, buffers, capture_mha, capture_sdpa

ATOL = 1e-5


def _qkv(B=2, H=4, L=7, S=9, E=16, Ev=8, kv_heads=None, seed=0):
    torch.manual_seed(seed)
    kv = kv_heads or H
    # laid out (B, L, H, E) and transposed, as transformer code hands them over
    q = torch.randn(B, L, H, E).transpose(1, 2)
    k = torch.randn(B, S, kv, E).transpose(1, 2)
    v = torch.randn(B, S, kv, Ev).transpose(1, 2)
    return q, k, v


CASES = {
    "plain": {},
    "scale": {"scale": 0.3},
    "bool_mask_with_empty_rows": "bool",
    "float_mask_2d": "float2d",
    "causal": {"is_causal": True},
    "gqa": {"enable_gqa": True},
}


def _case(name):
    q, k, v = _qkv(kv_heads=2 if name == "gqa" else None, S=7 if name == "causal" else 9)
    kw = CASES[name]
    if kw == "bool":
        mask = torch.rand(2, 1, 7, 9) > 0.4
        mask[0, 0, 3] = False  # query 3 of example 0 may look at nothing
        mask[:, :, :, 0] |= torch.arange(7) != 3
        kw = {"attn_mask": mask}
    elif kw == "float2d":
        kw = {"attn_mask": torch.randn(7, 9)}
    return q, k, v, dict(kw)


@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_sdpa_direct_output_is_torchs_kernel_output(monkeypatch, name, sliced):
    if sliced:  # the long-input branch: slices of a few heads of one example
        monkeypatch.setattr(capture_sdpa, "WHOLE_BYTES", 0)
        monkeypatch.setattr(capture_sdpa, "SLICE_BYTES", 3 * 7 * 9 * 4)
    q, k, v, kw = _case(name)
    ok = capture_sdpa.sdpa_direct_ok(q, k, v, kw.get("attn_mask"), 0.0, kw.get("is_causal", False),
                                 kw.get("enable_gqa", False))
    assert ok
    out, w = capture_sdpa.sdpa_direct(q, k, v, kw.get("attn_mask"), kw.get("is_causal", False), kw.get("scale"))
    ref = F.scaled_dot_product_attention(q, k, v, **kw)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=ATOL, rtol=0)
    # the weights are the ones that made the output, and each row is a distribution
    v_rep = v.repeat_interleave(2, dim=1) if name == "gqa" else v
    np.testing.assert_allclose((w @ v_rep).numpy(), ref.numpy(), atol=ATOL, rtol=0)
    sums = w.sum(-1)
    if name == "bool_mask_with_empty_rows":
        assert torch.all(w[0, :, 3] == 0) and torch.all(out[0, :, 3] == 0)
        sums[0, :, 3] = 1.0
    np.testing.assert_allclose(sums.numpy(), 1.0, atol=1e-5)
    if name == "causal":
        assert torch.all(w.triu(diagonal=1) == 0)


def test_sdpa_direct_declines_what_it_does_not_compute_exactly():
    q, k, v = _qkv()
    assert not capture_sdpa.sdpa_direct_ok(q, k, v, None, 0.1, False, False)  # dropout
    assert not capture_sdpa.sdpa_direct_ok(q.double(), k.double(), v.double(), None, 0.0, False, False)
    assert not capture_sdpa.sdpa_direct_ok(q, k, v, torch.ones(7, 9, dtype=torch.bool), 0.0, True, False)  # SDPA raises
    assert not capture_sdpa.sdpa_direct_ok(q, k, v, torch.ones(7, 9, dtype=torch.int64), 0.0, False, False)
    assert not capture_sdpa.sdpa_direct_ok(q, k, v, torch.ones(3, 7, 9), 0.0, False, False)  # does not broadcast
    q2, k2, v2 = _qkv(kv_heads=2)
    assert not capture_sdpa.sdpa_direct_ok(q2, k2, v2, None, 0.0, False, False)  # fewer kv heads without enable_gqa
    with torch.enable_grad():
        qg = q.clone().requires_grad_()
        assert not capture_sdpa.sdpa_direct_ok(qg, k, v, None, 0.0, False, False)


def test_calls_the_direct_path_declines_still_run_and_are_recomputed(unchanged):
    """A float64 SDPA call runs as asked (torch's kernel) and its weights are recomputed."""

    class Double(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 24).double()

        def forward(self, x):
            q, k, v = self.proj(x).view(x.shape[0], x.shape[1], 3, 2, 4).permute(2, 0, 3, 1, 4)
            self.last = (q, k, v, F.scaled_dot_product_attention(q, k, v))
            return self.last[-1]

    torch.manual_seed(3)
    model = Double().eval()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    with unchanged(model):
        maps = attention(model, x)
    q, k, v, out = model.last
    w = torch.from_numpy(maps.weights[:, 0]).double()
    np.testing.assert_allclose((w @ v).numpy(), F.scaled_dot_product_attention(q, k, v).detach().numpy(),
                               atol=ATOL, rtol=0)


def _encoder(norm_first, activation, seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, activation=activation,
                                       batch_first=True, norm_first=norm_first)
    return nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).eval()


class _Masked(nn.Module):
    def __init__(self, encoder, mask, pad):
        super().__init__()
        self.encoder, self.mask, self.pad = encoder, mask, pad

    def forward(self, x):
        return self.encoder(x, mask=self.mask, src_key_padding_mask=self.pad)


@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu"), (False, nn.GELU())])
def test_encoder_layers_run_step_for_step_give_every_layers_own_maps(unchanged, norm_first, activation, masks):
    enc = _encoder(norm_first, activation)
    x = torch.randn(2, 6, 16)
    mask = pad = None
    if masks:
        mask = torch.rand(6, 6) > 0.6  # True: not allowed (bool like the padding mask: PyTorch's
        mask[:, 0] = False             # fused kernel gets mixed mask types wrong)
        pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    model = _Masked(enc, mask, pad)
    attn = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    assert len(capture_mha.plain_encoder_layers(model, attn)) == 3  # the step-for-step path is taken
    with unchanged(model):
        maps = attention(model, x)
    assert maps.layer_names == [f"encoder.layers.{i}.self_attn" for i in range(3)]
    with torch.no_grad():  # each layer's input from the layers' own forward, maps from need_weights=True
        h = x
        for i, layer in enumerate(enc.layers):
            inp = layer.norm1(h) if norm_first else h
            _, ref = layer.self_attn(inp, inp, inp, attn_mask=mask, key_padding_mask=pad, need_weights=True,
                                     average_attn_weights=False)
            np.testing.assert_allclose(maps.weights[:, i], ref.numpy(), atol=ATOL, rtol=0)
            h = layer(h, src_mask=mask, src_key_padding_mask=pad)
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)
    if masks:
        assert np.all(maps.weights[1, :, :, :, 4:] == 0)
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_encoder_layer_output_inside_the_capture_is_the_layers_own():
    """The step-for-step layer returns what the layer's own forward returns (same ops, same
    order), so later layers see the inputs they would see."""
    enc = _encoder(False, "relu")
    layer = enc.layers[0]
    x = torch.randn(3, 5, 16)
    cap = capture_mha.MHACapture([("self_attn", layer.self_attn)])
    with torch.no_grad():
        ours = cap._encoder_layer("self_attn", layer, x)
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            own = layer(x)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    np.testing.assert_allclose(ours.numpy(), own.numpy(), atol=ATOL, rtol=0)


def test_a_hook_inside_an_encoder_layer_still_runs_and_the_maps_stay_right(unchanged):
    """A hooked sub-layer makes the block run its own forward (the hook fires), still captured."""
    enc = _encoder(False, "relu")
    seen = []
    enc.layers[1].linear1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    x = torch.randn(2, 6, 16)
    attn = [(n, m) for n, m in enc.named_modules() if isinstance(m, nn.MultiheadAttention)]
    assert capture_mha.plain_encoder_layers(enc, attn) == [enc.layers[0], enc.layers[2]]
    with unchanged(enc):
        maps = attention(enc, x)
    assert seen == [torch.Size([2, 6, 32])]
    with torch.no_grad():
        h = enc.layers[0](x)
        _, ref = enc.layers[1].self_attn(h, h, h, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(maps.weights[:, 1], ref.numpy(), atol=ATOL, rtol=0)


def test_encoder_layer_path_leaves_no_shadow_when_the_forward_raises(unchanged):
    enc = _encoder(True, "gelu")

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = enc

        def forward(self, x):
            self.encoder(x)
            raise RuntimeError("after the encoder")

    model = Boom()
    from neuralscope.errors import ModelForwardError

    with unchanged(model), pytest.raises(ModelForwardError, match="after the encoder"):
        attention(model, torch.randn(1, 4, 16))
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert torch.backends.mha.get_fastpath_enabled()


def test_result_memory_is_recycled_only_after_the_result_is_dropped(monkeypatch):
    """Live results never share memory; a dropped result's buffer serves the next call, which
    writes every value it shows (equal to a fresh computation)."""
    import gc

    from neuralscope.zoo import TinyTransformer

    monkeypatch.setattr(buffers, "POOL_FROM", 1 << 20)  # pool this small model's buffer too
    buffers.POOL.clear()
    torch.manual_seed(0)
    model = TinyTransformer(max_len=64).eval()
    ids = torch.randint(0, 100, (8, 64))  # 2 x 8 x 4 x 64 x 64 floats: 1 MiB, pooled
    first = attention(model, ids)
    second = attention(model, ids)
    assert not np.shares_memory(first.weights, second.weights)
    expected = second.weights.copy()
    first.weights[...] = np.nan  # garbage a recycled buffer must not show
    ptr = first.weights.__array_interface__["data"][0]
    del first
    gc.collect()
    third = attention(model, ids)
    assert third.weights.__array_interface__["data"][0] == ptr  # the dropped result's memory
    np.testing.assert_array_equal(third.weights, expected)
    assert not np.shares_memory(third.weights, second.weights)


def test_buffer_pool_is_bounded_and_matches_sizes():
    pool = buffers.BufferPool(blocks=2, max_bytes=20_000)
    mems = [np.empty(n, np.float32) for n in (500, 1000, 2000)]  # 2000, 4000, 8000 bytes
    for m in mems:
        pool.give(m)
    assert [m.nbytes for m in pool.free] == [4000, 8000]  # two blocks at most: the oldest went
    pool.give(np.empty(20_000, np.float32))  # larger than the whole pool: not kept
    assert len(pool.free) == 2
    assert pool.take(3_000) is mems[1]
    assert pool.take(3_000) is None  # the 8000-byte block is more than twice what is asked
    assert pool.take(5_000) is mems[2] and pool.free == []
    pool.give(np.empty(3000, np.float32))
    pool.give(np.empty(3000, np.float32))
    assert len(pool.free) == 1  # 24000 bytes would pass max_bytes


def test_large_result_buffers_are_pooled_small_ones_are_not():
    buffers.POOL.clear()
    big = buffers.empty_buffer((buffers.POOL_FROM // 4,), torch.device("cpu"))
    small = buffers.empty_buffer((16,), torch.device("cpu"))
    assert big.dtype == small.dtype == torch.float32 and big.numel() * 4 == buffers.POOL_FROM
    assert small.numel() == 16
    del big, small
    assert len(buffers.POOL.free) == 1 and buffers.POOL.free[0].nbytes == buffers.POOL_FROM
