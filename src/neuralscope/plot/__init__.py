"""Matplotlib helpers shared by the result objects: a symmetric diverging norm with its
colorbar, block-statistics downsampling for large matrices, tiled image grids, and the
marking of NaN/Inf values.

Everything here takes numpy arrays and axes and returns what it drew; nothing here knows
about models.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DIVERGING = "RdBu_r"
SEQUENTIAL = "viridis"
NONFINITE_COLOR = "#00d000"  # bright green: not part of RdBu or viridis ends


def new_axes(figsize=(6, 4)):
    """A fresh figure with one axes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def finite_absmax(values: np.ndarray, default: float = 1.0) -> float:
    """The largest finite absolute value (``default`` when there is none or it is zero)."""
    v = np.asarray(values, dtype=float)
    v = np.abs(v[np.isfinite(v)])
    m = float(v.max()) if v.size else 0.0
    return m if m > 0 else default


def symmetric_norm(values: np.ndarray | None = None, vmax: float | None = None):
    """A ``Normalize`` from ``-m`` to ``m`` (``m`` = largest finite ``|value|``), so that
    zero sits at the centre of a diverging colormap."""
    from matplotlib.colors import Normalize

    m = float(vmax) if vmax is not None else finite_absmax(values)
    return Normalize(-m, m)


def cmap_with_bad(name: str):
    """A copy of colormap ``name`` drawing masked (NaN/Inf) cells in :data:`NONFINITE_COLOR`."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=NONFINITE_COLOR)


def colorbar(mappable, ax, label: str = "", **kwargs):
    """A colorbar beside ``ax`` with a label."""
    cb = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03, **kwargs)
    if label:
        cb.set_label(label)
    return cb


def note_nonfinite(ax, n_bad: int, total: int, where: str = "marked in green") -> None:
    """Write how many values were NaN/Inf under the axes (only when there were some)."""
    if n_bad:
        ax.text(0.01, 0.99, f"{n_bad} of {total} values are NaN/Inf ({where})",
                transform=ax.transAxes, ha="left", va="top", fontsize=8, color="#b00000", zorder=10,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="#b00000", alpha=0.9))


def signed_heatmap(ax, matrix: np.ndarray, *, vmax: float | None = None, label: str = "value",
                   cmap: str = DIVERGING, show_colorbar: bool = True, nonfinite: tuple[int, int] | None = None,
                   **imshow_kwargs):
    """``imshow`` of a signed matrix with a diverging colormap centred at zero; NaN/Inf
    cells drawn in green and counted under the axes."""
    m = np.asarray(matrix, dtype=float)
    bad = ~np.isfinite(m)
    masked = np.ma.masked_array(m, mask=bad)
    im = ax.imshow(masked, cmap=cmap_with_bad(cmap), norm=symmetric_norm(m, vmax), aspect="auto",
                   interpolation="nearest", **imshow_kwargs)
    if show_colorbar:
        colorbar(im, ax, label)
    note_nonfinite(ax, *(nonfinite or (int(bad.sum()), m.size)))
    return im


def _bounds(n: int, parts: int) -> np.ndarray:
    """Starts of blocks of a whole number of cells (the last block may be smaller)."""
    k = int(math.ceil(n / max(parts, 1)))
    return np.arange(0, n, max(k, 1))


def block_reduce(matrix: np.ndarray, max_shape: tuple[int, int] = (256, 256),
                 how: str = "absmax") -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    """Shrink a 2-D matrix to at most ``max_shape`` cells by statistics over blocks of
    neighbouring cells — every value counts, no row or column is dropped.

    ``how``: ``"absmax"`` (the signed value with the largest magnitude in the block, so that
    outliers stay visible), ``"mean"``, ``"std"``, ``"max"`` or ``"min"``. Non-finite values
    are left out of the statistics; the returned mask marks blocks that contained any.

    Blocks hold a whole number of cells (the last block of a row or column may be smaller).
    Returns ``(reduced, (rows_per_block, cols_per_block), nonfinite_mask)``.

    Example:
        >>> r, size, bad = block_reduce(np.arange(12.).reshape(4, 3), (2, 3), how="mean")
        >>> r.tolist(), size
        ([[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]], (2.0, 1.0))
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"block_reduce needs a 2-D matrix, got shape {m.shape}.")
    rows, cols = m.shape
    rb = _bounds(rows, min(rows, max_shape[0]))
    cb = _bounds(cols, min(cols, max_shape[1]))
    bad = ~np.isfinite(m)
    badm = np.logical_or.reduceat(np.logical_or.reduceat(bad, rb, axis=0), cb, axis=1) if bad.any() else \
        np.zeros((len(rb), len(cb)), bool)
    if len(rb) == rows and len(cb) == cols:
        return m.copy(), (1.0, 1.0), badm
    clean = np.where(bad, 0.0, m)
    ones = (~bad).astype(np.float64)

    def reduce_sum(a):
        return np.add.reduceat(np.add.reduceat(a, rb, axis=0), cb, axis=1)

    n = reduce_sum(ones)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "mean":
            out = reduce_sum(clean) / n
        elif how == "std":
            mean = reduce_sum(clean) / n
            out = np.sqrt(np.maximum(reduce_sum(clean ** 2) / n - mean ** 2, 0))
        elif how in ("absmax", "max", "min"):
            hi = np.maximum.reduceat(np.maximum.reduceat(np.where(bad, -np.inf, m), rb, 0), cb, 1)
            lo = np.minimum.reduceat(np.minimum.reduceat(np.where(bad, np.inf, m), rb, 0), cb, 1)
            out = hi if how == "max" else lo if how == "min" else np.where(np.abs(hi) >= np.abs(lo), hi, lo)
            out = np.where(n > 0, out, np.nan)
        else:
            raise ValueError(f"how must be one of absmax, mean, std, max, min; not {how!r}.")
    return out, (float(rb[1] - rb[0]) if len(rb) > 1 else float(rows),
                 float(cb[1] - cb[0]) if len(cb) > 1 else float(cols)), badm


