"""Perturbation attribution: occlusion, feature ablation with feature masks (grid cells or
superpixels), LIME, KernelSHAP and GradientSHAP.

Perturbed copies of all examples are stacked and evaluated in internal batches whose size
comes from a memory budget (no gradients are needed except for GradientSHAP).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.torch import first_tensor
from ..errors import InputShapeError
from ..progress import progress
from .base import Method, Target, chunks, input_gradients, internal_batch_size, output_scores
from .chain import chain_forward
from .fastpath import forward_model, gradient_model
from .threads import on_pass_threads
from .gradient import make_baseline
from .shapley import (additivity_metrics, coalition_values, kernel_coalitions, player_labels,
                      prepare_background, rows_per_pass)


def _evaluate(run, rows: torch.Tensor, examples: torch.Tensor, target: Target) -> torch.Tensor:
    """Target scores of perturbed ``rows``; ``run`` is the model or its stand-in from :func:`_forward`."""
    with torch.no_grad():
        return target.scores(run(rows), examples).double()


def _forward(model: nn.Module, x: torch.Tensor, out, passes: int):
    """The fused chain for MLPs, else the frozen trace where it pays, else the model."""
    reference = first_tensor(out)[:1].detach()
    run = chain_forward(model, x[:1], reference, passes)  # MLPs: the fused chain
    return run if run is not None else forward_model(model, x[:1], reference, passes)


# -- occlusion -------------------------------------------------------------------------------
def _window_shape(spec, shape: Sequence[int], default) -> tuple[int, ...]:
    if spec is None:
        spec = default
    if isinstance(spec, int):
        spec = (spec,) * (len(shape) - 1 if len(shape) in (2, 3) else len(shape))
    spec = tuple(int(s) for s in spec)
    if len(spec) == len(shape) - 1 and len(shape) in (2, 3):
        spec = (shape[0],) + spec  # images and signals (C, L): every channel at once
    if len(spec) != len(shape) or any(s < 1 for s in spec):
        raise InputShapeError(f"A window/stride of {spec} does not fit inputs of shape {tuple(shape)} per example.")
    return spec


def window_starts(shape: Sequence[int], window: Sequence[int], stride: Sequence[int]) -> list[tuple[int, ...]]:
    """Top-left corners of the sliding windows (Captum's placement: a window starts every
    ``stride``; the last one may be cut at the border)."""
    axes = []
    for n, w, s in zip(shape, window, stride):
        count = int(math.ceil(max(n - w, 0) / s)) + 1
        axes.append([k * s for k in range(count)])
    grids = np.meshgrid(*[np.asarray(a) for a in axes], indexing="ij")
    return [tuple(int(g.flat[i]) for g in grids) for i in range(grids[0].size)]


class Occlusion(Method):
    """Occlusion (Zeiler and Fergus 2014, arXiv:1311.2901): slide a window over the input,
    replace it by ``baseline`` and record the drop of the target score; each element gets
    the average drop over the windows that cover it.

    ``window``/``stride``: an int or a tuple per input dimension after the batch (for
    images ``(h, w)`` and for signals ``(C, L)`` an int ``w`` cover every channel; the
    default is 1/8 of each side, for signals 1/16 of the length). With a 1-element window this is exactly
    single-feature ablation.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> Occlusion(net, window=2, stride=1).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "occlusion"
    paper = "Zeiler and Fergus 2014, arXiv:1311.2901"

    def __init__(self, model: nn.Module, window: Any = None, stride: Any = None, baseline: Any = 0.0,
                 memory_budget: int | None = None, show_progress: bool | None = None):
        super().__init__(model, window=window, stride=stride, baseline=baseline)
        self.window, self.stride, self.baseline = window, stride, baseline
        self.memory_budget, self.show_progress = memory_budget, show_progress

    @on_pass_threads
    def _attribute(self, x, target):
        shape = tuple(x.shape[1:])
        spatial = shape[-2:] if len(shape) == 3 else shape[-1:] if len(shape) == 2 else shape
        default_w = tuple(max(1, s // (16 if len(shape) == 2 else 8)) for s in spatial)
        window = _window_shape(self.window, shape, default_w)
        stride = _window_shape(self.stride, shape, tuple(max(1, w // 2) for w in window[-len(spatial):]))
        starts = window_starts(shape, window, stride)
        base = make_baseline(x, self.baseline)
        n = x.shape[0]
        out, fx = output_scores(self.model, x, target)
        fx = fx.double()
        total = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        count = torch.zeros(shape, dtype=torch.float64, device=x.device)
        per = max(1, internal_batch_size(self.model, x, backward=False, budget=self.memory_budget) // n)
        run = _forward(self.model, x, out, len(starts) * n)
        for sl in progress(list(chunks(len(starts), per)), desc="occlusion",
                           enabled=self.show_progress if self.show_progress else None):
            masks = torch.zeros((sl.stop - sl.start, *shape), dtype=torch.bool, device=x.device)
            for j, st in enumerate(starts[sl]):
                masks[(j,) + tuple(slice(a, a + w) for a, w in zip(st, window))] = True
            k = masks.shape[0]
            occluded = torch.where(masks[:, None], base[None], x[None]).reshape(k * n, *shape)
            rows = torch.arange(n, device=x.device).repeat(k)
            diff = fx.repeat(k) - _evaluate(run, occluded, rows, target)
            m = masks.double()
            total += torch.einsum("kb,k...->b...", diff.view(k, n), m)
            count += m.sum(0)
        attr = total / count.clamp_min(1)
        return attr.to(torch.float32), {"windows": len(starts)}, {"outputs": out}


# -- feature masks ---------------------------------------------------------------------------
def grid_mask(shape: Sequence[int], cell: int | Sequence[int]) -> torch.Tensor:
    """Labels ``(H, W)`` of square grid cells of size ``cell``."""
    h, w = int(shape[-2]), int(shape[-1])
    ch, cw = (cell, cell) if isinstance(cell, int) else cell
    rows = torch.arange(h) // ch
    cols = torch.arange(w) // cw
    return rows[:, None] * int(math.ceil(w / cw)) + cols[None, :]


def superpixels(image: torch.Tensor, n_segments: int = 40, compactness: float = 10.0, iterations: int = 10) -> torch.Tensor:
    """SLIC-style superpixels (Achanta et al. 2012, TPAMI 34(11)): k-means over colour and
    position, seeded on a regular grid. ``image`` is ``(C, H, W)`` in [0, 1]; returns
    labels ``(H, W)`` numbered 0..K-1. (Connectivity is not enforced.)"""
    c, h, w = image.shape
    step = max(1.0, math.sqrt(h * w / max(n_segments, 1)))
    ys = torch.arange(step / 2, h, step)
    xs = torch.arange(step / 2, w, step)
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres_pos = torch.stack([cy.flatten(), cx.flatten()], 1)
    img = image.detach().float().cpu()
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo + 1e-12)
    pos = torch.stack(torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                     indexing="ij"), 0).reshape(2, -1).T
    col = img.reshape(c, -1).T
    cidx = centres_pos.round().long()
    centres_col = img[:, cidx[:, 0].clamp(max=h - 1), cidx[:, 1].clamp(max=w - 1)].T
    m = compactness / 10.0
    labels = torch.zeros(h * w, dtype=torch.long)
    for _ in range(iterations):
        d = torch.cdist(col, centres_col) ** 2 + (torch.cdist(pos, centres_pos) / step * m) ** 2
        labels = d.argmin(1)
        onehot = torch.zeros(centres_pos.shape[0], h * w)
        onehot[labels, torch.arange(h * w)] = 1
        cnt = onehot.sum(1, keepdim=True)
        keep = cnt[:, 0] > 0
        centres_pos = torch.where(keep[:, None], onehot @ pos / cnt.clamp_min(1), centres_pos)
        centres_col = torch.where(keep[:, None], onehot @ col / cnt.clamp_min(1), centres_col)
    _, relabelled = torch.unique(labels, return_inverse=True)
    return relabelled.reshape(h, w)


def window_mask(shape: Sequence[int], width: int, per_channel: bool = False) -> torch.Tensor:
    """Labels of consecutive time windows of ``width`` samples along the last axis of a
    signal ``(C, L)``: shared by every channel, or (``per_channel``) one window per channel
    and time span, numbered channel by channel (``C * ceil(L / width)`` players).

    Example:
        >>> window_mask((2, 6), 3, per_channel=True).tolist()
        [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3]]
    """
    if not (isinstance(width, int) and width >= 1):
        raise InputShapeError(f"A window width must be a positive number of samples, not {width!r}.")
    labels = torch.arange(int(shape[-1])) // width
    if not per_channel:
        return labels.expand(*shape)
    if len(shape) != 2:
        raise InputShapeError(f"Per-channel windows need signals of shape (C, L) per example, not {tuple(shape)}.")
    per = int(labels[-1]) + 1
    return labels[None] + per * torch.arange(int(shape[0]))[:, None]


def feature_mask_for(x: torch.Tensor, mask: Any) -> torch.Tensor:
    """Per-example labels broadcastable to ``x`` (``(B, *x.shape[1:])``, long) from a spec:
    a tensor (per input element, per example or shared), ``"grid"`` / ``("grid", cell)``,
    ``"superpixels"`` / ``("superpixels", n)``, ``("windows", width)`` (time windows of a
    signal ``(C, L)``, all channels together), ``("channel_windows", width)`` (a window of
    each channel on its own), or ``None`` (every element on its own for
    tabular inputs; for images square grid cells, 8 per side)."""
    b, shape = x.shape[0], tuple(x.shape[1:])
    image = len(shape) == 3
    if mask is None:  # images: grid cells; signals (C, L): 16 time windows; tables: every feature
        mask = ("grid", max(1, shape[-1] // 8)) if image else (
            ("windows", max(1, shape[-1] // 16)) if len(shape) == 2 else "features")
    if isinstance(mask, str):
        mask = (mask,)
    if isinstance(mask, tuple) and mask and isinstance(mask[0], str):
        kind = mask[0]
        if kind == "features":
            m = torch.arange(int(np.prod(shape))).reshape(shape)
            return m.expand(b, *shape).to(x.device)
        if kind in ("windows", "channel_windows"):
            width = mask[1] if len(mask) > 1 else max(1, shape[-1] // 16)
            return window_mask(shape, width, kind == "channel_windows").expand(b, *shape).to(x.device)
        if not image and kind in ("grid", "superpixels"):
            raise InputShapeError(f"Feature masks of kind {kind!r} need image inputs (B, C, H, W), got {tuple(x.shape)}.")
        if kind == "grid":
            cell = mask[1] if len(mask) > 1 else max(1, shape[-1] // 8)
            m = grid_mask(shape, cell)
            return m.expand(b, shape[0], *m.shape).to(x.device)
        if kind == "superpixels":
            n = mask[1] if len(mask) > 1 else 40
            ms = torch.stack([superpixels(x[i], n) for i in range(b)])
            return ms[:, None].expand(b, shape[0], *shape[1:]).to(x.device)
        raise InputShapeError(f"Unknown feature mask {kind!r}; use 'grid', 'superpixels', 'features', 'windows', "
                             f"'channel_windows' or a tensor.")
    m = torch.as_tensor(mask).long().to(x.device)
    try:
        if m.dim() == len(shape) + 1:
            return m.expand(b, *shape)
        return m.expand(b, *shape) if m.dim() < len(shape) + 1 else m
    except RuntimeError:
        raise InputShapeError(
            f"A feature mask of shape {tuple(m.shape)} cannot be broadcast to inputs of shape {tuple(x.shape)}.") from None


class FeatureAblation(Method):
    """Feature ablation: replace each group of a feature mask (grid cells, superpixels or
    single features) by the baseline and record the drop of the target score; every
    element of a group gets the group's drop.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> FeatureAblation(net, mask=("grid", 2)).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "feature_ablation"
    paper = "ablation of feature groups; cf. Zeiler and Fergus 2014 and Captum's FeatureAblation"

    def __init__(self, model: nn.Module, mask: Any = None, baseline: Any = 0.0, memory_budget: int | None = None):
        super().__init__(model, mask=mask, baseline=baseline)
        self.mask, self.baseline, self.memory_budget = mask, baseline, memory_budget

    @on_pass_threads
    def _attribute(self, x, target):
        masks = feature_mask_for(x, self.mask)
        base = make_baseline(x, self.baseline)
        out, fx = output_scores(self.model, x, target)
        n = x.shape[0]
        per = max(1, internal_batch_size(self.model, x, backward=False, budget=self.memory_budget))
        attr = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        jobs = [(i, int(l)) for i in range(n) for l in torch.unique(masks[i]).tolist()]
        run = _forward(self.model, x, out, len(jobs))
        for sl in chunks(len(jobs), per):
            items = jobs[sl]
            ex = torch.tensor([i for i, _ in items], device=x.device)
            lab = torch.tensor([l for _, l in items], device=x.device)
            sel = masks[ex] == lab.view(-1, *[1] * (x.dim() - 1))
            rows = torch.where(sel, base[ex], x[ex])
            drop = fx.double()[ex] - _evaluate(run, rows, ex, target)
            for j in range(len(items)):
                attr[ex[j]] += sel[j].double() * drop[j]
        return attr.float(), {"features": [int(masks[i].max()) + 1 for i in range(n)]}, {
            "outputs": out, "feature_mask": masks[:, 0].cpu().numpy() if x.dim() == 4 else masks.cpu().numpy()}


# -- surrogate models: LIME and KernelSHAP ----------------------------------------------------
def _weighted_lstsq(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """The weighted (ridge) least-squares fit, in numpy: small matrices, where torch's
    parallel kernels cost more in thread hand-offs than in arithmetic."""
    Xn, yn, sw = X.numpy(), y.numpy(), np.sqrt(w.numpy())
    A = Xn * sw[:, None]
    AtA = A.T @ A + ridge * np.eye(A.shape[1])
    return torch.from_numpy(np.linalg.lstsq(AtA, A.T @ (yn * sw), rcond=None)[0])


def _distinct(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a 0/1 matrix and, per row, the index of its distinct row (rows
    as integer keys in numpy when they fit 62 bits)."""
    if z.shape[1] > 62:
        return torch.unique(z.to(torch.uint8), dim=0, return_inverse=True)
    keys = z.numpy().astype(np.int64) @ (np.int64(1) << np.arange(z.shape[1], dtype=np.int64))
    _, first, again = np.unique(keys, return_index=True, return_inverse=True)
    return z[torch.from_numpy(first)], torch.from_numpy(again.reshape(-1))


class _Surrogate(Method):
    """Shared by LIME and KernelSHAP: coalitions of the players (``mask``), their values
    against ``background`` rows (or the single ``baseline``), a weighted linear fit per
    example, and the convergence estimate (the largest change of a value when the fit uses
    only the first half of the sampled coalitions)."""

    players = True

    def __init__(self, model: nn.Module, mask: Any = None, baseline: Any = 0.0, n_samples: int = 200,
                 seed: int = 0, background: Any = None, memory_budget: int | None = None,
                 show_progress: bool | None = None, **extra):
        super().__init__(model, mask=mask, baseline=baseline, n_samples=n_samples, seed=seed,
                         background=background, **extra)
        if not (isinstance(n_samples, int) and n_samples >= 2):
            raise InputShapeError(f"n_samples must be an integer of at least 2, not {n_samples!r}.")
        self.mask, self.baseline, self.n_samples, self.seed = mask, baseline, n_samples, seed
        self.background, self.memory_budget, self.show_progress = background, memory_budget, show_progress

    def _backgrounds(self, x):
        """Per example the background rows: the shared background set, or its own baseline."""
        if self.background is not None:
            bg = prepare_background(x, self.background)
            return lambda i: bg
        base = make_baseline(x, self.baseline)
        return lambda i: base[i:i + 1]

    @on_pass_threads
    def _attribute(self, x, target):
        labels = player_labels(x, self.mask)
        background = self._backgrounds(x)
        out, fx = output_scores(self.model, x, target)
        per = rows_per_pass(self.model, x, self.memory_budget)
        gen = torch.Generator().manual_seed(self.seed)
        attr = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        coefs, expected, moved, exact = [], [], [], []
        run = _forward(self.model, x, out, x.shape[0] * self.n_samples)
        for i in progress(range(x.shape[0]), desc=self.name, enabled=self.show_progress or None):
            m = int(labels[i].max()) + 1
            z, w, half, is_exact = self._coalitions(m, gen)
            ends = torch.stack([torch.zeros(m), torch.ones(m)])
            # sampled coalitions repeat: evaluate each distinct one once (and both ends)
            zu, again = _distinct(torch.cat([ends, z]))
            v = coalition_values(run, x[i], background(i), labels[i], zu.to(x.device), target, i, per).cpu()
            v = v[again]
            fb, fxi = float(v[0]), float(v[1])
            phi = self._fit(z.double(), v[2:], w.double(), fxi, fb)
            if half is not None:
                phi_half = self._fit(z[half[0]].double(), v[2:][half[0]], half[1].double(), fxi, fb)
                moved.append(float((phi - phi_half).abs().max()))
            else:
                moved.append(0.0)
            attr[i] = phi.to(x.device)[labels[i]]
            coefs.append(phi.numpy())
            expected.append(fb)
            exact.append(is_exact)
        metrics = additivity_metrics(coefs, fx, expected, exact=False, convergence=moved)
        metrics["exact"] = np.asarray(exact)
        return attr.float(), metrics, {"outputs": out, "coefficients": coefs}


class KernelSHAP(_Surrogate):
    """KernelSHAP (Lundberg and Lee 2017, arXiv:1705.07874): Shapley values of the feature
    groups as the solution of a weighted linear regression with the Shapley kernel,
    constrained so that they add up to ``f(x) - E[f(background)]``.

    ``background``: rows of (training) data that absent features take, averaged over (as
    shap's ``KernelExplainer(f, background)``); without it, the single ``baseline``. With
    ``2^M - 2 <= n_samples`` every coalition is enumerated and the values are exact;
    otherwise coalition sizes are enumerated from the smallest and largest while the budget
    covers them, and the rest sampled in complementary pairs (fixed ``seed``), as shap does.
    ``metrics["convergence"]`` is the largest change of a value between a fit on half of the
    sampled coalitions and on all of them (0 when exact).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> r = KernelSHAP(net, mask=("grid", 4)).attribute(net.example_input(1))
        >>> bool(r.metrics["exact"][0])
        True
    """

    name = "kernel_shap"
    paper = "Lundberg and Lee 2017, arXiv:1705.07874"

    def _coalitions(self, m: int, gen):
        return kernel_coalitions(m, self.n_samples, gen)

    def _fit(self, z, y, w, fx, fb):
        m = z.shape[1]
        if m == 1:
            return torch.tensor([fx - fb], dtype=torch.float64)
        delta = fx - fb
        # eliminate the last feature with the constraint sum(phi) = delta
        X = z[:, :-1] - z[:, -1:]
        t = y - fb - z[:, -1] * delta
        phi = _weighted_lstsq(X, t, w)
        return torch.cat([phi, (delta - phi.sum()).view(1)])


class LIME(_Surrogate):
    """LIME (Ribeiro, Singh, Guestrin 2016, arXiv:1602.04938): a weighted linear surrogate
    fitted on random on/off coalitions of the feature groups (``mask``: grid cells by
    default, ``"superpixels"`` for SLIC-style segments; absent groups take the ``baseline``
    or the ``background`` rows, averaged), weighted by an exponential kernel of the cosine
    distance to the full input (``kernel_width``), with a small ridge penalty.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> LIME(net, mask=("grid", 2), n_samples=64).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "lime"
    paper = "Ribeiro, Singh, Guestrin 2016, arXiv:1602.04938"

    def __init__(self, model: nn.Module, mask: Any = None, baseline: Any = 0.0, n_samples: int = 200,
                 kernel_width: float = 0.75, ridge: float = 1e-3, seed: int = 0, background: Any = None,
                 memory_budget: int | None = None, show_progress: bool | None = None):
        super().__init__(model, mask=mask, baseline=baseline, n_samples=n_samples, seed=seed, background=background,
                         memory_budget=memory_budget, show_progress=show_progress, kernel_width=kernel_width,
                         ridge=ridge)
        self.kernel_width, self.ridge = kernel_width, ridge

    def _coalitions(self, m, gen):
        z = (torch.rand(self.n_samples, m, generator=gen) < 0.5).float()
        z[0] = 1
        cos = z.sum(1) / (math.sqrt(m) * z.sum(1).sqrt().clamp_min(1e-12))
        w = torch.exp(-((1 - cos) ** 2) / self.kernel_width ** 2)
        first = torch.arange(self.n_samples // 2)
        return z, w, (first, w[first]), False

    def _fit(self, z, y, w, fx, fb):
        X = torch.cat([z, torch.ones(z.shape[0], 1, dtype=z.dtype)], 1)
        coef = _weighted_lstsq(X, y, w, ridge=self.ridge)
        return coef[:-1]


class GradientSHAP(Method):
    """GradientSHAP (Lundberg and Lee 2017; Erion et al. 2021 "expected gradients",
    arXiv:1906.10670): the expectation of ``grad f(b + a (x + noise - b)) * (x - b)`` over
    baselines ``b`` from a distribution, ``a ~ U(0, 1)`` and Gaussian noise; its sum
    approximates ``f(x) - E[f(b)]``.

    ``baselines``: a tensor ``(N, ...)`` of reference inputs, or ``"zeros"``/``"blur"``/
    ``"uniform"``.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> GradientSHAP(net, n_samples=8).attribute(net.example_input(2)).attributions.shape
        (2, 1, 8, 8)
    """

    name = "gradient_shap"
    paper = "Lundberg and Lee 2017, arXiv:1705.07874; Erion et al. 2021, arXiv:1906.10670"

    def __init__(self, model: nn.Module, baselines: Any = "zeros", n_samples: int = 25, stdev: float = 0.0,
                 seed: int = 0, memory_budget: int | None = None):
        super().__init__(model, baselines=baselines, n_samples=n_samples, stdev=stdev, seed=seed)
        self.baselines, self.n_samples, self.stdev, self.seed = baselines, n_samples, stdev, seed
        self.memory_budget = memory_budget

    def _attribute(self, x, target):
        n, s = x.shape[0], self.n_samples
        if torch.is_tensor(self.baselines):
            dist = self.baselines.to(device=x.device, dtype=x.dtype)
            if tuple(dist.shape[1:]) != tuple(x.shape[1:]):
                raise InputShapeError(
                    f"GradientSHAP baselines must have shape (N, {', '.join(map(str, x.shape[1:]))}), "
                    f"got {tuple(dist.shape)}.")
        else:
            dist = make_baseline(x, self.baselines)
        out, _ = output_scores(self.model, x, target)
        gen = torch.Generator().manual_seed(self.seed)
        pick = torch.randint(0, dist.shape[0], (n * s,), generator=gen).to(x.device)
        alpha = torch.rand(n * s, generator=gen).to(x.device, x.dtype).view(-1, *[1] * (x.dim() - 1))
        xr = x.repeat_interleave(s, 0)
        noise = torch.randn(xr.shape, generator=gen).to(x.device, x.dtype) * self.stdev
        b = dist[pick]
        pts = b + alpha * (xr + noise - b)
        rows = torch.arange(n, device=x.device).repeat_interleave(s)
        per = max(1, internal_batch_size(self.model, x, budget=self.memory_budget))
        folded = gradient_model(self.model, x[:1], first_tensor(out)[:1], pts.shape[0], split_stem=False).body
        grads = []
        for sl in chunks(pts.shape[0], per):
            g, _, _ = input_gradients(folded, pts[sl], target, rows[sl])
            grads.append(g)
        g = torch.cat(grads)
        attr = (g * (xr - b)).reshape(n, s, *x.shape[1:]).mean(1)
        return attr, self._additivity(x, attr, dist, target), {"outputs": out}

    def _additivity(self, x, attr, dist, target) -> dict:
        """``E[f(baselines)]`` over the whole distribution and how far the sums are from
        ``f(x) - E[f(baselines)]`` (only approximately 0: the expectation is sampled)."""
        _, fx = output_scores(self.model, x, target)
        if dist.shape[0] == x.shape[0] and not torch.is_tensor(self.baselines):
            fb = output_scores(self.model, dist, target, rows=torch.arange(x.shape[0]))[1].double()
        else:
            rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(dist.shape[0])
            fb = output_scores(self.model, dist.repeat(x.shape[0], *[1] * (x.dim() - 1)), target, rows=rows)[1]
            fb = fb.double().view(x.shape[0], -1).mean(1)
        coefs = [a.double().cpu().flatten().numpy() for a in attr]
        return additivity_metrics(coefs, fx, fb.cpu().tolist(), exact=False)


__all__ = ["Occlusion", "FeatureAblation", "LIME", "KernelSHAP", "GradientSHAP", "superpixels", "grid_mask",
           "feature_mask_for", "window_starts", "window_mask"]
