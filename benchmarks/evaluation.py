"""Explanation evaluation speed: neuralscope vs Quantus side by side, on the same maps.

1,000 generated 64x64 scenes (:func:`neuralscope.data.make_scenes`), one |saliency| map per
scene from a scene CNN (computed once, not timed), the objects' exact masks. Timed on both
sides with the same maps and masks:

* pointing game (Quantus ``PointingGame``),
* relevance mass accuracy (``RelevanceMassAccuracy``),
* relevance rank accuracy (``RelevanceRankAccuracy``),
* deletion (Quantus ``PixelFlipping``, black baseline, 1/16 of the pixels per step) against
  neuralscope's :func:`deletion_insertion` with 16 steps — which computes the insertion
  curve as well, so that row counts twice the model evaluations on our side.

The localisation scores must agree (printed: the largest difference); Quantus's pointing
game counts ties at the maximum as hits, ours shares them in proportion — saliency maps of
real images have no ties. Prints seconds and the ratio (Quantus time / neuralscope time).
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
from neuralscope.data.scenes import make_scenes
from neuralscope.zoo import SceneCNN

STEPS = 16


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def quantus_call(metric, model, x, y, a, s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metric(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, channel_first=True,
                                 device="cpu", batch_size=256), dtype=float)


def main(n: int = 1000) -> None:
    import quantus

    torch.manual_seed(0)
    scenes = make_scenes(n, seed=0)
    model = SceneCNN().eval()
    sal = explain(model, scenes.images, method="saliency")
    maps = np.abs(sal.maps()).astype(np.float32)  # |gradient| summed over channels: non-negative
    masks = scenes.masks.numpy()
    x = scenes.images.numpy()
    y = np.asarray(sal.targets)
    a, s = maps[:, None], masks[:, None].astype(np.float32)
    kw = dict(disable_warnings=True, normalise=False, display_progressbar=False)
    print(f"{n} scenes of 64x64, saliency maps of an untrained SceneCNN, torch threads {torch.get_num_threads()}")
    rows = [
        ("pointing game", lambda: pointing_game(maps, masks), lambda: quantus_call(
            quantus.PointingGame(**kw), None, x, y, a, s), 5),
        ("relevance mass accuracy", lambda: relevance_mass_accuracy(maps, masks), lambda: quantus_call(
            quantus.RelevanceMassAccuracy(**kw), None, x, y, a, s), 5),
        ("relevance rank accuracy", lambda: relevance_rank_accuracy(maps, masks), lambda: quantus_call(
            quantus.RelevanceRankAccuracy(**kw), None, x, y, a, s), 3),
    ]
    for name, ours, theirs, repeat in rows:
        t_ours, v_ours = timed(ours, repeat)
        t_q, v_q = timed(theirs, repeat)
        diff = float(np.nanmax(np.abs(v_ours - v_q)))
        print(f"{name:26s} neuralscope {t_ours * 1e3:9.1f} ms   quantus {t_q * 1e3:9.1f} ms   "
              f"ratio {t_q / t_ours:7.1f}x   max |difference| {diff:.2e}")
    per_step = x.shape[2] * x.shape[3] // STEPS
    t_ours, curves = timed(lambda: deletion_insertion(model, scenes.images, sal, y.tolist(), steps=STEPS))
    # per-sample curves; Quantus 0.6's own AUC calls np.trapz, which numpy 2 removed
    t_q, q = timed(lambda: quantus_call(quantus.PixelFlipping(features_in_step=per_step, perturb_baseline="black",
                                                              **kw), model, x, y, np.repeat(a, 3, 1), None))
    q = np.trapezoid(q, dx=1 / (q.shape[1] - 1), axis=1)
    corr = float(np.corrcoef(curves.deletion_auc, q)[0, 1])
    print(f"{'deletion (+ insertion)':26s} neuralscope {t_ours * 1e3:9.1f} ms   quantus {t_q * 1e3:9.1f} ms   "
          f"ratio {t_q / t_ours:7.1f}x   (quantus: deletion only; correlation of the per-scene AUCs {corr:.3f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
