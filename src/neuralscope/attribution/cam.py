"""The CAM family: class activation maps from one layer's activations, upsampled to the
input size.

:class:`BaseCAM` does the capture (one forward, and a backward that stops at the chosen
layer), target handling, token reshaping for ViT-style layers and upsampling once; each
variant overrides one method: :meth:`BaseCAM.weights` (one weight per channel) or
:meth:`BaseCAM.cam` (the whole map).

Maps are returned unnormalised (after the ReLU of the papers), so examples stay comparable;
``extras["cam"]`` holds the low-resolution map before the ReLU.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..adapters.torch import first_tensor, forward_with_context, replace_first_tensor, resolve_layer
from ..errors import InputShapeError, TargetError
from ..progress import progress
from .base import CPU_FORWARD_BUDGET, Method, Target, chunks, internal_batch_size, memory_budget
from .fastpath import forward_model, layer_tail

Reshape = Callable[[torch.Tensor], torch.Tensor]


def vit_reshape(tokens: torch.Tensor) -> torch.Tensor:
    """``(B, N, C)`` tokens of a ViT-style layer -> ``(B, C, g, g)``: the class token (and
    any other extra leading tokens) dropped, the remaining ``g*g`` patches laid on their grid."""
    if tokens.dim() != 3:
        raise InputShapeError(f"reshape='vit' expects (batch, tokens, channels), got {tuple(tokens.shape)}.")
    n = tokens.shape[1]
    g = int(math.isqrt(n))
    while g > 0 and n - g * g > 8:  # at most a few register/class tokens in front
        g -= 1
    if g == 0 or g * g > n:
        raise InputShapeError(f"Cannot lay {n} tokens on a square grid; pass reshape=callable.")
    patches = tokens[:, n - g * g:]
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], g, g)


def default_cam_layer(model: nn.Module) -> str:
    """The last ``nn.Conv2d`` of the model (the usual CAM layer); an adapter view (a Keras
    model's :class:`~neuralscope.adapters.keras_autodiff.KerasFunction`) names its own."""
    own = getattr(model, "default_cam_layer", None)
    if callable(own):
        return own()
    convs = ([n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
             or [n for n, m in model.named_modules() if isinstance(m, nn.Conv1d)])  # signal models
    if not convs:
        raise InputShapeError(
            "The model has no nn.Conv2d or nn.Conv1d layer to take a CAM from; pass layer=<name> "
            "(and reshape='vit' for transformer tokens).")
    return convs[-1]


def _first(out):
    return out if torch.is_tensor(out) else first_tensor(out)


def _replace_first(out, new):
    try:
        return replace_first_tensor(out, new)
    except InputShapeError:
        raise InputShapeError(f"Cannot take a CAM from a layer that returns {type(out).__name__}.") from None


def _cut(kept: dict) -> Callable[[Any], Any]:
    """A replacement that hands the rest of the model a leaf copy of the layer's output, so
    the backward pass stops at the layer (``kept["leaf"]`` is the leaf of the last call)."""
    def cut(output):
        kept["leaf"] = _first(output).detach().requires_grad_(True)
        return _replace_first(output, kept["leaf"])
    return cut


class BaseCAM(Method):
    """Shared machinery of the CAM methods (see the module docstring).

    Arguments: ``layer`` (name, module or type; default the last Conv2d), ``reshape``
    (``None``, ``"vit"`` or a callable turning the layer's output into ``(B, C, h, w)``),
    ``memory_budget`` (bytes per internal batch for the perturbation CAMs).
    """

    signed = False
    uses_gradients = True

    def __init__(self, model: nn.Module, layer: Any = None, reshape: str | Reshape | None = None,
                 memory_budget: int | None = None, show_progress: bool | None = None):
        super().__init__(model, layer=layer, reshape=reshape)
        self.layer_spec, self.memory_budget, self.show_progress = layer, memory_budget, show_progress
        if reshape == "vit":
            reshape = vit_reshape
        elif reshape is not None and not callable(reshape):
            raise ValueError(f"reshape must be None, 'vit' or a callable, not {reshape!r}.")
        self.reshape = reshape

    # -- the one thing variants change -----------------------------------------------------
    def weights(self, A: torch.Tensor, G: torch.Tensor | None, ctx: dict) -> torch.Tensor:
        """One weight per channel ``(B, C)`` from activations ``A`` and gradients ``G``."""
        raise NotImplementedError

    def cam(self, A: torch.Tensor, G: torch.Tensor | None, ctx: dict) -> torch.Tensor:
        """The low-resolution map ``(B, h, w)`` before the ReLU."""
        w = self.weights(A, G, ctx)
        return torch.einsum("bc,bc...->b...", w, A)

    # -- shared -----------------------------------------------------------------------------
    def _spatial(self, t: torch.Tensor, name: str, module: nn.Module | None = None) -> torch.Tensor:
        if self.reshape is not None:
            t = self.reshape(t)
        if t.dim() < 3:
            raise InputShapeError(
                f"Layer {name!r} outputs shape {tuple(t.shape)}, which has no spatial dimensions; "
                "CAM needs (batch, channels, height, width): pick a convolutional layer.")
        if t.dim() == 3 and self.reshape is None and not _one_d(module):
            raise InputShapeError(
                f"Layer {name!r} outputs shape {tuple(t.shape)}, which looks like (batch, tokens, channels) "
                "without spatial dimensions; pass reshape='vit' for transformer tokens (or reshape=lambda t: t "
                "if it really is (batch, channels, length)).")
        return t

    def _attribute(self, x, target):
        name, module = self.adapter.layer(self.layer_spec if self.layer_spec is not None
                                          else default_cam_layer(self.model))
        self.layer_name = name
        cut: dict = {}
        with torch.enable_grad() if self.uses_gradients else torch.no_grad():
            rec = self.adapter.record(x, name, replace={name: _cut(cut)} if self.uses_gradients else None)
            out = rec.output
            target.resolve(out)
            if not rec.outputs[name]:
                raise InputShapeError(f"Layer {name!r} did not run during the forward pass.")
            raw = cut["leaf"] if self.uses_gradients else rec.outputs[name][-1]
            G = None
            if self.uses_gradients:
                scores = target.scores(out)
                (graw,) = torch.autograd.grad(scores.sum(), raw)
                G = self._spatial(graw, name, module).float()
        A = self._spatial(raw.detach(), name, module).float()
        ctx = {"x": x, "target": target, "module": module, "name": name, "output": out}
        low = self.cam(A, G, ctx).float()
        up = upsample(low.clamp_min(0), x.shape[2:]) if x.dim() >= 4 or x.dim() == low.dim() + 1 else low.clamp_min(0)
        return up, {}, {"outputs": first_tensor(out).detach(), "cam": low.detach().cpu().numpy(), "layer": name}


_ONE_D = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)


def _one_d(module: nn.Module | None) -> bool:
    """Whether a layer outputs ``(batch, channels, length)``: a 1-D layer, or a block of
    them (a ``Sequential`` of Conv1d layers) with no 2-D convolution inside."""
    if module is None:
        return False
    if getattr(module, "one_d", False):  # a Keras 1-D convolution model's layer (KerasFunction's LayerPoint)
        return True
    inner = list(module.modules())
    return isinstance(module, _ONE_D) or (any(isinstance(m, nn.Conv1d) for m in inner)
                                          and not any(isinstance(m, nn.Conv2d) for m in inner))


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling of ``(B, h, w)`` maps to ``size`` (half-pixel centres)."""
    size = tuple(int(s) for s in size)
    if maps.dim() == 2:  # 1-D maps (B, L)
        return F.interpolate(maps[:, None], size=size[-1:], mode="linear", align_corners=False)[:, 0]
    if tuple(maps.shape[-2:]) == size[-2:]:
        return maps
    return F.interpolate(maps[:, None], size=size[-2:], mode="bilinear", align_corners=False)[:, 0]


def _spatial_dims(A):
    return tuple(range(2, A.dim()))


class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391): channel weights are the
    spatially averaged gradients of the target.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> GradCAM(net, layer="features").attribute(net.example_input(2)).attributions.shape
        (2, 8, 8)
    """

    name = "grad_cam"
    paper = "Selvaraju et al. 2017, arXiv:1610.02391"

    def weights(self, A, G, ctx):
        return G.mean(_spatial_dims(G))


class CAM(BaseCAM):
    """Class Activation Mapping (Zhou et al. 2016, arXiv:1512.04150): for a network that
    ends in global average pooling and a linear layer, the map is the linear layer's
    weights for the target class applied to the last feature maps. ``fc`` names the linear
    layer (default: the model's last ``nn.Linear``).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> CAM(net, layer="features").attribute(net.example_input(1), target=2).attributions.shape
        (1, 8, 8)
    """

    name = "cam"
    paper = "Zhou et al. 2016, arXiv:1512.04150"
    uses_gradients = False

    def __init__(self, model: nn.Module, layer: Any = None, fc: Any = None, **kw):
        super().__init__(model, layer=layer, **kw)
        self.fc_spec = fc

    def weights(self, A, G, ctx):
        if self.fc_spec is None:
            linears = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise InputShapeError("CAM needs a final nn.Linear layer; this model has none (use Grad-CAM).")
            fc = linears[-1]
        else:
            fc = resolve_layer(self.model, self.fc_spec)[1]
        t: Target = ctx["target"]
        if t.indices is None:
            raise TargetError("CAM explains a class index; a callable target needs Grad-CAM.")
        W = fc.weight.detach().float()
        if W.shape[1] != A.shape[1]:
            raise InputShapeError(
                f"CAM's linear layer takes {W.shape[1]} features but layer {ctx['name']!r} has {A.shape[1]} channels; "
                "CAM needs global average pooling between them (use Grad-CAM otherwise).")
        return W[t.indices.to(W.device)]


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018, arXiv:1710.11063, eq. 19): positive gradients
    weighted per position by second/third-order terms (exponential-free closed form).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> GradCAMPlusPlus(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "grad_cam_plus_plus"
    paper = "Chattopadhyay et al. 2018, arXiv:1710.11063"

    def __init__(self, model: nn.Module, layer: Any = None, normalize_alphas: bool = False, **kw):
        super().__init__(model, layer=layer, **kw)
        self.options["normalize_alphas"] = self.normalize_alphas = normalize_alphas

    def weights(self, A, G, ctx):
        """``normalize_alphas=True`` divides each channel's alphas by their sum over the
        positions, as tf-keras-vis does (not in the paper, nor in pytorch-grad-cam)."""
        dims = _spatial_dims(A)
        g2 = G ** 2
        g3 = g2 * G
        sum_a = A.sum(dims, keepdim=True)
        aij = g2 / (2 * g2 + sum_a * g3 + 1e-6)
        aij = torch.where(G != 0, aij, torch.zeros_like(aij))
        if self.normalize_alphas:
            total = aij.sum(dims, keepdim=True)
            aij = aij / torch.where(total == 0, torch.ones_like(total), total)
        return (G.clamp_min(0) * aij).sum(dims)


class XGradCAM(BaseCAM):
    """XGrad-CAM (Fu et al. 2020, arXiv:2008.02312): gradients weighted by the normalised
    activations.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> XGradCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "xgrad_cam"
    paper = "Fu et al. 2020, arXiv:2008.02312"

    def weights(self, A, G, ctx):
        dims = _spatial_dims(A)
        return (G * A / (A.sum(dims, keepdim=True) + 1e-7)).sum(dims)


class LayerCAM(BaseCAM):
    """LayerCAM (Jiang et al. 2021, IEEE TIP 30:5875): every position weighted by its own
    positive gradient.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> LayerCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "layer_cam"
    paper = "Jiang et al. 2021, IEEE Trans. Image Process. 30:5875-5888"

    def cam(self, A, G, ctx):
        return (G.clamp_min(0) * A).sum(1)


class EigenCAM(BaseCAM):
    """Eigen-CAM (Muhammad and Yeasin 2020, arXiv:2008.00299): the activations projected on
    their first principal component (class-agnostic). Unlike pytorch-grad-cam we fix the
    sign of the component so that the map correlates positively with the mean activation
    (an SVD's sign is arbitrary).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> EigenCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "eigen_cam"
    paper = "Muhammad and Yeasin 2020, arXiv:2008.00299"
    uses_gradients = False

    def cam(self, A, G, ctx):
        b, c = A.shape[:2]
        spatial = A.shape[2:]
        X = A.reshape(b, c, -1).transpose(1, 2).double()  # (B, hw, C)
        X = X - X.mean(1, keepdim=True)
        _, _, Vh = torch.linalg.svd(X, full_matrices=False)
        proj = X @ Vh[:, 0, :, None]  # (B, hw, 1)
        proj = proj[..., 0]
        mean_act = A.reshape(b, c, -1).mean(1).double()
        corr = ((proj - proj.mean(1, keepdim=True)) * (mean_act - mean_act.mean(1, keepdim=True))).sum(1)
        sign = torch.where(corr < 0, -1.0, 1.0).to(proj.dtype)
        return (proj * sign[:, None]).reshape(b, *spatial).float()


class ScoreCAM(BaseCAM):
    """Score-CAM (Wang et al. 2020, arXiv:1910.01279): each channel, upsampled and scaled
    to [0, 1], masks the input; the target scores of the masked inputs, softmaxed over the
    channels, are the channel weights. Masked inputs run in internal batches sized from the
    memory budget; channels with a constant map give the same (all-zero) mask and are
    scored once.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> ScoreCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "score_cam"
    paper = "Wang et al. 2020, arXiv:1910.01279"
    uses_gradients = False

    def __init__(self, model: nn.Module, layer: Any = None, weighting: str = "channel_softmax", **kw):
        """``weighting="channel_softmax"`` (default, as pytorch-grad-cam): the masked inputs'
        target scores softmaxed over the channels; ``"class_probability"`` (the paper's
        Algorithm 1, as tf-keras-vis): each masked input's softmax probability of the target
        class (class targets only)."""
        super().__init__(model, layer=layer, **kw)
        if weighting not in ("channel_softmax", "class_probability"):
            raise ValueError(f"weighting must be 'channel_softmax' or 'class_probability', not {weighting!r}.")
        self.options["weighting"] = self.weighting = weighting

    def weights(self, A, G, ctx):
        x, target = ctx["x"], ctx["target"]
        b, c = A.shape[:2]
        up = F.interpolate(A, size=x.shape[2:], mode="bilinear", align_corners=True) if A.dim() == 4 else \
            F.interpolate(A, size=x.shape[2:], mode="linear", align_corners=True)
        flat = up.reshape(b, c, -1)
        lo, hi = flat.min(-1).values, flat.max(-1).values
        spread = [1] * (up.dim() - 2)  # one per spatial dimension: images and signals
        masks = (up - lo.view(b, c, *spread)) / (hi - lo + 1e-8).view(b, c, *spread)
        constant = (hi - lo) <= 0
        scores = torch.empty(b, c, device=x.device, dtype=torch.float32)
        per = internal_batch_size(self.model, x, backward=False, budget=self.memory_budget)
        todo_ex, todo_ch = (~constant).nonzero(as_tuple=True)  # (example, channel) pairs, example-major
        prob = self.weighting == "class_probability"
        run = forward_model(self.model, x[:1], first_tensor(ctx["output"])[:1].detach(), len(todo_ex))
        with torch.no_grad():
            for i in constant.any(1).nonzero()[:, 0].tolist():  # all-zero masks: one forward per example
                _, s = _scores(run, torch.zeros_like(x[i:i + 1]), target, torch.tensor([i]), prob)
                scores[i, constant[i]] = s.float()
            pieces = list(chunks(len(todo_ex), per))
            for sl in progress(pieces, desc="score-cam masks", enabled=self.show_progress if self.show_progress else None):
                ex, chs = todo_ex[sl], todo_ch[sl]
                batch = x[ex] * masks[ex, chs][:, None].to(x.dtype)
                _, s = _scores(run, batch, target, ex, prob)
                scores[ex, chs] = s.float()
        ctx["channel_scores"] = scores
        return scores if self.weighting == "class_probability" else torch.softmax(scores, dim=-1)


def _scores(run, batch, target: Target, rows, probability: bool = False):
    """``run`` is the model's :func:`~neuralscope.attribution.fastpath.forward_model`;
    ``probability``: the target's softmax probability instead of its score."""
    out = run(batch)
    if probability:
        if target.indices is None:
            raise TargetError("weighting='class_probability' needs a class target, not a callable.")
        p = torch.softmax(first_tensor(out).float(), dim=1)
        return out, p.gather(1, target.indices.to(p.device)[rows.to(p.device)][:, None])[:, 0]
    return out, target.scores(out, rows)


class AblationCAM(BaseCAM):
    """Ablation-CAM (Desai and Ramaswamy 2020, WACV): a channel's weight is the relative drop
    of the target score when that channel is set to zero at the layer,
    ``(y - y_without_k) / y``. Where the model can be traced, only the network after the
    layer runs on the ablated outputs (:func:`~neuralscope.attribution.fastpath.layer_tail`);
    otherwise ablated copies of the whole forward pass run in internal batches from the
    memory budget.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> AblationCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 8, 8)
    """

    name = "ablation_cam"
    paper = "Desai and Ramaswamy 2020, WACV, doi:10.1109/WACV45572.2020.9093360"
    uses_gradients = False

    def weights(self, A, G, ctx):
        x, target, module = ctx["x"], ctx["target"], ctx["module"]
        b, c = A.shape[:2]
        base = target.scores(ctx["output"]).float()
        per = max(1, internal_batch_size(self.model, x, backward=False, budget=self.memory_budget))
        drops = torch.empty(b, c, device=x.device)
        channel_dim = 1 if self.reshape is None else -1
        state = {}

        def ablate(output):
            t = _first(output).clone()
            chs = state["chs"]
            idx = torch.arange(t.shape[0], device=t.device)
            if channel_dim == 1:
                t[idx, chs] = 0
            else:  # tokens (B, N, C): the channel is the last dimension
                t[idx, :, chs] = 0
            return _replace_first(output, t)

        reference = first_tensor(ctx["output"]).detach()
        tail = layer_tail(self.model, module, x, reference, b * c) if self.reshape is None else None
        if tail is not None and tail.layer_output.shape[:2] == (b, c):
            return self._tail_weights(tail, base, target, per)
        with self.adapter.recording(ctx["name"], keep="none", replace={ctx["name"]: ablate}), torch.no_grad():
            todo = [(i, ch) for i in range(b) for ch in range(c)]
            pieces = list(chunks(len(todo), per))
            for sl in progress(pieces, desc="ablation-cam", enabled=self.show_progress if self.show_progress else None):
                items = todo[sl]
                ex = torch.tensor([i for i, _ in items], device=x.device)
                state["chs"] = torch.tensor([ch for _, ch in items], device=x.device)
                _, s = _scores(lambda b: forward_with_context(self.model, b), x[ex], target, ex)
                drops[ex, state["chs"]] = s.float()
        return _relative_drop(base, drops)

    def _tail_weights(self, tail, base, target, per):
        """Ablate each channel in the layer's output and run only what comes after it."""
        A = tail.layer_output
        b, c = A.shape[:2]
        drops = torch.empty(b, c, device=A.device)
        # the tail holds less per row than the whole model: as many rows as the budget allows
        limit = memory_budget(A.device, self.memory_budget)
        if self.memory_budget is None and A.device.type == "cpu":
            limit = min(limit, CPU_FORWARD_BUDGET)
        per = max(per, min(b * c, limit // tail.bytes_per_row))
        todo = [(i, ch) for i in range(b) for ch in range(c)]
        with torch.no_grad():
            for sl in progress(list(chunks(len(todo), per)), desc="ablation-cam",
                               enabled=self.show_progress if self.show_progress else None):
                ex = torch.tensor([i for i, _ in todo[sl]], device=A.device)
                chs = torch.tensor([ch for _, ch in todo[sl]], device=A.device)
                rows = A[ex].clone()
                rows[torch.arange(len(ex), device=A.device), chs] = 0
                drops[ex, chs] = target.scores(tail(rows, ex), ex).float()
        return _relative_drop(base, drops)


def _relative_drop(base: torch.Tensor, ablated: torch.Tensor) -> torch.Tensor:
    """``(y - y_without_k) / y`` per channel, with ``y`` kept away from zero."""
    denom = torch.where(base.abs() < 1e-7, torch.full_like(base, 1e-7), base)[:, None]
    return (base[:, None] - ablated) / denom


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM (Selvaraju et al. 2017): Guided Backpropagation multiplied by the
    upsampled Grad-CAM map; input-shaped and signed.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> GuidedGradCAM(net).attribute(net.example_input(1)).attributions.shape
        (1, 1, 8, 8)
    """

    name = "guided_grad_cam"
    paper = "Selvaraju et al. 2017, arXiv:1610.02391"
    signed = True

    def _attribute(self, x, target):
        from .base import input_gradients
        from .gradient import relu_override

        up, metrics, extras = super()._attribute(x, target)
        with relu_override(self.model, "guided"):
            g, _, _ = input_gradients(self.model, x, target)
        return g * up[:, None].to(g.dtype), metrics, extras


__all__ = ["BaseCAM", "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "EigenCAM", "ScoreCAM",
           "AblationCAM", "GuidedGradCAM", "vit_reshape", "upsample", "default_cam_layer"]
