"""neuralscope: see inside neural networks.

The public API, re-exported from the modules that implement it. Names are imported on first
use so that ``import neuralscope`` stays fast.

Example:
    >>> import neuralscope
    >>> net = neuralscope.zoo.DigitsCNN()
    >>> sorted(neuralscope.zoo.ZOO)[:3]
    ['cnn', 'gru', 'lstm']
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # foundation
    "Result": "neuralscope.result",
    "preserve_model_state": "neuralscope.adapters.torch",
    "load_digits": "neuralscope.data",
    "train_digits": "neuralscope.train",
    # errors
    "NeuralscopeError": "neuralscope.errors",
    "LayerNotFoundError": "neuralscope.errors",
    "InputShapeError": "neuralscope.errors",
    "TargetError": "neuralscope.errors",
    "ModelForwardError": "neuralscope.errors",
    "NonFiniteError": "neuralscope.errors",
    "FileFormatError": "neuralscope.errors",
    "RunLockedError": "neuralscope.errors",
}
_SUBMODULES = {"zoo", "errors", "data", "train", "adapters", "result"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


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
