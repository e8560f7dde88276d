"""Explanation evaluation speed: neuralscope vs Quantus side by side, on the same maps.

1,000 generated 48x48 scenes (:func:`neuralscope.data.make_scenes`; 48 so that Quantus's
step can hold whole pixels), one |saliency| map per scene from a scene CNN (computed once, not
timed), the objects' exact masks. Timed on both sides with the same maps and masks (wall and
process CPU time; the ratio is Quantus / ours):

* pointing game (Quantus ``PointingGame``),
* relevance mass accuracy (``RelevanceMassAccuracy``),
* relevance rank accuracy (``RelevanceRankAccuracy``),
* deletion, configured alike on both sides: 12 steps of 192 pixels (Quantus ``PixelFlipping``
  counts channel values, so ``features_in_step=576`` on maps repeated over the 3 channels;
  it must also divide 48 x 48, which 64 x 64 scenes cannot satisfy with whole pixels), the
  same baseline (Quantus's ``"black"`` is each image's minimum: ours is given that image) and
  the same ranking (a tiny seeded jitter breaks the maps' ties, identical on both sides). Our
  :func:`deletion_insertion` computes the insertion curve as well: 25 model passes per scene
  (the unperturbed row is deletion's first point and insertion's last) against Quantus's 12.
* insertion, configured alike: Quantus ``PixelFlipping`` on the blurred images (our
  insertion baseline, :func:`~neuralscope.attribution.pixel_curves.blur`, sigma = H / 16,
  computed on Quantus's clock) with a perturbation that puts back the original's values at
  the flipped indices (as ``benchmarks/audit.py`` does): the same two curves on both sides,
  25 passes per scene on ours, 24 on Quantus's. The deletion-only comparison is printed
  below it (ours still computing both curves), and, not in the total, our call with
  ``dtype=torch.bfloat16`` (the explicit reduced-precision option) with its curves' largest
  difference from Quantus's.

Why the two deletion AUCs once correlated only 0.52 per scene: the earlier configuration
measured different perturbations. Quantus ran 48 steps of 256 *channel values* (a third of a
pixel's channels could be removed), with the image minimum as baseline, and a curve that
starts after the first step; ours ran 16 steps of whole pixels towards zero from the
unperturbed point. An untrained model's probabilities also move little as pixels go, so
the per-scene AUCs differ by little and small differences in the perturbation reorder them.
(The maps' few exact ties - pixels with zero gradient, share printed - are broken by the
same jitter on both sides: NumPy's unstable quicksort and torch's sort order them
differently.) Configured alike, the curves agree to float
rounding (printed; ``tests/test_deletion_quantus.py`` pins it).

Not a test; run under the benchmark lock:

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/evaluation.py
"""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import torch

from neuralscope.attribution import explain
from neuralscope.attribution.localization import (
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)
from neuralscope.attribution.metrics import deletion_insertion
from neuralscope.attribution.pixel_curves import blur
from neuralscope.errors import InputShapeError
from neuralscope.data.scenes import make_scenes
from neuralscope.zoo import SceneCNN

STEPS = 12
SIZE = 48  # Quantus's step must divide H x W and be 3 whole pixels' values: 48 x 48 = 3 x 768 pixels


def timed(fn, repeat: int = 1):
    """Best wall and process CPU seconds over ``repeat`` runs, and the last result."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return best, cpu, out


def line(name: str, ours: tuple, theirs: tuple, note: str) -> None:
    print(f"{name:24s} neuralscope {ours[0] * 1e3:9.1f} ms ({ours[1] * 1e3:9.1f} CPU)   quantus "
          f"{theirs[0] * 1e3:9.1f} ms ({theirs[1] * 1e3:9.1f} CPU)   ratio {theirs[0] / ours[0]:6.1f}x "
          f"(CPU {theirs[1] / ours[1]:6.1f}x)   {note}")


def quantus_call(metric, model, x, y, a, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metric(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, channel_first=True,
                                 device="cpu", batch_size=256), dtype=float)


def localisation_rows(quantus, maps, masks, x, y) -> tuple[float, float, float, float]:
    """The three localisation scores on both sides; returns the summed (wall, CPU) times."""
    a, s = maps[:, None], masks[:, None].astype(np.float32)
    kw = dict(disable_warnings=True, normalise=False, display_progressbar=False)
    rows = [("pointing game", pointing_game, quantus.PointingGame, 5),
            ("relevance mass accuracy", relevance_mass_accuracy, quantus.RelevanceMassAccuracy, 5),
            ("relevance rank accuracy", relevance_rank_accuracy, quantus.RelevanceRankAccuracy, 3)]
    total = np.zeros(4)
    for name, ours, theirs, repeat in rows:
        w, c, v_ours = timed(lambda: ours(maps, masks), repeat)
        qw, qc, v_q = timed(lambda: quantus_call(theirs(**kw), None, x, y, a, s), repeat)
        line(name, (w, c), (qw, qc), f"max |difference| {float(np.nanmax(np.abs(v_ours - v_q))):.2e}")
        total += (w, c, qw, qc)
    return tuple(total)


def _insert(arr, indices, source, **_):
    """Quantus perturbation for the insertion curve: the original's values at ``indices``."""
    out = arr.copy()
    rows = np.arange(len(arr))[:, None]
    out[rows, indices] = source[rows, indices]
    return out


