"""Hessian-vector products of the loss and the estimators built on them.

Only products ``H v`` are formed, never ``H`` itself: a product is one more backward pass
through the gradient's graph (Pearlmutter 1994), as in PyHessian (Yao et al. 2020). When the
data is one batch, the gradient's graph is built once and reused by every product.

* :func:`power_iteration` - the largest-magnitude eigenvalues, one at a time, deflating those
  found (what PyHessian's ``eigenvalues`` does).
* :func:`lanczos` - the Lanczos tridiagonalisation with full reorthogonalisation; its Ritz
  values converge to the extreme eigenvalues in far fewer products than power iteration.
* :func:`hutchinson_trace` - ``E[v^T H v] = tr(H)`` for Rademacher ``v`` (Hutchinson 1990).
* :func:`slq_density` - the eigenvalue density by stochastic Lanczos quadrature (Lin, Saad &
  Yang 2016; Ghorbani, Krishnan & Xiao 2019): Gaussian-broadened Ritz values weighted by the
  squared first components of the Ritz vectors, averaged over random starts.

Vectors are flat tensors in the order of ``HessianOperator.weights``; dot products and the
Lanczos coefficients are accumulated in float64.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .directions import Direction, flatten, unflatten
from .objective import Objective

Callback = Callable[[int], None] | None


class HessianOperator:
    """``v -> H v`` for the Hessian of ``obj``'s loss with respect to ``names`` (all weights by
    default; a subset gives that block of the Hessian, e.g. one layer's)."""

    def __init__(self, obj: Objective, center: Direction, names: list[str] | None = None):
        self.obj = obj
        names = list(center) if names is None else names
        self.weights = {n: center[n].detach().clone().requires_grad_(True) for n in names}
        self.fixed = {n: t for n, t in center.items() if n not in self.weights}
        self.size = sum(t.numel() for t in self.weights.values())
        self.products = 0
        self._graphs = None
        if len(obj.batches) == 1:
            self._graphs = [self._grads(*obj.batches[0])]

    def _grads(self, x, y):
        loss = self.obj.batch_loss({**self.fixed, **self.weights}, x, y)
        return torch.autograd.grad(loss, list(self.weights.values()), create_graph=True), len(y)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        vs = list(unflatten(v, self.weights).values())
        n = self.obj.n_examples
        out = torch.zeros_like(v)
        graphs = self._graphs or (self._grads(x, y) for x, y in self.obj.batches)
        for grads, m in graphs:
            hv = torch.autograd.grad(grads, list(self.weights.values()), grad_outputs=vs,
                                     retain_graph=self._graphs is not None)
            out += flatten(dict(enumerate(h.detach() for h in hv))) * (m / n)
        self.products += 1
        return out

    def random(self, gen: torch.Generator, rademacher: bool = False) -> torch.Tensor:
        like = flatten({n: t.detach() for n, t in self.weights.items()})
        r = torch.randn(like.shape, generator=gen, dtype=torch.float64)
        if rademacher:
            r = torch.sign(r)
        return r.to(like.device, like.dtype)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a.double(), b.double()))


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / (v.double().norm().to(v.dtype) + 1e-30)


def power_iteration(op: HessianOperator, k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
                    callback: Callback = None) -> tuple[np.ndarray, list[torch.Tensor]]:
    """The ``k`` eigenvalues of largest magnitude and their unit eigenvectors; each one stops
    when the Rayleigh quotient changes by less than ``tol`` (relative) between iterations."""
    gen = torch.Generator().manual_seed(seed)
    values, vectors = [], []
    for _ in range(k):
        v = _unit(op.random(gen))
        value = None
        for _ in range(max_iter):
            for u in vectors:
                v = _unit(v - _dot(v, u) * u)
            hv = op(v)
            new = _dot(v, hv)
            if callback:
                callback(op.products)
            v = _unit(hv)
            done = value is not None and abs(new - value) / (abs(value) + 1e-6) < tol
            value = new
            if done:
                break
        values.append(value)
        vectors.append(v)
    return np.array(values), vectors


