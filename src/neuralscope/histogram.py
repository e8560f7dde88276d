"""The one histogram of neuralscope: tracking (``run.log_histogram``, ``run.watch``, the Keras
callback), the ``inspect`` views (weight and activation histograms) and the TensorBoard
export all bin values with :func:`histogram`, so a distribution looks the same wherever it
is drawn.

Rules: equal-width bins over the finite range ``[min, max]`` of the values, the last bin
closed (as :func:`numpy.histogram` and ``torch.histc``); NaN and Inf are counted in
``nonfinite``, never binned; values that are all equal are binned over ``[v - 0.5, v + 0.5]``
(numpy's rule); no finite value gives one empty bin ``[0, 1]``. The summary (``num``, ``min``, ``max``,
``sum``, ``sum_sq``) is that of the finite values, the form TensorBoard's ``HistogramProto``
stores.

A torch tensor is binned on its own device with ``torch.bincount`` (2-3x faster than
``histc`` on a CPU; its float32 bin positions may put a value that lies on an edge in the
neighbouring bin); anything else is converted to float64 numpy and binned by
:func:`numpy.histogram` exactly.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Histogram", "histogram", "auto_bins"]


class Histogram(NamedTuple):
    """Bin ``edges`` (n+1, float64), ``counts`` (n, float64) and the summary of the finite
    values; ``min``/``max`` are ``None`` when there is none."""

    edges: np.ndarray
    counts: np.ndarray
    num: int
    min: float | None
    max: float | None
    sum: float
    sum_sq: float
    nonfinite: int

    @property
    def stats(self) -> tuple:
        """``(num, min, max, sum, sum_sq)``, the order the store and TensorBoard keep."""
        return self.num, self.min, self.max, self.sum, self.sum_sq


def auto_bins(n: int) -> int:
    """About ``sqrt(n)`` bins, between 8 and 50 (``bins=None``).

    Example:
        >>> auto_bins(10), auto_bins(900), auto_bins(10**6)
        (8, 30, 50)
    """
    return int(np.clip(np.sqrt(max(n, 1)), 8, 50))


def _empty(nonfinite: int) -> Histogram:
    return Histogram(np.array([0.0, 1.0]), np.zeros(1), 0, None, None, 0.0, 0.0, nonfinite)


def histogram(values: Any, bins: int | None = 64) -> Histogram:
    """The histogram of ``values`` (a tensor, array or sequence of numbers) with ``bins``
    equal-width bins over their finite range (``None``: :func:`auto_bins`).

    Example:
        >>> h = histogram([0.0, 1.0, 1.0, 3.0, float("nan")], bins=3)
        >>> h.edges.tolist(), h.counts.tolist(), h.num, h.nonfinite
        ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 1.0], 4, 1)
    """
    if bins is not None and (isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1):
        raise ValueError(f"bins must be a positive whole number or None, not {bins!r}.")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        torch = None
    if torch is not None and torch.is_tensor(values):
        return _torch_histogram(values, bins)
    try:
        v = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"A histogram needs numbers (a tensor or array), not {type(values).__name__}.") from None
    finite = np.isfinite(v)
    nonfinite = int(v.size - np.count_nonzero(finite))
    if nonfinite:
        v = v[finite]
    if v.size == 0:
        return _empty(nonfinite)
    lo, hi = float(v.min()), float(v.max())
    counts, edges = np.histogram(v, bins=bins or auto_bins(v.size), range=(lo, hi))  # lo == hi: +-0.5
    return Histogram(edges, counts.astype(np.float64), int(v.size), lo, hi, float(v.sum()), float(v @ v), nonfinite)


def _torch_histogram(values, bins: int | None) -> Histogram:
    import torch

    with torch.no_grad():
        v = values.detach().flatten()
        v = v.double() if v.dtype == torch.float64 else v.float()
        if v.numel() == 0:
            return _empty(0)
        lo, hi = torch.aminmax(v)
        nonfinite = 0
        if not (torch.isfinite(lo) and torch.isfinite(hi)):  # only then look for NaN/Inf
            finite = torch.isfinite(v)
            nonfinite = int((~finite).sum())
            v = v[finite]
            if v.numel() == 0:
                return _empty(nonfinite)
            lo, hi = torch.aminmax(v)
        lo, hi = float(lo), float(hi)
        n = int(v.numel())
        bins = bins or auto_bins(n)
        a, b = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)  # numpy's rule for equal values
        idx = ((v - a) * (bins / (b - a))).to(torch.int64).clamp_(0, bins - 1)
        counts = torch.bincount(idx, minlength=bins)
        sq = float(torch.linalg.vector_norm(v, dtype=torch.float64)) ** 2
        return Histogram(np.linspace(a, b, bins + 1), counts.cpu().double().numpy(), n, lo, hi,
                         float(v.sum(dtype=torch.float64)), sq, nonfinite)
