"""Tabular Shapley values: neuralscope against shap, side by side in one process, on an
MLP (the zoo's TabularMLP, 30 -> 64 -> 32 -> 2, and a 12-feature one) on the CPU.

    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/tabular.py
    flock /tmp/neuralscope-bench.lock .venv/bin/python benchmarks/tabular.py --quick   # fewer rows

Rows printed (ours / shap below 1 = we are faster):

- KernelSHAP, 30 features, 100 rows, a background of 20 training rows, the same number of
  coalitions per row on both sides (shap's default for 30 features: 2 * 30 + 2048 = 2108),
  shap with ``l1_reg=False`` (the plain constrained regression ours solves; shap's default
  adds an AIC feature selection on top). Both samplers enumerate the small and large
  coalition sizes that fit and sample the rest in complementary pairs, so the values agree
  to sampling noise; the largest difference is printed.
- Exact Shapley values, 12 features (4,096 coalitions), 20 rows, a background of 20 rows:
  ours against ``shap.explainers.Exact`` with an ``Independent`` masker of the same rows
  (the same interventional definition); the largest difference is printed (float32
  rounding). shap's first call compiles its numba kernels: both sides get one warm-up call.

Each timing is the best of ``--repeat`` paired runs (ours, shap, ours, ...), so load from
other processes hits both sides alike.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")


def paired(ours_fn, peer_fn, repeat: int) -> tuple[float, float, object, object]:
    """Best time of each over ``repeat`` alternating runs after one warm-up each, and the
    last result of each."""
    ours_res, peer_res = ours_fn(), peer_fn()
    a, b = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        ours_res = ours_fn()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        peer_res = peer_fn()
        b.append(time.perf_counter() - t)
    return min(a), min(b), ours_res, peer_res


def line(name: str, ours: float, peer: float, note: str = "") -> float:
    ratio = ours / peer
    print(f"{name:<44} ours {ours:8.3f} s   shap {peer:8.3f} s   ours/shap {ratio:5.2f} "
          f"({1 / ratio:5.2f}x {'faster' if ratio < 1 else 'slower'})  {note}", flush=True)
    return ratio


def scorer(net: torch.nn.Module, target: int):
    def f(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(np.asarray(a, dtype=np.float32)))[:, target].numpy()
    return f


def kernel_row(rows: int, repeat: int) -> float:
    import shap

    from neuralscope.attribution import explain
    from neuralscope.data import load_tabular
    from neuralscope.zoo import TabularMLP

    data = load_tabular("breast_cancer")
    torch.manual_seed(0)
    net = TabularMLP().eval()
    x, bg = data.x_test[:rows], data.x_train[:20]
    n = 2 * 30 + 2048
    explainer = shap.KernelExplainer(scorer(net, 1), bg.numpy())
    ours_t, shap_t, ours, ref = paired(
        lambda: explain(net, x, target=1, method="kernel_shap", background=bg, n_samples=n),
        lambda: explainer.shap_values(x.numpy(), nsamples=n, l1_reg=False, silent=True), repeat)
    diff = float(np.abs(ours.attributions - ref).max())
    scale = float(np.abs(ref).max())
    return line(f"KernelSHAP 30 features x {rows} rows, {n} coalitions", ours_t, shap_t,
                f"max |ours - shap| {diff:.2g} (largest value {scale:.2g})")


def exact_row(rows: int, repeat: int) -> float:
    import shap

    from neuralscope.attribution import explain
    from neuralscope.zoo import TabularMLP

    torch.manual_seed(1)
    net = TabularMLP(in_features=12).eval()
    x, bg = torch.randn(rows, 12), torch.randn(20, 12)
    explainer = shap.explainers.Exact(scorer(net, 0), shap.maskers.Independent(bg.numpy(), max_samples=20))
    ours_t, shap_t, ours, ref = paired(
        lambda: explain(net, x, target=0, method="exact_shapley", background=bg),
        lambda: explainer(x.numpy()).values, repeat)
    diff = float(np.abs(ours.attributions - ref).max())
    return line(f"exact Shapley 12 features x {rows} rows", ours_t, shap_t, f"max |ours - shap| {diff:.2g}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 rows for KernelSHAP, 5 for the exact values")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ratios below 1: neuralscope is faster")
    k = kernel_row(20 if args.quick else 100, args.repeat)
    e = exact_row(5 if args.quick else 20, args.repeat)
    print(f"KernelSHAP no slower than shap: {'yes' if k <= 1 else 'NO'};  "
          f"exact Shapley at least 5x faster: {'yes' if e <= 0.2 else 'NO'} ({1 / e:.1f}x)")


if __name__ == "__main__":
    main()
