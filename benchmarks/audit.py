"""Whole-data-set audit throughput, side by side in one process.

1. ``neuralscope.audit`` (Grad-CAM maps on ``features`` + deletion and insertion curves with
   16 steps, and again with 48 steps: as many model passes as Quantus takes, layer statistics of the activation layers, thumbnails, atomic shard commits into
   a run) against Quantus 0.6 computing the same two curves on the same Grad-CAM maps, given
   to it precomputed: ``PixelFlipping`` (its step counts channel values and must divide H x W,
   so it takes 48 steps of 1/16 of the pixels' values; every third point is one of our 16),
   zeros for deletion, and for insertion the pixels of the original put into its blurred copy
   (a perturbation function handed to PixelFlipping). Our side computes the maps and
   everything else as well. Printed: examples/s of each, the ratio in wall and CPU time, and
   the largest difference between Quantus's curves and ours (the same numbers up to float
   rounding). Also the 48-step audit with ``curve_dtype="bfloat16"`` (the explicit
   reduced-precision option: the perturbed rows through a bfloat16 copy of the model), with
   its AUCs' largest difference from Quantus's and from the exact audit's.
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


def _audit(model, scenes, engine, root: str, steps: int = STEPS, curve_dtype: str | None = None):
    from neuralscope.audit import audit

    t = time.perf_counter()
    a = audit(model, scenes.images, labels=scenes.labels, layer="features", methods=["grad_cam"],
              run=tempfile.mkdtemp(dir=root), steps=steps, shard_size=128, embed_method=None, engine=engine,
              curve_dtype=curve_dtype)
    return time.perf_counter() - t, a


def _pixel_major(maps: np.ndarray) -> np.ndarray:
    """The maps as Quantus's PixelFlipping reads them: it ranks channel values, not pixels, so
    each pixel's channels get adjacent ranks in our order (ties broken as ours): the same
    pixels leave at every step."""
    from neuralscope.attribution.pixel_curves import pixel_ranks

    r = pixel_ranks(maps).numpy()
    return -(3 * r + np.arange(3).reshape(1, 3, 1, 1)).astype(np.float32)


def _insert(arr, indices, source, **_):
    """Quantus perturbation for the insertion curve: the original's values at ``indices``."""
    out = arr.copy()
    rows = np.arange(len(arr))[:, None]
    out[rows, indices] = source[rows, indices]
    return out


def _quantus_curves(model, x: np.ndarray, a: np.ndarray, y: np.ndarray, blurred: np.ndarray, batch: int):
    """Quantus 0.6 PixelFlipping: the deletion curve (zeros) and the insertion curve (into the
    blurred image), softmax probability. Quantus counts channel values, not pixels, and needs
    its step to divide H x W: H x W / STEPS values a step, so its curves have 3 x STEPS points,
    every third of them (a whole 1/STEPS of the pixels more) a point of ours."""
    import quantus

    per_step = a.shape[2] * a.shape[3] // STEPS
    kw = dict(features_in_step=per_step, normalise=False, disable_warnings=True, display_progressbar=False)
    common = dict(model=model, y_batch=y, a_batch=a, channel_first=True, device="cpu", batch_size=batch)
    dele = np.asarray(quantus.PixelFlipping(perturb_baseline=0.0, **kw)(x_batch=x, **common))
    ins = []
    for i in range(0, len(x), batch):  # the inserted values come from each batch's originals
        sl = slice(i, i + batch)
        m = quantus.PixelFlipping(perturb_func=_insert, perturb_func_kwargs={"source": x[sl].reshape(len(x[sl]), -1)},
                                  **kw)
        ins.append(np.asarray(m(x_batch=blurred[sl], **{**common, "y_batch": y[sl], "a_batch": a[sl]})))
    return dele, np.concatenate(ins)


