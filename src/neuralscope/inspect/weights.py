"""Views of a model's weights: heatmaps, histograms, convolution filters, statistics, and
projections of weight vectors.

Example:
    >>> from neuralscope.zoo import MLP
    >>> from neuralscope.inspect.weights import weight_heatmap, weight_stats
    >>> net = MLP()
    >>> weight_heatmap(net, "body.0").matrix.shape
    (128, 64)
    >>> weight_stats(net).rows[0]["name"]
    'body.0.weight'
"""
from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import plot as P
from ..adapters import for_model, is_torch_module
from ..adapters.torch import preserve_model_state, resolve_layer
from ..errors import LayerNotFoundError
from ..histogram import histogram
from ..result import Result, standalone_page


# -- finding weights -------------------------------------------------------------------

def _named_weight(model: nn.Module | torch.Tensor | np.ndarray, layer: Any = None,
                  param: str = "weight") -> tuple[str, np.ndarray]:
    """``(name, array)`` of a weight given a model + layer (+ parameter name), a parameter
    name (``"body.0.weight"``), or a tensor/array directly."""
    if isinstance(model, np.ndarray):
        return "matrix", model
    if torch.is_tensor(model):
        return "matrix", model.detach().float().cpu().numpy()
    if not is_torch_module(model):  # Keras and other adapters: canonical-layout arrays
        return _adapter_weight(model, layer, param)
    params = dict(model.named_parameters())
    if isinstance(layer, str) and layer in params:
        return layer, params[layer].detach().float().cpu().numpy()
    if layer is None:
        return _only_weight(model, params, param)
    name, module = resolve_layer(model, layer)
    p = getattr(module, param, None)
    if not isinstance(p, torch.Tensor):
        own = [n for n, _ in module.named_parameters(recurse=False)]
        raise LayerNotFoundError(f"{name}.{param}", [f"{name}.{n}" if name else n for n in own] or list(params),
                                 what="parameter")
    return (f"{name}.{param}" if name else param), p.detach().float().cpu().numpy()


def _adapter_weight(model: Any, layer: Any, param: str) -> tuple[str, np.ndarray]:
    """``(name, array)`` through the model's adapter (see :mod:`neuralscope.adapters.base` for
    the canonical layout: a Keras ``Dense`` kernel comes as ``(out, in)``)."""
    a = for_model(model)
    with a.preserved():
        if layer is None or (isinstance(layer, str) and a.separator in layer and layer not in a.layer_names()):
            params = {p.name: p.array for p in a.parameters()}
            if isinstance(layer, str) and layer in params:
                return layer, params[layer]
            if layer is None:
                return _only_weight(model, params, param, sep=a.separator)
        return a.weight(layer, param)


def _only_weight(model: nn.Module, params: dict, param: str, sep: str = ".") -> tuple[str, np.ndarray]:
    """The weight meant when no layer is given: the model's own ``param`` (a bare
    ``nn.Linear``), else its only parameter of that name; several make ``layer=`` necessary."""
    aliases = (param, "kernel", "embeddings") if param == "weight" and sep != "." else (param,)
    candidates = [n for n in params if any(n == a or n.endswith(sep + a) for a in aliases)]
    if len(candidates) == 1:
        w = params[candidates[0]]
        return candidates[0], w if isinstance(w, np.ndarray) else w.detach().float().cpu().numpy()
    what = type(model).__name__
    if candidates:
        layers = [n.rsplit(sep, 1)[0] for n in candidates]
        message = (f"{what} has {len(candidates)} parameters named {param!r}; pass layer= to choose one "
                   f"of {', '.join(repr(n) for n in layers[:4])}{f' and {len(layers) - 4} more' if len(layers) > 4 else ''}.")
    elif params:
        message = (f"{what} has no parameter named {param!r}; pass param= or layer= with one of "
                   f"{', '.join(repr(n) for n in list(params)[:4])}.")
    else:
        message = f"{what} has no parameters, so there is no weight to draw."
    err = LayerNotFoundError(param, candidates or list(params), what="parameter")
    err.args = (message,)
    raise err


