"""Pictures of attributions of 1-D signals ``(batch, channels, length)``: each channel's
signal as a line with its attribution beneath it as a coloured band and a filled line
(signed: red raises the output, blue lowers it, centred at zero; unsigned CAM maps: one
band shared by every channel), time on the x axis in the user's units when given
(``sampling_rate=`` in Hz, or a ``time=`` array).

Every function takes ``ax=None`` (or a list of axes) and returns the axes it drew.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InputShapeError
from . import symmetric_norm


def time_axis(length: int, sampling_rate: float | None = None, time: Sequence[float] | None = None,
              unit: str = "s") -> tuple[np.ndarray, str]:
    """The x values and label of a signal of ``length`` samples.

    Example:
        >>> t, label = time_axis(4, sampling_rate=2.0)
        >>> t.tolist(), label
        ([0.0, 0.5, 1.0, 1.5], 'time (s)')
    """
    if time is not None:
        t = np.asarray(time, dtype=float)
        if t.shape != (length,):
            raise InputShapeError(f"time= has {t.size} values for a signal of {length} samples; give one per sample.")
        return t, f"time ({unit})" if unit else "time"
    if sampling_rate is not None:
        if not sampling_rate > 0:
            raise InputShapeError(f"sampling_rate must be a positive number of samples per second, not {sampling_rate!r}.")
        return np.arange(length) / float(sampling_rate), f"time ({unit})"
    return np.arange(length, dtype=float), "sample"


def signal_maps(res: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(inputs (B, C, L), maps (B, C or 1, L), shared)``: the attributions of a signal
    result per channel, or one map shared by every channel (CAM maps ``(B, L)``)."""
    x = np.asarray(res.inputs, dtype=float)
    a = np.asarray(res.attributions, dtype=float)
    if x.ndim != 3:
        raise InputShapeError(f"Signal plots need inputs of shape (batch, channels, length), got {x.shape}.")
    if a.ndim == 2 and a.shape[-1] == x.shape[-1]:
        return x, a[:, None], True
    if a.shape != x.shape:
        raise InputShapeError(f"Attributions of shape {a.shape} do not match signals of shape {x.shape}.")
    return x, a, False


def plot_signal(res: Any, index: int = 0, axes=None, *, sampling_rate: float | None = None,
                time: Sequence[float] | None = None, channels: Sequence[int] | None = None,
                channel_names: Sequence[str] | None = None, colorbar: bool = True, xlabel: bool = True):
    """One example: per channel the signal (line) above its attribution (coloured band and
    filled line). ``axes``: a list of ``2 * channels`` axes to draw into, or ``None`` for a
    new figure. Returns the axes.

    Example:
        >>> import torch
        >>> from neuralscope.zoo import SignalCNN
        >>> from neuralscope.attribution import explain
        >>> net = SignalCNN(length=64).eval()
        >>> r = explain(net, net.example_input(1), method="grad_cam", sampling_rate=32.0)
        >>> len(plot_signal(r))
        3
    """
    import matplotlib.pyplot as plt

    x, a, shared = signal_maps(res)
    if not 0 <= index < x.shape[0]:
        raise InputShapeError(f"Example {index} is out of range: the result has {x.shape[0]} signals.")
    sampling_rate = sampling_rate if sampling_rate is not None else res.extras.get("sampling_rate")
    time = time if time is not None else res.extras.get("time")
    t, t_label = time_axis(x.shape[-1], sampling_rate, time)
    chans = list(range(x.shape[1])) if channels is None else [int(c) for c in channels]
    names = list(channel_names or res.feature_names or [f"channel {c}" for c in range(x.shape[1])])
    rows = _layout(chans, shared)
    if axes is None:
        _, axes = plt.subplots(len(rows), 1, figsize=(9, sum(0.55 if r[0] == "map" else 1.5 for r in rows) + 0.9),
                                 sharex=True, gridspec_kw={"height_ratios": [0.4 if r[0] == "map" else 1 for r in rows]},
                                 layout="constrained", squeeze=False)
        axes = list(axes[:, 0])
    norm = _norm(res, a[index])
    for ax, (kind, c) in zip(axes, rows):
        if kind == "signal":
            ax.plot(t, x[index, c], color="#222", lw=1.0)
            ax.set_ylabel(names[c] if c < len(names) else f"channel {c}", fontsize=9)
            ax.margins(x=0)
        else:
            im = _band(ax, t, a[index, 0 if shared else c], norm, res)
            ax.set_ylabel("CAM" if shared else "attr.", fontsize=8)
    if xlabel:
        axes[-1].set_xlabel(t_label)
    if colorbar:
        cb = axes[0].figure.colorbar(im, ax=axes, fraction=0.025, pad=0.01)
        cb.set_label("attribution" + (" (signed)" if res.signed else ""))
    axes[0].set_title(_title(res, index), fontsize=10)
    return axes


