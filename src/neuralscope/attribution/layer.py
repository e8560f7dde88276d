"""Layer and neuron attribution.

* :class:`LayerIntegratedGradients` / :class:`LayerGradientXActivation` attribute the
  target to the units of a hidden layer (also the path to token attributions through an
  embedding layer, see :mod:`neuralscope.attribution.text`).
* :class:`NeuronModel` turns "explain neuron ``i`` of layer ``L``" into an ordinary target,
  so every input-attribution method can explain a neuron instead of an output.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.base import Inputs
from ..adapters.torch import TorchAdapter, replace_first_tensor, resolve_layer
from ..errors import InputShapeError, TargetError
from .base import AUTO_MAX_STEPS, Method, Target, auto_steps, chunks
from .gradient import completeness_error, path_points


def _repeat_inputs(x: Inputs, k: int) -> Inputs:
    """Every batched tensor of ``x`` stacked ``k`` times along the batch (repeat-major)."""
    rep = lambda t: t.repeat(k, *[1] * (t.dim() - 1)) if torch.is_tensor(t) and t.dim() > 0 else t
    return Inputs(tuple(rep(a) for a in x.args), {key: rep(v) for key, v in x.kwargs.items()})


def _rows(x: Inputs, rows: torch.Tensor, n: int) -> Inputs:
    """The examples ``rows`` of every tensor of ``x`` that has the batch (size ``n``) first."""
    take = lambda t: t[rows.to(t.device)] if torch.is_tensor(t) and t.dim() and t.shape[0] == n else t
    return Inputs(tuple(take(a) for a in x.args), {key: take(v) for key, v in x.kwargs.items()})


def layer_activations(model: nn.Module, inputs: Any, layer: Any):
    """``(output, activation)`` of ``layer`` for ``inputs`` (no gradients; the last call of
    a layer that runs more than once)."""
    adapter = TorchAdapter(model)
    name, _ = adapter.layer(layer)
    with torch.no_grad():
        rec = adapter.record(inputs, name)
    if not rec.outputs[name]:
        raise InputShapeError(f"Layer {name!r} did not run during the forward pass.")
    return rec.output, rec.outputs[name][-1].detach()


def _with_layer(adapter: TorchAdapter, name: str, x: Inputs, value: torch.Tensor):
    """The model's output on ``x`` with layer ``name``'s output replaced by ``value``."""
    return adapter.record(x, [], replace={name: lambda out: replace_first_tensor(out, value)}).output


class LayerMethod(Method):
    """A method that attributes the target to the units of a hidden layer (``layer``: a
    name, module or type resolving to one layer) for any inputs the model takes (tensors,
    token ids, dicts of tensors): attributions have the layer output's shape."""

    attributes_layer = True

    def __init__(self, model: nn.Module, layer: Any, **options):
        super().__init__(model, **options)
        self.layer = layer

    def _activations(self, x: Inputs, target: Target) -> tuple[str, Any, torch.Tensor]:
        """``(layer name, model output, layer output)`` on ``x``, the target resolved."""
        name, _ = self.adapter.layer(self.layer)
        out, a_x = layer_activations(self.model, x, name)
        target.resolve(out)
        return name, out, a_x


