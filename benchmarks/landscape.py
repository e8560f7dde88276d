"""Loss landscapes and Hessian eigenvalues: neuralscope against the reference approaches,
side by side in one process, on the digits CNN trained with ``neuralscope.train_digits``.

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/landscape.py
    ... benchmarks/landscape.py --ref-rows 51     # the whole reference grid (about 20-40 min on 2 cores)
    ... benchmarks/landscape.py --sample-rows 2   # both sides on 2 rows of the grid, extrapolated

1. A 51 x 51 surface over all 1,797 digits along two filter-normalised directions.
   Reference: the approach of tomgoldstein/loss-landscape (``plot_surface.py`` +
   ``evaluation.eval_loss``), written out plainly below: for each grid point, a copy of the
   model gets the weights ``w + a dx + b dy`` and evaluates the data in turn through a
   DataLoader of batch 128. It is timed on ``--ref-rows`` rows of the grid (each row is 51
   points) and its time per point is extrapolated to the 2,601 points; the loss it gives on
   those points is compared with ours. neuralscope: ``loss_landscape`` (vmap over weight
   points, float32) and, with ``--bf16``, under ``dtype=torch.bfloat16`` (autocast).
2. The top Hessian eigenvalue on a batch of 512 digits: PyHessian 0.1 (``hessian(...).
   eigenvalues()``, power iteration, tol 1e-3) against ``hessian_eigenvalues`` with power
   iteration (the same tolerance) and with Lanczos; the reference value is a Lanczos run to
   tol 1e-8.

Prints ratios (reference time / ours: above 1 = we are faster).
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from torch import nn

import neuralscope
from neuralscope.landscape.directions import random_direction, weights_of

warnings.filterwarnings("ignore")
GRID = 51


def reference_surface_rows(model, x, y, dx, dy, coords, rows, batch_size=128):
    """tomgoldstein/loss-landscape's way: one model copy per point, weights set, the data
    evaluated batch by batch through a DataLoader (``evaluation.eval_loss``)."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size,
                                         shuffle=False)
    criterion = nn.CrossEntropyLoss()
    w = weights_of(model)
    losses, accs = {}, {}
    for j in rows:
        for i in range(len(coords)):
            a, b = coords[i], coords[j]
            net = copy.deepcopy(model)
            net.eval()
            with torch.no_grad():
                for name, p in net.named_parameters():
                    p.data = w[name] + a * dx[name] + b * dy[name]
                total, correct, loss_sum = 0, 0, 0.0
                for inputs, targets in loader:
                    out = net(inputs)
                    loss_sum += criterion(out, targets).item() * len(targets)
                    correct += (out.argmax(1) == targets).sum().item()
                    total += len(targets)
            losses[j, i], accs[j, i] = loss_sum / total, correct / total
    return losses, accs


def bench_surface_sampled(model, x, y, rows: int) -> None:
    """Both sides on the same ``rows`` rows of the 51 x 51 grid, each extrapolated to 2,601
    points (for a machine with little time: the full surface takes minutes on 2 cores)."""
    from neuralscope.landscape.evaluate import evaluate_points
    from neuralscope.landscape.objective import make_objective

    w = weights_of(model)
    dx, dy = random_direction(w, seed=0), random_direction(w, seed=1)
    axis = np.linspace(-1, 1, GRID)
    picked = np.unique(np.linspace(0, GRID - 1, rows).round().astype(int))
    coords = np.array([(axis[i], axis[j]) for j in picked for i in range(GRID)])
    obj = make_objective(model, (x, y))
    t = time.perf_counter()
    loss, _, plan = evaluate_points(obj, w, [dx, dy], coords)
    t_ours = (time.perf_counter() - t) / len(coords) * GRID * GRID
    t = time.perf_counter()
    ref, _ = reference_surface_rows(model, x, y, dx, dy, axis, picked)
    t_ref = (time.perf_counter() - t) / len(ref) * GRID * GRID
    diff = max(abs(loss[k] - ref[j, i]) for k, (j, i) in enumerate((j, i) for j in picked for i in range(GRID)))
    print(f"\n51x51 surface of DigitsCNN over {len(x)} digits, both sides timed on the same {len(coords)} points "
          f"({len(picked)} rows) and extrapolated to {GRID * GRID}")
    print(f"  reference (copy per point, DataLoader 128): {t_ref:.0f} s")
    print(f"  neuralscope float32 ({plan.chunk} points per pass): {t_ours:.0f} s   ratio {t_ref / t_ours:.2f}x   "
          f"max |loss difference| {diff:.2e}")