def _layout(chans: list[int], shared: bool) -> list[tuple[str, int]]:
    rows = []
    for c in chans:
        rows.append(("signal", c))
        if not shared:
            rows.append(("map", c))
    return rows + ([("map", 0)] if shared else [])


def _norm(res: Any, values: np.ndarray):
    from matplotlib.colors import Normalize

    if res.signed:
        return symmetric_norm(values)
    hi = float(np.nanmax(values)) if np.size(values) else 1.0
    return Normalize(0, hi if hi > 0 else 1.0)


def _band(ax, t: np.ndarray, m: np.ndarray, norm, res: Any):
    """The attribution beneath a signal: a coloured band (the colour scale) with the values
    as a filled line over it."""
    cmap = res.cmap
    dt = (t[1] - t[0]) if t.size > 1 else 1.0
    lo, hi = norm.vmin, norm.vmax
    im = ax.imshow(m[None], aspect="auto", cmap=cmap, norm=norm, interpolation="nearest",
                   extent=(t[0] - dt / 2, t[-1] + dt / 2, lo, hi), alpha=0.55)
    ax.fill_between(t, 0, m, where=m >= 0, color="#b2182b" if res.signed else "#222222", lw=0,
                    alpha=0.8 if res.signed else 0.35, step="mid")
    ax.fill_between(t, 0, m, where=m < 0, color="#2166ac", lw=0, alpha=0.8, step="mid")
    ax.axhline(0, color="#555", lw=0.5)
    ax.set_ylim(lo, hi)
    ax.set_yticks([])
    return im


def _title(res: Any, index: int) -> str:
    label = res._label(index) if hasattr(res, "_label") else f"#{index}"
    layer = f" at {res.layer}" if getattr(res, "layer", None) else ""
    return f"{res.method}{layer}: {label}"


def plot_signals(res: Any, max_examples: int = 3, **kwargs):
    """The first ``max_examples`` examples, one block each; the title says how many of the
    result's examples were left out. Returns the axes, one row per example."""
    import matplotlib.pyplot as plt

    x, _, shared = signal_maps(res)
    n = min(len(x), max_examples)
    chans = kwargs.get("channels") or range(x.shape[1])
    rows = _layout(list(chans), shared)
    ratios = [0.4 if r[0] == "map" else 1 for r in rows] * n
    height = sum(0.5 if r[0] == "map" else 1.2 for r in rows) * n + 1.0
    fig, axes = plt.subplots(len(ratios), 1, figsize=(9, min(height, 14)), gridspec_kw={"height_ratios": ratios}, sharex=True,
                             layout="constrained", squeeze=False)
    axes = list(axes[:, 0])
    blocks = []
    for i in range(n):
        block = axes[i * len(rows):(i + 1) * len(rows)]
        plot_signal(res, i, block, colorbar=i == 0, xlabel=i == n - 1, **kwargs)
        blocks.append(block)
    if len(x) > n:
        fig.suptitle(f"{res.method}: the first {n} of {len(x)} signals", fontsize=11)
    out = np.empty((n, len(rows)), dtype=object)
    out[:] = blocks
    return out


def draw_compact(res: Any, ax, index: int = 0, colorbar: bool = True):
    """One example in one axes (a cell of a comparison grid): the channels' lines, offset,
    above a coloured band of the attribution summed over channels."""
    x, a, _ = signal_maps(res)
    t, xlabel = time_axis(x.shape[-1], res.extras.get("sampling_rate"), res.extras.get("time"))
    sig = x[index]
    span = float(np.ptp(sig)) or 1.0
    offsets = np.arange(sig.shape[0])[::-1] * span * 0.8
    for c in range(sig.shape[0]):
        ax.plot(t, sig[c] + offsets[c], color="#222", lw=0.8)
    m = a[index].sum(0)
    norm = _norm(res, m)
    lo = float((sig + offsets[:, None]).min())
    dt = (t[1] - t[0]) if t.size > 1 else 1.0
    im = ax.imshow(m[None], aspect="auto", cmap=res.cmap, norm=norm, interpolation="nearest",
                   extent=(t[0] - dt / 2, t[-1] + dt / 2, lo - 0.45 * span, lo - 0.1 * span))
    ax.set_ylim(lo - 0.5 * span, float((sig + offsets[:, None]).max()) + 0.1 * span)
    ax.set_xlim(t[0] - dt / 2, t[-1] + dt / 2)
    ax.set_yticks([])
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(res._label(index) if hasattr(res, "_label") else f"#{index}", fontsize=8)  # short: grid cells
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.01, label="attribution")
    return ax



