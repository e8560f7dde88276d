"""One entry point for every attribution method (:func:`explain`) and a side-by-side
comparison with faithfulness scores (:func:`compare`)."""
from __future__ import annotations

import contextlib
import html as _html
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.torch import preserve_model_state
from ..errors import InputShapeError
from ..result import Result, standalone_page
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


#: methods that change the backward rule of ReLU modules: there are none in a Keras model
_TORCH_RELU_RULES = ("guided_backprop", "deconvnet", "guided_grad_cam")


def _explain_keras(model: Any, inputs: Any, target: Any, method: str, **options) -> Attribution:
    """:func:`explain` for a Keras model: every method runs on the model's
    :class:`~neuralscope.adapters.keras_autodiff.KerasFunction` (gradients from the Keras
    backend), and input-shaped maps come back in the model's own layout."""
    from ..adapters.keras_autodiff import options_to_torch_layout, to_user_layout, torch_view

    if ALIASES.get(method, method) in _TORCH_RELU_RULES:
        raise InputShapeError(
            f"Method {method!r} rewrites the backward pass of PyTorch ReLU modules and has no Keras form yet; "
            "use 'saliency', 'integrated_gradients', 'smoothgrad' or a CAM method for Keras models.")
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


# -- compare ----------------------------------------------------------------------------------
class Comparison(Result):
    """Several methods on the same inputs: a grid of maps (rows = examples, columns =
    methods) and a table of faithfulness scores per method (deletion AUC, lower is better;
    insertion AUC, higher is better; IG completeness error where applicable).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> c = compare(net, net.example_input(2), methods=["saliency", "grad_cam"], steps=8)
        >>> sorted(c.scores["saliency"])
        ['deletion_auc', 'insertion_auc']
    """

    kind = "attribution_comparison"

    def __init__(self, results: dict[str, Attribution], scores: dict[str, dict[str, np.ndarray]],
                 seconds: dict[str, float] | None = None):
        self.results, self.scores, self.seconds = results, scores, dict(seconds or {})

    @property
    def methods(self) -> list[str]:
        return list(self.results)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "methods": self.methods,
                "results": {k: r.to_dict() for k, r in self.results.items()},
                "scores": self.scores, "seconds": self.seconds}

    def table(self) -> list[dict]:
        """One row per method: mean of each score over the examples."""
        rows = []
        for m in self.methods:
            row = {"method": m}
            for k, v in self.scores.get(m, {}).items():
                row[k] = float(np.nanmean(np.asarray(v, dtype=float)))
            if m in self.seconds:
                row["seconds"] = self.seconds[m]
            rows.append(row)
        return rows

    def plot(self, ax=None, max_examples: int = 16, alpha: float = 0.9, methods_as_rows: bool | None = None,
             **kwargs):
        """A grid of maps: methods as columns and examples as rows, or (many methods, the
        default above 8) methods as rows; each method's maps share one colour scale, shown by
        its colorbar. Every example is drawn up to ``max_examples``; the title says how many
        were left out beyond that."""
        import matplotlib.pyplot as plt

        first = next(iter(self.results.values()))
        n = min(len(first), max_examples)
        k = len(self.results)
        as_rows = k > 8 if methods_as_rows is None else methods_as_rows
        shape = (k, n) if as_rows else (n, k)
        cell = 1.35 if as_rows else 1.9
        fig, axes = plt.subplots(*shape, figsize=(cell * shape[1] + (2.9 if as_rows else 0.6),
                                                  cell * shape[0] + (0.7 if as_rows else 1.3)), squeeze=False,
                                 layout="constrained")
        for j, (name, res) in enumerate(self.results.items()):
            norm = res.norm(res.maps()[:n]) if res.modality == "image" else None
            sc = self.scores.get(name, {})
            label = name.replace("_", " ") + "".join(
                f"\n{s.split('_')[0][:3]} {np.nanmean(sc[s]):.2f}" for s in ("deletion_auc", "insertion_auc", "mass_accuracy") if s in sc)
            for i in range(n):
                a = axes[j, i] if as_rows else axes[i, j]
                if res.modality == "image":
                    res._draw_image(a, i, alpha=alpha, norm=norm)
                    a.set_title("")
                else:
                    res._draw_one(a, i, colorbar=False)
                if as_rows:
                    if j == 0:
                        a.set_title(res._label(i), fontsize=8)
                    if i == 0:
                        a.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
                else:
                    if i == 0:
                        a.set_title(label, fontsize=8)
                    if j == 0:
                        a.set_ylabel(res._label(i), fontsize=7)
            if norm is not None:
                _method_colorbar(fig, axes[j, :] if as_rows else axes[:, j], res, norm, as_rows)
        left_out = len(first) - n
        keys = [("deletion_auc", "del = deletion AUC, lower is better"),
                ("insertion_auc", "ins = insertion AUC, higher is better"),
                ("mass_accuracy", "mas = relevance mass on the object")]
        legend = "; ".join(text for key, text in keys if any(key in sc for sc in self.scores.values()))
        fig.suptitle("Attribution methods side by side" + (f" ({legend})" if legend else "")
                     + (f"\nshowing the first {n} of {len(first)} examples; "
                        f"plot(max_examples={len(first)}) draws all" if left_out else ""), fontsize=9)
        return axes

    def _html_fragment(self) -> str:
        rows = self.table()
        keys = sorted({k for r in rows for k in r} - {"method"})
        head = "<tr><th>method</th>" + "".join(f"<th>{_html.escape(k)}</th>" for k in keys) + "</tr>"
        body = "".join("<tr><td>" + _html.escape(r["method"]) + "</td>" + "".join(
            f"<td>{r[k]:.4g}</td>" if k in r else "<td></td>" for k in keys) + "</tr>" for r in rows)
        return super()._html_fragment() + f"<table>{head}{body}</table>"

    def to_html(self) -> str:
        return standalone_page("Attribution comparison", self._html_fragment())


