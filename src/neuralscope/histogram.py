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
:func:`numpy.histogram` exactly. Code that counts on another array library (the Keras
callback, inside its compiled pass) uses the same three steps: :func:`bin_range`,
:func:`bin_of` with that library's functions, and :func:`from_counts` on the host.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Histogram", "histogram", "auto_bins", "bin_range", "bin_of", "from_counts", "host_histogram", "sum_of_squares"]


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


def _pick(condition: Any, if_true: Any, if_false: Any) -> Any:
    return if_true if condition else if_false


def bin_range(lo: Any, hi: Any, where: Any = _pick) -> tuple[Any, Any]:
    """The range ``(a, b)`` the bins span for finite values from ``lo`` to ``hi``: ``[lo, hi]``,
    or ``[lo - 0.5, hi + 0.5]`` when they are all equal (numpy's rule). ``where`` is the
    ``where`` of the library ``lo`` and ``hi`` belong to (``keras.ops.where`` for tensors; the
    default for numbers on the host).

    Example:
        >>> [float(e) for e in bin_range(2.0, 5.0) + bin_range(3.0, 3.0)]
        [2.0, 5.0, 2.5, 3.5]
    """
    spread = hi > lo
    return where(spread, lo, lo - 0.5), where(spread, hi, hi + 0.5)


def bin_of(v: Any, a: Any, b: Any, bins: int, ops: Any) -> Any:
    """The bin (``0 .. bins - 1``) of each finite value of ``v`` among ``bins`` equal-width
    bins over ``[a, b]`` (:func:`bin_range`), the last bin closed. ``ops`` holds the functions
    of ``v``'s library: ``clip`` and ``cast(x, "int32")`` (``keras.ops``; :data:`TORCH_OPS`).

    Example:
        >>> bin_of(np.array([0.0, 0.5, 2.9, 3.0]), 0.0, 3.0, 3, NUMPY_OPS).tolist()
        [0, 0, 2, 2]
    """
    scale = bins / (b - a)
    if isinstance(scale, np.generic):  # numbers on the host: as Python floats (the same values) for torch
        a, scale = float(a), float(scale)
    return ops.clip(ops.cast((v - a) * scale, "int32"), 0, bins - 1)


class _Ops:
    """The two array functions :func:`bin_of` needs, for one library."""

    def __init__(self, clip, cast):
        self.clip, self.cast = clip, cast


def _torch_cast(x: Any, dtype: str) -> Any:
    import torch

    return x.to(getattr(torch, dtype))


#: :func:`bin_of`'s functions for numpy arrays and for torch tensors (``keras.ops`` has its own)
NUMPY_OPS = _Ops(np.clip, lambda x, dtype: np.asarray(x).astype(dtype))
TORCH_OPS = _Ops(lambda x, lo, hi: x.clamp_(lo, hi), _torch_cast)  # clamps the fresh cast in place


def from_counts(counts: Any, num: int, lo: float, hi: float, total: float, sum_sq: float,
                nonfinite: int) -> Histogram:
    """The :class:`Histogram` of ``num`` finite values from ``lo`` to ``hi`` counted by
    :func:`bin_of` over :func:`bin_range` (``len(counts)`` bins) on any device or library:
    the edges and the empty case by this module's rules, in float64 on the host.

    Example:
        >>> from_counts([1, 2, 1], 4, 0.0, 3.0, 5.0, 11.0, 1).edges.tolist()
        [0.0, 1.0, 2.0, 3.0]
    """
    num, nonfinite = int(num), int(nonfinite)
    if num == 0:
        return _empty(nonfinite)
    lo, hi = float(lo), float(hi)
    a, b = bin_range(lo, hi)
    counts = np.asarray(counts, dtype=np.float64)
    return Histogram(np.linspace(float(a), float(b), len(counts) + 1), counts, num, lo, hi, float(total),
                     float(sum_sq), nonfinite)


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
        n = int(v.numel())
        bins = bins or auto_bins(n)
        lo, hi = float(lo), float(hi)
        scalar = np.float64 if v.dtype == torch.float64 else np.float32  # bin positions in v's precision
        a, b = bin_range(scalar(lo), scalar(hi))
        counts = torch.bincount(bin_of(v, a, b, bins, TORCH_OPS), minlength=bins)
        sq = float(torch.linalg.vector_norm(v, dtype=torch.float64)) ** 2
        return from_counts(counts.cpu().numpy(), n, lo, hi, float(v.sum(dtype=torch.float64)), sq, nonfinite)


def host_histogram(values: np.ndarray, bins: int = 64) -> tuple[Histogram, np.ndarray]:
    """:func:`histogram`'s result for a numpy array as its torch path gives it (bin positions
    in float32, or float64 for float64 values; sums in float64), in one numpy pass with no
    tensor library: for the many small tensors of a watched training step, where a tensor
    library's cost per operation outweighs the arithmetic. Also returns the finite values
    (flat, float64) for further statistics.

    Example:
        >>> h, finite = host_histogram(np.array([0.0, 1.0, 1.0, 3.0, np.nan], np.float32), bins=3)
        >>> h.edges.tolist(), h.counts.tolist(), h.num, h.nonfinite, finite.tolist()
        ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 1.0], 4, 1, [0.0, 1.0, 1.0, 3.0])
    """
    v = np.asarray(values)
    v = v.ravel() if v.dtype == np.float64 else v.astype(np.float32, copy=False).ravel()
    nonfinite = 0
    if v.size and not np.isfinite(v.min() + v.max()):  # only then look for NaN/Inf
        finite = np.isfinite(v)
        nonfinite = int(v.size - np.count_nonzero(finite))
        v = v[finite]
    if v.size == 0:
        return _empty(nonfinite), np.zeros(0)
    lo, hi = v.min(), v.max()
    a, b = bin_range(lo, hi)  # numpy scalars of v's precision: bin positions as the torch path's
    counts = np.bincount(bin_of(v, a, b, bins, NUMPY_OPS), minlength=bins)
    v64 = v.astype(np.float64)
    return from_counts(counts, v.size, lo, hi, v64.sum(), sum_of_squares(v64), nonfinite), v64


def sum_of_squares(v: np.ndarray) -> float:
    """``sum(v * v)`` of a flat array, in float64, without BLAS (whose threads, on a busy
    machine, cost 10-20x the arithmetic of a few hundred thousand values).

    Example:
        >>> sum_of_squares(np.array([3.0, 4.0], np.float32))
        25.0
    """
    return float(np.einsum("i,i->", v, v, dtype=np.float64))
