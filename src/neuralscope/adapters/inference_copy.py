"""One private inference copy of a PyTorch model: the same function, laid out to run fast.

Shared by every analysis that runs a model many times without gradients: the loss
landscape (:mod:`neuralscope.landscape.evaluate`, which writes each weight point into the copy
with :meth:`InferenceCopy.load`) and the deletion/insertion curves
(:mod:`neuralscope.attribution.pixel_curves`, for the metrics and the audit, where the
frozen trace of :mod:`neuralscope.attribution.fastpath` is not used).

The copy is made once (:func:`copy.deepcopy`, so the user's model is only read) and runs as a
plain module in eval mode, and on CPUs in the layout oneDNN runs fastest:

* channels-last images and convolution weights (the same arithmetic, about 1.5x faster);
* each BatchNorm that directly follows a convolution in an ``nn.Sequential`` folded into that
  convolution (eval mode: ``BN(conv(x; W, b)) = conv(x; W s, (b - mean) s + beta)`` with
  ``s = gamma / sqrt(var + eps)``); the fold is kept only when the copy's output on a probe
  batch matches the model's own (float32 rounding: the fold moves results by about 1e-7
  relative), the ReLU fusion below with it;
* each 2-D convolution followed by a ReLU in an ``nn.Sequential`` run as one oneDNN convolution
  with the ReLU applied on its output (a post-op: the same values, one memory pass less), where
  torch has that operator (``torch.ops.mkldnn._convolution_pointwise``) and the model is on CPU;
* ``dtype`` (e.g. ``torch.bfloat16``): the copy's weights and the inputs are cast to it
  (reduced precision, an explicit choice; faster than autocast: no casts inside the pass).

Measured (one thread, loaded 2-core Xeon, CPU time a row at 64x64): SceneCNN 0.09-0.11 ms
through the copy, 0.09-0.10 ms through the frozen trace, 0.28 ms eager; SceneViT (not
traced: mostly matrix products) 0.27-0.28 ms through the copy, 0.55-0.60 ms eager.

Example:
    >>> import torch
    >>> from neuralscope.zoo import DigitsCNN
    >>> _ = torch.manual_seed(0); model = DigitsCNN(width=4).eval(); x = torch.rand(5, 1, 8, 8)
    >>> work = InferenceCopy(model, x)
    >>> work.describe()  # the three conv + BatchNorm + ReLU blocks of ``features``
    '3 BatchNorms folded, 3 conv+ReLU fused, channels-last'
    >>> bool(torch.allclose(work(x), model(x), atol=1e-5))
    True
    >>> w = {n: p.detach() * 1.01 for n, p in model.named_parameters()}
    >>> work.load(w)  # another weight point, written in place (the loss landscape's use)
    >>> expected = torch.func.functional_call(model, w, (x,))
    >>> bool(torch.allclose(work(x), expected, atol=1e-5))
    True
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class Fold:
    """A BatchNorm folded into the convolution before it (parameter names of the original model)."""

    conv: str
    bn: str
    mean: torch.Tensor
    var: torch.Tensor
    eps: float
    conv_bias: bool  # whether the original convolution has a bias of its own
    has_affine: bool


class InferenceCopy:
    """A private copy of ``model`` in eval mode, without gradients (weight points can be loaded into it).

    ``probe`` is a small input batch on which the folded copy must give the unfolded copy's output
    (float32 rounding), or nothing is folded. ``fold=False`` keeps every BatchNorm as it is.
    """

    def __init__(self, model: nn.Module, probe: torch.Tensor, dtype: torch.dtype | None = None,
                 fold: bool = True):
        self.dtype = None
        shapes = {p.dim() for p in model.parameters()}
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.channels_last = device.type == "cpu" and 4 in shapes and 5 not in shapes
        self.module, self.folds, self.fused = _private_copy(model), [], 0
        if fold:
            self._fold_if_exact(model, probe)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        if dtype is not None:
            self.module, self.dtype = self.module.to(dtype), dtype
        self._params = dict(self.module.named_parameters())
        self._folded_names = {f"{f.bn}.{k}" for f in self.folds for k in ("weight", "bias")}
        self._folded_names |= {f"{f.conv}.{k}" for f in self.folds for k in ("weight", "bias")}
        if dtype is not None:  # a model with an operator that refuses ``dtype`` fails here, not later
            with torch.no_grad():
                self(probe)

    def describe(self) -> str:
        """The copy's changes in words, e.g. ``"3 BatchNorms folded, 3 conv+ReLU fused, channels-last"``."""
        parts = [f"{self.folded} BatchNorms folded"] if self.folded else []
        parts += [f"{self.fused} conv+ReLU fused"] if self.fused else []
        parts += ["channels-last"] if self.channels_last else []
        parts += [str(self.dtype).replace("torch.", "")] if self.dtype is not None else []
        return ", ".join(parts)

    @property
    def folded(self) -> int:
        """How many BatchNorms are folded into their convolutions."""
        return len(self.folds)

    def _fold_if_exact(self, model: nn.Module, probe: torch.Tensor) -> None:
        """Fold the copy's BatchNorms and fuse its conv+ReLU pairs, and undo both (a fresh copy)
        unless the result gives the unchanged copy's output on ``probe`` up to float32 rounding."""
        with torch.no_grad():
            expected = self.module(probe)
            if not (torch.is_tensor(expected) and expected.is_floating_point()):
                return  # nothing to compare a folded copy's output with: no fold
            expected = expected.float()
            folds = _fold_batchnorms(self.module)
            fused = _fuse_conv_relus(self.module) if self.channels_last else 0
            if not (folds or fused):
                return
            weights = {n: p.detach() for n, p in model.named_parameters() if p.is_floating_point()}
            for f in folds:
                w, b = _folded(f, weights)
                self.module.get_submodule(f.conv).weight.copy_(w)
                self.module.get_submodule(f.conv).bias.copy_(b)
            got = self.module(probe).float()
        scale = 1 + float(expected.abs().max()) if expected.numel() else 1.0
        if got.shape == expected.shape and bool(torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)):
            self.folds, self.fused = folds, fused
        else:
            self.module = _private_copy(model)

    def load(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Write one point's weights (original parameter names) into the copy."""
        with torch.no_grad():
            for name, t in weights.items():
                if name not in self._folded_names:
                    self._params[name].copy_(t)
            for f in self.folds:
                weight, bias = _folded(f, weights)
                self._params[f"{f.conv}.weight"].copy_(weight)
                self._params[f"{f.conv}.bias"].copy_(bias)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the copy's layout and dtype (do it once per batch, not per point)."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is not None and x.is_floating_point():
            x = x.to(self.dtype)
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(self.inputs(x))


def _private_copy(model: nn.Module) -> nn.Module:
    module = copy.deepcopy(model).eval().requires_grad_(False)
    for p in module.parameters():
        p.grad = None
    return module


def _folded(f: Fold, weights: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weight and bias with the BatchNorm folded in, from one point's weights."""
    w = weights[f"{f.conv}.weight"]
    b = weights[f"{f.conv}.bias"] if f.conv_bias else torch.zeros_like(f.mean)
    scale = torch.rsqrt(f.var + f.eps)
    shift = torch.zeros_like(f.mean)
    if f.has_affine:
        scale = scale * weights[f"{f.bn}.weight"]
        shift = weights[f"{f.bn}.bias"]
    return w * scale.reshape(-1, *[1] * (w.dim() - 1)), (b - f.mean) * scale + shift


def _fold_batchnorms(module: nn.Module) -> list[Fold]:
    """Replace, inside plain ``nn.Sequential`` containers, each eval-mode BatchNorm that follows a
    convolution by an identity (the convolution then carries the fold; it gains a bias if it
    had none). Modules with hooks or used in more than one place are left alone."""
    uses = _uses(module)
    folds = []
    for seq_name, seq in list(module.named_modules()):
        if type(seq) is not nn.Sequential:
            continue
        keys = list(seq._modules)
        for first, second in zip(keys, keys[1:]):
            conv, bn = seq._modules[first], seq._modules[second]
            if not _foldable(conv, bn, uses):
                continue
            prefix = f"{seq_name}." if seq_name else ""
            folds.append(Fold(f"{prefix}{first}", f"{prefix}{second}", bn.running_mean.detach().clone(),
                              bn.running_var.detach().clone(), float(bn.eps), conv.bias is not None, bn.affine))
            if conv.bias is None:
                conv.bias = nn.Parameter(torch.zeros_like(bn.running_mean), requires_grad=False)
            seq._modules[second] = nn.Identity()
    return folds


class ConvReLU(nn.Module):
    """``relu(conv2d(x))`` as one oneDNN convolution with a ReLU post-op (CPU; the same values)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias if conv.bias is not None else nn.Parameter(
            torch.zeros(conv.out_channels, dtype=conv.weight.dtype), requires_grad=False)
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        self.padding = list(conv.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, self.padding, self.stride,
                                                       self.dilation, self.groups, "relu", [], "")


def _fuse_conv_relus(module: nn.Module) -> int:
    """Inside plain ``nn.Sequential`` containers, each ``Conv2d`` followed by a ``ReLU`` (maybe
    with identities left by the fold between) becomes one :class:`ConvReLU`; returns how many."""
    if not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
        return 0
    uses = _uses(module)
    fused = 0
    for seq in [m for m in module.modules() if type(m) is nn.Sequential]:
        keys = list(seq._modules)
        for i, key in enumerate(keys):
            j = i + 1
            while j < len(keys) and type(seq._modules[keys[j]]) is nn.Identity:
                j += 1
            if j < len(keys) and _fusable(seq._modules[key], seq._modules[keys[j]], uses):
                seq._modules[key] = ConvReLU(seq._modules[key])
                seq._modules[keys[j]] = nn.Identity()
                fused += 1
    return fused


def _fusable(conv, relu, uses: dict[int, int]) -> bool:
    return (type(conv) is nn.Conv2d and type(relu) is nn.ReLU and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str) and conv.weight.device.type == "cpu"
            and all(uses.get(id(m)) == 1 and not (m._forward_hooks or m._forward_pre_hooks) for m in (conv, relu)))


def _uses(module: nn.Module) -> dict[int, int]:
    """How many times each submodule appears in ``module`` (a shared module appears more than once)."""
    uses: dict[int, int] = {}
    for _, m in module.named_modules(remove_duplicate=False):
        uses[id(m)] = uses.get(id(m), 0) + 1
    return uses


def _foldable(conv, bn, uses: dict[int, int]) -> bool:
    return (type(conv) in CONVS and isinstance(bn, nn.modules.batchnorm._BatchNorm)
            and type(bn).forward is nn.modules.batchnorm._BatchNorm.forward
            and bn.track_running_stats and bn.running_mean is not None and bn.num_features == conv.out_channels
            and conv.weight.is_floating_point() and bn.running_mean.dtype == conv.weight.dtype
            and all(uses.get(id(m)) == 1 and not (m._forward_hooks or m._forward_pre_hooks) for m in (conv, bn)))


__all__ = ["InferenceCopy", "ConvReLU", "Fold"]
