"""animate_forward on a convolutional network draws what really flows through it: the input
image first, then the feature maps of every convolution and pooling layer with the shapes of
the real forward pass, then the class probabilities the model outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuralscope as ns
from neuralscope.errors import InputShapeError
from neuralscope.plot.conv_forward import ConvForwardPass
from neuralscope.zoo import DigitsCNN


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return DigitsCNN().eval()


@pytest.fixture
def x():
    return torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def test_cnn_is_animated_through_its_feature_maps(cnn, x, unchanged):
    with unchanged(cnn):
        fp = ns.animate_forward(cnn, x)
    assert isinstance(fp, ConvForwardPass)
    kinds = [s["kind"] for s in fp.stages]
    assert kinds[0] == "image" and kinds[-1] == "probs" and "maps" in kinds
    # the real input comes first (min-max scaled for display)
    img = x[0, 0].numpy()
    np.testing.assert_allclose(fp.stages[0]["values"], (img - img.min()) / (img.max() - img.min()), rtol=1e-6)
    # every convolution appears, in order, with the shapes of a real forward pass
    convs = [n for n, m in cnn.named_modules() if isinstance(m, nn.Conv2d)]
    shown = [s["name"].split(" ")[0] for s in fp.stages if s["type"] == "Conv2d"]
    assert shown == convs
    with ns.capture(cnn, convs) as rec:
        cnn(x)
    for stage in (s for s in fp.stages if s["type"] == "Conv2d"):
        assert tuple(stage["shape"]) == tuple(rec.outputs(stage["name"].split(" ")[0])[0].shape[1:])
    with torch.no_grad():
        probs = torch.softmax(cnn(x)[0], -1).numpy()
    np.testing.assert_allclose(fp.stages[-1]["values"], probs, rtol=1e-5, atol=1e-7)


def test_maps_are_ordered_by_mean_activation_and_match_the_layer(cnn, x):
    fp = ns.animate_forward(cnn, x)
    stage = next(s for s in fp.stages if s["kind"] == "maps")
    after = stage["name"].split(" ")[-1]  # the activation that follows the conv
    with ns.capture(cnn, after) as rec:
        cnn(x)
    np.testing.assert_allclose(stage["values"], rec.outputs(after)[0][0].numpy(), rtol=1e-6)
    means = stage["values"].reshape(len(stage["values"]), -1).mean(1)
    assert np.all(np.diff(means[stage["order"]]) <= 0)


def test_cnn_animation_saves_one_gif_frame_per_stage(cnn, x, tmp_path):
    from PIL import Image

    fp = ns.animate_forward(cnn, x, max_units=8)
    path = fp.save(tmp_path / "forward.gif")
    assert Image.open(path).n_frames == fp.steps
    fig = fp.plot(step=1)
    assert any("8 of 32 channels" in a.get_ylabel() for a in fig.axes)


def test_cnn_animation_refuses_a_batch(cnn):
    with pytest.raises(InputShapeError, match="one input"):
        ns.animate_forward(cnn, torch.rand(2, 1, 8, 8))


def test_1d_cnn_is_animated_from_its_input_signal(unchanged):
    from neuralscope.zoo import SignalCNN

    torch.manual_seed(0)
    net = SignalCNN().eval()
    x = net.example_input(1)
    with unchanged(net):
        fp = ns.animate_forward(net, x)
    assert fp.stages[0]["signal"] and np.array_equal(fp.stages[0]["values"], x[0].numpy())
    convs = [n for n, m in net.named_modules() if isinstance(m, nn.Conv1d)]
    assert [s["name"].split(" ")[0] for s in fp.stages if s["type"] == "Conv1d"] == convs
    fig = fp.plot(step=1)
    assert any(a.get_xlabel() == "position" and "most active first" in a.get_ylabel() for a in fig.axes)
