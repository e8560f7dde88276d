"""One entry point for every attribution method (:func:`explain`); several methods side by
side with their scores are :func:`~neuralscope.attribution.compare.compare`."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..adapters.torch import preserve_model_state
from ..errors import InputShapeError
from . import cam, gradient, layer as _layer, perturbation, shapley
from .result import Attribution

#: method name -> class; every class takes ``(model, **options)`` and has ``.attribute(x, target)``
METHODS: dict[str, type] = {
    "saliency": gradient.Saliency,
    "input_x_gradient": gradient.InputXGradient,
    "integrated_gradients": gradient.IntegratedGradients,
    "smoothgrad": gradient.SmoothGrad,
    "guided_backprop": gradient.GuidedBackprop,
    "deconvnet": gradient.Deconvnet,
    "cam": cam.CAM,
    "grad_cam": cam.GradCAM,
    "grad_cam_plus_plus": cam.GradCAMPlusPlus,
    "xgrad_cam": cam.XGradCAM,
    "layer_cam": cam.LayerCAM,
    "score_cam": cam.ScoreCAM,
    "ablation_cam": cam.AblationCAM,
    "eigen_cam": cam.EigenCAM,
    "guided_grad_cam": cam.GuidedGradCAM,
    "occlusion": perturbation.Occlusion,
    "feature_ablation": perturbation.FeatureAblation,
    "lime": perturbation.LIME,
    "kernel_shap": perturbation.KernelSHAP,
    "gradient_shap": perturbation.GradientSHAP,
    "exact_shapley": shapley.ExactShapley,
}
ALIASES = {"ig": "integrated_gradients", "gradcam": "grad_cam", "grad_cam++": "grad_cam_plus_plus",
           "gradcam++": "grad_cam_plus_plus", "scorecam": "score_cam", "eigencam": "eigen_cam",
           "layercam": "layer_cam", "xgradcam": "xgrad_cam", "ixg": "input_x_gradient", "shap": "kernel_shap",
           "smoothgrad_sq": "smoothgrad_sq", "vargrad": "vargrad", "gradient": "saliency",
           "shapley": "exact_shapley"}
LAYER_METHODS = {"layer_integrated_gradients": _layer.LayerIntegratedGradients,
                 "layer_gradient_x_activation": _layer.LayerGradientXActivation}


def method_names() -> list[str]:
    """Every name :func:`explain` accepts (without aliases)."""
    return sorted(set(METHODS) | {"smoothgrad_sq", "vargrad"} | set(LAYER_METHODS) | {"text"})


def make_method(model: nn.Module, method: str = "integrated_gradients", **options):
    """The method object for a name (``"smoothgrad_sq"`` and ``"vargrad"`` are SmoothGrad kinds)."""
    name = ALIASES.get(method, method)
    if name in ("smoothgrad_sq", "vargrad"):
        return gradient.SmoothGrad(model, kind=name, **options)
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(str(method), method_names(), n=3, cutoff=0.5)
        raise InputShapeError(f"Unknown attribution method {method!r}; "
                              + (f"did you mean {', '.join(map(repr, close))}? " if close else "")
                              + f"choose from {', '.join(method_names())}.")
    METHODS[name].check_options(options)
    return METHODS[name](model, **options)


def _is_token_input(inputs: Any) -> bool:
    if isinstance(inputs, dict) or (hasattr(inputs, "keys") and hasattr(inputs, "__getitem__")
                                    and not torch.is_tensor(inputs)):
        # token ids (Hugging Face style); a dict of floating tensors is a model with several inputs
        values = [inputs[k] for k in inputs.keys()]
        return "input_ids" in inputs.keys() or not all(map(_is_floating, values))
    return torch.is_tensor(inputs) and not inputs.is_floating_point() and inputs.dtype != torch.bool


def _is_floating(v: Any) -> bool:
    if torch.is_tensor(v):
        return v.is_floating_point()
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)


def explain(model: nn.Module, inputs: Any, target: Any = None, method: str = "integrated_gradients", *,
            layer: Any = None, neuron: Any = None, train_mode: bool = False, **options) -> Attribution:
    """Explain the model's outputs on a batch of inputs with one attribution method.

    ``target``: ``None`` (the predicted class), a class index, one index per example, or a
    callable ``output -> (N,)``. ``method``: see :func:`method_names` (gradient, CAM and
    perturbation families). ``layer``: the layer of a CAM method, or the hidden layer of
    ``layer_integrated_gradients`` / ``layer_gradient_x_activation``. ``neuron=(layer,
    index)`` explains one unit of a hidden layer instead of an output. Token ids (a long
    tensor or a dict with ``input_ids``) are attributed through the embedding layer
    (:func:`~neuralscope.attribution.text.explain_text`). Other ``options`` go to the method.

    ``model`` may be a Keras model (TensorFlow, JAX or torch backend): every method runs on it
    through :class:`~neuralscope.adapters.keras_autodiff.KerasFunction` with gradients from
    the Keras backend; layer names are Keras names; input-shaped maps of channels-last images
    come back channels-last like the inputs (``r.layout == "channels_last"``; CAM maps are
    ``(B, H, W)``); a callable target receives the output as a torch tensor; a ``neuron``
    index counts channels first. Guided Backprop, Deconvnet and Guided Grad-CAM are
    PyTorch-only. Several inputs (a tuple/list or a dict of floating arrays) give one map per
    input (:meth:`~neuralscope.attribution.result.Attribution.parts`).

    A model left in training mode is explained in evaluation mode (dropout off, batch-norm
    running statistics), so identical calls give identical maps; ``train_mode=True`` keeps
    the modes as they are. The model is left exactly as it was found (modes included), also
    when this raises.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> r = explain(net, net.example_input(2), method="grad_cam", layer="features")
        >>> r.attributions.shape, r.method
        ((2, 8, 8), 'grad_cam')
    """
    from ..adapters.keras import is_keras_model

    if is_keras_model(model):  # (also on Keras's torch backend, where it is an nn.Module too)
        return _explain_keras(model, inputs, target, method, layer=layer, neuron=neuron, **options)
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module or a keras.Model, got {type(model).__name__}.")
    if not train_mode and in_training_mode(model):
        with evaluation_mode(model):
            return explain(model, inputs, target, method, layer=layer, neuron=neuron, train_mode=True, **options)
    if _is_token_input(inputs):
        from .text import explain_text

        if method not in ("integrated_gradients", "ig", "text"):
            raise InputShapeError(
                f"Token ids are attributed through the embedding layer with integrated gradients; "
                f"method {method!r} needs floating-point inputs.")
        return explain_text(model, inputs, target, layer=layer, **options)
    if any(k in options for k in ("feature_names", "groups", "background", "sampling_rate", "time")):
        from .tabular import explain_tabular

        return explain_tabular(model, inputs, target, method, layer=layer, neuron=neuron, **options)
    if method in LAYER_METHODS:
        if layer is None:
            raise InputShapeError(f"Method {method!r} needs layer=<name of the hidden layer>.")
        return LAYER_METHODS[method](model, layer, **options).attribute(inputs, target)
    if neuron is not None:
        if not (isinstance(neuron, (tuple, list)) and len(neuron) == 2):
            raise InputShapeError("neuron must be (layer, index), e.g. ('features.6', (3, 2, 2)).")
        if target is not None:
            raise InputShapeError("Give either target= or neuron=, not both.")
        wrapped = _layer.NeuronModel(model, neuron[0])
        x = inputs if torch.is_tensor(inputs) else torch.as_tensor(inputs)
        idx = wrapped.flat_index(neuron[1], example=x.to(next(model.parameters()).device)
                                 if any(True for _ in model.parameters()) else x)
        res = make_method(wrapped, method, **options).attribute(inputs, target=idx)
        res.options["neuron"] = [wrapped.layer_name, list(neuron[1]) if not isinstance(neuron[1], int) else neuron[1]]
        res.layer = wrapped.layer_name
        return res
    if layer is not None:
        cls = METHODS.get(ALIASES.get(method, method))
        if cls is not None and not issubclass(cls, cam.BaseCAM):
            raise InputShapeError(
                f"Method {method!r} attributes to the inputs and takes no layer; for a hidden layer use "
                "method='layer_integrated_gradients' or 'layer_gradient_x_activation', or a CAM method.")
        options["layer"] = layer
    return make_method(model, method, **options).attribute(inputs, target)


def _explain_keras(model: Any, inputs: Any, target: Any, method: str, **options) -> Attribution:
    """:func:`explain` for a Keras model: every method runs on the model's
    :class:`~neuralscope.adapters.keras_autodiff.KerasFunction` (gradients from the Keras
    backend), and input-shaped maps come back in the model's own layout."""
    from ..adapters.keras_autodiff import options_to_torch_layout, to_user_layout, torch_view

    if _is_token_input(inputs):
        raise InputShapeError("Token ids of a Keras model cannot be attributed yet; pass floating-point inputs.")
    with torch_view(model, inputs) as (f, x):
        options = {k: options_to_torch_layout(f, k, v) for k, v in options.items()}
        return to_user_layout(f, explain(f, x, target, method, **options))


def in_training_mode(model: nn.Module) -> bool:
    """Whether any module of ``model`` is in training mode."""
    return any(m.training for m in model.modules())


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run a block with every module of ``model`` in eval mode; every mode (and everything
    else) is put back afterwards, also on error."""
    with preserve_model_state(model):
        model.eval()
        yield


__all__ = ["explain", "METHODS", "method_names", "make_method", "in_training_mode", "evaluation_mode"]