def bench_surface(model, x, y, ref_rows: int, bf16: bool) -> None:
    t = time.perf_counter()
    ours = neuralscope.loss_landscape(model, (x, y), steps=GRID, verbose=True)
    t_ours = time.perf_counter() - t
    print(f"  (neuralscope float32 done in {t_ours:.1f} s)", flush=True)
    ours_bf16, t_bf16 = None, None
    if bf16:
        t = time.perf_counter()
        ours_bf16 = neuralscope.loss_landscape(model, (x, y), steps=GRID, dtype=torch.bfloat16, verbose=True)
        t_bf16 = time.perf_counter() - t
    w = weights_of(model)
    dx, dy = random_direction(w, seed=0), random_direction(w, seed=1)
    rows = np.unique(np.linspace(0, GRID - 1, ref_rows).round().astype(int))
    t = time.perf_counter()
    ref, _ = reference_surface_rows(model, x, y, dx, dy, ours.x, rows)
    t_ref_part = time.perf_counter() - t
    t_ref = t_ref_part / len(ref) * GRID * GRID
    diff = max(abs(ours.loss[j, i] - v) for (j, i), v in ref.items())
    print(f"\n51x51 surface of DigitsCNN over {len(x)} digits ({GRID * GRID} points)")
    print(f"  reference (copy per point, DataLoader 128): {t_ref_part:.1f} s for {len(ref)} points -> "
          f"{t_ref:.0f} s for {GRID * GRID} (extrapolated)" if len(ref) < GRID * GRID else
          f"  reference: {t_ref:.1f} s")
    print(f"  neuralscope float32: {t_ours:.1f} s ({ours.meta['points_per_batch']} points per pass)   "
          f"ratio {t_ref / t_ours:.2f}x   max |loss difference| on the reference's points {diff:.2e}")
    if ours_bf16 is not None:
        diff_bf16 = max(abs(ours_bf16.loss[j, i] - v) / v for (j, i), v in ref.items())
        print(f"  neuralscope bfloat16 autocast: {t_bf16:.1f} s   ratio {t_ref / t_bf16:.2f}x   "
              f"max relative loss difference {diff_bf16:.2e}")


def bench_eigenvalue(model, x, y) -> None:
    from pyhessian import hessian as PyHessian

    crit = nn.CrossEntropyLoss()
    exact = neuralscope.hessian_eigenvalues(model, (x, y), tol=1e-8, max_iter=300)[0]

    def pyh():
        net = copy.deepcopy(model)  # PyHessian calls model.eval() and leaves .grad graphs behind
        torch.manual_seed(0)
        return PyHessian(net, crit, data=(x, y), cuda=False).eigenvalues(maxIter=100, tol=1e-3)[0][0]

    rows = []
    for name, fn in (("PyHessian 0.1 power iteration", pyh),
                     ("neuralscope power iteration", lambda: neuralscope.hessian_eigenvalues(
                         model, (x, y), method="power", tol=1e-3)[0]),
                     ("neuralscope Lanczos", lambda: neuralscope.hessian_eigenvalues(model, (x, y), tol=1e-3)[0])):
        fn()
        times, value = [], None
        for _ in range(3):
            t = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - t)
        rows.append((name, min(times), value))
    t_ref = rows[0][1]
    print(f"\nTop Hessian eigenvalue, {len(x)} digits (reference value, Lanczos to 1e-8: {exact:.5f})")
    for name, t, v in rows:
        print(f"  {name:32s} {t * 1000:8.0f} ms   value {v:.5f} (rel. error {abs(v - exact) / abs(exact):.1e})   "
              f"PyHessian time / this {t_ref / t:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref-rows", type=int, default=2, help="grid rows the reference evaluates (51 = all)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--skip-surface", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also time the surface under bfloat16 autocast")
    ap.add_argument("--sample-rows", type=int, default=0,
                    help="time both sides on this many grid rows only and extrapolate (0: full surface)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    trained = neuralscope.train_digits(epochs=args.epochs, show_progress=False)
    model, data = trained.model.eval(), trained.data
    print(f"DigitsCNN trained {args.epochs} epochs: test accuracy {trained.test_accuracy:.1%}")
    x = torch.cat([data.x_train, data.x_test]).reshape(-1, 1, 8, 8)
    y = torch.cat([data.y_train, data.y_test])
    bench_eigenvalue(model, x[:512], y[:512])
    if args.sample_rows:
        bench_surface_sampled(model, x, y, args.sample_rows)
    elif not args.skip_surface:
        bench_surface(model, x, y, args.ref_rows, args.bf16)


if __name__ == "__main__":
    main()