class LayerIntegratedGradients(LayerMethod):
    """Integrated Gradients at a hidden layer (Sundararajan et al. 2017, arXiv:1703.01365;
    the layer form of Captum's LayerIntegratedGradients): the layer's output is moved along
    the straight path from its value for ``baseline_inputs`` (or zeros) to its value for
    the inputs. Attributions have the layer output's shape and add up to
    ``f(x) - f(x with the layer at its baseline)`` (``metrics["completeness_error"]``);
    ``steps="auto"`` follows the one rule of
    :func:`~neuralscope.attribution.base.auto_steps` (16 steps, doubled per example while
    its error is above ``tolerance``, at most ``max_steps``), as input Integrated Gradients does.

    Works for any inputs the model takes (tensors, token ids, dicts of tensors).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> r = LayerIntegratedGradients(net, "features.6", steps=32).attribute(net.example_input(2), target=1)
        >>> r.attributions.shape
        (2, 32, 4, 4)
    """

    name = "layer_integrated_gradients"
    paper = "Sundararajan, Taly, Yan 2017, arXiv:1703.01365"

    def __init__(self, model: nn.Module, layer: Any, baseline_inputs: Any = None, steps: int | str = "auto",
                 rule: str = "gausslegendre", tolerance: float = 0.01, max_steps: int = AUTO_MAX_STEPS,
                 memory_budget: int | None = None):
        super().__init__(model, layer, steps=steps, rule=rule)
        if not (steps == "auto" or isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be a positive integer or 'auto', not {steps!r}.")
        self.baseline_inputs = baseline_inputs
        self.steps, self.rule, self.memory_budget = steps, rule, memory_budget
        self.tolerance, self.max_steps = tolerance, max_steps
        path_points(2, rule)

    def _attribute(self, x: Inputs, target: Target):
        name, out, a_x = self._activations(x, target)
        if self.baseline_inputs is None:
            a_b = torch.zeros_like(a_x)
        else:
            _, a_b = layer_activations(self.model, self.adapter.checked_inputs(self.baseline_inputs), name)
            if a_b.shape != a_x.shape:
                raise InputShapeError(
                    f"The baseline inputs give layer {name!r} shape {tuple(a_b.shape)}, the inputs "
                    f"{tuple(a_x.shape)}; they must match.")
        n = a_x.shape[0]
        deltas: dict[int, torch.Tensor] = {}

        def integrate(rows: torch.Tensor | None, steps: int):
            xs, ax, ab, t = (x, a_x, a_b, target) if rows is None else (
                _rows(x, rows, n), a_x[rows], a_b[rows], target.subset(rows))
            attr, fx, fb = _layer_ig(self.adapter, name, xs, ax, ab, t, steps, self.rule, self.memory_budget)
            delta = (fx - fb).double()
            for i, d in zip(range(n) if rows is None else rows.tolist(), delta):
                deltas[i] = d
            return attr, completeness_error(attr, delta)

        if self.steps == "auto":
            attr, err, used = auto_steps(integrate, n, tolerance=self.tolerance, max_steps=self.max_steps)
        else:
            attr, err = integrate(None, int(self.steps))
            used = torch.full((n,), int(self.steps))
        delta = torch.stack([deltas[i] for i in range(n)])
        metrics = {"completeness_error": err.cpu().numpy(), "output_difference": delta.cpu().numpy(),
                   "steps": used.numpy()}
        return attr, metrics, {"outputs": out, "layer": name}


def _layer_ig(adapter: TorchAdapter, name: str, x: Inputs, a_x, a_b, target: Target, steps, rule, memory_budget):
    alphas, weights = path_points(steps, rule)
    n = a_x.shape[0]
    per_row = max(1, a_x[:1].numel() * a_x.element_size() * 40)
    from .base import memory_budget as _budget

    rows = max(1, _budget(a_x.device, memory_budget) // per_row)
    k_per = max(1, rows // n)
    total = torch.zeros_like(a_x, dtype=torch.float64)
    for sl in chunks(steps, k_per):
        a = alphas[sl].to(a_x.device, a_x.dtype)
        k = a.shape[0]
        pts = (a_b[None] + a.view(-1, *[1] * a_x.dim()) * (a_x - a_b)[None]).reshape(k * n, *a_x.shape[1:])
        pts = pts.detach().requires_grad_(True)
        with torch.enable_grad():
            out = _with_layer(adapter, name, _repeat_inputs(x, k), pts)
            s = target.scores(out, torch.arange(n, device=a_x.device).repeat(k))
            (g,) = torch.autograd.grad(s.sum(), pts)
        w = weights[sl].to(a_x.device, torch.float64).view(-1, *[1] * a_x.dim())
        total += (g.double().reshape(k, *a_x.shape) * w).sum(0)
    with torch.no_grad():
        fx = target.scores(_with_layer(adapter, name, x, a_x)).double()
        fb = target.scores(_with_layer(adapter, name, x, a_b)).double()
    return (total * (a_x - a_b).double()).float(), fx, fb


class LayerGradientXActivation(LayerMethod):
    """Gradient of the target w.r.t. a layer's output times that output (the layer form of
    input x gradient; Shrikumar et al. 2016, arXiv:1605.01713).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> LayerGradientXActivation(net, "body.1").attribute(torch.rand(2, 64)).attributions.shape
        (2, 128)
    """

    name = "layer_gradient_x_activation"
    paper = "Shrikumar et al. 2016, arXiv:1605.01713"

    def _attribute(self, x: Inputs, target: Target):
        name, out, a_x = self._activations(x, target)
        leaf = a_x.clone().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(target.scores(_with_layer(self.adapter, name, x, leaf)).sum(), leaf)
        return g * a_x, {}, {"outputs": out, "layer": name}


class NeuronModel(nn.Module):
    """Wrap ``model`` so that its output is ``layer``'s output flattened to ``(B, units)``;
    a neuron index (flat, or a tuple indexing one example's layer output) then works as an
    ordinary class target for every attribution method.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> from neuralscope.attribution.gradient import Saliency
        >>> net = DigitsCNN().eval()
        >>> wrapped = NeuronModel(net, "features.6")
        >>> x = net.example_input(1)
        >>> Saliency(wrapped).attribute(x, target=wrapped.flat_index((3, 1, 1), example=x)).attributions.shape
        (1, 1, 8, 8)
    """

    def __init__(self, model: nn.Module, layer: Any):
        super().__init__()
        self.inner = model
        self.layer_name, self.module = resolve_layer(model, layer)
        self._unit_shape: tuple | None = None

    def forward(self, *args, **kwargs):
        name = self.layer_name
        rec = TorchAdapter(self.inner).record(Inputs(args, kwargs), name)
        if not rec.outputs[name]:
            raise InputShapeError(f"Layer {name!r} did not run during the forward pass.")
        v = rec.outputs[name][-1]
        self._unit_shape = tuple(v.shape[1:])
        return v.reshape(v.shape[0], -1)

    def flat_index(self, index: int | Sequence[int], example: torch.Tensor | None = None) -> int:
        """The flat unit index of ``index`` (a tuple into one example's layer output)."""
        if isinstance(index, int):
            return index
        if self._unit_shape is None:
            if example is None:
                raise TargetError("Run the wrapped model once (or pass example=) before converting a tuple index.")
            with torch.no_grad():
                self(example[:1])
        shape = self._unit_shape
        if len(index) != len(shape) or any(not 0 <= i < s for i, s in zip(index, shape)):
            raise TargetError(f"Neuron {tuple(index)} is not in layer {self.layer_name!r} with unit shape {shape}.")
        return int(np.ravel_multi_index(tuple(index), shape))


__all__ = ["LayerMethod", "LayerIntegratedGradients", "LayerGradientXActivation", "NeuronModel", "layer_activations"]
