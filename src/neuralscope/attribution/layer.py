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

from ..adapters.torch import as_inputs, first_tensor, forward_with_context, resolve_layer
from ..errors import InputShapeError, TargetError, check_finite
from .base import Target, _jsonable_options, _np, chunks, guard
from .gradient import completeness_error, path_points


def _repeat_inputs(inputs: Any, k: int) -> Any:
    """Every tensor of ``inputs`` stacked ``k`` times along the batch (repeat-major)."""
    args, kwargs = as_inputs(inputs)
    rep = lambda t: t.repeat(k, *[1] * (t.dim() - 1)) if torch.is_tensor(t) and t.dim() > 0 else t
    if kwargs:
        return {key: rep(v) for key, v in kwargs.items()}
    return tuple(rep(a) for a in args) if len(args) > 1 else rep(args[0])


def _batch_of(inputs: Any) -> int:
    args, kwargs = as_inputs(inputs)
    for t in list(args) + list(kwargs.values()):
        if torch.is_tensor(t):
            return int(t.shape[0])
    raise InputShapeError("The inputs hold no tensor.")


def _check_inputs(inputs: Any) -> None:
    args, kwargs = as_inputs(inputs)
    for t in list(args) + list(kwargs.values()):
        if torch.is_tensor(t):
            check_finite(t, "The inputs")


class _LayerSwap:
    """A forward hook that records a layer's output or replaces it by a given tensor."""

    def __init__(self, module):
        self.replacement, self.value = None, None
        self.handle = module.register_forward_hook(self.hook)

    def hook(self, module, args, output):
        t = output if torch.is_tensor(output) else first_tensor(output)
        if self.replacement is not None:
            new = self.replacement
            if torch.is_tensor(output):
                return new
            return (new,) + tuple(output[1:])
        self.value = t.detach()
        return None

    def remove(self):
        self.handle.remove()


def layer_activations(model: nn.Module, inputs: Any, layer: Any):
    """``(output, activation)`` of ``layer`` for ``inputs`` (no gradients)."""
    name, module = resolve_layer(model, layer)
    swap = _LayerSwap(module)
    try:
        with torch.no_grad():
            out = forward_with_context(model, inputs)
    finally:
        swap.remove()
    if swap.value is None:
        raise InputShapeError(f"Layer {name!r} did not run during the forward pass.")
    return out, swap.value


