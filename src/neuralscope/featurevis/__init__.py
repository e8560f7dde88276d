"""Feature visualization: images that maximize a unit, as Lucid and Lucent do, for any
PyTorch image model; plus each unit's top dataset examples (whole inputs, or the
receptive-field patches where a channel peaks) and guided-backprop/deconvnet
reconstructions of what a unit saw in one input.

Example:
    >>> from neuralscope.zoo import DigitsCNN
    >>> fv = feature_vis(DigitsCNN(), channel("features.5", [0, 1]), steps=4)
    >>> fv.images.shape
    (2, 1, 8, 8)
"""
from .objectives import (Objective, ObjectiveError, as_objective, channel, class_logit, deepdream, direction,
                         diversity, layer_total, neuron)
from .optimize import FeatureVis, feature_vis, unit_activations
from .reconstruct import Reconstruction, reconstruct
from .param import FFTImage, ImageParam, PixelImage, high_frequency_energy
from .patches import ReceptiveField, TopPatches, receptive_field, selective_channels, top_patches
from .transforms import compose, jitter, pad, random_rotate, random_scale, standard_transforms, strong_transforms

__all__ = ["feature_vis", "FeatureVis", "unit_activations", "reconstruct", "Reconstruction", "Objective", "ObjectiveError", "as_objective",
           "channel", "neuron", "layer_total", "deepdream", "direction", "class_logit", "diversity",
           "ImageParam", "PixelImage", "FFTImage", "high_frequency_energy", "compose", "jitter", "pad",
           "random_rotate", "random_scale", "standard_transforms", "strong_transforms", "ReceptiveField", "TopPatches", "receptive_field",
           "selective_channels", "top_patches"]
