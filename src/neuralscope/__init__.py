"""neuralscope: see inside neural networks.

The public API, re-exported from the modules that implement it. Most names are imported on
first use so that ``import neuralscope`` stays light; the three whose names are also
sub-packages (``graph``, ``attention``, ``capture``) are bound at import so that the
function always wins over the sub-package attribute.

Example:
    >>> import neuralscope
    >>> net = neuralscope.zoo.DigitsCNN()
    >>> g = neuralscope.graph(net, net.example_input(1))
    >>> g.total_params == sum(p.numel() for p in net.parameters())
    True
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    # foundation
    "Result": "neuralscope.result",
    "preserve_model_state": "neuralscope.adapters.torch",
    "load_digits": "neuralscope.data",
    "load_sample_photos": "neuralscope.data",
    "load_tabular": "neuralscope.data.tabular",
    "make_signals": "neuralscope.data.signals",
    "train_digits": "neuralscope.train",
    "make_scenes": "neuralscope.data.scenes",
    "load_scenes": "neuralscope.data.scenes",
    "train_scenes": "neuralscope.train",
    # errors
    "NeuralscopeError": "neuralscope.errors",
    "LayerNotFoundError": "neuralscope.errors",
    "InputShapeError": "neuralscope.errors",
    "TargetError": "neuralscope.errors",
    "ModelForwardError": "neuralscope.errors",
    "NonFiniteError": "neuralscope.errors",
    "FileFormatError": "neuralscope.errors",
    "RunLockedError": "neuralscope.errors",
    "OutputPathError": "neuralscope.errors",
    # structure graphs
    "Graph": "neuralscope.graph.model",
    "summary": "neuralscope.graph.summary",
    "Summary": "neuralscope.graph.summary",
    # inside the network
    "Recorder": "neuralscope.capture",
    "LayerNotRunError": "neuralscope.capture",
    "weight_heatmap": "neuralscope.inspect.weights",
    "weight_histograms": "neuralscope.inspect.weights",
    "weight_stats": "neuralscope.inspect.weights",
    "conv_filters": "neuralscope.inspect.weights",
    "project_weights": "neuralscope.inspect.weights",
    "feature_maps": "neuralscope.inspect.activations",
    "unit_activations": "neuralscope.inspect.activations",
    "activation_heatmap": "neuralscope.inspect.activations",
    "activation_histograms": "neuralscope.inspect.activations",
    "dead_units": "neuralscope.inspect.activations",
    "hidden_states": "neuralscope.inspect.activations",
    "activation_functions": "neuralscope.inspect.functions",
    "embed": "neuralscope.inspect.embedding",
    "embed_layer": "neuralscope.inspect.embedding",
    "Embedding": "neuralscope.inspect.embedding",
    "animate": "neuralscope.plot.animation",
    "animate_forward": "neuralscope.plot.animation",
    "weights_over_training": "neuralscope.plot.animation",
    "feature_maps_over_training": "neuralscope.plot.animation",
    "embeddings_over_training": "neuralscope.plot.animation",
    "Animation": "neuralscope.plot.animation",
    # attribution
    "explain": "neuralscope.attribution.explain",
    "compare": "neuralscope.attribution.compare",
    "Attribution": "neuralscope.attribution.result",
    "explain_text": "neuralscope.attribution.text",
    "Comparison": "neuralscope.attribution.compare",
    "deletion_insertion": "neuralscope.attribution.metrics",
    "model_randomization": "neuralscope.attribution.metrics",
    "data_randomization": "neuralscope.attribution.metrics",
    "infidelity": "neuralscope.attribution.metrics",
    "max_sensitivity": "neuralscope.attribution.metrics",
    "ExactShapley": "neuralscope.attribution.shapley",
    "importance_bar": "neuralscope.plot.tabular",
    "beeswarm": "neuralscope.plot.tabular",
    "dependence_plot": "neuralscope.plot.tabular",
    "waterfall": "neuralscope.plot.tabular",
    "force_plot": "neuralscope.plot.tabular",
    "decision_plot": "neuralscope.plot.tabular",
    "plot_signal": "neuralscope.plot.signal",
    "localization": "neuralscope.attribution.localization",
    "pointing_game": "neuralscope.attribution.localization",
    "relevance_mass_accuracy": "neuralscope.attribution.localization",
    "relevance_rank_accuracy": "neuralscope.attribution.localization",
    # attention and feature visualization
    "AttentionMaps": "neuralscope.attention.maps",
    "NoAttentionError": "neuralscope.errors",
    "rollout": "neuralscope.attention.rollout",
    "attention_flow": "neuralscope.attention.rollout",
    "head_average": "neuralscope.attention.rollout",
    "head_statistics": "neuralscope.attention.rollout",
    "feature_vis": "neuralscope.featurevis.optimize",
    "FeatureVis": "neuralscope.featurevis.optimize",
    "reconstruct": "neuralscope.featurevis.reconstruct",
    "Reconstruction": "neuralscope.featurevis.reconstruct",
    # training tracking
    "Run": "neuralscope.track.run",
    "runs": "neuralscope.track.runs",
    "open_run": "neuralscope.track.runs",
    "RunSet": "neuralscope.track.runs",
    "RunReader": "neuralscope.track.store",
    "ScalarSeries": "neuralscope.track.results",
    "HistogramSeries": "neuralscope.track.results",
    "Diagnostics": "neuralscope.track.results",
    "Watcher": "neuralscope.track.watch",
    "export_tensorboard": "neuralscope.track.tensorboard",
    "import_tensorboard": "neuralscope.track.tensorboard",
    # the training process in depth: loss landscapes, trajectories, curvature
    "loss_landscape": "neuralscope.landscape",
    "trajectory": "neuralscope.landscape",
    "curvature": "neuralscope.landscape",
    "hessian_eigenvalues": "neuralscope.landscape",
    "LossLandscape": "neuralscope.landscape",
    "Trajectory": "neuralscope.landscape",
    "Curvature": "neuralscope.landscape",
    # whole data sets: audits (local or Ray), projections
    "AuditResult": "neuralscope.audit.result",
    "RayEngine": "neuralscope.audit.engines",
    "LocalEngine": "neuralscope.audit.engines",
    # dashboard
    "serve": "neuralscope.server.app",
    "serve_in_background": "neuralscope.server.app",
}
_SUBMODULES = {"zoo", "errors", "data", "train", "adapters", "result", "testing", "inspect", "plot",
               "attribution", "featurevis", "track", "server", "demo", "landscape",
               "keras"}  # neuralscope.keras (Callback for model.fit) imports Keras when first used

# Functions that share their name with a sub-package: bound now, after the sub-package.
from .attention.extract import attention  # noqa: E402, F401 - re-exported
from .capture import capture  # noqa: E402, F401 - re-exported
from .graph.api import graph  # noqa: E402, F401 - re-exported
from .audit.api import audit  # noqa: E402, F401 - re-exported

__all__ = sorted(set(_EXPORTS) | _SUBMODULES | {"attention", "capture", "graph", "audit"})  # noqa: PLE0605


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"neuralscope.{name}")
    raise AttributeError(f"module 'neuralscope' has no attribute {name!r}")


def __dir__():
    return __all__
