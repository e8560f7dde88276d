"""The runnable examples in public docstrings really run and print what they say.

Every module of the package whose source holds a ``>>>`` example is collected, so an example
added anywhere runs in ``make test`` without being listed here. Examples run in a fresh
temporary directory (some save files).
"""
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import neuralscope

# Modules that need an optional framework run only where it is installed.
OPTIONAL = {"neuralscope.keras": "keras", "neuralscope.adapters.keras": "keras",
            "neuralscope.adapters.keras_autodiff": "keras", "neuralscope.attention.keras": "keras",
            "neuralscope.graph.extract_keras": "keras", "neuralscope.graph.summary_keras": "keras"}


def modules_with_examples() -> list[str]:
    names = ["neuralscope"]
    for info in pkgutil.walk_packages(neuralscope.__path__, "neuralscope."):
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and spec.origin.endswith(".py") and ">>>" in Path(spec.origin).read_text():
            names.append(info.name)
    return sorted(set(names))


def test_every_module_with_examples_is_collected():
    assert {"neuralscope.capture", "neuralscope.graph.model", "neuralscope.attribution.cam"} <= set(
        modules_with_examples())


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    skipped_only = "doctest: +SKIP" in Path(module.__file__).read_text()
    assert result.attempted > 0 or skipped_only, f"{name} has '>>>' in its source but doctest ran none"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
