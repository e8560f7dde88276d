"""The fx reader's parameter counts, computed once bottom up (ParamCounts), against
PyTorch's own ``parameters()`` walk (shared tensors once) for every module and group."""
from __future__ import annotations

import torch
from torch import nn

from neuralscope.graph.api import graph
from neuralscope.graph.extract_fx import ParamCounts, count_params
from neuralscope.zoo import TinyResNet


def _tied() -> nn.Module:
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # tied: counted once
    return nn.Sequential(emb, nn.Sequential(nn.Linear(4, 4), nn.ReLU()), head)


def _reused() -> nn.Module:
    block = nn.Linear(3, 3)
    return nn.Sequential(block, nn.ReLU(), block)  # one module in two places


def test_bottom_up_counts_equal_pytorchs_walk_for_every_module():
    torch.manual_seed(0)
    net = TinyResNet()
    net.layer1[0].conv1.weight.requires_grad_(False)  # a frozen parameter: not trainable
    counts = ParamCounts(net)
    assert not counts.shared
    for _, m in net.named_modules():
        assert counts(m) == count_params(m)
    for model in (_tied(), _reused()):
        counts = ParamCounts(model)
        assert counts.shared  # sums would count the shared tensor twice: the walk decides
        assert all(counts(m) == count_params(m) for m in model.modules())


def test_fx_graph_params_add_up_on_a_model_of_a_thousand_modules(unchanged):
    blocks = [nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.ReLU()) for _ in range(330)]
    net = nn.Sequential(*[nn.Sequential(*blocks[i:i + 30]) for i in range(0, 330, 30)]).eval()
    with unchanged(net):
        g = graph(net, torch.randn(2, 8), method="fx")
    assert g.total_params == sum(p.numel() for p in net.parameters())
    assert sum(n.params for n in g.nodes.values() if n.kind == "module") == g.total_params
    assert g.groups["3"].params == sum(p.numel() for p in net[3].parameters())
