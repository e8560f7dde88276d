"""Whole-data-set audit throughput, side by side in one process.

1. ``neuralscope.audit`` (Grad-CAM maps on ``features`` + deletion and insertion curves with
   16 steps, layer statistics of every leaf layer, thumbnails, atomic shard commits into a
   run) against Quantus 0.6 computing the deletion curve (``PixelFlipping``, black baseline,
   1/16 of the pixels per step) on the same Grad-CAM maps, given to it precomputed. Our side
   computes the maps, the insertion curve and everything else as well; Quantus only the
   deletion curve. Printed: examples/s of each and the ratio, and the correlation of the
   per-example deletion AUCs (same curves, so close to 1).
2. The same audit on the local engine (torch on every core of this process) and on Ray
   (``ray.init(num_cpus=N)`` here, one actor per CPU, one torch thread each), timed from
   the call to the result (actor start-up included, Ray's own start-up not): Ray's overhead.

Data: generated 64x64 scenes (:func:`neuralscope.data.make_scenes`), an untrained SceneCNN.

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/audit.py [--n 2048] [--skip quantus,ray]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings


import numpy as np
import torch

warnings.filterwarnings("ignore")
STEPS = 16


def _audit(model, scenes, engine, root: str):
    from neuralscope.audit import audit

    t = time.perf_counter()
    a = audit(model, scenes.images, labels=scenes.labels, layer="features", methods=["grad_cam"],
              run=tempfile.mkdtemp(dir=root), steps=STEPS, shard_size=128, embed_method=None, engine=engine)
    return time.perf_counter() - t, a


def bench_quantus(model, scenes, root: str) -> None:
    import quantus

    from neuralscope.attribution import explain

    _audit(model, scenes[:128], "local", root)  # warm-up: first-call costs (oneDNN kernels, imports)
    t_ours, a = _audit(model, scenes, "local", root)
    n = len(scenes.labels)
    maps = np.concatenate([explain(model, scenes.images[i:i + 128].clone(), method="grad_cam", layer="features").maps()
                           for i in range(0, n, 128)]).astype(np.float32)
    x = scenes.images.numpy()
    y = a.table()["pred"]
    per_step = x.shape[2] * x.shape[3] // STEPS
    metric = quantus.PixelFlipping(features_in_step=per_step, perturb_baseline="black", disable_warnings=True,
                                   normalise=False, display_progressbar=False)
    t = time.perf_counter()
    q = np.asarray(metric(model=model, x_batch=x, y_batch=y, a_batch=np.repeat(maps[:, None], 3, 1), channel_first=True,
                          device="cpu", batch_size=128), dtype=float)
    t_q = time.perf_counter() - t
    q = np.trapezoid(q, dx=1 / (q.shape[1] - 1), axis=1)  # Quantus 0.6's own AUC calls np.trapz (gone in numpy 2)
    corr = float(np.corrcoef(a.table()["grad_cam/deletion_auc"], q)[0, 1])
    print(f"audit (Grad-CAM + deletion + insertion + stats)  {n / t_ours:8.1f} ex/s  ({t_ours:6.1f} s)")
    print(f"Quantus PixelFlipping (deletion only, maps given) {n / t_q:8.1f} ex/s  ({t_q:6.1f} s)")
    print(f"  ratio (our throughput / Quantus's): {t_q / t_ours:5.1f}x;  correlation of deletion AUCs {corr:.3f}")
    from neuralscope.attribution.metrics import deletion_insertion

    t = time.perf_counter()
    for i in range(0, n, 128):  # the metric alone, on the same maps and batches
        deletion_insertion(model, scenes.images[i:i + 128].clone(), maps[i:i + 128], y[i:i + 128].tolist(), steps=STEPS)
    t_m = time.perf_counter() - t
    print(f"deletion_insertion alone (both curves, same maps) {n / t_m:8.1f} ex/s  ({t_m:6.1f} s); "
          f"ratio to Quantus's deletion: {t_q / t_m:5.1f}x")


def bench_ray(model, scenes, root: str, cpus: int) -> None:
    import ray

    from neuralscope.audit import RayEngine

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        _audit(model, scenes, RayEngine(workers=cpus), root)  # warm-up: worker processes, imports
        t_local, a = _audit(model, scenes, "local", root)
        t_ray, b = _audit(model, scenes, RayEngine(workers=cpus), root)
    finally:
        ray.shutdown()
    ta, tb = a.table(), b.table()
    same = all(np.array_equal(ta[k], tb[k], equal_nan=True) for k in ta)
    n = len(scenes.labels)
    print(f"local engine ({torch.get_num_threads()} torch threads)          {n / t_local:8.1f} ex/s  ({t_local:6.1f} s)")
    print(f"Ray engine ({cpus} actors x 1 thread)              {n / t_ray:8.1f} ex/s  ({t_ray:6.1f} s)")
    print(f"  Ray time / local time: {t_ray / t_local:5.2f} (overhead {100 * (t_ray / t_local - 1):+.0f}%); "
          f"per-example results identical: {same}")


def main(argv=None) -> None:
    from neuralscope.data.scenes import make_scenes
    from neuralscope.zoo import SceneCNN

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--skip", default="")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    torch.manual_seed(0)
    scenes = make_scenes(args.n, seed=0)
    model = SceneCNN().eval()
    cpus = os.cpu_count() or 2
    print(f"{args.n} generated 64x64 scenes, untrained SceneCNN, {cpus} CPUs (a shared machine: compare ratios)")
    with tempfile.TemporaryDirectory() as root:
        if "quantus" not in skip:
            bench_quantus(model, scenes, root)
        if "ray" not in skip:
            bench_ray(model, scenes, root, cpus)


if __name__ == "__main__":
    main()