def tile(images: np.ndarray, ncols: int | None = None, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Arrange ``(N, H, W)`` or ``(N, H, W, C)`` images into one mosaic with ``pad`` pixels
    of ``fill`` between them (NaN shows as background, not as a value)."""
    imgs = np.asarray(images, dtype=float)
    n, h, w = imgs.shape[:3]
    ncols = ncols or int(math.ceil(math.sqrt(n * h / max(w, 1) * 1.0)))
    ncols = max(1, min(ncols, n))
    nrows = int(math.ceil(n / ncols))
    shape = (nrows * (h + pad) - pad, ncols * (w + pad) - pad) + imgs.shape[3:]
    out = np.full(shape, fill)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = imgs[i]
    return out


def image_grid(ax, images: np.ndarray, *, labels: Sequence[str] | None = None, ncols: int | None = None,
               signed: bool = False, per_image: bool = False, cmap: str | None = None,
               colorbar_label: str = "value", title: str = "", vmax: float | None = None):
    """Draw many small images as one tiled mosaic in a single axes (fast and readable for
    hundreds of tiles).

    ``images`` is ``(N, H, W)`` (one colormap, diverging when ``signed``) or ``(N, H, W, 3)``
    (RGB in [0, 1]). ``per_image`` scales each tile to its own range (shapes over
    magnitudes; the colorbar is then hidden). Non-finite pixels are shown in green.
    """
    imgs = np.asarray(images, dtype=float)
    n, h, w = imgs.shape[:3]
    rgb = imgs.ndim == 4
    bad = ~np.isfinite(imgs)
    n_bad = int(bad.sum())
    if per_image and not rgb:
        flat = np.where(bad, np.nan, imgs).reshape(n, -1)
        if signed:
            s = np.nanmax(np.abs(flat), axis=1, initial=0)
            s[s == 0] = 1
            imgs = imgs / s[:, None, None]
        else:
            lo = np.nanmin(np.where(np.isfinite(flat), flat, np.inf), axis=1)
            hi = np.nanmax(np.where(np.isfinite(flat), flat, -np.inf), axis=1)
            rng = np.where(hi > lo, hi - lo, 1)
            imgs = (imgs - lo[:, None, None]) / rng[:, None, None]
    pad = 1 if max(h, w) < 16 else 2
    mosaic = tile(np.where(bad, np.inf, imgs), ncols=ncols, pad=pad)  # inf marks bad, nan is padding
    ncols_used = (mosaic.shape[1] + pad) // (w + pad)
    if rgb:
        badpix = np.isinf(mosaic).any(-1)
        pix = np.clip(np.nan_to_num(mosaic, nan=1.0, posinf=0, neginf=0), 0, 1)
        pix[badpix] = (0, 0.82, 0)
        im = ax.imshow(pix, interpolation="nearest")
    else:
        badpix = np.isinf(mosaic)
        if signed:
            norm = symmetric_norm(np.where(np.isfinite(mosaic), mosaic, 0), 1.0 if per_image else vmax)
            cm = cmap_with_bad(cmap or DIVERGING)
        else:
            from matplotlib.colors import Normalize

            fin = mosaic[np.isfinite(mosaic)]
            lo = min(float(fin.min()), 0.0) if fin.size else 0.0
            hi = vmax if vmax is not None else (float(fin.max()) if fin.size else 1.0)
            norm = Normalize(0, 1) if per_image else Normalize(lo, hi if hi > lo else lo + 1)
            cm = cmap_with_bad(cmap or SEQUENTIAL)
        cm = cm.with_extremes(bad="white")  # padding
        show = np.ma.masked_array(np.where(badpix, 0, mosaic), mask=np.isnan(mosaic))
        im = ax.imshow(show, cmap=cm, norm=norm, interpolation="nearest")
        if badpix.any():
            overlay = np.zeros(mosaic.shape + (4,))
            overlay[badpix] = (0, 0.82, 0, 1)
            ax.imshow(overlay, interpolation="nearest")
        if not per_image:
            colorbar(im, ax, colorbar_label)
    ax.set_xticks([])
    ax.set_yticks([])
    if labels is not None and n <= 64 and min(h, w) <= 4:  # tiles too small to write on
        shown = ", ".join(str(lab) for lab in labels[:24]) + (", ..." if n > 24 else "")
        ax.set_xlabel(f"row-major, {ncols_used} per row: {shown}", fontsize=8)
    elif labels is not None and n <= 64:
        for i, lab in enumerate(labels[:n]):
            r, c = divmod(i, ncols_used)
            ax.text(c * (w + pad) + 0.5, r * (h + pad) + 0.5, str(lab), fontsize=7, color="black",
                    va="top", ha="left", bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.7))
    elif n > 64:
        ax.set_xlabel(f"{n} tiles, row-major, {ncols_used} per row (tile i at row i // {ncols_used})")
    if title:
        ax.set_title(title)
    note_nonfinite(ax, n_bad, imgs.size)
    return im


__all__ = ["DIVERGING", "SEQUENTIAL", "NONFINITE_COLOR", "block_reduce", "cmap_with_bad", "colorbar",
           "finite_absmax", "image_grid", "new_axes", "note_nonfinite", "signed_heatmap",
           "symmetric_norm", "tile"]
