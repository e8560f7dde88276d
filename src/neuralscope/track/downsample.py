"""Display-time downsampling of long series: min/max per bucket and LTTB.

Nothing is dropped when a run is written; a query asks for at most ``buckets`` buckets (one
per pixel column of a chart) and gets a few points per bucket that draw the same picture.

* :func:`minmax` keeps, per bucket of equal step range, the points holding the minimum and
  the maximum value, in step order: spikes (a NaN-free loss that jumps for one step) survive.
* :func:`lttb` is Largest-Triangle-Three-Buckets (S. Steinarsson, *Downsampling Time Series
  for Visual Representation*, MSc thesis, University of Iceland, 2013): one point per bucket,
  the one forming the largest triangle with the point kept in the previous bucket and the
  mean of the next bucket.

Both return indices into the input, so steps, values and wall times stay aligned.
"""
from __future__ import annotations

import numpy as np

__all__ = ["minmax", "lttb", "bucket_bounds"]


def bucket_bounds(x: np.ndarray, buckets: int) -> np.ndarray:
    """Start indices of ``buckets`` buckets of equal x range over a sorted ``x``
    (equal counts when ``x`` is not sorted), plus ``len(x)`` at the end; empty buckets
    have equal consecutive bounds."""
    n = len(x)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    sorted_x = n < 2 or bool(np.all(x[1:] >= x[:-1]))
    if sorted_x and x[-1] > x[0]:
        edges = np.linspace(float(x[0]), float(x[-1]), buckets + 1)
        bounds = np.searchsorted(x, edges[:-1], side="left")
        bounds[0] = 0
    else:
        bounds = (np.arange(buckets) * n) // buckets
    return np.append(bounds, n).astype(np.int64)


