"""summary() counts the multiply-accumulates of every module that multiplies, checked against
PyTorch's own FlopCounterMode (2 FLOPs per MAC) on the same input, and by hand where
FlopCounterMode does not look inside (recurrent kernels)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import neuralscope as ns


def reference_macs(model: nn.Module, *inputs) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() // 2


class FunctionalOps(nn.Module):
    """Multiplications written as functions: they are counted between modules."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 5))
        self.k = nn.Parameter(torch.randn(3, 4, 3, 3))
        self.b = nn.Parameter(torch.randn(5))

    def forward(self, x):
        y = torch.addmm(self.b, x.flatten(1)[:, :6], self.w)                      # (2, 5)
        y = torch.baddbmm(torch.zeros(2, 5, 5), y[:, :, None], y[:, None, :])     # (2, 5, 5)
        z = nn.functional.conv_transpose2d(y[:, None].expand(2, 3, 5, 5), self.k)  # (2, 4, 7, 7)
        return z.sum() + torch.mv(self.w, y[0, 0]).sum()


CASES = {
    "conv2d + linear": (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 36, 5)),
                        lambda: (torch.rand(2, 3, 6, 6),)),
    "grouped conv1d": (lambda: nn.Conv1d(4, 8, 3, groups=2), lambda: (torch.rand(2, 4, 10),)),
    "conv transpose 2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2), lambda: (torch.rand(2, 4, 5, 5),)),
    "embedding costs nothing": (lambda: nn.Embedding(50, 8), lambda: (torch.randint(0, 50, (2, 9)),)),
    "functional ops": (FunctionalOps, lambda: (torch.rand(2, 1, 3, 3),)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_macs_equal_flop_counter(case):
    make, inputs = CASES[case]
    torch.manual_seed(0)
    model, x = make().eval(), inputs()
    s = ns.summary(model, x if len(x) > 1 else x[0])
    # FlopCounterMode has no rule for torch.mv: its 6 x 5 products are added by hand
    extra = 6 * 5 if case == "functional ops" else 0
    assert s.total_macs == reference_macs(model, *x) + extra


def test_bilinear_by_hand():
    # FlopCounterMode does not see inside bilinear's _trilinear kernel: out x in1 x in2 per row
    assert ns.summary(nn.Bilinear(5, 7, 3), (torch.rand(4, 5), torch.rand(4, 7))).total_macs == 4 * 3 * 5 * 7


def test_multihead_attention_by_hand_and_against_flop_counter():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.rand(2, 7, 16)
    s = ns.summary(mha, (x, x, x))
    by_hand = 2 * 7 * (3 * 16 * 16) + 2 * (2 * 7 * 7 * 16) + 2 * 7 * 16 * 16  # q/k/v, QK^T + AV, out
    # in eval mode torch takes a fused kernel FlopCounterMode cannot see; the training-mode path
    # (dropout 0, same arithmetic) runs through linear/bmm, which it counts
    mha.train()
    assert s.total_macs == by_hand == reference_macs(mha, x, x, x)


def test_gpt2_counts_hugging_face_conv1d():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=100, n_positions=32,
                                  attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.GPT2Model(cfg).eval()
    ids = torch.randint(0, 100, (2, 16))
    s = ns.summary(model, ids)
    # by hand: per layer and token, c_attn 64x192, c_proj 64x64, mlp 64x256 + 256x64; attention
    # QK^T and AV: 2 x 16 x 64 per token
    tokens = 2 * 16
    by_hand = 2 * tokens * (64 * 192 + 64 * 64 + 64 * 256 + 256 * 64 + 2 * 16 * 64)
    assert s.total_macs == by_hand == reference_macs(model, ids)
    conv1d = [r for r in s.rows if r.type == "Conv1D"]
    assert conv1d and all(r.macs > 0 for r in conv1d)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_count_gates_by_hand(kind):
    layer = getattr(nn, kind)(5, 7, num_layers=2, batch_first=True)
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    s = ns.summary(layer, torch.rand(3, 11, 5))
    per_step = gates * 7 * (5 + 7) + gates * 7 * (7 + 7)  # layer 1 (input 5), layer 2 (input 7)
    assert s.total_macs == 3 * 11 * per_step


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_recurrent_cells_count_gates_by_hand(kind):
    cell = getattr(nn, kind)(5, 7)
    gates = {"RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}[kind]
    assert ns.summary(cell, torch.rand(3, 5)).total_macs == 3 * gates * 7 * (5 + 7)
