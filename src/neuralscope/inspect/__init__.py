"""Looking inside a network: weights, activations, activation functions and embeddings."""
from .activations import (ActivationHeatmap, ActivationHistograms, DeadUnits, FeatureMaps, HiddenStates,
                          UnitActivations, activation_heatmap, activation_histograms, dead_units, feature_maps,
                          hidden_states, layer_activations, unit_activations)
from .embedding import Embedding, embed, embed_layer
from .functions import ActivationFunctions, activation_functions
from .weights import (ConvFilters, WeightHistograms, WeightMatrix, WeightStats, conv_filters, project_weights,
                      weight_heatmap, weight_histograms, weight_stats)

__all__ = [
    "ActivationFunctions", "ActivationHeatmap", "ActivationHistograms", "ConvFilters", "DeadUnits", "Embedding",
    "FeatureMaps", "HiddenStates", "UnitActivations", "WeightHistograms", "WeightMatrix", "WeightStats",
    "activation_functions", "activation_heatmap", "activation_histograms", "conv_filters", "dead_units", "embed",
    "embed_layer", "feature_maps", "hidden_states", "layer_activations", "project_weights", "unit_activations",
    "weight_heatmap", "weight_histograms", "weight_stats",
]
