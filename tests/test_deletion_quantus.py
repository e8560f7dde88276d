"""Deletion curves agree with Quantus's ``PixelFlipping`` when both are configured alike.

Configured alike means: the same pixels per step (Quantus counts channel values, so three
per RGB pixel), the same baseline (Quantus's ``"black"`` is each image's minimum, not zero),
the same target probability (softmax of the logits) and the same points (Quantus's curve
starts after the first step; ours also holds the unperturbed point at fraction 0). The maps
are saliency maps with their ties (a few pixels get exactly zero gradient) broken by a tiny
seeded jitter given to both sides, since NumPy's unstable quicksort and torch's sort order
tied pixels differently. Configured as ``benchmarks/evaluation.py`` once was (Quantus removing
256 channel values per step over 48 steps towards the image minimum; ours 16 steps of whole
pixels towards zero), the per-scene AUCs of an untrained scene CNN correlated only 0.52: the
two curves then measured different perturbations.
"""
import warnings

import numpy as np
import pytest
import torch

from neuralscope.attribution import explain
from neuralscope.attribution.metrics import deletion_insertion
from neuralscope.data.scenes import make_scenes
from neuralscope.zoo import SceneCNN


def test_deletion_curve_equals_quantus_pixel_flipping_configured_alike():
    quantus = pytest.importorskip("quantus")
    torch.manual_seed(0)
    model = SceneCNN(size=48).eval()
    x = make_scenes(6, size=48, seed=3).images
    sal = explain(model, x, method="saliency")
    maps = np.abs(sal.maps())
    maps = (maps + np.random.default_rng(0).random(maps.shape) * 1e-4 * maps.max()).astype(np.float32)
    assert all(len(np.unique(m)) == m.size for m in maps)  # no ties left: one ranking on both sides
    steps = 12  # Quantus needs its step (3 x 192 values) to divide 48 x 48: whole pixels on both sides
    black = x.amin(dim=(1, 2, 3), keepdim=True).expand_as(x)
    ours = deletion_insertion(model, x, maps, sal.targets, steps=steps, deletion_baseline=black)
    metric = quantus.PixelFlipping(features_in_step=3 * 48 * 48 // steps, perturb_baseline="black",
                                   disable_warnings=True, display_progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(metric(model=model, x_batch=x.numpy(), y_batch=np.asarray(sal.targets),
                                   a_batch=np.repeat(maps[:, None], 3, 1), channel_first=True, device="cpu"))
    assert theirs.shape == (6, steps)
    # float32 logits on both sides, softmax in float64 on ours; ours through the frozen trace
    # (BatchNorm folded into the convolutions: about 1e-7 relative in the logits, measured
    # differences 4e-8 in probability): agreement to float32 rounding
    np.testing.assert_allclose(ours.deletion[:, 1:], theirs, atol=2e-6)
    # and the curves are not trivially flat: removing pixels changes the probability
    assert np.ptp(theirs, axis=1).min() > 1e-4


def _insert(arr, indices, source, **_):
    """Quantus perturbation for insertion: the original's values at the flipped indices."""
    out = arr.copy()
    rows = np.arange(len(arr))[:, None]
    out[rows, indices] = source[rows, indices]
    return out


def test_insertion_curve_equals_quantus_pixel_flipping_inserting_into_the_blur():
    """Insertion is Quantus's PixelFlipping run on our blurred baseline with a perturbation
    that puts the original's values back: the same pixels, in the same order."""
    quantus = pytest.importorskip("quantus")
    from neuralscope.attribution.pixel_curves import blur

    torch.manual_seed(0)
    model = SceneCNN(size=48).eval()
    x = make_scenes(6, size=48, seed=4).images
    maps = np.random.default_rng(1).random((6, 48, 48)).astype(np.float32)  # no ties
    targets = [0, 1, 2, 3, 0, 1]
    steps = 12
    ours = deletion_insertion(model, x, maps, targets, steps=steps)
    metric = quantus.PixelFlipping(features_in_step=3 * 48 * 48 // steps, perturb_func=_insert,
                                   perturb_func_kwargs={"source": x.numpy().reshape(6, -1)},
                                   disable_warnings=True, display_progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(metric(model=model, x_batch=blur(x, 3.0).numpy(), y_batch=np.asarray(targets),
                                   a_batch=np.repeat(maps[:, None], 3, 1), channel_first=True, device="cpu"))
    # Quantus's curve starts after its first step, ours at the blurred image; the same float32
    # rounding as deletion (the frozen trace's folded BatchNorm)
    np.testing.assert_allclose(ours.insertion[:, 1:], theirs, atol=2e-6)
    assert np.ptp(theirs, axis=1).mean() > 1e-4  # curves that move (an untrained model's move little)
