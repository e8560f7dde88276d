"""Low-dimensional embeddings of features (activations of a layer over a data set, weight
vectors): PCA, t-SNE and UMAP, drawn as a 2-D or 3-D scatter, with an interactive
self-contained HTML page where hovering a point shows the example (a thumbnail for images).

PCA is computed here from the eigenvectors of the covariance matrix (Pearson 1901;
Hotelling 1933). t-SNE is openTSNE's (van der Maaten & Hinton 2008; FFT-accelerated
interpolation, Linderman et al. 2019) on exact nearest neighbours; UMAP is umap-learn (McInnes, Healy & Melville 2018).

Example:
    >>> import numpy as np
    >>> e = embed(np.random.default_rng(0).normal(size=(200, 16)), labels=np.arange(200) % 3)
    >>> e.coords.shape, e.method
    ((200, 2), 'pca')
"""
from __future__ import annotations

import base64
import html
import time
from typing import Any, Sequence

import numpy as np
import torch

from .. import plot as P
from ..errors import InputShapeError
from ..result import Result, standalone_page
from ..webbundle import mount

METHODS = ("pca", "tsne", "umap")
FFT_FROM = 10_000  # t-SNE points from which the FFT interpolation beats Barnes-Hut (openTSNE's choice)
EXACT_UP_TO = 100_000  # t-SNE points up to which exact neighbours cost less than Annoy (50k x 50: 38 s CPU vs 77 s)
MAX_BOXES = None  # t-SNE FFT interpolation boxes per axis at most (see bounded_fft_gradient)
CHECK_EVERY = 10  # t-SNE iterations between two readings of the KL divergence (opt-SNE's rule)
KL_TOLERANCE = 5000  # t-SNE stops when an iteration lowers the KL divergence by less than 1/5000 of it
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#637939", "#ad494a", "#a55194", "#6b6ecf",
           "#3182bd", "#e6550d", "#31a354", "#756bb1"]


def pca(x: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of ``x`` (rows = samples) from the covariance's eigenvectors
    (float32 input is multiplied in float32; the eigenproblem is solved in float64).

    Returns ``(coords, components, explained_variance_ratio)``; each component's sign is
    fixed so that its largest-magnitude loading is positive (deterministic output).
    """
    return _pca(x, dims)


def _pca(x: np.ndarray, dims: int, sums: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pca`, given the float64 column sums of ``x`` when the caller has them."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n, d = x.shape
    mean = (column_sums(x) if sums is None else sums) / n
    if x.dtype == np.float32 and _mean_dwarfs_spread(x, mean):
        mean = x.mean(0, dtype=np.float64)  # exact here: float32 block sums lose what matters
        x, mean = x - mean.astype(x.dtype), np.zeros_like(mean)  # float32 products would cancel
    if d <= 4 * n:
        vals, comps = _covariance_eigh(x, mean)
    else:  # wide data: eigenvectors of the Gram matrix
        vals, comps = _gram_eigh(x - mean)
    comps = comps[:dims]
    sign = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
    sign[sign == 0] = 1
    comps = comps * sign[:, None]
    total = vals.clip(min=0).sum()
    ratio = vals[:dims].clip(min=0) / total if total > 0 else np.zeros(dims)
    # (x - mean) @ W without the centred copy of x: x @ W - mean @ W
    coords = x @ comps.T.astype(x.dtype) - (mean @ comps.T).astype(x.dtype)
    return coords, comps, ratio


def column_sums(x: np.ndarray, block: int = 1024) -> np.ndarray:
    """Column sums of a 2-D array in float64: BLAS sums over blocks of ``block`` rows in the
    array's dtype, the block sums added in float64 (relative error about 1e-7 on float32,
    against 1e-5 for numpy's float32 sum; three times faster than numpy's float64 sum).

    Example:
        >>> column_sums(np.ones((2500, 3), np.float32)).tolist()
        [2500.0, 2500.0, 2500.0]
    """
    n = len(x)
    k = n // block
    sums = np.zeros(x.shape[1], np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # NaN/Inf columns stay non-finite, unreported
        if k:
            sums += (np.ones(block, x.dtype) @ x[:k * block].reshape(k, block, -1)).sum(0, dtype=np.float64)
        if n > k * block:
            sums += (np.ones(n - k * block, x.dtype) @ x[k * block:]).astype(np.float64)
    return sums


def _mean_dwarfs_spread(x: np.ndarray, mean: np.ndarray, sample: int = 4096) -> bool:
    """Whether some column's mean is over 30 times its spread (estimated on a sample of
    rows): then float32 products of the uncentred data lose the digits that matter."""
    rows = x[:: max(1, len(x) // sample)]
    spread = np.abs(rows - mean.astype(x.dtype)).max(0).astype(np.float64)
    return bool(np.any(np.abs(mean) > 30 * spread + 1e-30))


def _covariance_eigh(x: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (rows) of the covariance of tall ``x``.

    The product ``x.T @ x`` runs on the uncentred data in its own dtype (one BLAS call, no
    centred copy), then ``n * mean mean^T`` is subtracted in float64, as scikit-learn's
    ``covariance_eigh`` solver does (:func:`pca` centres first the data whose means dwarf
    their spread).
    """
    n = len(x)
    xx = np.dot(x.T, x).astype(np.float64)  # np.dot runs BLAS syrk here (1.5x matmul's time saved)
    cov = (xx - n * np.outer(mean, mean)) / max(n - 1, 1)
    # numpy's LAPACK, not scipy's top-k syevr (3.6 ms instead of 10 at 256 dimensions): scipy's
    # OpenBLAS threads would spin beside numpy's on the next product (medians 1.5x slower on 2 cores)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order].T