def quantus_insertion(quantus, model, x: np.ndarray, a: np.ndarray, y: np.ndarray, blurred: np.ndarray) -> np.ndarray:
    """Quantus's PixelFlipping inserting the original's values into the blurred image, per
    batch of 256 (the inserted values come from each batch's originals)."""
    per_step = 3 * x.shape[2] * x.shape[3] // STEPS
    out = []
    for i in range(0, len(x), 256):
        sl = slice(i, i + 256)
        metric = quantus.PixelFlipping(features_in_step=per_step, perturb_func=_insert, disable_warnings=True,
                                       perturb_func_kwargs={"source": x[sl].reshape(len(x[sl]), -1)},
                                       display_progressbar=False)
        out.append(quantus_call(metric, model, blurred[sl], y[sl], a[sl], None))
    return np.concatenate(out)


def deletion_row(quantus, model, images, maps, y) -> tuple[float, float, float, float]:
    """Deletion and insertion configured alike on both sides (see the module docstring)."""
    n, _, h, w = images.shape
    black = images.amin(dim=(1, 2, 3), keepdim=True).expand_as(images)  # Quantus's "black"
    ow, oc, curves = timed(lambda: deletion_insertion(model, images, maps, y.tolist(), steps=STEPS,
                                                      deletion_baseline=black))
    metric = quantus.PixelFlipping(features_in_step=3 * h * w // STEPS, perturb_baseline="black",
                                   disable_warnings=True, display_progressbar=False)
    a = np.repeat(maps[:, None], 3, 1)
    qw, qc, q = timed(lambda: quantus_call(metric, model, images.numpy(), y, a, None))
    iw, ic, qi = timed(lambda: quantus_insertion(quantus, model, images.numpy(), a, y,
                                                 blur(images, max(1.0, h / 16)).numpy()))
    diff = float(np.abs(curves.deletion[:, 1:] - q).max())
    diff_ins = float(np.abs(curves.insertion[:, 1:] - qi).max())
    # per-scene AUCs over the same STEPS points (Quantus's curve has no unperturbed point)
    corr = float(np.corrcoef(np.trapezoid(curves.deletion[:, 1:], axis=1), np.trapezoid(q, axis=1))[0, 1])
    line("deletion + insertion", (ow, oc), (qw + iw, qc + ic),
         f"max |curve difference| deletion {diff:.1e}, insertion {diff_ins:.1e}, deletion AUC correlation "
         f"{corr:.4f}; passes per scene: ours {2 * STEPS + 1} (the unperturbed row shared), quantus {2 * STEPS}")
    line("  quantus deletion only", (ow, oc), (qw, qc), f"ours still computes both curves ({2 * STEPS + 1} "
         f"passes per scene against {STEPS})")
    try:
        bw, bc, bf = timed(lambda: deletion_insertion(model, images, maps, y.tolist(), steps=STEPS,
                                                      deletion_baseline=black, dtype=torch.bfloat16))
    except InputShapeError as e:  # no bfloat16 convolutions on this CPU (oneDNN needs AVX-512 or AVX-NE-CONVERT)
        print(f"  ours in bfloat16       skipped: {e}")
    else:
        line("  ours in bfloat16", (bw, bc), (qw + iw, qc + ic),
             f"opt-in dtype=torch.bfloat16 (not in the total): max |curve difference| vs Quantus deletion "
             f"{float(np.abs(bf.deletion[:, 1:] - q).max()):.1e}, insertion "
             f"{float(np.abs(bf.insertion[:, 1:] - qi).max()):.1e}")
    return ow, oc, qw + iw, qc + ic


def main(n: int = 1000) -> None:
    import quantus

    torch.manual_seed(0)
    scenes = make_scenes(n, size=SIZE, seed=0)
    model = SceneCNN(size=SIZE).eval()
    sal = explain(model, scenes.images, method="saliency")
    raw = np.abs(sal.maps())
    ties = float((raw == 0).mean())
    # break the ties (exact zeros where a max-pool passes no gradient) the same way for both
    maps = (raw + np.random.default_rng(0).random(raw.shape) * 1e-4 * raw.max()).astype(np.float32)
    masks = scenes.masks.numpy()
    x, y = scenes.images.numpy(), np.asarray(sal.targets)
    print(f"{n} scenes of {SIZE}x{SIZE}, |saliency| maps of an untrained SceneCNN ({ties:.3%} of the pixels exactly 0: "
          f"ties broken by a seeded jitter of 1e-4 of the maximum), torch threads {torch.get_num_threads()}")
    total = np.asarray(localisation_rows(quantus, maps, masks, x, y))
    total += deletion_row(quantus, model, scenes.images, maps, y)
    print(f"{'whole evaluation':24s} neuralscope {total[0]:7.2f} s ({total[1]:7.2f} CPU)   quantus {total[2]:7.2f} s "
          f"({total[3]:7.2f} CPU)   ratio {total[2] / total[0]:6.1f}x (CPU {total[3] / total[1]:6.1f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
