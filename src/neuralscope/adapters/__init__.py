"""Framework adapters: everything that knows a framework's API lives here.

Analyses talk to an adapter (module tree, hooks, forward/backward, leaving the model as it
was found); a Keras or ONNX adapter adds a framework without touching the analyses.
"""
from .torch import (  # noqa: F401
    ModelState,
    TorchAdapter,
    as_inputs,
    forward_with_context,
    preserve_model_state,
    resolve_layer,
    resolve_layers,
)