def _gram_eigh(xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and principal axes of centred wide ``xc`` from its Gram matrix."""
    n, d = xc.shape
    xc = xc.astype(np.float64)
    gram = xc @ xc.T / max(n - 1, 1)
    vals, u = np.linalg.eigh(gram)
    order = np.argsort(vals)[::-1]
    vals, u = vals[order], u[:, order]
    keep = vals > vals[0] * 1e-12 if vals.size and vals[0] > 0 else np.zeros_like(vals, bool)
    comps = np.zeros((len(vals), d))
    comps[keep] = (xc.T @ u[:, keep] / np.sqrt(vals[keep] * max(n - 1, 1))).T
    return vals, comps


def exact_neighbors(x: np.ndarray, k: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row of ``x`` (itself excluded) and their
    Euclidean distances, exactly, by blocks of BLAS distance products (``torch.topk`` per
    block; memory ``chunk x N``). On a few dozen PCA dimensions this is faster than building
    an approximate index (Annoy) up to a few hundred thousand points."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    sq = (t * t).sum(1)
    n = len(t)
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        d2 = torch.addmm(sq[None, :], t[lo:hi], t.T, alpha=-2).add_(sq[lo:hi, None])
        d2[torch.arange(hi - lo), torch.arange(lo, hi)] = float("inf")  # not its own neighbour
        vals, nb = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        idx[lo:hi] = nb.numpy()
        dist[lo:hi] = vals.clamp_(min=0).sqrt_().numpy()
    return idx, dist


def tsne(x: np.ndarray, dims: int = 2, *, seed: int = 0, perplexity: float | None = None,
         n_jobs: int | None = None, stop_early: bool = True, max_boxes: int | None = MAX_BOXES,
         trace: list | None = None, **options) -> np.ndarray:
    """t-SNE (van der Maaten & Hinton 2008) with openTSNE (Poličar, Stražar & Zupan 2024):
    FFT-accelerated interpolation of the repulsive forces (Linderman et al. 2019) in 2-D from
    :data:`FFT_FROM` points, Barnes-Hut below that and in 3-D. The perplexity-calibrated
    affinities are built on exact nearest neighbours (:func:`exact_neighbors`) up to
    :data:`EXACT_UP_TO` points and on Annoy's approximate ones above. ``options`` go to
    ``openTSNE.TSNE`` (scikit-learn's ``max_iter`` is accepted and means the iterations after
    early exaggeration, ``n_iter``). Returns the ``(N, dims)`` coordinates.

    Two choices make it faster than openTSNE's defaults at the same quality
    (``benchmarks/inside.py``; ``tests/test_projection_fast.py`` pins the quality):

    - ``stop_early``: opt-SNE's stopping rule for the main phase (Belkina et al. 2019, Nat.
      Commun. 10:5415), read from openTSNE's KL divergence every :data:`CHECK_EVERY`
      iterations: it ends once an iteration lowers the KL divergence by less than
      1/:data:`KL_TOLERANCE` of it (averaged over the check interval); openTSNE's 500
      iterations stay the bound. At 50,000 points in 10 clusters it stopped after 130: KL 4.37
      against 4.28 after 500, trustworthiness 0.960 against 0.962, the whole call 51 s wall
      (90 s CPU, 2 cores, load 1-2). Where the KL divergence keeps falling (50,000 noisy
      copies of scikit-learn's digits) it runs the 500 iterations. Early exaggeration keeps
      openTSNE's 250 iterations: opt-SNE's rule for it (end once the relative KL decrease has
      peaked) ended it after 50, which on 50,000 noisy copies of scikit-learn's digits left the
      trustworthiness at 0.950 against openTSNE's 0.957 (0.958 with the 250 iterations).
      ``trace`` (a list) receives ``(phase, iteration, kl)`` at each check; callbacks in
      ``options`` then run at each check.
    - the points are renumbered by reverse Cuthill-McKee on the affinity graph for the
      optimisation (and back after): the attractive forces then read neighbours that lie close
      in memory, 40% less CPU time for them at 50,000 points.

    ``max_boxes`` (default :data:`MAX_BOXES`, ``None``: openTSNE's grid, one box per unit of
    span, at least 50 per axis) caps the FFT interpolation boxes per axis
    (:func:`bounded_fft_gradient`). The FFT's cost grows with the square of the embedding's
    span, which stays near 50 units on well-separated clusters but grows on data made of
    many small groups (230 on the digits below); the cap is off because wider boxes cost more than they save: at a span of
    96 units, halving the boxes multiplied the gradient's error (against a twice finer grid)
    twelvefold, from 0.36 to 4.3 times the mean gradient norm, and on 50,000 noisy copies of
    scikit-learn's digits a cap of 100 boxes stopped at KL 1.36 (trustworthiness 0.948) where
    the full grid reached 1.05 (0.950; openTSNE's defaults 1.035, 0.957).
    """
    try:
        import openTSNE
    except ImportError:
        raise ImportError("t-SNE needs openTSNE: pip install 'neuralscope[tsne]'.") from None
    from openTSNE.affinity import Affinities, PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    perp = float(perplexity) if perplexity is not None else min(30.0, max(2.0, (n - 1) / 3.0))
    k = int(min(n - 1, max(1, round(3 * perp))))
    n_jobs = n_jobs or max(1, torch.get_num_threads())
    if "max_iter" in options:
        options["n_iter"] = options.pop("max_iter")
    if n <= EXACT_UP_TO:
        nb, dist = exact_neighbors(x, k)
        aff = PerplexityBasedNN(knn_index=PrecomputedNeighbors(nb, dist), perplexity=min(perp, k / 3.0),
                                n_jobs=n_jobs, verbose=False)
    else:  # N^2 distances would dominate: Annoy's approximate neighbours (openTSNE's default)
        aff = PerplexityBasedNN(x, perplexity=min(perp, k / 3.0), method="annoy", n_jobs=n_jobs,
                                random_state=seed, verbose=False)
    init = openTSNE.initialization.pca(x, n_components=dims, random_state=seed)
    order = reverse_cuthill_mckee(aff.P.tocsr(), symmetric_mode=True)
    near = Affinities(verbose=False)
    near.P = aff.P[order][:, order].tocsr()
    near.P.sort_indices()
    fft = dims <= 2 and n >= FFT_FROM
    gradient = ("fft" if max_boxes is None else bounded_fft_gradient(max_boxes)) if fft else "bh"
    kw = dict(n_components=dims, n_jobs=n_jobs, random_state=seed, negative_gradient_method=gradient)
    kw.update(options)
    est = openTSNE.TSNE(**kw)
    emb = est.prepare_initial(affinities=near, initialization=np.ascontiguousarray(init[order]))
    back = np.argsort(order)  # the caller's callbacks see the points in the caller's order
    theirs = [] if est.callbacks is None else [est.callbacks] if callable(est.callbacks) else list(est.callbacks)
    theirs = [lambda it, kl, e, cb=cb: cb(it, kl, np.asarray(e)[back]) for cb in theirs]
    for phase, n_iter, exaggeration, momentum in (
            ("exaggeration", est.early_exaggeration_iter, est.early_exaggeration, est.initial_momentum),
            ("main", est.n_iter, est.exaggeration, est.final_momentum)):
        if n_iter > 0:
            callbacks = ([_Converged(phase, trace)] if stop_early else []) + theirs
            emb = emb.optimize(n_iter, exaggeration=exaggeration, momentum=momentum, inplace=True,
                               callbacks=callbacks or None,
                               callbacks_every_iters=CHECK_EVERY if stop_early else est.callbacks_every_iters)
    return np.asarray(emb)[back]


def bounded_fft_gradient(max_boxes: int = 100):
    """openTSNE's FFT-interpolated t-SNE gradient (``openTSNE.tsne.kl_divergence_fft``) with at
    most ``max_boxes`` interpolation boxes per axis: wider boxes once the embedding spans more
    than ``max_boxes`` units (openTSNE: one box per unit of span, at least 50 per axis), so
    that the FFT's grid, ``6 * boxes`` points per axis, stops growing with the span."""
    from openTSNE.tsne import kl_divergence_fft

    def gradient(embedding, P, dof, fft_params, **kw):
        span = float(embedding.max() - embedding.min())  # openTSNE's grid is square over both axes
        per_box = max(fft_params["ints_in_interval"], span / max_boxes)
        return kl_divergence_fft(embedding, P, dof, dict(fft_params, ints_in_interval=per_box), **kw)

    return gradient


class _Converged:
    """openTSNE callback with opt-SNE's stopping rule for the main phase (see :func:`tsne`);
    returns True to stop."""

    def __init__(self, phase: str, trace: list | None = None):
        self.phase, self.trace, self.prev = phase, trace, None

    def __call__(self, iteration: int, kl: float, embedding) -> bool:
        if self.trace is not None:
            self.trace.append((self.phase, iteration, float(kl)))
        rel, self.prev = ((self.prev - kl) / self.prev if self.prev else None), kl
        if rel is None or self.phase == "exaggeration":
            return False
        return rel < CHECK_EVERY / KL_TOLERANCE


class Embedding(Result):
    """Points projected to 2-D or 3-D, with what each point is.

    Attributes: ``coords`` ``(N, dims)`` (NaN rows for inputs that held NaN/Inf and were
    left out), ``labels`` (``N`` class labels or ``None``), ``values`` (a continuous value per
    point used for colour when there are no labels), ``texts`` (hover text), ``images``
    (``(N, h, w)`` or ``(N, h, w, 3)`` uint8 thumbnails), ``method``, ``explained_variance``
    (PCA), ``seconds`` (time of the projection).
    """

    kind = "embedding"
    schema = {"kind": "str", "method": "str", "dims": "int", "coords": "float[n, *]", "seconds": "float",
              "dropped": "int[*]", "title": "str", "labels?": ["str"], "values?": "float[n]", "value_label?": "str",
              "texts?": ["str"], "explained_variance?": "float[*]", "thumbnails?": ["str"]}

    def __init__(self, coords, *, method, labels=None, values=None, value_label="value", texts=None,
                 images=None, explained_variance=None, seconds=0.0, title="", dropped=None, class_names=None):
        self.coords = np.asarray(coords, dtype=np.float32)
        self.method, self.labels, self.values, self.value_label = method, labels, values, value_label
        self.texts, self.images, self.explained_variance = texts, images, explained_variance
        self.seconds, self.title = seconds, title
        self.dropped = np.asarray(dropped if dropped is not None else [], dtype=int)
        self.class_names = class_names

    @property
    def dims(self) -> int:
        return self.coords.shape[1]

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "method": self.method, "dims": self.dims, "coords": self.coords,
             "seconds": self.seconds, "dropped": self.dropped, "title": self.title}
        if self.labels is not None:
            d["labels"] = [str(v) for v in self.labels]
        if self.values is not None:
            d["values"], d["value_label"] = self.values, self.value_label
        if self.texts is not None:
            d["texts"] = list(self.texts)
        if self.explained_variance is not None:
            d["explained_variance"] = self.explained_variance
        if self.images is not None:
            # one PNG data URL per point (lossless, a few hundred bytes for a digit): the
            # dashboard's projector shows it when the mouse is over that point
            d["thumbnails"] = [_png_data_url(im) for im in np.asarray(self.images, dtype=np.uint8)]
        return d

    def _axis_names(self):
        if self.method == "pca" and self.explained_variance is not None:
            return [f"PC{i + 1} ({v:.1%} of variance)" for i, v in enumerate(self.explained_variance)]
        return [f"{self.method.upper()} {i + 1}" for i in range(self.dims)]

    def _colors(self):
        """Per-point RGBA and legend entries."""
        import matplotlib

        n = len(self.coords)
        if self.labels is not None:
            cats, inv = np.unique(np.asarray([str(v) for v in self.labels]), return_inverse=True)
            cats = _natural_order(cats)
            remap = {c: i for i, c in enumerate(cats)}
            inv = np.array([remap[str(v)] for v in self.labels])
            pal = [matplotlib.colors.to_rgba(PALETTE[i % len(PALETTE)]) for i in range(len(cats))]
            return np.array([pal[i] for i in inv]) if n else np.zeros((0, 4)), list(zip(cats, pal)), None
        if self.values is not None:
            v = np.asarray(self.values, dtype=float)
            norm = matplotlib.colors.Normalize(np.nanmin(v), np.nanmax(v))
            return matplotlib.colormaps["viridis"](norm(v)), [], norm
        return np.tile(matplotlib.colors.to_rgba("#1f77b4"), (n, 1)), [], None

    def plot(self, ax=None, point_size: float | None = None, alpha: float | None = None, limits=None):
        """Scatter coloured by label (legend) or value (colorbar); ``limits`` fixes the axis
        ranges (``[(lo, hi)] * dims``), e.g. for animation frames."""
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        n = len(self.coords)
        s = point_size or float(np.clip(3000 / max(n, 1), 0.5, 30))
        a = alpha or float(np.clip(200 / max(n, 1) ** 0.5, 0.25, 0.9))
        colors, legend, norm = self._colors()
        ok = np.isfinite(self.coords).all(1)
        names = self._axis_names()
        if ax is None:
            fig = plt.figure(figsize=(7, 6), layout="constrained")
            ax = fig.add_subplot(projection="3d" if self.dims == 3 else None)
        pts = self.coords[ok]
        if self.dims == 3:
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], c=colors[ok], s=s, alpha=a, linewidths=0,
                       depthshade=False, rasterized=True)
            ax.set_zlabel(names[2])
        else:
            ax.scatter(pts[:, 0], pts[:, 1], c=colors[ok], s=s, alpha=a, linewidths=0, rasterized=True)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        if limits is not None:
            ax.set_xlim(*limits[0])
            ax.set_ylim(*limits[1])
            if self.dims == 3:
                ax.set_zlim(*limits[2])
        if legend:
            handles = [Line2D([], [], marker="o", ls="", color=c, label=str(lbl)) for lbl, c in legend[:20]]
            ax.legend(handles=handles, title="label", fontsize=8, title_fontsize=8, loc="upper left",
                      bbox_to_anchor=(1.0, 1.0), frameon=False, markerscale=1.2)
        elif norm is not None:
            sm = plt.cm.ScalarMappable(norm=norm, cmap="viridis")
            P.colorbar(sm, ax, self.value_label)
        title = self.title or f"{self.method.upper()} of {n} points"
        if (~ok).sum():
            title += f"\n{int((~ok).sum())} points with NaN/Inf features left out"
        ax.set_title(title, fontsize=10)
        return ax

    def _title(self):
        return self.title or f"{self.method.upper()} embedding"

    # -- interactive page -----------------------------------------------------------
    def _payload(self) -> dict:
        colors, legend, _ = self._colors()
        ok = np.isfinite(self.coords).all(1)
        c = np.where(ok[:, None], self.coords, 0).astype(np.float32)
        lo, hi = c[ok].min(0) if ok.any() else np.zeros(self.dims), c[ok].max(0) if ok.any() else np.ones(self.dims)
        span = np.where(hi > lo, hi - lo, 1)
        c = ((c - lo) / span * 2 - 1).astype(np.float32)  # to [-1, 1]
        rgb = (colors[:, :3] * 255).round().astype(np.uint8)
        d: dict[str, Any] = {
            "n": len(c), "dims": self.dims, "coords": _b64(c), "rgb": _b64(rgb), "ok": _b64(ok.astype(np.uint8)),
            "axes": self._axis_names(), "legend": [[str(lbl), _hex(col)] for lbl, col in legend],
            "labels": [str(v) for v in self.labels] if self.labels is not None else None,
            "values": [None if not np.isfinite(v) else float(v) for v in np.asarray(self.values, float)]
            if self.values is not None else None, "value_label": self.value_label,
            "texts": list(map(str, self.texts)) if self.texts is not None else None, "images": None,
        }
        if self.images is not None:
            im = np.asarray(self.images)
            d["images"] = {"data": _b64(im.astype(np.uint8)), "h": im.shape[1], "w": im.shape[2],
                           "c": 3 if im.ndim == 4 else 1}
        return d

    def to_html(self) -> str:
        title = self._title()
        info = f"{len(self.coords)} points, {self.method.upper()}" + (
            f", computed in {self.seconds:.2f} s" if self.seconds else "")
        body = (f'<p class="ns-info">{html.escape(info)}. Hover a point to see the example; '
                + ("drag to rotate, " if self.dims == 3 else "drag to pan, ")
                + 'wheel to zoom, click a legend entry to hide/show a class.</p>' + self._html_fragment_live())
        return standalone_page(title, body)

    def _repr_html_(self) -> str:
        return self._html_fragment_live()

    def _html_fragment_live(self) -> str:
        """The interactive scatter: a root element, the payload and the built browser bundle
        (the drawing is ``web/src/draw/scatter.js``, shared with the dashboard)."""
        uid = f"nsemb{id(self) & 0xffffff:x}"
        return f'<div id="{uid}"></div>' + mount("embedding", uid, self._payload())