def draw_feature_maps_1d(fm: Any, ax=None, vmax: float | None = None):
    """The maps ``(C, L)`` of a 1-D layer as a heatmap (rows = channels in ``fm.order``,
    at most ``fm.max_maps``), with the input signal above it when there is one."""
    import matplotlib.pyplot as plt

    shown = fm.order[: fm.max_maps]
    maps = fm.maps[shown]
    if ax is None:
        if fm.image is not None and np.ndim(fm.image) == 2:
            _, (top, ax) = plt.subplots(2, 1, figsize=(9, 6.5), height_ratios=[1, 3], layout="constrained")
            for c, sig in enumerate(fm.image):
                top.plot(np.linspace(-0.5, maps.shape[1] - 0.5, sig.size), sig, lw=0.8, label=f"channel {c}")
            top.set_xlim(-0.5, maps.shape[1] - 0.5)
            top.set_xticks([])
            top.set_title(f"input #{fm.index} (stretched to the layer's {maps.shape[1]} positions)", fontsize=9)
            if len(fm.image) > 1:
                top.legend(fontsize=7, loc="upper right", ncols=min(4, len(fm.image)))
        else:
            ax = plt.subplots(figsize=(9, 5), layout="constrained")[1]
    signed = bool(np.nanmin(maps) < 0)
    lim = vmax or float(np.nanmax(np.abs(maps))) or 1.0
    im = ax.imshow(maps, aspect="auto", interpolation="nearest", cmap="RdBu_r" if signed else "viridis",
                   vmin=-lim if signed else 0, vmax=lim)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="activation")
    step = max(1, len(shown) // 24)
    ax.set_yticks(range(0, len(shown), step), [str(c) for c in shown[::step]], fontsize=7)
    ax.set_ylabel("channel (by mean activation)")
    ax.set_xlabel("position in the layer's output")
    ax.set_title(f"{fm.layer}: {len(shown)} of {len(fm.maps)} feature maps over {maps.shape[1]} positions", fontsize=10)
    return ax


def draw_filters_1d(cf: Any, ax=None):
    """Conv1d filters ``(out, in, k)`` as a heatmap: one row per filter (in ``cf.order``),
    the taps of each input channel side by side, separated by lines; a diverging scale
    centred at zero."""
    w = cf.weight[cf.order[: cf.max_filters]]
    o, i, k = w.shape
    from . import new_axes

    ax = ax or new_axes((min(3 + 0.25 * i * k, 14), min(1.5 + 0.22 * o, 12)))
    lim = float(np.nanmax(np.abs(w))) or 1.0
    im = ax.imshow(w.transpose(0, 1, 2).reshape(o, i * k), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   interpolation="nearest")
    for c in range(1, i):
        ax.axvline(c * k - 0.5, color="white", lw=2)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="weight")
    ax.set_xticks([c * k + (k - 1) / 2 for c in range(i)], [f"in {c}" for c in range(i)],
                  fontsize=8 if i <= 16 else 6, rotation=0 if i <= 16 else 90)
    step = max(1, o // 24)
    ax.set_yticks(range(0, o, step), [str(j) for j in cf.order[: cf.max_filters][::step]], fontsize=7)
    ax.set_xlabel(f"input channel ({k} taps each)")
    ax.set_ylabel("filter (by decreasing norm)")
    ax.set_title(f"{cf.name}: {o} of {cf.weight.shape[0]} filters of {k} taps x {i} input channels", fontsize=10)
    return ax


__all__ = ["plot_signal", "plot_signals", "draw_compact", "draw_feature_maps_1d", "draw_filters_1d", "time_axis",
           "signal_maps"]
