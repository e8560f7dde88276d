"""Activation views: each number equals the layer's real output, computed directly."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.capture import LayerNotRunError
from neuralscope.errors import LayerNotFoundError
from neuralscope.inspect.activations import (activation_heatmap, activation_histograms, dead_units, feature_maps,
                                             hidden_states, layer_activations, unit_activations)
from neuralscope.inspect.functions import activation_functions
from neuralscope.zoo import MLP, DigitsCNN, RNNClassifier


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = DigitsCNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval vs train mode differ
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.rand(12, 1, 8, 8)


def test_feature_maps_equal_the_layer_output_in_eval_mode(cnn, x, unchanged):
    cnn.train()  # the user's mode must survive; the view uses eval mode
    with unchanged(cnn):
        fm = feature_maps(cnn, x, "features.5", index=3)
    cnn.eval()
    with torch.no_grad():
        ref = cnn.features[:6](x)[3].numpy()
    np.testing.assert_array_equal(fm.maps, ref)
    means = ref.reshape(32, -1).mean(1)
    assert list(fm.order) == list(np.argsort(-means, kind="stable"))
    plt.close(fm.figure())


def test_feature_maps_of_chosen_channels_and_bad_arguments(cnn, x, unchanged):
    fm = feature_maps(cnn, x, "features.0", order=[5, 2, 7])
    assert fm.order.tolist() == [5, 2, 7]
    with unchanged(cnn), pytest.raises(LayerNotFoundError, match="Did you mean"):
        feature_maps(cnn, x, "feature.5")
    with unchanged(cnn), pytest.raises(ValueError, match="feature maps need"):
        feature_maps(cnn, x, "classifier")


def test_unit_activations_and_top_k_equal_direct_computation(cnn, x, unchanged):
    with unchanged(cnn):
        u = unit_activations(cnn, x, "features.8", unit=7, k=4, batch_size=5)  # 3 batches
    cnn.eval()
    with torch.no_grad():
        ref = cnn.features(x)[:, 7].mean((1, 2)).numpy()
    np.testing.assert_allclose(u.values, ref, rtol=1e-6, atol=1e-7)
    assert u.top.tolist() == np.argsort(-ref, kind="stable")[:4].tolist()
    plt.close(u.figure())
    plt.close(u.figure(style="line"))


def test_activation_heatmap_groups_examples_by_label(unchanged):
    torch.manual_seed(0)
    net = MLP().eval()
    xs = net.example_input(9)
    labels = torch.tensor([2, 0, 1, 2, 0, 1, 0, 2, 1])
    with unchanged(net):
        hm = activation_heatmap(net, xs, "body.3", labels=labels)
    with torch.no_grad():
        ref = net.body(xs).numpy()
    order = np.argsort(labels.numpy(), kind="stable")
    np.testing.assert_allclose(hm.values, ref[order].T, rtol=1e-6)
    assert hm.labels.tolist() == sorted(labels.tolist())
    plt.close(hm.figure())


def test_activation_histogram_counts_equal_numpy(cnn, x, unchanged):
    with unchanged(cnn):
        h = activation_histograms(cnn, x, ["features.2", "classifier"], bins=20)
    cnn.eval()
    with torch.no_grad():
        ref = cnn.features[:3](x).double().numpy().ravel()
    counts, edges = np.histogram(ref, bins=20, range=(ref.min(), ref.max()))
    np.testing.assert_array_equal(h.counts[0], counts)
    np.testing.assert_allclose(h.edges[0], edges, rtol=1e-6)
    plt.close(h.figure())


class _Known(nn.Module):
    """Units whose fate is fixed by construction: zero weights, so the bias decides."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.relu = nn.ReLU()
        self.gate = nn.Linear(4, 5)
        self.sig = nn.Sigmoid()
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.copy_(torch.tensor([-1.0, -0.1, 0.5, 1.0, -3.0, 2.0, 0.0, 0.3]))
            self.gate.weight.zero_()
            self.gate.weight[4, 0] = 20.0  # unit 4 swings between both ends: not saturated on 99%
            self.gate.bias.copy_(torch.tensor([12.0, -12.0, 0.0, 1.0, 0.0]))

    def forward(self, x):
        return self.relu(self.fc(x)).sum(1) + self.sig(self.gate(x)).sum(1)


