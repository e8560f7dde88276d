"""The graph says what the model has: dict outputs keep their key names, and a tied weight
(or a module called twice) is counted once and marked as shared, so the nodes' parameters
add up to the model's unique parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import neuralscope as ns
from neuralscope.graph.layout import node_lines, node_tooltip

METHODS = ["fx", "export", "hooks"]


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 3), nn.Linear(4, 2), nn.Linear(4, 5)

    def forward(self, x):
        return {"logits": self.a(x), "pair": (self.b(x), torch.relu(self.c(x)))}


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight  # weight tying, as in language models

    def forward(self, ids):
        h = self.mix(self.emb(ids))
        return self.head(self.mix(h))  # mix is called twice


def outputs(g):
    return [n for n in g.nodes.values() if n.kind == "output"]


@pytest.mark.parametrize("method", METHODS)
def test_dict_outputs_keep_their_key_names(method):
    g = ns.graph(DictOut(), torch.rand(2, 4), method=method)
    assert [n.label for n in outputs(g)] == ["logits", "pair.0", "pair.1"]
    assert [tuple(n.inputs[0].shape) for n in outputs(g)] == [(2, 3), (2, 2), (2, 5)]


@pytest.mark.parametrize("method", METHODS)
def test_tuple_outputs_keep_the_plain_names(method):
    class Two(nn.Module):
        def forward(self, x):
            return x + 1, x * 2

    g = ns.graph(Two(), torch.rand(2, 4), method=method)
    assert [n.label for n in outputs(g)] == ["output", "output1"]


@pytest.mark.parametrize("method", METHODS)
def test_tied_weight_is_counted_once_and_marked_shared(method):
    model = Tied()
    unique = sum(p.numel() for p in model.parameters())  # parameters() yields tied tensors once
    g = ns.graph(model, torch.tensor([[1, 2, 3]]), method=method)
    assert g.total_params == unique == sum(n.params for n in g.nodes.values())
    head = next(n for n in g.nodes.values() if n.module == "head")
    assert head.params == 0 and head.attrs["shared_params"] == 40 and head.attrs["shares_with"] == "emb"
    again = [n for n in g.nodes.values() if n.module == "mix"]
    assert len(again) == 2 and again[0].params == 20 and again[1].params == 0
    assert again[1].attrs["shared_params"] == 20


def test_shared_mark_is_drawn_and_in_the_tooltip():
    g = ns.graph(Tied(), torch.tensor([[1, 2, 3]]))
    view = g.view()
    head = next(n for n in view.nodes if n.id == "head")
    assert "shares 40" in node_lines(head)[1]
    assert "counted at 'emb'" in node_tooltip(head)
    assert "shares 40" in g.to_svg()