def _method_colorbar(fig, axes, res: Attribution, norm, as_rows: bool) -> None:
    """One colorbar for a method's row or column of maps (they share one scale)."""
    import matplotlib
    import matplotlib.pyplot as plt

    sm = plt.cm.ScalarMappable(norm=norm, cmap=matplotlib.colormaps[res.cmap])
    cb = fig.colorbar(sm, ax=list(axes), orientation="vertical" if as_rows else "horizontal",
                      fraction=0.05 if as_rows else 0.035, pad=0.02, shrink=0.9)
    cb.ax.tick_params(labelsize=7)
    cb.locator = matplotlib.ticker.MaxNLocator(3, symmetric=bool(res.signed))
    cb.update_ticks()
    cb.set_label("attribution" + (" (signed)" if res.signed else ""), fontsize=7)


DEFAULT_COMPARE = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop",
                   "grad_cam", "grad_cam_plus_plus", "score_cam", "occlusion", "kernel_shap")


def compare(model: nn.Module, inputs: torch.Tensor, methods: Sequence[str] = DEFAULT_COMPARE, target: Any = None, *,
            options: dict[str, dict] | None = None, metrics: bool = True, steps: int = 20,
            masks: Any = None, train_mode: bool = False) -> Comparison:
    """Run several methods on the same inputs and score each map's faithfulness with
    deletion/insertion AUC (``steps`` perturbation steps); ``options`` maps a method name to
    its keyword options. ``masks``: ground-truth ``(N, H, W)`` masks add the localisation
    scores (:mod:`~neuralscope.attribution.localization`: ``pointing_game``,
    ``mass_accuracy``, ``rank_accuracy``); a dict of masks (``{"object": m, "mark": c}``)
    adds them per mask, named ``object_mass_accuracy``, ``mark_mass_accuracy``...
    As in :func:`explain`, a model in training mode is evaluated in eval mode unless
    ``train_mode=True``.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> compare(net, net.example_input(2), methods=["saliency", "occlusion"], steps=4).methods
        ['saliency', 'occlusion']
    """
    import time

    from .metrics import deletion_insertion

    if not train_mode and isinstance(model, nn.Module) and in_training_mode(model):
        with evaluation_mode(model):
            return compare(model, inputs, methods, target, options=options, metrics=metrics, steps=steps,
                           masks=masks, train_mode=True)
    options = dict(options or {})
    results, scores, seconds = {}, {}, {}
    targets = target
    for m in methods:
        t0 = time.perf_counter()
        res = explain(model, inputs, target=targets, method=m, **options.get(m, {}))
        seconds[m] = time.perf_counter() - t0
        if targets is None and res.targets is not None:
            targets = res.targets  # every method explains the same classes
        results[m] = res
        sc: dict[str, np.ndarray] = {}
        if metrics and res.modality == "image":
            curves = deletion_insertion(model, inputs, res, targets, steps=steps)
            sc["deletion_auc"] = curves.deletion_auc
            sc["insertion_auc"] = curves.insertion_auc
        if masks is not None and res.modality == "image":
            sc.update(_localization_scores(res, masks))
        if "completeness_error" in res.metrics:
            sc["completeness_error"] = np.asarray(res.metrics["completeness_error"])
        scores[m] = sc
    return Comparison(results, scores, seconds)


def _localization_scores(res: Attribution, masks: Any) -> dict[str, np.ndarray]:
    from .localization import localization

    named = masks if isinstance(masks, dict) else {"": masks}
    return {f"{k}_{s}" if k else s: v for k, m in named.items() for s, v in localization(res, m).items()}


__all__ = ["explain", "compare", "Comparison", "METHODS", "method_names", "make_method"]