def minmax(x: np.ndarray, y: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of the min and max point of each bucket, sorted (at most ``2 * buckets``).

    NaN values are kept (a NaN in a bucket is always selected, so a diverging run shows it).

    Example:
        >>> x = np.arange(10); y = np.array([0, 5, 1, 1, 1, 1, 1, 1, -3, 1.0])
        >>> minmax(x, y, 2).tolist()
        [0, 1, 5, 8]
    """
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    n = len(y)
    if buckets <= 0:
        raise ValueError(f"buckets must be a positive number, not {buckets}.")
    if n <= 2 * buckets:
        return np.arange(n)
    bounds = bucket_bounds(x, buckets)
    fast = _minmax_gather(y, bounds)
    if fast is not None:
        return fast
    starts = bounds[:-1][bounds[:-1] < bounds[1:]]
    nan = np.isnan(y)
    # reduceat on values with NaN replaced, then find the first index reaching the extreme
    lo_vals = np.minimum.reduceat(np.where(nan, np.inf, y), starts)
    hi_vals = np.maximum.reduceat(np.where(nan, -np.inf, y), starts)
    bucket_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    is_lo = y == lo_vals[bucket_of]
    is_hi = y == hi_vals[bucket_of]
    keep = np.zeros(n, dtype=bool)
    # first index per bucket where the condition holds
    for mask in (is_lo, is_hi, nan):
        idx = np.flatnonzero(mask)
        if len(idx):
            b = bucket_of[idx]
            first = np.ones(len(idx), dtype=bool)
            first[1:] = b[1:] != b[:-1]
            keep[idx[first]] = True
    return np.flatnonzero(keep)


def _minmax_gather(y: np.ndarray, bounds: np.ndarray) -> np.ndarray | None:
    """The same selection as the general path for buckets of nearly equal size: gather the
    buckets into a padded 2-D array (padding repeats a bucket's last point, which changes no
    extreme and comes after its first occurrence) and take argmin/argmax per row."""
    starts, ends = bounds[:-1], bounds[1:]
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    width = int((ends - starts).max())
    if width * len(starts) > 2 * len(y) + 1024:
        return None  # very uneven buckets: the reduceat path uses less memory
    idx = np.minimum(starts[:, None] + np.arange(width)[None, :], (ends - 1)[:, None])
    block = y[idx]
    lo, hi = block.argmin(axis=1), block.argmax(axis=1)
    rows = np.arange(len(starts))
    nan_rows = np.flatnonzero(np.isnan(block[rows, lo]))  # argmin/argmax stop at a NaN
    picks = [starts + lo, starts + hi]
    if len(nan_rows):
        for r in nan_rows:  # rare: keep the first NaN and the finite extremes of the bucket
            seg = block[r]
            ok = ~np.isnan(seg)
            extra = [int(np.argmax(~ok))]
            if ok.any():
                extra += [int(np.nanargmin(seg)), int(np.nanargmax(seg))]
            picks.append(starts[r] + np.array(extra))
    return np.unique(np.concatenate(picks))


def lttb(x: np.ndarray, y: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of the Largest-Triangle-Three-Buckets selection: first and last point plus one
    point in each of ``buckets - 2`` buckets.

    Example:
        >>> x = np.arange(100.0); y = np.sin(x / 10)
        >>> idx = lttb(x, y, 10)
        >>> len(idx), int(idx[0]), int(idx[-1])
        (10, 0, 99)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if buckets < 3:
        raise ValueError(f"LTTB needs at least 3 buckets, not {buckets}.")
    if n <= buckets:
        return np.arange(n)
    y = np.where(np.isfinite(y), y, np.nan)
    yf = np.nan_to_num(y, nan=0.0)
    inner = buckets - 2
    bounds = 1 + (np.arange(inner + 1) * (n - 2)) // inner  # buckets over points 1..n-2
    # means of every bucket (for the "next bucket" average), last bucket mean = last point
    sums_x = np.add.reduceat(x[1:n - 1], bounds[:-1] - 1)
    sums_y = np.add.reduceat(yf[1:n - 1], bounds[:-1] - 1)
    counts = np.diff(bounds)
    mean_x = np.append(sums_x / counts, x[-1])
    mean_y = np.append(sums_y / counts, yf[-1])
    out = np.empty(buckets, dtype=np.int64)
    out[0], out[-1] = 0, n - 1
    a = 0
    for b in range(inner):
        s, e = bounds[b], bounds[b + 1]
        ax, ay = x[a], yf[a]
        cx, cy = mean_x[b + 1], mean_y[b + 1]
        area = np.abs((ax - cx) * (yf[s:e] - ay) - (ax - x[s:e]) * (cy - ay))
        nan_here = np.isnan(y[s:e])
        if nan_here.any():  # a non-finite value is always what the eye must see
            a = s + int(np.argmax(nan_here))
        else:
            a = s + int(np.argmax(area))
        out[b + 1] = a
    return out


def select(steps: np.ndarray, values: np.ndarray, walls: np.ndarray, *, start: int | None = None,
           end: int | None = None, buckets: int | None = None, method: str = "minmax"
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """The points of a series inside ``[start, end]`` (steps, inclusive), reduced to what draws
    the same chart at ``buckets`` pixel columns. Returns ``(steps, values, walls, method_used)``
    where ``method_used`` is ``None`` when nothing had to be dropped.

    Example:
        >>> s = np.arange(10); v = s * 1.0
        >>> select(s, v, v, start=2, end=5)[0].tolist()
        [2, 3, 4, 5]
    """
    if method not in ("minmax", "lttb"):
        raise ValueError(f"method must be 'minmax' or 'lttb', not {method!r}.")
    if start is not None or end is not None:
        keep = np.ones(len(steps), bool)
        if start is not None:
            keep &= steps >= start
        if end is not None:
            keep &= steps <= end
        steps, values, walls = steps[keep], values[keep], walls[keep]
    if buckets is None or len(steps) <= buckets:
        return steps, values, walls, None
    idx = minmax(steps, values, buckets) if method == "minmax" else lttb(steps, values, max(buckets, 3))
    return steps[idx], values[idx], walls[idx], method