def test_dead_and_saturated_fractions_on_a_constructed_model(unchanged):
    net = _Known()
    x = torch.linspace(-1, 1, 40)[:, None].repeat(1, 4)
    with unchanged(net):
        r = dead_units(net, x, batch_size=16)
    relu = next(d for d in r.layers if d["name"] == "relu")
    sig = next(d for d in r.layers if d["name"] == "sig")
    assert relu["dead_units"].tolist() == [0, 1, 4, 6]  # bias <= 0 and zero weights: never > 0
    assert r.fraction("relu") == 0.5
    assert sig["saturated_units"].tolist() == [0, 1]  # sigmoid(+-12) is within 0.02 of 1 and 0
    assert r.fraction("sig", "saturated") == 0.4
    assert relu["saturated"] == 0 and sig["dead"] == 0
    plt.close(r.figure())


def test_dead_units_count_nonfinite_outputs():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, float("nan"), -1.0]))
    r = dead_units(net, torch.zeros(5, 2))
    assert r.layers[0]["nonfinite"] == 5
    # NaN is never "at or below 0": a unit of NaN is broken (counted above), not dead, as in
    # tracking (neuralscope.nonlinearities); unit 2 (bias -1) never fires
    assert r.layers[0]["dead_units"].tolist() == [2]
    plt.close(r.figure())


def test_nan_activations_are_drawn_and_marked(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    with torch.no_grad():
        net[0].bias[2] = float("nan")
    fm = feature_maps(net, torch.rand(1, 1, 6, 6), "0")
    assert fm.to_dict()["nonfinite"] == 36
    ax = fm.plot()
    assert any("NaN/Inf" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)
    fm.save(tmp_path / "nan.png")


def test_lstm_hidden_states_equal_the_lstm_output(unchanged):
    torch.manual_seed(0)
    net = RNNClassifier("lstm")
    xs = net.example_input(3)
    with unchanged(net):
        hs = hidden_states(net, xs, index=2)
    with torch.no_grad():
        ref = net.rnn(xs)[0][2].numpy()
    np.testing.assert_allclose(hs.states, ref, rtol=1e-6)
    np.testing.assert_array_equal(hs.inputs, xs[2].numpy())
    plt.close(hs.figure())


def test_hidden_states_from_digit_images_show_rows():
    torch.manual_seed(0)
    net = RNNClassifier("gru")
    imgs = torch.rand(2, 1, 8, 8)
    hs = hidden_states(net, imgs, index=1)
    np.testing.assert_array_equal(hs.inputs, imgs[1, 0].numpy())
    with pytest.raises(LayerNotFoundError, match="RNN/LSTM/GRU"):
        hidden_states(MLP(), torch.rand(2, 64))


def test_layer_that_never_ran_says_so():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(LayerNotRunError, match="never ran"):
        layer_activations(Skip(), torch.zeros(3, 2), "unused")


def test_activation_function_derivatives_match_closed_forms():
    f = activation_functions(["relu", "sigmoid", "tanh", "gelu", lambda t: t ** 3], x_range=(-4, 4), points=161)
    x = f.x
    s = 1 / (1 + np.exp(-x))
    phi = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(f.y[1], s, rtol=1e-12)
    np.testing.assert_allclose(f.dy[0], (x > 0).astype(float))
    np.testing.assert_allclose(f.dy[1], s * (1 - s), rtol=1e-10)
    np.testing.assert_allclose(f.dy[2], 1 - np.tanh(x) ** 2, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(f.dy[3], Phi + x * phi, rtol=1e-10, atol=1e-14)  # exact (erf) GELU
    np.testing.assert_allclose(f.dy[4], 3 * x ** 2, rtol=1e-12)
    plt.close(f.figure())
    with pytest.raises(LayerNotFoundError, match="Did you mean: 'relu'"):
        activation_functions(["rellu"])