def lanczos_tridiagonal(op: HessianOperator, v0: torch.Tensor, steps: int, callback: Callback = None,
                        stop: Callable[[np.ndarray, np.ndarray], bool] | None = None):
    """``(alpha, beta, basis)`` of ``steps`` Lanczos iterations from ``v0`` with full
    reorthogonalisation; ``stop(alpha, beta)`` may end it early."""
    basis = [_unit(v0)]
    alpha, beta = [], []
    for j in range(min(steps, op.size)):
        w = op(basis[j])
        if callback:
            callback(op.products)
        a = _dot(w, basis[j])
        alpha.append(a)
        for q in basis:  # full reorthogonalisation (twice is enough, once is usually)
            w = w - _dot(w, q) * q
        b = float(w.double().norm())
        if stop is not None and stop(np.array(alpha), np.array(beta)):
            break
        if j + 1 == min(steps, op.size) or b < 1e-10:
            break
        beta.append(b)
        basis.append(w / b)
    return np.array(alpha), np.array(beta[:len(alpha) - 1]), basis


def _ritz(alpha: np.ndarray, beta: np.ndarray):
    t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    return np.linalg.eigh(t)


def lanczos(op: HessianOperator, k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
            callback: Callback = None) -> np.ndarray:
    """The ``k`` algebraically largest eigenvalues (Ritz values), stopping when they change by
    less than ``tol`` (relative) from one iteration to the next."""
    gen = torch.Generator().manual_seed(seed)
    last: list[np.ndarray | None] = [None]

    def stop(alpha, beta):
        if len(alpha) < k + 1:
            return False
        top = np.sort(np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)))[::-1][:k]
        prev, last[0] = last[0], top
        return prev is not None and bool(np.all(np.abs(top - prev) <= tol * (np.abs(prev) + 1e-6)))

    alpha, beta, _ = lanczos_tridiagonal(op, op.random(gen), max(max_iter, k + 1), callback, stop)
    values = np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
    return np.sort(values)[::-1][:k]


def hutchinson_trace(op: HessianOperator, max_samples: int = 100, tol: float = 1e-3, seed: int = 0,
                     min_samples: int = 10, callback: Callback = None) -> tuple[float, float, int]:
    """``(trace, standard error, samples)``; stops once the running mean changes by less than
    ``tol`` (relative) after at least ``min_samples`` Rademacher probes."""
    gen = torch.Generator().manual_seed(seed)
    samples: list[float] = []
    mean = None
    for i in range(max_samples):
        v = op.random(gen, rademacher=True)
        samples.append(_dot(v, op(v)))
        if callback:
            callback(op.products)
        new = float(np.mean(samples))
        if i + 1 >= min_samples and mean is not None and abs(new - mean) / (abs(mean) + 1e-6) < tol:
            mean = new
            break
        mean = new
    err = float(np.std(samples, ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else float("nan")
    return float(mean), err, len(samples)


def slq_density(op: HessianOperator, steps: int = 80, runs: int = 1, seed: int = 0, grid_points: int = 400,
                sigma: float | None = None, callback: Callback = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(grid, density, ritz_values)``: the eigenvalue density on ``grid`` (integrates to 1),
    Gaussian kernels of width ``sigma`` (default: 1% of the spectrum's range)."""
    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(runs):
        alpha, beta, _ = lanczos_tridiagonal(op, op.random(gen), steps, callback)
        theta, vecs = _ritz(alpha, beta)
        nodes.append(theta)
        weights.append(vecs[0] ** 2)
    nodes_all, w_all = np.concatenate(nodes), np.concatenate(weights) / runs
    lo, hi = nodes_all.min(), nodes_all.max()
    span = max(hi - lo, 1e-12)
    sigma = sigma or 0.01 * span
    grid = np.linspace(lo - 0.05 * span - 3 * sigma, hi + 0.05 * span + 3 * sigma, grid_points)
    dens = (w_all[None, :] * np.exp(-((grid[:, None] - nodes_all[None, :]) ** 2) / (2 * sigma ** 2))).sum(1)
    dens /= sigma * math.sqrt(2 * math.pi)
    return grid, dens, np.sort(nodes_all)[::-1]