class LayerIntegratedGradients:
    """Integrated Gradients at a hidden layer (Sundararajan et al. 2017, arXiv:1703.01365;
    the layer form of Captum's LayerIntegratedGradients): the layer's output is moved along
    the straight path from its value for ``baseline_inputs`` (or zeros) to its value for
    the inputs. Attributions have the layer output's shape and add up to
    ``f(x) - f(x with the layer at its baseline)`` (``metrics["completeness_error"]``);
    ``steps="auto"`` doubles the steps (from 16, for the whole batch) until that error is
    below ``tolerance`` for every example.

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
                 rule: str = "gausslegendre", tolerance: float = 0.01, max_steps: int = 512,
                 memory_budget: int | None = None):
        self.model, self.layer, self.baseline_inputs = model, layer, baseline_inputs
        self.steps, self.rule, self.memory_budget = steps, rule, memory_budget
        self.tolerance, self.max_steps = tolerance, max_steps
        path_points(2, rule)

    def attribute(self, inputs: Any, target: Any = None):
        from .result import Attribution

        _check_inputs(inputs)
        n = _batch_of(inputs)
        tgt = Target(target, n)
        with guard(self.model):
            name, module = resolve_layer(self.model, self.layer)
            out, a_x = layer_activations(self.model, inputs, module)
            tgt.resolve(out)
            if self.baseline_inputs is None:
                a_b = torch.zeros_like(a_x)
            else:
                _, a_b = layer_activations(self.model, self.baseline_inputs, module)
                if a_b.shape != a_x.shape:
                    raise InputShapeError(
                        f"The baseline inputs give layer {name!r} shape {tuple(a_b.shape)}, the inputs "
                        f"{tuple(a_x.shape)}; they must match.")
            steps = 16 if self.steps == "auto" else int(self.steps)
            while True:  # "auto": double the steps until every example is within tolerance
                attr, fx, fb = _layer_ig(self.model, module, inputs, a_x, a_b, tgt, steps, self.rule,
                                         self.memory_budget)
                delta = (fx - fb).double()
                err = completeness_error(attr, delta)
                if self.steps != "auto" or bool((err <= self.tolerance).all()) or steps * 2 > self.max_steps:
                    break
                steps *= 2
        return Attribution(
            attributions=_np(attr), inputs=None, method=self.name, targets=tgt.as_list(),
            outputs=_np(first_tensor(out)), options=_jsonable_options({"steps": self.steps, "rule": self.rule}),
            metrics={"completeness_error": err.cpu().numpy(), "output_difference": delta.cpu().numpy(),
                     "steps": np.full(n, steps)},
            signed=True, paper=self.paper, layer=name)

    __call__ = attribute


def _layer_ig(model, module, inputs, a_x, a_b, target: Target, steps, rule, memory_budget):
    alphas, weights = path_points(steps, rule)
    n = a_x.shape[0]
    per_row = max(1, a_x[:1].numel() * a_x.element_size() * 40)
    from .base import memory_budget as _budget

    rows = max(1, _budget(a_x.device, memory_budget) // per_row)
    k_per = max(1, rows // n)
    total = torch.zeros_like(a_x, dtype=torch.float64)
    swap = _LayerSwap(module)
    try:
        for sl in chunks(steps, k_per):
            a = alphas[sl].to(a_x.device, a_x.dtype)
            k = a.shape[0]
            pts = (a_b[None] + a.view(-1, *[1] * a_x.dim()) * (a_x - a_b)[None]).reshape(k * n, *a_x.shape[1:])
            pts = pts.detach().requires_grad_(True)
            swap.replacement = pts
            with torch.enable_grad():
                out = forward_with_context(model, _repeat_inputs(inputs, k))
                s = target.scores(out, torch.arange(n, device=a_x.device).repeat(k))
                (g,) = torch.autograd.grad(s.sum(), pts)
            w = weights[sl].to(a_x.device, torch.float64).view(-1, *[1] * a_x.dim())
            total += (g.double().reshape(k, *a_x.shape) * w).sum(0)
        with torch.no_grad():
            swap.replacement = a_x
            fx = target.scores(forward_with_context(model, inputs)).double()
            swap.replacement = a_b
            fb = target.scores(forward_with_context(model, inputs)).double()
    finally:
        swap.remove()
    return (total * (a_x - a_b).double()).float(), fx, fb


class LayerGradientXActivation:
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

    def __init__(self, model: nn.Module, layer: Any):
        self.model, self.layer = model, layer

    def attribute(self, inputs: Any, target: Any = None):
        from .result import Attribution

        _check_inputs(inputs)
        tgt = Target(target, _batch_of(inputs))
        with guard(self.model):
            name, module = resolve_layer(self.model, self.layer)
            out, a_x = layer_activations(self.model, inputs, module)
            tgt.resolve(out)
            leaf = a_x.clone().requires_grad_(True)
            swap = _LayerSwap(module)
            swap.replacement = leaf
            try:
                with torch.enable_grad():
                    out2 = forward_with_context(self.model, inputs)
                    (g,) = torch.autograd.grad(tgt.scores(out2).sum(), leaf)
            finally:
                swap.remove()
        return Attribution(attributions=_np(g * a_x), inputs=None, method=self.name, targets=tgt.as_list(),
                           outputs=_np(first_tensor(out)), signed=True, paper=self.paper, layer=name)

    __call__ = attribute


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
        store = {}

        def hook(m, a, out):
            store["v"] = out if torch.is_tensor(out) else first_tensor(out)

        h = self.module.register_forward_hook(hook)
        try:
            self.inner(*args, **kwargs)
        finally:
            h.remove()
        if "v" not in store:
            raise InputShapeError(f"Layer {self.layer_name!r} did not run during the forward pass.")
        v = store["v"]
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


__all__ = ["LayerIntegratedGradients", "LayerGradientXActivation", "NeuronModel", "layer_activations"]
