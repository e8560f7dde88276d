"""The runnable examples in public docstrings really run and print what they say."""
import doctest
import importlib

import pytest

MODULES = [
    "neuralscope",
    "neuralscope.adapters.torch",
    "neuralscope.result",
    "neuralscope.zoo",
    "neuralscope.data",
    "neuralscope.testing",
    "neuralscope.graph.model",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
