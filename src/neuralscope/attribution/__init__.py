"""Attribution: why did the network decide this, and how much can we trust the answer.

Entry point :func:`explain` (one method) and :func:`compare` (several side by side with
their faithfulness scores); the methods are also classes with the same call
(``GradCAM(model, layer="layer4").attribute(x, target)``).

Example:
    >>> from neuralscope.zoo import DigitsCNN
    >>> net = DigitsCNN().eval()
    >>> explain(net, net.example_input(2), method="saliency").attributions.shape
    (2, 1, 8, 8)
"""
from .cam import (CAM, AblationCAM, BaseCAM, EigenCAM, GradCAM, GradCAMPlusPlus, GuidedGradCAM, LayerCAM,
                  ScoreCAM, XGradCAM)
from .explain import METHODS, explain, make_method, method_names
from .compare import Comparison, compare
from .gradient import (Deconvnet, GuidedBackprop, InputXGradient, IntegratedGradients, Saliency, SmoothGrad)
from .layer import LayerGradientXActivation, LayerIntegratedGradients, NeuronModel
from .metrics import (FaithfulnessCurves, SanityCheck, data_randomization, deletion_insertion, infidelity,
                      max_sensitivity, model_randomization)
from .perturbation import LIME, FeatureAblation, GradientSHAP, KernelSHAP, Occlusion, superpixels
from .result import Attribution
from .text import explain_text

__all__ = [
    "explain", "compare", "explain_text", "Attribution", "Comparison", "METHODS", "method_names", "make_method",
    "Saliency", "InputXGradient", "IntegratedGradients", "SmoothGrad", "GuidedBackprop", "Deconvnet",
    "BaseCAM", "CAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "ScoreCAM", "AblationCAM", "EigenCAM",
    "GuidedGradCAM", "Occlusion", "FeatureAblation", "LIME", "KernelSHAP", "GradientSHAP", "superpixels",
    "LayerIntegratedGradients", "LayerGradientXActivation", "NeuronModel",
    "deletion_insertion", "FaithfulnessCurves", "model_randomization", "data_randomization", "SanityCheck",
    "infidelity", "max_sensitivity",
]
