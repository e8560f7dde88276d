"""Gradient attribution: saliency, input x gradient, Integrated Gradients, SmoothGrad /
SmoothGrad-squared / VarGrad, Guided Backpropagation, Deconvnet.

Gradients are taken with ``torch.autograd.grad`` w.r.t. the inputs only, with the model's
parameters frozen, so no work is spent on weight gradients and no ``.grad`` is touched.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..adapters.torch import TorchAdapter, first_tensor
from ..errors import InputShapeError
from ..progress import progress
from .base import (AUTO_MAX_STEPS, Method, Target, auto_steps, chunks, example_rows, input_gradients,
                   internal_batch_size, output_scores)
from .fastpath import GradientModel, gradient_model


class Saliency(Method):
    """The gradient of the target score w.r.t. the input (Simonyan et al. 2014,
    "Deep Inside Convolutional Networks", arXiv:1312.6034). Signed by default;
    ``abs=True`` gives the paper's magnitude map.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> Saliency(net).attribute(net.example_input(2), target=3).attributions.shape
        (2, 1, 8, 8)
    """

    name = "saliency"
    paper = "Simonyan, Vedaldi, Zisserman 2014, arXiv:1312.6034"

    def __init__(self, model: nn.Module, abs: bool = False):
        super().__init__(model, abs=abs)
        self.abs = abs

    def _attribute(self, x, target):
        g, out, _ = input_gradients(self.model, x, target)
        return (g.abs() if self.abs else g), {}, {"outputs": out}


class InputXGradient(Method):
    """Input times gradient (Shrikumar et al. 2016, arXiv:1605.01713).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> InputXGradient(MLP()).attribute(torch.rand(2, 64)).attributions.shape
        (2, 64)
    """

    name = "input_x_gradient"
    paper = "Shrikumar et al. 2016, arXiv:1605.01713"

    def _attribute(self, x, target):
        g, out, _ = input_gradients(self.model, x, target)
        return x * g, {}, {"outputs": out}


# -- baselines and quadrature ----------------------------------------------------------
def make_baseline(x: torch.Tensor, baseline: Any = "zeros", *, sigma: float = 2.0, seed: int = 0) -> torch.Tensor:
    """The reference input of a path method: ``"zeros"``, ``"blur"`` (Gaussian blur of the
    input, ``sigma`` in pixels), ``"uniform"`` (uniform noise over the input's range, fixed
    seed) or a tensor of the input's shape (with or without the batch dimension)."""
    if torch.is_tensor(baseline) or isinstance(baseline, (float, int)) and not isinstance(baseline, bool):
        b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
        if b.dim() == 0:
            return b.expand_as(x).clone()
        if tuple(b.shape) == tuple(x.shape[1:]):
            b = b.expand_as(x)
        if tuple(b.shape) != tuple(x.shape):
            raise InputShapeError(
                f"The baseline has shape {tuple(b.shape)} but the inputs have shape {tuple(x.shape)}; "
                f"give a baseline of shape {tuple(x.shape)} or {tuple(x.shape[1:])}.")
        return b.clone()
    if baseline == "zeros" or baseline is None:
        return torch.zeros_like(x)
    if baseline == "blur":
        return gaussian_blur(x, sigma)
    if baseline == "uniform":
        g = torch.Generator().manual_seed(seed)
        lo = x.flatten(1).min(1).values.view(-1, *[1] * (x.dim() - 1))
        hi = x.flatten(1).max(1).values.view(-1, *[1] * (x.dim() - 1))
        u = torch.rand(x.shape, generator=g).to(device=x.device, dtype=x.dtype)
        return lo + u * (hi - lo)
    raise InputShapeError(f"Unknown baseline {baseline!r}; use 'zeros', 'blur', 'uniform' or a tensor.")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur over the last two dimensions (reflect padding)."""
    if x.dim() < 3:
        return x.mean(dim=tuple(range(1, x.dim())), keepdim=True).expand_as(x).clone()
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    shape = x.shape
    y = x.reshape(-1, 1, shape[-2], shape[-1])
    ph, pw = min(radius, shape[-2] - 1), min(radius, shape[-1] - 1)
    kh = k[radius - ph: radius + ph + 1]
    kw = k[radius - pw: radius + pw + 1]
    kh, kw = kh / kh.sum(), kw / kw.sum()
    y = F.conv2d(F.pad(y, (0, 0, ph, ph), mode="reflect") if ph else y, kh.view(1, 1, -1, 1))
    y = F.conv2d(F.pad(y, (pw, pw, 0, 0), mode="reflect") if pw else y, kw.view(1, 1, 1, -1))
    return y.reshape(shape)


_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def path_points(steps: int, rule: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha`` in [0, 1] and weights of a quadrature rule for the path integral."""
    if rule == "riemann":
        rule = "riemann_trapezoid"
    if rule == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        return torch.tensor((nodes + 1) / 2), torch.tensor(w / 2)
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("riemann_trapezoid needs at least 2 steps.")
        a = torch.linspace(0, 1, steps, dtype=torch.float64)
        w = torch.full((steps,), 1.0 / (steps - 1), dtype=torch.float64)
        w[0] = w[-1] = 0.5 / (steps - 1)
        return a, w
    w = torch.full((steps,), 1.0 / steps, dtype=torch.float64)
    i = torch.arange(steps, dtype=torch.float64)
    if rule == "riemann_left":
        return i / steps, w
    if rule == "riemann_right":
        return (i + 1) / steps, w
    if rule == "riemann_middle":
        return (i + 0.5) / steps, w
    raise ValueError(f"Unknown integration rule {rule!r}; use one of {', '.join(_RULES)} (or 'riemann').")