def bench_quantus(model, scenes, root: str) -> None:
    from neuralscope.attribution import explain
    from neuralscope.attribution.gradient import gaussian_blur
    from neuralscope.attribution.metrics import deletion_insertion
    from neuralscope.errors import InputShapeError

    _audit(model, scenes[:128], "local", root)  # warm-up: first-call costs (oneDNN kernels, imports)
    c0 = time.process_time()
    t_ours, a = _audit(model, scenes, "local", root)
    c_ours = time.process_time() - c0
    c0 = time.process_time()
    t_same, a_same = _audit(model, scenes, "local", root, steps=3 * STEPS)  # as many model passes as Quantus
    c_same = time.process_time() - c0
    c0 = time.process_time()
    try:
        t_bf, a_bf = _audit(model, scenes, "local", root, steps=3 * STEPS, curve_dtype="bfloat16")  # the explicit option
    except InputShapeError as e:  # no bfloat16 convolutions on this CPU (oneDNN needs AVX-512 or AVX-NE-CONVERT)
        t_bf, a_bf, bf_skipped = None, None, str(e)
    c_bf = time.process_time() - c0
    t = a.table()
    n, y = len(scenes.labels), t["pred"]
    maps = np.concatenate([explain(model, scenes.images[i:i + 128].clone(), method="grad_cam", layer="features").maps()
                           for i in range(0, n, 128)]).astype(np.float32)
    x, qa = scenes.images.numpy(), _pixel_major(maps)
    t0, c0 = time.perf_counter(), time.process_time()
    blurred = gaussian_blur(scenes.images, max(1.0, x.shape[2] / 16)).numpy()
    q_del, q_ins = _quantus_curves(model, x, qa, y, blurred, 128)
    t_q, c_q = time.perf_counter() - t0, time.process_time() - c0
    # cross-check: our public curves on the same maps and batches, point by point
    ref = [deletion_insertion(model, scenes.images[i:i + 128].clone(), maps[i:i + 128], y[i:i + 128].tolist(),
                              steps=STEPS) for i in range(0, n, 128)]
    d_ref, i_ref = np.concatenate([c.deletion for c in ref]), np.concatenate([c.insertion for c in ref])
    k = q_del.shape[1] // STEPS  # Quantus points per step of ours (3: one per channel)
    q_full = q_del
    q_del, q_ins = q_del[:, k - 1::k], q_ins[:, k - 1::k]
    q_auc = _auc(t["prob"], q_del)
    print(f"audit (Grad-CAM + deletion + insertion + stats)   {n / t_ours:8.1f} ex/s  ({t_ours:6.1f} s wall, "
          f"{c_ours:6.1f} s CPU)")
    print(f"Quantus PixelFlipping, deletion + insertion curves {n / t_q:8.1f} ex/s  ({t_q:6.1f} s wall, "
          f"{c_q:6.1f} s CPU; maps given)")
    print(f"  ratio (our throughput / Quantus's): {t_q / t_ours:5.2f}x wall, {c_q / c_ours:5.2f}x CPU time "
          f"(the same {STEPS}-point curves: Quantus needs {k * STEPS} steps of channel values for them)")
    print(f"audit with {k * STEPS} steps (as many model passes as Quantus) {n / t_same:8.1f} ex/s  ({t_same:6.1f} s "
          f"wall, {c_same:6.1f} s CPU)")
    print(f"  ratio at equal model passes: {t_q / t_same:5.2f}x wall, {c_q / c_same:5.2f}x CPU time; "
          f"deletion AUC ({k * STEPS} steps) audit vs Quantus max |diff| "
          f"{np.abs(a_same.table()['grad_cam/deletion_auc'] - _auc(t['prob'], q_full)).max():.1e}")
    if a_bf is None:
        print(f"audit with curve_dtype='bfloat16' skipped: {bf_skipped}")
    else:
        print(f"audit with {k * STEPS} steps, curve_dtype='bfloat16' (opt-in) {n / t_bf:8.1f} ex/s  ({t_bf:6.1f} s "
              f"wall, {c_bf:6.1f} s CPU)")
        print(f"  ratio at equal model passes in bfloat16: {t_q / t_bf:5.2f}x wall, {c_q / c_bf:5.2f}x CPU time; "
              f"deletion AUC vs Quantus max |diff| "
              f"{np.abs(a_bf.table()['grad_cam/deletion_auc'] - _auc(t['prob'], q_full)).max():.1e}, insertion AUC "
              f"vs the exact audit max |diff| "
              f"{np.abs(a_bf.table()['grad_cam/insertion_auc'] - a_same.table()['grad_cam/insertion_auc']).max():.1e}")
    print(f"  Quantus vs our curves, steps 1..{STEPS}: max |diff| deletion {np.abs(q_del - d_ref[:, 1:]).max():.1e}, "
          f"insertion {np.abs(q_ins - i_ref[:, 1:]).max():.1e}; "
          f"deletion AUC audit vs Quantus max |diff| {np.abs(t['grad_cam/deletion_auc'] - q_auc).max():.1e}")


def _auc(prob: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Trapezoid area under a curve of ``S`` points after the unperturbed probability, on
    ``[0, 1]`` (as the audit's AUCs)."""
    full = np.concatenate([prob[:, None], curve], 1)
    return np.trapezoid(full, np.linspace(0, 1, full.shape[1]), axis=1)


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