def as_matrix(w: np.ndarray) -> tuple[np.ndarray, str, str]:
    """A weight as a 2-D matrix with axis labels: ``(out, in)`` for linear layers,
    ``(out, in*kh*kw)`` for convolutions, a row for vectors."""
    if w.ndim == 1:
        return w[None, :], "", "unit"
    if w.ndim == 2:
        return w, "output unit", "input unit"
    return w.reshape(w.shape[0], -1), "output channel", "input channel \u00d7 kernel position"


# -- heatmap ---------------------------------------------------------------------------

class WeightMatrix(Result):
    """A weight matrix, possibly shrunk by block statistics for display.

    ``matrix`` is the full matrix; ``display`` what is drawn (equal to ``matrix`` when it
    fits), ``block`` the number of rows and columns each drawn cell summarises.
    """

    kind = "weight_matrix"
    schema = {"kind": "str", "name": "str", "shape": "int[*]", "display": "float[*, *]", "block": "float[*]",
              "how": "str", "nonfinite": "int", "absmax": "float"}

    def __init__(self, name: str, matrix: np.ndarray, *, original_shape: tuple, max_shape=(512, 512),
                 how: str = "absmax", row_label: str = "output unit", col_label: str = "input unit"):
        self.name, self.matrix, self.original_shape = name, matrix, tuple(original_shape)
        self.how, self.row_label, self.col_label = how, row_label, col_label
        self.display, self.block, self.nonfinite_blocks = P.block_reduce(matrix, max_shape, how)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "shape": list(self.original_shape),
                "display": self.display, "block": list(self.block), "how": self.how,
                "nonfinite": int((~np.isfinite(self.matrix)).sum()),
                "absmax": P.finite_absmax(self.matrix, 0.0)}

    def plot(self, ax=None, vmax: float | None = None):
        ax = ax or P.new_axes((7, 5.5))
        d = np.where(self.nonfinite_blocks, np.nan, self.display)
        rows, cols = self.matrix.shape
        bad = int((~np.isfinite(self.matrix)).sum())
        P.signed_heatmap(ax, d, vmax=vmax if vmax is not None else P.finite_absmax(self.matrix),
                         label="weight", nonfinite=(bad, self.matrix.size), extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
        ax.set_xlabel(self.col_label)
        ax.set_ylabel(self.row_label)
        shape = "\u00d7".join(str(s) for s in self.original_shape)
        title = f"{self.name}  ({shape})"
        if self.block != (1.0, 1.0):
            title += f"\neach cell = {self.block[0]:.3g}\u00d7{self.block[1]:.3g} weights ({self.how})"
        ax.set_title(title, fontsize=10)
        return ax

    def _title(self):
        return f"Weights of {self.name}"


def weight_heatmap(model: nn.Module | torch.Tensor | np.ndarray, layer: Any = None, *, param: str = "weight",
                   max_shape: tuple[int, int] = (512, 512), how: str = "absmax") -> WeightMatrix:
    """Heatmap of a weight matrix (diverging colormap centred at zero, colorbar, labelled
    axes). Matrices larger than ``max_shape`` are shrunk by block statistics (``how``:
    ``"absmax"`` keeps the largest-magnitude signed value of each block; ``"mean"``,
    ``"std"``), never by dropping rows. Conv kernels are shown as ``out x (in*kh*kw)``.

    Example:
        >>> import torch
        >>> weight_heatmap(torch.randn(1000, 1000)).display.shape
        (500, 500)
    """
    with preserve_model_state(model) if is_torch_module(model) else _null():
        name, w = _named_weight(model, layer, param)
    m, rl, cl = as_matrix(w)
    return WeightMatrix(name, m, original_shape=w.shape, max_shape=max_shape, how=how, row_label=rl, col_label=cl)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


# -- histograms --------------------------------------------------------------------------

class WeightHistograms(Result):
    """One histogram per parameter tensor: ``counts[i]`` over ``edges[i]`` for ``names[i]``.

    Non-finite values are not binned; their number is in ``nonfinite[i]``.
    ``plot()`` draws the compact all-layers view (small multiples, like TensorBoard's
    distributions); ``plot(name=...)`` one layer in detail.
    """

    kind = "weight_histograms"
    schema = {"kind": "str", "layers": [{"name": "str", "shape": "any", "counts": "float[*]", "edges": "float[*]",
                                         "nonfinite": "int", "mean": "float", "std": "float"}]}

    def __init__(self, names, counts, edges, nonfinite, shapes, stats):
        self.names, self.counts, self.edges = list(names), list(counts), list(edges)
        self.nonfinite, self.shapes, self.stats = list(nonfinite), list(shapes), list(stats)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layers": [
            {"name": n, "shape": list(s), "counts": c, "edges": e, "nonfinite": nf, **st}
            for n, c, e, nf, s, st in zip(self.names, self.counts, self.edges, self.nonfinite, self.shapes,
                                          self.stats)]}

    def _draw_one(self, ax, i, compact=False):
        c, e = self.counts[i], self.edges[i]
        ax.bar(e[:-1], c, width=np.diff(e), align="edge", color="#4c72b0", linewidth=0)
        if e[0] <= 0 <= e[-1]:
            ax.axvline(0, color="0.4", lw=0.6, ls=":")
        if self.nonfinite[i]:
            ax.text(0.98, 0.95, f"{self.nonfinite[i]} NaN/Inf", transform=ax.transAxes, ha="right", va="top",
                    color="#b00000", fontsize=7 if compact else 9)
        if compact:
            ax.set_title(f"{self.names[i]}\n{'x'.join(map(str, self.shapes[i]))}", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_yticks([])
        else:
            ax.set_title(f"{self.names[i]}  {tuple(self.shapes[i])}")
            ax.set_xlabel("weight value")
            ax.set_ylabel("count")

    def plot(self, ax=None, name: str | None = None, max_panels: int = 48):
        import matplotlib.pyplot as plt

        if name is not None:
            if name not in self.names:
                raise LayerNotFoundError(name, self.names, what="parameter")
            ax = ax or P.new_axes()
            self._draw_one(ax, self.names.index(name))
            return ax
        idx = list(range(len(self.names)))
        if len(idx) > max_panels:  # keep the largest tensors, in model order, and say so
            keep = sorted(sorted(idx, key=lambda i: -int(np.prod(self.shapes[i])))[:max_panels])
            idx = keep
        n = len(idx)
        ncols = min(6, n)
        nrows = int(math.ceil(n / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 1.5 * nrows + 0.4), squeeze=False,
                                 layout="constrained")
        for a in axes.flat[n:]:
            a.axis("off")
        for a, i in zip(axes.flat, idx):
            self._draw_one(a, i, compact=True)
        sup = "Weight distributions per parameter tensor (x: value, bars: count)"
        if n < len(self.names):
            sup += f"\nlargest {n} of {len(self.names)} tensors shown"
        fig.suptitle(sup, fontsize=9)
        return fig


def _hist(w: np.ndarray, bins: int | None):
    """Counts, edges and NaN/Inf count by the shared :func:`neuralscope.histogram.histogram`."""
    h = histogram(w, bins)
    return h.counts, h.edges, h.nonfinite


def weight_histograms(model: nn.Module, layers: Any = None, *, bins: int | None = None,
                      include_bias: bool = True) -> WeightHistograms:
    """Histograms of every parameter tensor (or those of ``layers``), binned over each
    tensor's finite range (``bins=None``: about sqrt(size) bins, 8 to 50).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> h = weight_histograms(MLP())
        >>> int(h.counts[0].sum())  # body.0.weight has 128*64 values
        8192
    """
    if not is_torch_module(model):
        a = for_model(model)
        with a.preserved():
            arrays = [(p.name, p.array) for p in a.parameters(layers)]
        if not include_bias:
            arrays = [(n, w) for n, w in arrays if w.ndim > 1]
        return _histograms(arrays, bins)
    with preserve_model_state(model):
        if layers is None:
            named = list(model.named_parameters())
        else:
            named = []
            for lname, mod in _resolve_all(model, layers):
                named += [(f"{lname}.{n}" if lname else n, p) for n, p in mod.named_parameters(recurse=False)]
        if not include_bias:
            named = [(n, p) for n, p in named if p.dim() > 1]
        arrays = [(n, p.detach().float().cpu().numpy()) for n, p in named]
    return _histograms(arrays, bins)


def _histograms(arrays: list[tuple[str, np.ndarray]], bins: int | None) -> WeightHistograms:
    names, counts, edges, nonfinite, shapes, stats = [], [], [], [], [], []
    for n, w in arrays:
        c, e, nf = _hist(w, bins)
        fin = w[np.isfinite(w)]
        names.append(n), counts.append(c), edges.append(e), nonfinite.append(nf), shapes.append(w.shape)
        stats.append({"mean": float(fin.mean()) if fin.size else math.nan,
                      "std": float(fin.std()) if fin.size else math.nan})
    return WeightHistograms(names, counts, edges, nonfinite, shapes, stats)


def _resolve_all(model, layers):
    from ..adapters.torch import resolve_layers

    return resolve_layers(model, layers)


# -- statistics table --------------------------------------------------------------------

class WeightStats(Result):
    """Per-parameter statistics: shape, size, L2 norm, mean, std, min, max, fraction of
    values with ``|w| < near_zero``, and the number of NaN/Inf values."""

    kind = "weight_stats"
    schema = {"kind": "str", "near_zero_threshold": "float", "rows": [{
        "name": "str", "shape": "int[*]", "numel": "int", "norm": "float", "mean": "float", "std": "float",
        "min": "float", "max": "float", "near_zero": "float", "nonfinite": "int"}]}
    columns = ("name", "shape", "numel", "norm", "mean", "std", "min", "max", "near_zero", "nonfinite")

    def __init__(self, rows: list[dict], near_zero: float):
        self.rows, self.near_zero = rows, near_zero

    def to_dict(self) -> dict:
        return {"kind": self.kind, "near_zero_threshold": self.near_zero, "rows": self.rows}

    def column(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.rows], dtype=float)

    def plot(self, ax=None):
        """Horizontal bars of each tensor's L2 norm, with std and near-zero fraction noted."""
        n = len(self.rows)
        ax = ax or P.new_axes((7.5, 0.28 * n + 1.2))
        y = np.arange(n)
        norms = self.column("norm")
        bad = ~np.isfinite(norms)
        ax.barh(y, np.where(bad, 0, norms), color=np.where(bad, P.NONFINITE_COLOR, "#4c72b0"))
        ax.set_yticks(y, [r["name"] for r in self.rows], fontsize=7 if n > 30 else 9)
        ax.invert_yaxis()
        ax.set_xlabel("L2 norm of the tensor")
        top = max(float(np.nanmax(np.where(bad, np.nan, norms))) if (~bad).any() else 1.0, 1e-12)
        for i, r in enumerate(self.rows):
            txt = f"std {r['std']:.3g}, {r['near_zero']:.0%} near 0" if r["nonfinite"] == 0 else \
                f"{r['nonfinite']} NaN/Inf"
            ax.text((0 if bad[i] else norms[i]) + top * 0.01, i, txt, va="center", fontsize=6.5,
                    color="#b00000" if r["nonfinite"] else "0.25")
        ax.set_xlim(0, top * 1.45)
        ax.set_title(f"Weight statistics (near 0: |w| < {self.near_zero:g})", fontsize=10)
        return ax

    def _html_fragment(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = []
        for r in self.rows:
            cells = []
            for c in self.columns:
                v = r[c]
                if isinstance(v, float):
                    v = "NaN" if not math.isfinite(v) else (f"{v:.1%}" if c == "near_zero" else f"{v:.4g}")
                elif c == "shape":
                    v = "\u00d7".join(map(str, v))
                style = ' style="color:#b00000"' if c == "nonfinite" and r[c] else ""
                cells.append(f"<td{style}>{html.escape(str(v))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def to_html(self) -> str:
        return standalone_page("Weight statistics", self._html_fragment())


def weight_stats(model: nn.Module, *, near_zero: float = 1e-3) -> WeightStats:
    """A table of statistics of every parameter tensor (finite values only; NaN/Inf counted).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> s = weight_stats(MLP())
        >>> s.rows[0]["numel"]
        8192
    """
    rows = []
    a = for_model(model)
    with a.preserved():
        arrays = [(p.name, p.array) for p in a.parameters()] if not is_torch_module(model) else [
            (n, p.detach().double().cpu().numpy()) for n, p in model.named_parameters()]
        for n, full in arrays:
            w = full.astype(np.float64).reshape(-1)
            good = np.isfinite(w)
            f = w[good]
            has = f.size > 0
            rows.append({"name": n, "shape": list(full.shape), "numel": int(full.size),
                         "norm": float(np.linalg.norm(f)) if has else math.nan,
                         "mean": float(f.mean()) if has else math.nan, "std": float(f.std()) if has else math.nan,
                         "min": float(f.min()) if has else math.nan, "max": float(f.max()) if has else math.nan,
                         "near_zero": float((np.abs(f) < near_zero).mean()) if has else math.nan,
                         "nonfinite": int((~good).sum())})
    return WeightStats(rows, near_zero)


# -- convolution filters -------------------------------------------------------------------

class ConvFilters(Result):
    """The kernels of a convolution layer, drawn as an image grid.

    ``mode``: ``"rgb"`` (first layers with 3 input channels: each filter as a colour image,
    scaled symmetrically around grey), ``"channels"`` (one tile per output x input channel,
    rows = output channels), ``"norm"`` (a heatmap of the L2 norm of every
    output x input kernel — readable for 512 channels).
    """

    kind = "conv_filters"
    schema = {"kind": "str", "name": "str", "shape": "int[4]", "mode": "str", "order": "int[n]", "nonfinite": "int",
              "weight": "float[n, *, *, *]"}

    def __init__(self, name: str, weight: np.ndarray, mode: str, order: np.ndarray, max_filters: int):
        self.name, self.weight, self.mode, self.order, self.max_filters = name, weight, mode, order, max_filters

    @property
    def norms(self) -> np.ndarray:
        """L2 norm of every ``(out, in)`` kernel, shape ``(out, in)``."""
        w = self.weight
        return np.sqrt(np.nansum(w.reshape(w.shape[0], w.shape[1], -1) ** 2, axis=-1))

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "name": self.name, "shape": list(self.weight.shape), "mode": self.mode,
             "order": self.order, "nonfinite": int((~np.isfinite(self.weight)).sum())}
        if self.mode == "norm":
            d["norms"] = self.norms
        else:
            d["weight"] = self.weight[self.order[: self.max_filters]]
        return d

    def plot(self, ax=None):
        w = self.weight
        o, i = w.shape[:2]
        if self.mode == "taps":
            from ..plot.signal import draw_filters_1d

            return draw_filters_1d(self, ax)
        if self.mode == "norm":
            ax = ax or P.new_axes((7, 6))
            m, block, bad = P.block_reduce(self.norms[self.order], (256, 256), "mean")
            im = ax.imshow(np.ma.masked_invalid(m), cmap=P.cmap_with_bad("magma"), aspect="auto",
                           interpolation="nearest", extent=(-0.5, i - 0.5, o - 0.5, -0.5))
            P.colorbar(im, ax, "L2 norm of the kernel")
            ax.set_xlabel("input channel")
            ax.set_ylabel("output channels ranked by filter norm (rank)")
            ax.set_title(f"{self.name}: {o}\u00d7{i} kernels of {w.shape[2]}\u00d7{w.shape[3]}"
                         + (f"\neach cell = mean of {block[0]:.3g}\u00d7{block[1]:.3g} kernel norms"
                            if block != (1.0, 1.0) else ""), fontsize=10)
            return ax
        shown = self.order[: self.max_filters]
        if self.mode == "rgb":
            k = w[shown].transpose(0, 2, 3, 1)  # N, kh, kw, 3
            s = P.finite_absmax(k)
            imgs = 0.5 + 0.5 * k / s
            ax = ax or P.new_axes((7, 7 * 0.9))
            P.image_grid(ax, imgs, labels=[str(j) for j in shown])
            ax.set_title(f"{self.name}: {len(shown)} of {o} filters as RGB (grey = 0, shared scale)", fontsize=10)
            return ax
        if i == 1:  # one kernel per filter: a square grid, numbered
            ax = ax or P.new_axes((7, 6))
            P.image_grid(ax, w[shown, 0], labels=[str(j) for j in shown], signed=True, colorbar_label="weight")
            ax.set_title(f"{self.name}: {len(shown)} of {o} filters ({w.shape[2]}\u00d7{w.shape[3]}, "
                         "by decreasing norm; number = filter)", fontsize=10)
            return ax
        tiles = w[shown].reshape(len(shown) * i, *w.shape[2:])
        ax = ax or P.new_axes((min(2 + 0.5 * i, 14), min(2 + 0.5 * len(shown), 14)))
        P.image_grid(ax, tiles, ncols=i, signed=True, colorbar_label="weight")
        ax.set_xlabel("input channel \u2192")
        ax.set_ylabel("output channel \u2192 (" + ", ".join(map(str, shown[:12])) + ("..." if len(shown) > 12 else "")
                      + ")")
        ax.set_title(f"{self.name}: {len(shown)} of {o} filters \u00d7 {i} input channels", fontsize=10)
        return ax


def conv_filters(model: nn.Module, layer: Any, *, mode: str = "auto", max_filters: int = 64,
                 order: str = "norm") -> ConvFilters:
    """The filters of a ``Conv2d`` as an image grid (see :class:`ConvFilters` for ``mode``);
    those of a ``Conv1d`` as rows of taps (``mode="taps"``).

    ``mode="auto"`` picks ``"rgb"`` for 3 input channels, ``"channels"`` when at most
    ``max_filters`` filters x 16 input channels fit, and ``"norm"`` otherwise. Filters are
    ordered by decreasing L2 norm (``order="norm"``) or kept in index order (``"index"``).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> conv_filters(DigitsCNN(), "features.0").mode
        'channels'
    """
    with for_model(model).preserved():
        name, w = _named_weight(model, layer)
    if w.ndim not in (3, 4):
        raise ValueError(f"{name} has shape {w.shape}; conv_filters needs a 1-D or 2-D convolution weight "
                         "(out, in, k) or (out, in, kh, kw). Use weight_heatmap for other layers.")
    o, i = w.shape[:2]
    if w.ndim == 3:  # Conv1d: every filter as a row of taps per input channel
        if mode not in ("auto", "taps"):
            raise ValueError(f"{name} is a 1-D convolution; its filters are drawn with mode='taps', not {mode!r}.")
        mode = "taps"
    elif mode == "auto":
        mode = "rgb" if i == 3 else "channels" if (i <= 16 and o * i <= 16 * max_filters) else "norm"
    if mode not in ("rgb", "channels", "norm", "taps"):
        raise ValueError(f"mode must be 'auto', 'rgb', 'channels' or 'norm', not {mode!r}.")
    if mode == "rgb" and i != 3:
        raise ValueError(f"mode='rgb' needs 3 input channels; {name} has {i}.")
    fn = np.sqrt(np.nansum(w.reshape(o, -1) ** 2, axis=1))
    idx = np.argsort(-fn, kind="stable") if order == "norm" else np.arange(o)
    return ConvFilters(name, w, mode, idx, max_filters)


# -- projections of weight vectors -----------------------------------------------------------

def project_weights(model: nn.Module, layer: Any, *, method: str = "pca", dims: int = 2, **kwargs):
    """Project the weight vectors of a layer (rows of a linear layer, flattened filters of a
    convolution) to 2-D or 3-D with PCA, t-SNE or UMAP; returns an
    :class:`~neuralscope.inspect.embedding.Embedding` coloured by filter norm.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> project_weights(MLP(), "body.0").coords.shape
        (128, 2)
    """
    from .embedding import embed

    with for_model(model).preserved():
        name, w = _named_weight(model, layer)
    m = w.reshape(w.shape[0], -1)
    norms = np.sqrt(np.nansum(m ** 2, axis=1))
    texts = [f"{name}[{j}]  |w| = {norms[j]:.3g}" for j in range(m.shape[0])]
    kwargs.setdefault("title", f"{method.upper()} of the {m.shape[0]} weight vectors of {name}")
    return embed(np.nan_to_num(m), method=method, dims=dims, values=norms, value_label="L2 norm",
                 texts=texts, **kwargs)


__all__ = ["WeightMatrix", "WeightHistograms", "WeightStats", "ConvFilters", "weight_heatmap",
           "weight_histograms", "weight_stats", "conv_filters", "project_weights", "as_matrix"]
