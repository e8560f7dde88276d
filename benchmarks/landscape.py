"""Loss landscapes and Hessian eigenvalues: neuralscope against the reference approaches,
side by side in one process, on the digits CNN trained with ``neuralscope.train_digits``.

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/landscape.py   # a few minutes
    ... benchmarks/landscape.py --full                 # our whole surfaces, the reference on 2 rows
    ... benchmarks/landscape.py --full --ref-rows 51   # the whole reference grid too (20-40 min on 2 cores)

1. A 51 x 51 surface over all 1,797 digits along two filter-normalised directions.
   Reference: the approach of tomgoldstein/loss-landscape (``plot_surface.py`` +
   ``evaluation.eval_loss``), written out plainly below: for each grid point, a copy of the
   model gets the weights ``w + a dx + b dy`` and evaluates the data in turn through a
   DataLoader of batch 128. By default every side (reference, neuralscope float32, neuralscope
   with ``dtype=torch.bfloat16``) runs the same ``--sample-rows`` rows of the grid
   (51 points each), interleaved row by row, and is extrapolated to the 2,601 points; losses
   are compared with the reference's on those points, and the bfloat16 losses with the float32
   ones (the largest relative difference). ``--full`` times our whole surfaces
   (``loss_landscape``, float32 then bfloat16) and the reference on ``--ref-rows`` rows.
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
    """Both sides on the same ``rows`` rows of the 51 x 51 grid, interleaved row by row (so
    that a change in the machine's load hits every side alike) and extrapolated to 2,601
    points: reference, neuralscope float32, neuralscope bfloat16. Wall and process
    CPU time are both reported."""
    from neuralscope.landscape.evaluate import evaluate_points
    from neuralscope.landscape.objective import make_objective

    w = weights_of(model)
    dx, dy = random_direction(w, seed=0), random_direction(w, seed=1)
    axis = np.linspace(-1, 1, GRID)
    picked = np.unique(np.linspace(0, GRID - 1, rows).round().astype(int))
    sides = {"reference": [0.0, 0.0], "float32": [0.0, 0.0], "bfloat16": [0.0, 0.0]}
    ref, ours, ours_bf16, method = {}, {}, {}, ""
    for j in picked:
        coords = np.array([(axis[i], axis[j]) for i in range(GRID)])
        for side in sides:
            t, c = time.perf_counter(), time.process_time()
            if side == "reference":
                ref.update(reference_surface_rows(model, x, y, dx, dy, axis, [j])[0])
            else:
                obj = make_objective(model, (x, y))
                dtype = torch.bfloat16 if side == "bfloat16" else None
                loss, _, plan = evaluate_points(obj, w, [dx, dy], coords, dtype=dtype, show_progress=False,
                                                verbose=False)
                (ours_bf16 if dtype else ours).update({(j, i): v for i, v in enumerate(loss)})
                method = method or f"{plan.chunk} points per pass, {plan.method}"
            sides[side][0] += time.perf_counter() - t
            sides[side][1] += time.process_time() - c
    scale = GRID * GRID / len(ref)
    keys = list(ref)
    span = max(ref.values()) - min(ref.values())
    err32 = max(abs(ours[k] - ref[k]) for k in keys)
    err16 = max(abs(ours_bf16[k] - ref[k]) for k in keys)
    rel16 = max(abs(ours_bf16[k] - ours[k]) / abs(ours[k]) for k in keys)
    print(f"\n51x51 surface of DigitsCNN over {len(x)} digits: all sides on the same {len(keys)} points "
          f"({len(picked)} rows, interleaved) and extrapolated to {GRID * GRID}")
    (rw, rc) = sides["reference"]
    for side, (tw, tc) in sides.items():
        extra = ""
        if side == "float32":
            extra = f"   max |loss - reference| {err32:.1e} ({method})"
        elif side == "bfloat16":
            extra = (f"   max |loss - reference| {err16:.1e} = {err16 / span:.1e} of the loss range; "
                     f"max relative loss difference to float32 {rel16:.1e}")
        print(f"  {side:10s} {tw * scale:7.0f} s wall ({tc * scale:7.0f} s CPU)   reference/this: wall {rw / tw:5.2f}x, "
              f"CPU {rc / tc:5.2f}x{extra}")


def bench_surface(model, x, y, ref_rows: int) -> None:
    t = time.perf_counter()
    ours = neuralscope.loss_landscape(model, (x, y), steps=GRID, verbose=True)
    t_ours = time.perf_counter() - t
    print(f"  (neuralscope float32 done in {t_ours:.1f} s)", flush=True)
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
    rel_bf16 = np.max(np.abs(ours_bf16.loss - ours.loss) / np.abs(ours.loss))
    print(f"  neuralscope bfloat16: {t_bf16:.1f} s   ratio {t_ref / t_bf16:.2f}x   "
          f"max relative loss difference to float32 over the {GRID * GRID} points {rel_bf16:.2e}")


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
    ap.add_argument("--skip-eigenvalue", action="store_true")
    ap.add_argument("--sample-rows", type=int, default=3,
                    help="time all sides on this many grid rows, interleaved, and extrapolate (a few minutes)")
    ap.add_argument("--full", action="store_true",
                    help="the whole 51x51 surface for neuralscope, the reference on --ref-rows rows (10+ minutes)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    trained = neuralscope.train_digits(epochs=args.epochs, show_progress=False)
    model, data = trained.model.eval(), trained.data
    print(f"DigitsCNN trained {args.epochs} epochs: test accuracy {trained.test_accuracy:.1%}")
    x = torch.cat([data.x_train, data.x_test]).reshape(-1, 1, 8, 8)
    y = torch.cat([data.y_train, data.y_test])
    if not args.skip_eigenvalue:
        bench_eigenvalue(model, x[:512], y[:512])
    if args.skip_surface:
        return
    if args.full:
        bench_surface(model, x, y, args.ref_rows)
    else:
        bench_surface_sampled(model, x, y, args.sample_rows)


if __name__ == "__main__":
    main()