class IntegratedGradients(Method):
    """Integrated Gradients (Sundararajan, Taly, Yan 2017, "Axiomatic Attribution for Deep
    Networks", arXiv:1703.01365): the path integral of gradients from a baseline to the
    input, times ``(x - baseline)``.

    Every result reports the completeness error ``|sum(attr) - (f(x) - f(baseline))|``
    relative to ``|f(x) - f(baseline)|`` per example (``metrics["completeness_error"]``).
    ``steps="auto"`` (the default) doubles the number of steps (from 16), for the examples
    that still need it, until their error is below ``tolerance`` (1 %) or ``max_steps`` is
    reached, and reports the steps used per example (``metrics["steps"]``): the one rule of
    :func:`~neuralscope.attribution.base.auto_steps`, shared with the layer form. An integer
    uses that many steps for every example.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> r = IntegratedGradients(net, steps="auto").attribute(net.example_input(2))
        >>> bool(r.metrics["completeness_error"].max() < 0.01)
        True
    """

    name = "integrated_gradients"
    paper = "Sundararajan, Taly, Yan 2017, arXiv:1703.01365"

    def __init__(self, model: nn.Module, baseline: Any = "zeros", steps: int | str = "auto",
                 rule: str = "gausslegendre", tolerance: float = 0.01, max_steps: int = AUTO_MAX_STEPS,
                 memory_budget: int | None = None, show_progress: bool | None = None):
        super().__init__(model, baseline=baseline, steps=steps, rule=rule, tolerance=tolerance)
        if not (steps == "auto" or isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be a positive integer or 'auto', not {steps!r}.")
        path_points(2, rule)  # validate the rule name early
        self.baseline, self.steps, self.rule = baseline, steps, rule
        self.tolerance, self.max_steps = tolerance, max_steps
        self.memory_budget, self.show_progress = memory_budget, show_progress

    def _attribute(self, x, target):
        b = make_baseline(x, self.baseline)
        out, fx = output_scores(self.model, x, target)
        _, fb = output_scores(self.model, b, target, rows=torch.arange(x.shape[0]))
        delta = (fx - fb).double()
        def integrate(rows: torch.Tensor | None, steps: int):
            if rows is None:
                a = integrate_gradients(self.model, x, b, target, steps, self.rule, self.memory_budget,
                                        self.show_progress, reference=out)
                return a, completeness_error(a, delta)
            a = integrate_gradients(self.model, x[rows], b[rows], target.subset(rows), steps, self.rule,
                                    self.memory_budget, self.show_progress, reference=first_tensor(out)[rows])
            return a, completeness_error(a, delta[rows])

        if self.steps == "auto":  # the one rule of base.auto_steps
            attr, err, used = auto_steps(integrate, x.shape[0], tolerance=self.tolerance, max_steps=self.max_steps)
        else:
            attr, err = integrate(None, int(self.steps))
            used = torch.full((x.shape[0],), int(self.steps))
        metrics = {"completeness_error": err.cpu().numpy(), "steps": used.numpy(),
                   "output_difference": delta.cpu().numpy()}
        return attr, metrics, {"outputs": out, "baseline": b.detach().float().cpu().numpy()}


def completeness_error(attr: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Per example ``|sum(attr) - delta| / max(|delta|, 1e-6)``."""
    total = attr.flatten(1).double().sum(1)
    return (total - delta).abs() / delta.abs().clamp_min(1e-6)


def integrate_gradients(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: Target, steps: int,
                        rule: str = "gausslegendre", memory_budget: int | None = None,
                        show_progress: bool | None = None, reference: torch.Tensor | None = None) -> torch.Tensor:
    """``(x - b) * sum_k w_k grad f(b + a_k (x - b))``, with the steps of all examples
    stacked into internal batches sized from the memory budget.

    Given ``reference`` (the model's output for ``x``), a long run uses the model's
    :func:`~neuralscope.attribution.fastpath.gradient_model`: BatchNorm folded, and an affine
    first layer ``h = W x + c`` evaluated once at each end of the path. The path is straight
    in ``h`` too, so the rest of the network runs on ``h_b + a_k (h_x - h_b)`` and the
    weighted sum of its gradients is mapped back through ``W`` once:
    ``sum_k w_k W^T g_k = W^T sum_k w_k g_k``.
    """
    alphas, weights = path_points(steps, rule)
    n = x.shape[0]
    rows_per_batch = internal_batch_size(model, x, budget=memory_budget)
    steps_per_batch = max(1, rows_per_batch // n)
    split = (gradient_model(model, x[:1], first_tensor(reference)[:1], n * steps) if reference is not None
             else GradientModel(None, model))
    with torch.no_grad():
        start = baseline if split.stem is None else split.stem(baseline)
        diff_h = (x if split.stem is None else split.stem(x)) - start
    total = torch.zeros_like(start, dtype=torch.float32 if x.dtype != torch.float64 else torch.float64)
    pieces = list(chunks(steps, steps_per_batch))
    for sl in progress(pieces, desc="integrated gradients", enabled=show_progress if show_progress else None):
        a = alphas[sl].to(x.device, x.dtype)
        k = a.shape[0]
        pts = (start.unsqueeze(0) + a.view(-1, *[1] * start.dim()) * diff_h.unsqueeze(0)).reshape(k * n, *start.shape[1:])
        if start.dim() == 4 and start.is_contiguous(memory_format=torch.channels_last):
            pts = pts.contiguous(memory_format=torch.channels_last)  # keep oneDNN's layout for the body
        g, _, _ = input_gradients(split.body, pts, target, rows=example_rows(n, k))
        w = weights[sl].to(x.device, total.dtype).view(-1, *[1] * start.dim())
        total += (g.reshape(k, *start.shape).to(total.dtype) * w).sum(0)
    if split.stem is not None:
        total = split.stem_vjp(x, total.to(x.dtype)).to(total.dtype)
    diff = x - baseline
    return (total * diff.to(total.dtype)).to(torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype)


class SmoothGrad(Method):
    """Average a gradient method over noisy copies of the input (Smilkov et al. 2017,
    "SmoothGrad", arXiv:1706.03825); ``kind="smoothgrad_sq"`` averages squares and
    ``kind="vargrad"`` takes the variance (Adebayo et al. 2018, arXiv:1810.03307).

    ``noise`` is the standard deviation as a fraction of each example's value range (the
    paper's 10-20 %); ``stdev`` sets it absolutely. ``seed=None`` draws from torch's global
    generator (as Captum's NoiseTunnel does); ``draws`` gives the standard-normal values
    themselves, ``(n_samples, batch, *input shape)``.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> SmoothGrad(net, n_samples=8).attribute(net.example_input(2)).attributions.shape
        (2, 1, 8, 8)
    """

    name = "smoothgrad"
    paper = "Smilkov et al. 2017, arXiv:1706.03825; VarGrad: Adebayo et al. 2018, arXiv:1810.03307"

    def __init__(self, model: nn.Module, base: str = "saliency", n_samples: int = 25, noise: float = 0.15,
                 stdev: float | None = None, kind: str = "smoothgrad", seed: int | None = 0,
                 memory_budget: int | None = None, draws: Any = None, **base_options):
        super().__init__(model, base=base, n_samples=n_samples, noise=noise, stdev=stdev, kind=kind, seed=seed,
                         **base_options)
        self.draws = draws
        if kind not in ("smoothgrad", "smoothgrad_sq", "vargrad"):
            raise ValueError(f"kind must be 'smoothgrad', 'smoothgrad_sq' or 'vargrad', not {kind!r}.")
        if base not in _NOISY_BASES:
            raise ValueError(f"SmoothGrad wraps one of {', '.join(_NOISY_BASES)}, not {base!r}.")
        self.base, self.n_samples, self.noise, self.stdev, self.kind = base, n_samples, noise, stdev, kind
        self.seed, self.memory_budget, self.base_options = seed, memory_budget, base_options
        self.name = {"smoothgrad": "smoothgrad", "smoothgrad_sq": "smoothgrad_sq", "vargrad": "vargrad"}[kind]

    def _attribute(self, x, target):
        n = x.shape[0]
        out, _ = output_scores(self.model, x, target)
        if self.stdev is not None:
            std = torch.full((n,), float(self.stdev), device=x.device, dtype=x.dtype)
        else:
            flat = x.flatten(1)
            std = self.noise * (flat.max(1).values - flat.min(1).values)
        std = std.view(-1, *[1] * (x.dim() - 1)).repeat_interleave(self.n_samples, 0).expand(
            n * self.n_samples, *x.shape[1:])
        noisy = x.repeat_interleave(self.n_samples, 0) + self._noise(x, std.contiguous())
        rows = torch.arange(n, device=x.device).repeat_interleave(self.n_samples)
        fn = _NOISY_BASES[self.base]
        per = max(1, internal_batch_size(self.model, x, budget=self.memory_budget))
        model = self.model
        if fn is not _guided_rows:  # guided backprop hooks the model's own ReLUs
            model = gradient_model(model, x[:1], first_tensor(out)[:1], noisy.shape[0], split_stem=False).body
        parts = []
        for sl in chunks(noisy.shape[0], per):
            parts.append(fn(model, noisy[sl], target, rows[sl], **self.base_options).float())
        a = torch.cat(parts).reshape(n, self.n_samples, *x.shape[1:])
        if self.kind == "smoothgrad":
            res = a.mean(1)
        elif self.kind == "smoothgrad_sq":
            res = (a ** 2).mean(1)
        else:
            res = (a ** 2).mean(1) - a.mean(1) ** 2
        return res, {}, {"outputs": out}

    def _noise(self, x: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Gaussian noise, example-major rows; from ``draws`` (standard-normal values of shape
        ``(n_samples, batch, *input shape)``, to reproduce another implementation's noise) when given."""
        if self.draws is None:
            gen = None if self.seed is None else torch.Generator(device=x.device).manual_seed(self.seed)
            return torch.normal(0.0, std, generator=gen)
        d = torch.as_tensor(np.asarray(self.draws) if not torch.is_tensor(self.draws) else self.draws)
        want = (self.n_samples, *x.shape)
        if tuple(d.shape) != want:
            raise InputShapeError(f"draws must have shape (n_samples, batch, ...) = {want}, got {tuple(d.shape)}.")
        return std * d.to(x.device, x.dtype).transpose(0, 1).reshape(std.shape)

    @property
    def signed(self):  # type: ignore[override]
        return self.kind == "smoothgrad"


def _saliency_rows(model, x, target, rows, abs: bool = False):
    g, _, _ = input_gradients(model, x, target, rows)
    return g.abs() if abs else g


def _ixg_rows(model, x, target, rows):
    g, _, _ = input_gradients(model, x, target, rows)
    return g * x


def _guided_rows(model, x, target, rows):
    with relu_override(model, "guided"):
        g, _, _ = input_gradients(model, x, target, rows)
    return g


_NOISY_BASES: dict[str, Callable] = {"saliency": _saliency_rows, "input_x_gradient": _ixg_rows,
                                     "guided_backprop": _guided_rows}


# -- modified backward rules through ReLU modules -----------------------------------
class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad.clamp_min(0) * (out > 0).to(grad.dtype)


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp_min(0)


class relu_override:
    """Context manager replacing the backward pass of every ``nn.ReLU`` module: ``"guided"``
    passes only positive gradients where the input was positive, ``"deconvnet"`` passes
    positive gradients regardless of the input. Works with ``inplace=True`` ReLUs and
    ReLU modules used several times in one forward (torchvision's ResNet).
    Functional ``F.relu`` calls are not seen (same limitation as Captum)."""

    def __init__(self, model: nn.Module, rule: str):
        self.model, self.fn = model, {"guided": _GuidedReLU, "deconvnet": _DeconvReLU}[rule]
        self.rule, self.hooks = rule, None

    def __enter__(self):
        own = getattr(self.model, "relu_rule", None)
        if own is not None:  # a model that rewrites its own ReLUs (a Keras model's KerasFunction)
            self.hooks = own(self.rule)
            self.hooks.__enter__()
            return self
        if not any(isinstance(m, nn.ReLU) for m in self.model.modules()):
            raise InputShapeError(
                "Guided backpropagation and Deconvnet modify the backward pass of nn.ReLU modules, "
                "and this model has none.")
        self.stashes: dict[str, list] = {}  # the inputs of each ReLU's calls, until its output hook

        def pre(name, module):
            stash = self.stashes.setdefault(name, [])

            def keep_input(module, args):
                stash.append(args[0])
                return (args[0].clone(),) if getattr(module, "inplace", False) else None
            return keep_input

        def post(name, module):
            stash, fn = self.stashes[name], self.fn
            return lambda module, args, output: fn.apply(stash.pop())

        self.hooks = TorchAdapter(self.model).hooks(nn.ReLU, pre=pre, post=post)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        hooks, self.hooks = self.hooks, None
        return hooks.__exit__(*exc) if hooks is not None else False


class GuidedBackprop(Method):
    """Guided Backpropagation (Springenberg et al. 2015, "Striving for Simplicity",
    arXiv:1412.6806): gradients through ReLUs pass only where both the input and the
    incoming gradient are positive.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> GuidedBackprop(net).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "guided_backprop"
    paper = "Springenberg et al. 2015, arXiv:1412.6806"
    rule = "guided"

    def _attribute(self, x, target):
        with relu_override(self.model, self.rule):
            g, out, _ = input_gradients(self.model, x, target)
        return g, {}, {"outputs": out}


class Deconvnet(GuidedBackprop):
    """Deconvnet (Zeiler and Fergus 2014, arXiv:1311.2901): ReLUs pass positive gradients
    backwards whatever their forward input was.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> Deconvnet(net).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "deconvnet"
    paper = "Zeiler and Fergus 2014, arXiv:1311.2901"
    rule = "deconvnet"


__all__: Sequence[str] = [
    "Saliency", "InputXGradient", "IntegratedGradients", "SmoothGrad", "GuidedBackprop", "Deconvnet",
    "make_baseline", "path_points", "integrate_gradients", "completeness_error", "gaussian_blur", "relu_override",
]
