"""Filter normalisation (Li et al. 2018) checked filter by filter."""
import torch

from neuralscope.landscape.directions import (
    filter_normalize,
    random_direction,
    weights_of,
)
from neuralscope.zoo import DigitsCNN


def test_every_filter_of_a_random_direction_has_the_norm_of_its_weight_filter():
    w = weights_of(DigitsCNN(width=8))
    d = random_direction(w, seed=0)
    for name, weight in w.items():
        if weight.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name  # biases and BatchNorm: ignored
            continue
        for i in range(weight.shape[0]):  # one conv filter / one row of a linear layer
            assert torch.allclose(d[name][i].norm(), weight[i].norm(), rtol=1e-5), (name, i)


def test_filter_normalisation_keeps_each_filters_direction():
    w = {"w": torch.randn(3, 2, 3, 3)}
    raw = {"w": torch.randn(3, 2, 3, 3)}
    d = filter_normalize(raw, w)
    for i in range(3):
        cos = torch.nn.functional.cosine_similarity(d["w"][i].flatten(), raw["w"][i].flatten(), dim=0)
        assert cos > 1 - 1e-6


def test_ignore_none_copies_biases_like_the_reference_code_and_seeds_repeat():
    w = weights_of(torch.nn.Linear(3, 2))
    d = random_direction(w, seed=5, ignore=None)
    assert torch.equal(d["bias"], w["bias"])
    assert torch.equal(random_direction(w, seed=5)["weight"], random_direction(w, seed=5)["weight"])
    assert not torch.equal(random_direction(w, seed=5)["weight"], random_direction(w, seed=6)["weight"])
