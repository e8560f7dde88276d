"""Parameterizations, transforms and objective algebra (no training)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralscope.featurevis import (FFTImage, ObjectiveError, PixelImage, as_objective, channel, class_logit,
                                    diversity, high_frequency_energy, jitter, pad, random_rotate, random_scale,
                                    standard_transforms)
from neuralscope.featurevis.param import COLOR_CORRELATION, rfft2d_freqs


def test_fft_image_spectrum_falls_as_one_over_f():
    g = torch.Generator().manual_seed(0)
    p = FFTImage(16, 1, 64, 64, decorrelate=False, generator=g)
    raw = p.raw().detach().double()
    amp = torch.fft.rfft2(raw, norm="ortho").abs().mean(dim=(0, 1)).numpy()
    f = rfft2d_freqs(64, 64)
    low, high = amp[(f > 0.04) & (f < 0.06)].mean(), amp[(f > 0.4) & (f < 0.6)].mean()
    assert high / low == pytest.approx(0.05 / 0.5, rel=0.25)  # amplitude ~ 1/f


def test_pixel_image_is_white_and_fft_is_not():
    g = torch.Generator().manual_seed(0)
    px = PixelImage(8, 3, 32, 32, generator=g).image().detach()
    ff = FFTImage(8, 3, 32, 32, generator=g).image().detach()
    assert high_frequency_energy(px) > 0.7  # white noise: energy spread by area
    assert high_frequency_energy(ff) < 0.5 * high_frequency_energy(px)
    assert 0 <= float(ff.min()) and float(ff.max()) <= 1


def test_colour_decorrelation_mixes_channels_with_lucids_matrix():
    p = PixelImage(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p.pixels.copy_(torch.randn(1, 3, 4, 4))
    expected = torch.sigmoid(torch.einsum("ij,bjhw->bihw", torch.as_tensor(COLOR_CORRELATION), p.pixels))
    torch.testing.assert_close(p.image(), expected)
    assert np.linalg.norm(COLOR_CORRELATION, axis=0).max() == pytest.approx(1.0)
    assert not PixelImage(1, 1, 4, 4).decorrelate  # grey images are not mixed


def test_transforms_shapes_and_determinism():
    x = torch.rand(2, 3, 32, 32)
    g = lambda: torch.Generator().manual_seed(5)
    assert pad(4)(x, g()).shape[-1] == 40
    assert jitter(4)(x, g()).shape[-1] == 28
    assert random_scale([1.5])(x, g()).shape[-1] == 48
    rot = random_rotate([90])(x, g())
    torch.testing.assert_close(rot[..., 4:-4, 4:-4], torch.rot90(x, 1, dims=(-2, -1))[..., 4:-4, 4:-4],
                               atol=1e-4, rtol=0)  # a quarter turn moves pixels exactly
    tf = standard_transforms(128)
    out1, out2 = x, x
    gen1, gen2 = g(), g()
    for t in tf:
        out1, out2 = t(out1, gen1), t(out2, gen2)
    torch.testing.assert_close(out1, out2)
    assert standard_transforms(8) == []


def test_objective_algebra_and_strings():
    obj = 2 * channel("a", [0, 1]) - 0.5 * channel("b", [2, 3]) + diversity("a")
    assert obj.layers == ["a", "b"] and obj.num_units == 2
    assert obj.unit_labels() == ["a:0", "a:1"]
    assert "diversity a" in repr(obj)
    assert as_objective("features.3:2-5").num_units == 4
    assert as_objective("logits:7").layers == ["<output>"]
    with pytest.raises(ObjectiveError, match="different numbers of units"):
        (channel("a", [0, 1]) + channel("a", [0, 1, 2])).num_units
    with pytest.raises(ObjectiveError, match="'layer:channel'"):
        as_objective("nolayer")
    with pytest.raises(ObjectiveError, match="not a channel number"):
        as_objective("a:x")
    assert class_logit(3).unit_labels() == ["class 3"]


def test_strong_transforms_scale_with_the_size_and_are_a_named_set():
    from neuralscope.featurevis import feature_vis, strong_transforms
    from neuralscope.zoo import SceneCNN

    x = torch.rand(2, 3, 48, 48)
    pad_48 = strong_transforms(48)[0]
    assert pad_48(x, torch.Generator()).shape[-1] == 48 + 2 * 6
    assert strong_transforms(96)[0](x, torch.Generator()).shape[-1] == 48 + 2 * 12  # twice the size, twice the pad
    assert strong_transforms(8) == []
    model = SceneCNN()
    a = feature_vis(model, "features.5:0", size=32, steps=3, transforms="strong", show_progress=False)
    b = feature_vis(model, "features.5:0", size=32, steps=3, transforms=strong_transforms(32), show_progress=False)
    np.testing.assert_array_equal(a.images, b.images)  # the name means exactly that list
    with pytest.raises(ValueError, match="'standard', 'strong', None or a list"):
        feature_vis(model, "features.5:0", size=32, steps=1, transforms="wild")
