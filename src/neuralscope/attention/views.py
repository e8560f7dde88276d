"""Matplotlib views of :class:`AttentionMaps`: one head, the model view, one token across
layers, and the class token's attention over image patches."""
from __future__ import annotations

import numpy as np

from ..result import new_axes

#: at most this many tick labels on an axis; longer sequences label every k-th token
MAX_TICKS = 48


def _ticks(ax, labels: list[str], axis: str, rotate: bool = False) -> None:
    n = len(labels)
    step = max(1, int(np.ceil(n / MAX_TICKS)))
    pos = np.arange(0, n, step)
    text = [labels[i] if len(labels[i]) <= 14 else labels[i][:13] + "…" for i in pos]
    fs = 9 if n <= 24 else 7
    if axis == "x":
        ax.set_xticks(pos)
        ax.set_xticklabels(text, rotation=90 if rotate else 0, fontsize=fs)
    else:
        ax.set_yticks(pos)
        ax.set_yticklabels(text, fontsize=fs)


def _head_name(maps, layer: int, head) -> str:
    name = maps.layer_names[layer % maps.num_layers]
    h = f"heads {head}" if isinstance(head, str) else f"head {head % maps.num_heads}"
    return f"layer {layer % maps.num_layers} ({name}), {h}"


def plot_head(maps, ax=None, layer: int = -1, head=0, example: int = 0, top_k: int | None = None,
              cmap: str = "viridis"):
    from .maps import LONG_SEQUENCE

    w = maps.head_map(layer, head, example)
    labels = maps.labels(example)
    n_q, n_k = w.shape
    sparse = top_k is not None or max(n_q, n_k) >= LONG_SEQUENCE
    if ax is None:
        side = float(np.clip(0.22 * max(n_q, n_k) + 2.0, 4.5, 11.0))
        ax = new_axes(figsize=(side + 1.2, side))
    if not sparse:
        im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(float(w.max()), 1e-6), aspect="equal",
                       interpolation="nearest")
        cb_label = "attention weight"
    else:
        k = int(top_k or 8)
        idx = np.argsort(-w, axis=1)[:, :k]
        rows = np.repeat(np.arange(n_q), idx.shape[1])
        cols = idx.ravel()
        vals = w[rows, cols]
        size = float(np.clip(4000.0 / max(n_q, 1), 0.5, 12.0))
        from matplotlib.colors import PowerNorm

        # square-root colour scale: long rows spread thin, a linear scale would show only the peaks
        im = ax.scatter(cols, rows, c=vals, s=size, cmap=cmap, norm=PowerNorm(0.5, 0.0, max(float(vals.max()), 1e-6)),
                        marker="s", linewidths=0)
        ax.set_xlim(-0.5, n_k - 0.5)
        ax.set_ylim(n_q - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_facecolor("#f4f4f4")
        cb_label = f"attention weight (top {k} keys per query)"
    _ticks(ax, labels[:n_k], "x", rotate=True)
    _ticks(ax, labels[:n_q], "y")
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(_head_name(maps, layer, head), fontsize=10)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label=cb_label)
    return ax


def _pool(w: np.ndarray, size: int) -> np.ndarray:
    """Max-pool a square map down to at most ``size`` pixels a side (keeps peaks visible)."""
    n = w.shape[0]
    if n <= size:
        return w
    f = int(np.ceil(n / size))
    pad = f * int(np.ceil(n / f)) - n
    w = np.pad(w, ((0, pad), (0, pad)))
    m = w.shape[0] // f
    return w.reshape(m, f, m, f).max(axis=(1, 3))


def plot_model_view(maps, example: int = 0, layers=None, heads=None, thumb: float = 1.3):
    import matplotlib.pyplot as plt

    ex = maps.example(example)
    layers = list(range(maps.num_layers)) if layers is None else [l % maps.num_layers for l in layers]
    heads = list(range(maps.num_heads)) if heads is None else [h % maps.num_heads for h in heads]
    # on long sequences thumbnails are max-pooled so that sharp heads stay visible
    vmax = float(np.quantile(ex[layers][:, heads], 0.995)) or 1.0
    fig, axes = plt.subplots(len(layers), len(heads), figsize=(thumb * len(heads) + 1.2, thumb * len(layers) + 0.6),
                             squeeze=False, gridspec_kw={"wspace": 0.06, "hspace": 0.06})
    im = None
    for r, l in enumerate(layers):
        for c, h in enumerate(heads):
            a = axes[r, c]
            im = a.imshow(_pool(ex[l, h], 128), cmap="viridis", vmin=0.0, vmax=vmax, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(f"head {h}", fontsize=8)
            if c == 0:
                a.set_ylabel(f"layer {l}", fontsize=8)
    fig.suptitle(f"Model view: {len(layers)} layers x {len(heads)} heads ({ex.shape[-1]} tokens; "
                 "rows = queries, columns = keys)", fontsize=10)
    fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01, label="attention weight")
    return fig


def plot_from_token(maps, token, example: int = 0, head="mean", ax=None):
    labels = maps.labels(example)
    if isinstance(token, str):
        if token not in labels:
            raise ValueError(f"token {token!r} is not in the sequence; tokens are {labels[:20]}...")
        q = labels.index(token)
    else:
        q = int(token) % len(labels)
    rows = [maps.head_map(l, head, example)[q] for l in range(maps.num_layers)]
    rows.append(maps.rollout(example)[q])
    data = np.stack(rows)
    n = data.shape[1]
    if ax is None:
        ax = new_axes(figsize=(float(np.clip(0.3 * n + 2.5, 5, 16)), 0.45 * len(rows) + 1.8))
    im = ax.imshow(data, cmap="viridis", vmin=0.0, vmax=max(float(data.max()), 1e-6), aspect="auto",
                   interpolation="nearest")
    _ticks(ax, labels, "x", rotate=True)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"layer {l}" for l in range(maps.num_layers)] + ["rollout"], fontsize=8)
    ax.axhline(len(rows) - 1.5, color="white", lw=2)
    ax.set_xlabel("key (attended to)")
    ax.set_title(f"Attention from token {q} {labels[q]!r} ({'heads ' + head if isinstance(head, str) else f'head {head}'})",
                 fontsize=10)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="attention weight")
    return ax


def plot_image(maps, image, example: int = 0, layer="rollout", head="mean", query: int = 0, ax=None,
               alpha: float = 0.55):
    import torch

    img = image.detach().cpu().float().numpy() if torch.is_tensor(image) else np.asarray(image, dtype=float)
    if img.ndim == 4:
        img = img[example]
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = np.moveaxis(img, 0, -1)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    grid = maps.patch_map(example, layer, head, query)
    H, W = img.shape[:2]
    up = torch.nn.functional.interpolate(torch.from_numpy(grid[None, None]).float(), size=(H, W),
                                         mode="bilinear", align_corners=False)[0, 0].numpy()
    if ax is None:  # constrained layout keeps the colorbar's label inside the figure
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.6, 4.6), layout="constrained")
    ax.imshow(img.squeeze(), cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None)
    # relative map: the colours span the weights' own range (uniform attention is 1/n everywhere)
    lo, hi = float(grid.min()), float(grid.max())
    im = ax.imshow(up, cmap="inferno", alpha=alpha, vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    ax.set_xticks([])
    ax.set_yticks([])
    what = "rollout" if layer == "rollout" else _head_name(maps, int(layer), head)
    ax.set_title(f"Token {query} attention on {grid.shape[0]}x{grid.shape[1]} patches ({what})", fontsize=10)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="attention weight")
    return ax
