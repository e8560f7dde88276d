"""Receptive fields and top patches: the measured field equals the textbook recurrence, the
patches are exactly the planted patterns a hand-set detector fires on, and the model is
left as found."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.featurevis import ObjectiveError, channel, class_logit, feature_vis
from neuralscope.featurevis.patches import crop, receptive_field, selective_channels, top_patches
from neuralscope.result import check_schema
from neuralscope.zoo import SceneCNN


def textbook_field(layers):
    """Receptive field size, stride (jump) and first centre by the standard recurrence
    (Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    Distill 2019): r += (k - 1) * j, start += ((k - 1) / 2 - p) * j, j *= s."""
    r, j, start = 1, 1, 0.0
    for k, s, p in layers:
        r += (k - 1) * j
        start += ((k - 1) / 2 - p) * j
        j *= s
    return r, j, start


def test_receptive_field_of_the_scene_cnn_equals_the_textbook_recurrence(unchanged):
    model = SceneCNN()
    # features.0-6: conv 5x5 s2 p2, max-pool 2, conv 3x3 s1 p1 (BatchNorm and ReLU keep the field)
    r, j, start = textbook_field([(5, 2, 2), (2, 2, 0), (3, 1, 1)])
    with unchanged(model):
        field = receptive_field(model, "features.6", (3, 64, 64))
    assert field.size == (r, r) and field.stride == (j, j)
    assert field.offset == (int(start - (r - 1) / 2),) * 2  # the window of unit 0 starts half a field before its centre
    deeper = receptive_field(model, "features.9", (3, 64, 64))  # + max-pool 2, conv 3x3
    r2, j2, _ = textbook_field([(5, 2, 2), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1)])
    assert deeper.size == (r2, r2) and deeper.stride == (j2, j2)


def _cross_detector() -> nn.Module:
    """One 3x3 convolution whose only channel is a plus-sign detector (a hand-set kernel)."""
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])
        conv.weight[1, 0, 1, 1] = -1.0  # channel 1 never fires on non-negative inputs
    return nn.Sequential(conv, nn.ReLU())


def _planted(n: int = 12, size: int = 16):
    """Images holding one plus sign each, at a known place and brightness."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, 1, size, size)
    where = torch.randint(2, size - 2, (n, 2), generator=g)
    bright = torch.linspace(0.2, 1.0, n)[torch.randperm(n, generator=g)]
    for i, ((y, c), b) in enumerate(zip(where.tolist(), bright.tolist())):
        x[i, 0, y, c - 1:c + 2] = b
        x[i, 0, y - 1:y + 2, c] = b
    return x, where, bright


def test_top_patches_are_the_brightest_planted_crosses_cut_at_their_place(unchanged):
    model = _cross_detector()
    x, where, bright = _planted()
    with unchanged(model):
        tp = top_patches(model, "0", [0], x, k=3)
    order = torch.argsort(bright, descending=True)[:3]
    assert tp.indices[0].tolist() == order.tolist()
    np.testing.assert_allclose(tp.values[0], 5 * bright[order].numpy(), rtol=1e-6)  # five pixels of the plus
    assert tp.field.size == (3, 3) and tp.field.stride == (1, 1)
    for j, i in enumerate(order.tolist()):
        y, c = where[i].tolist()
        assert tuple(tp.boxes[0, j]) == (y - 1, c - 1, y + 2, c + 2)
        np.testing.assert_array_equal(tp.patches[0, j], x[i, :, y - 1:y + 2, c - 1:c + 2].numpy())


def test_crop_pads_with_the_fill_value_outside_the_image():
    img = torch.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_array_equal(crop(img, (1, 1, 3, 3)), img[:, 1:3, 1:3])
    out = crop(img, (-2, 3, 1, 6), fill=-1.0)
    assert out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out[0, 2], [3.0, -1.0, -1.0])
    assert (out[0, :2] == -1).all()


def test_selective_channels_rank_a_rare_detector_first_and_a_silent_one_last(unchanged):
    conv = nn.Conv2d(1, 3, 1, bias=True)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1, 1)
        conv.bias[:] = torch.tensor([1.0, 0.0, -1.0])  # 0: fires the same on everything, 2: never
    model = nn.Sequential(conv, nn.ReLU())
    x = torch.zeros(20, 1, 4, 4)
    x[3, 0, 1, 2] = 5.0  # the rare pattern channel 1 sees
    with unchanged(model):
        assert selective_channels(model, "0", x, 3, top=2) == [1, 0, 2]


def test_feature_vis_with_patches_keeps_boxes_and_follows_the_schema(unchanged):
    torch.manual_seed(0)
    model = SceneCNN()
    data = torch.rand(10, 3, 32, 32)
    with unchanged(model):
        fv = feature_vis(model, channel("features.5", [1, 4]), size=32, steps=3, dataset=data, top_k=2,
                         patches=True, show_progress=False)
    assert fv.examples.shape == (2, 2, 3, 15, 15) and fv.example_boxes.shape == (2, 2, 4)
    check_schema(fv.to_dict(), fv.schema)
    plain = feature_vis(model, channel("features.5", [1, 4]), size=32, steps=2, dataset=data, top_k=2,
                        show_progress=False)
    assert plain.example_boxes is None and plain.examples.shape == (2, 2, 3, 32, 32)
    check_schema(plain.to_dict(), plain.schema)


def test_patches_of_a_class_logit_are_refused_in_one_sentence(unchanged):
    model = SceneCNN()
    with unchanged(model), pytest.raises(ObjectiveError, match="Patches need one channel or neuron objective"):
        feature_vis(model, class_logit([0, 1]), size=32, steps=1, dataset=torch.rand(4, 3, 32, 32), patches=True,
                    show_progress=False)


def test_bad_layer_and_channel_are_one_sentence_and_leave_the_model(unchanged):
    from neuralscope.errors import LayerNotFoundError

    model = _cross_detector()
    x, _, _ = _planted(4)
    with unchanged(model), pytest.raises(LayerNotFoundError):
        top_patches(model, "no.such.layer", [0], x)
    with unchanged(model), pytest.raises(ObjectiveError, match=r"channel 5 is out of range .* \(valid: 0\.\.1\)\.$"):
        top_patches(model, "0", [5], x)
