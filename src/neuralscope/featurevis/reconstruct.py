"""What a unit saw in one input: deconvnet (Zeiler & Fergus, "Visualizing and Understanding
Convolutional Networks", ECCV 2014) and guided backpropagation (Springenberg et al.,
"Striving for Simplicity: The All Convolutional Net", ICLR 2015 workshop).

The gradient of the unit's activation is sent back to the input with every ``nn.ReLU``'s
backward rule replaced:

- ``"guided"``: pass the gradient where the forward input was positive *and* the gradient is
  positive;
- ``"deconvnet"``: pass the gradient where it is positive, whatever the forward input was;
- ``"gradient"``: the plain gradient (for comparison).

Only ``nn.ReLU`` modules are switched (functional ``F.relu`` calls keep the plain rule).
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from ..adapters.torch import model_device, preserve_model_state
from ..errors import InputShapeError
from ..result import Result
from .objectives import Objective, ObjectiveError, as_objective, channel
from .optimize import _Capture

METHODS = ("guided", "deconvnet", "gradient")


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


def _swap_relus(model: nn.Module, fn) -> list[nn.Module]:
    """Point each ``nn.ReLU``'s forward at ``fn`` (an instance attribute, removed afterwards;
    never in place, so the forward input stays available to the backward rule)."""
    swapped = []
    for m in model.modules():
        if isinstance(m, nn.ReLU) and "forward" not in m.__dict__:
            m.forward = fn.apply
            swapped.append(m)
    return swapped


def reconstruct(model: nn.Module, x: torch.Tensor, objective: Objective | str | None = None, *,
                layer: str | None = None, unit: int | None = None, method: str = "guided") -> "Reconstruction":
    """Project one unit's activation back to the input of ``x`` (one image or a batch).

    Give either ``objective`` (e.g. ``"features.8:5"``, a :func:`channel` or :func:`neuron`)
    or ``layer`` and ``unit``. Returns a :class:`Reconstruction` with the signed input-space
    map of the same shape as ``x``.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> r = reconstruct(DigitsCNN(), torch.rand(1, 1, 8, 8), "features.8:3")
        >>> r.maps.shape
        (1, 1, 8, 8)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}.")
    if objective is None:
        if layer is None or unit is None:
            raise ObjectiveError("Give an objective ('layer:channel') or both layer= and unit=.")
        objective = channel(layer, unit)
    objective = as_objective(objective)
    if objective.num_units != 1:
        raise ObjectiveError(f"reconstruct() shows one unit; the objective has {objective.num_units}.")
    if not torch.is_tensor(x) or x.dim() < 2:
        raise InputShapeError("reconstruct() needs an input tensor with a batch dimension, e.g. (1, C, H, W).")
    dev = model_device(model)
    with preserve_model_state(model):
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        swapped = []
        if method != "gradient":
            swapped = _swap_relus(model, _GuidedReLU if method == "guided" else _DeconvReLU)
        cap = None
        try:
            cap = _Capture(model, objective.layers)
            inp = x.detach().to(dev).float().requires_grad_(True)
            acts = cap.run(inp, checked=True)
            objective.check(acts)
            vals = objective.unit_values(acts)[:, 0]
            (grad,) = torch.autograd.grad(vals.sum(), inp)
        finally:
            if cap is not None:
                cap.remove()
            for m in swapped:
                del m.forward
    return Reconstruction(x.detach().float().cpu().numpy(), grad.detach().cpu().numpy(), objective.unit_labels()[0],
                          method, vals.detach().cpu().numpy())


class Reconstruction(Result):
    """Input-space maps of one unit (``maps``, same shape as ``inputs``) and its activations.

    Example:
        >>> r = Reconstruction(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 4, 4)), "a:0", "guided", np.ones(1))
        >>> r.to_dict()["method"]
        'guided'
    """

    kind = "unit_reconstruction"
    schema = {"kind": "str", "label": "str", "method": "str", "inputs": "float[b, ...]", "maps": "float[b, ...]",
              "values": "float[b]"}

    def __init__(self, inputs: np.ndarray, maps: np.ndarray, label: str, method: str, values: np.ndarray):
        self.inputs, self.maps, self.label, self.method, self.values = inputs, maps, label, method, values

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "method": self.method, "inputs": self.inputs,
                "maps": self.maps, "values": self.values}

    def plot(self, ax=None, example: int = 0):
        """Input beside the signed reconstruction (diverging map centred at zero)."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm

        fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), constrained_layout=True) if ax is None else \
            (np.atleast_1d(ax)[0].figure, np.atleast_1d(ax))
        img = self.inputs[example]
        m = self.maps[example]
        if img.shape[0] == 1:
            axes[0].imshow(img[0], cmap="gray", interpolation="nearest")
        else:
            lo, hi = img.min(), img.max()
            axes[0].imshow(np.moveaxis((img - lo) / (hi - lo + 1e-12), 0, -1))
        axes[0].set_title(f"input (activation {self.values[example]:.3g})", fontsize=9)
        sig = m.sum(0)
        lim = float(np.abs(sig).max()) or 1.0
        im = axes[1].imshow(sig, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), interpolation="nearest")
        axes[1].set_title(f"{self.method} reconstruction of {self.label}", fontsize=9)
        fig.colorbar(im, ax=axes[1], shrink=0.85, label="signed contribution (summed over channels)")
        for a in axes:
            a.set_xticks([])
            a.set_yticks([])
        return axes