def _natural_order(cats: np.ndarray) -> list[str]:
    try:
        return sorted(cats.tolist(), key=lambda c: float(c))
    except ValueError:
        return sorted(cats.tolist())


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in rgba[:3])


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def _png_data_url(im: np.ndarray) -> str:
    """A uint8 ``(h, w)`` or ``(h, w, 3)`` image as a ``data:image/png;base64,...`` URL."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(im)).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _finite_rows(x: np.ndarray) -> np.ndarray:
    """Which rows hold only finite values: a row sum is finite exactly when they are, unless
    finite values overflow it, so only rows with a non-finite sum are checked element-wise
    (one pass and no N x D boolean array)."""
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(x.sum(1))
    if not ok.all():
        bad = np.flatnonzero(~ok)
        ok[bad] = np.isfinite(x[bad]).all(1)
    return ok


def _to_numpy(x) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _thumbnails(images, n: int, max_side: int = 32) -> np.ndarray:
    """Images ``(N, C, H, W)``/``(N, H, W)``/``(N, H, W, 3)`` as uint8 thumbnails."""
    im = _to_numpy(images).astype(np.float32)
    if len(im) != n:
        raise InputShapeError(f"images has {len(im)} entries but features has {n} rows.")
    if im.ndim == 4 and im.shape[1] in (1, 3) and im.shape[-1] not in (1, 3):
        im = im.transpose(0, 2, 3, 1)
    if im.ndim == 4 and im.shape[-1] == 1:
        im = im[..., 0]
    if im.ndim not in (3, 4):
        raise InputShapeError(f"images must be (N, H, W), (N, C, H, W) or (N, H, W, 3); got {im.shape}.")
    h, w = im.shape[1:3]
    if max(h, w) > max_side:
        t = torch.from_numpy(im if im.ndim == 3 else im.transpose(0, 3, 1, 2))
        t = t[:, None] if im.ndim == 3 else t
        s = max_side / max(h, w)
        t = torch.nn.functional.interpolate(t, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")
        im = t[:, 0].numpy() if im.ndim == 3 else t.permute(0, 2, 3, 1).numpy()
    fin = im[np.isfinite(im)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    im = (np.nan_to_num(im, nan=lo) - lo) / (hi - lo if hi > lo else 1)
    return (np.clip(im, 0, 1) * 255).round().astype(np.uint8)


def embed(features, method: str = "pca", *, labels: Sequence | None = None, dims: int = 2, images=None,
          texts: Sequence[str] | None = None, values: Sequence[float] | None = None, value_label: str = "value",
          seed: int = 0, title: str = "", class_names: Sequence[str] | None = None,
          pca_first: int | None = 50, **method_kwargs) -> Embedding:
    """Project ``features`` (``(N, ...)`` tensor or array; extra dimensions are flattened) to
    ``dims`` = 2 or 3 dimensions with ``method`` = ``"pca"``, ``"tsne"`` or ``"umap"``.

    ``labels`` colour the points by class (``class_names`` maps integer labels to names);
    ``values`` colour them on a continuous scale; ``images`` (one per row) become hover
    thumbnails in the HTML; ``texts`` are hover texts. For t-SNE and UMAP, features with more
    than ``pca_first`` dimensions are first reduced to ``pca_first`` principal components
    (the usual practice; ``None`` disables it). Rows holding NaN/Inf are left out of the
    projection and get NaN coordinates. ``method_kwargs`` go to ``openTSNE.TSNE`` (see
    :func:`tsne`) or ``umap.UMAP``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(300, 8))
        >>> embed(x, "tsne", dims=3).coords.shape
        (300, 3)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, not {dims!r}.")
    x = _to_numpy(features)
    if x.ndim < 2:
        raise InputShapeError(f"features must have shape (N, features...), got {x.shape}.")
    x = x.reshape(len(x), -1).astype(np.float32, copy=False)
    n = len(x)
    for what, seq in (("labels", labels), ("texts", texts), ("values", values)):
        if seq is not None and len(seq) != n:
            raise InputShapeError(f"{what} has {len(seq)} entries but features has {n} rows.")
    # any NaN or Inf makes its column's sum non-finite: the row-by-row check only then (or when
    # finite values overflow the sum)
    sums = column_sums(x)
    ok = np.ones(n, bool) if np.isfinite(sums).all() else _finite_rows(x)
    xs = x if ok.all() else x[ok]
    if len(xs) < dims + 1:
        raise InputShapeError(f"Need at least {dims + 1} rows with finite features to embed, got {len(xs)}.")
    t0 = time.perf_counter()
    ev = None
    if method == "pca":
        proj, _, ev = _pca(xs, dims, sums if xs is x else None)
    else:
        red = _pca(xs, pca_first, sums if xs is x else None)[0] if pca_first and xs.shape[1] > pca_first else xs
        if method == "tsne":
            proj = tsne(red, dims, seed=seed, **method_kwargs)
        else:
            import warnings

            import umap

            kw = dict(n_components=dims, random_state=seed, n_neighbors=min(15, len(red) - 1))
            kw.update(method_kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                proj = umap.UMAP(**kw).fit_transform(red)
    seconds = time.perf_counter() - t0
    if len(xs) == n:
        coords = np.asarray(proj, np.float32)
    else:  # rows with NaN/Inf features have no place
        coords = np.full((n, dims), np.nan, np.float32)
        coords[ok] = proj
    lab = None
    if labels is not None:
        lab = labels.detach().cpu().numpy().tolist() if torch.is_tensor(labels) else (
            labels.tolist() if isinstance(labels, np.ndarray) else list(labels))
        if class_names is not None:
            lab = [class_names[int(v)] for v in lab]
    thumbs = _thumbnails(images, n) if images is not None else None
    vals = None if values is None else np.asarray(_to_numpy(values), dtype=float)
    return Embedding(coords, method=method, labels=lab, values=vals, value_label=value_label,
                     texts=list(texts) if texts is not None else None, images=thumbs,
                     explained_variance=ev, seconds=seconds, title=title, dropped=np.flatnonzero(~ok),
                     class_names=class_names)


def embed_layer(model, inputs, layer, method: str = "pca", *, batch_size: int = 256, **kwargs) -> Embedding:
    """Embed the activations of ``layer`` over ``inputs`` (run in batches in eval mode; the
    model is left unchanged). ``images`` defaults to ``inputs`` when they are images.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN()
        >>> embed_layer(net, net.example_input(20), "pool").coords.shape
        (20, 2)
    """
    from .activations import layer_activations

    acts = layer_activations(model, inputs, layer, batch_size=batch_size)
    if "images" not in kwargs and torch.is_tensor(inputs) and inputs.dim() == 4 and inputs.shape[1] in (1, 3):
        kwargs["images"] = inputs
    elif "images" not in kwargs and getattr(inputs, "ndim", 0) == 4 and inputs.shape[-1] in (1, 3):
        kwargs["images"] = np.moveaxis(np.asarray(inputs), -1, 1)  # a channels-last (Keras) image batch
    kwargs.setdefault("title", f"{method.upper()} of layer {layer!r} activations ({len(acts)} inputs)")
    return embed(acts, method, **kwargs)


__all__ = ["Embedding", "embed", "embed_layer", "pca", "tsne", "exact_neighbors", "METHODS"]
