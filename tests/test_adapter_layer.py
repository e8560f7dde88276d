"""The adapter layer for PyTorch models: one hook mechanism, one tensor walk, input
normalisation in the adapter, recording and replacing through ``TorchAdapter``, and the one
"auto steps" rule of the path methods.

The structural tests read the source: they fail when a module outside the adapter registers
its own forward hooks or writes its own "find every tensor" walk again.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralscope.adapters.torch import TorchAdapter, iter_tensors, module_hooks
from neuralscope.attribution.base import AUTO_MAX_STEPS, AUTO_STEPS_START
from neuralscope.attribution.gradient import IntegratedGradients
from neuralscope.attribution.layer import LayerIntegratedGradients
from neuralscope.errors import InputShapeError, NonFiniteError
from neuralscope.testing import model_unchanged

SRC = Path(__file__).resolve().parents[1] / "src" / "neuralscope"
HOOK_CALLS = ("register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
              "register_full_backward_pre_hook", "register_module_forward_hook",
              "register_module_forward_pre_hook")
# Modules allowed to register module forward hooks themselves, with the reason.
HOOK_OWNERS = {
    "adapters/torch.py": "module_hooks / add_hooks: the one place hooks are registered",
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(), str(path))


def test_no_module_outside_the_adapter_registers_forward_hooks():
    offenders = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in HOOK_CALLS and rel not in HOOK_OWNERS):
                offenders.append(f"{rel}:{node.lineno} {node.attr}")
    assert not offenders, "register hooks through adapters.torch (TorchAdapter.hooks / recording): " + ", ".join(offenders)


def _is_tensor_walk(fn: ast.FunctionDef) -> bool:
    """A recursive generator that looks for tensors: the shape of a "find every tensor" walk."""
    names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
    recursive = any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == fn.name for n in ast.walk(fn))
    yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(fn))
    return recursive and yields and bool(names & {"is_tensor", "Tensor"})


def test_one_tensor_walk():
    walks = [f"{rel}:{fn.name}" for rel, tree in _modules() for fn in ast.walk(tree)
             if isinstance(fn, ast.FunctionDef) and _is_tensor_walk(fn)]
    assert walks == ["adapters/torch.py:iter_tensors"]


def test_the_tensor_walk_finds_tensors_in_nested_outputs_in_order():
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)

    class Output:  # a Hugging Face ModelOutput has to_tuple()
        def to_tuple(self):
            return (b, [c])

    assert [t.shape[0] for t in iter_tensors({"x": a, "rest": (Output(), "not a tensor")})] == [1, 2, 3]


def test_module_hooks_are_removed_when_the_block_raises():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with pytest.raises(RuntimeError, match="inside"), module_hooks(list(net.named_children()),
                                                                   post=lambda n, m: lambda *a: None):
        raise RuntimeError("inside")
    assert all(not m._forward_hooks for m in net.modules())


def test_record_keeps_every_call_of_a_shared_layer_and_replaces_what_the_rest_sees():
    torch.manual_seed(0)
    shared = torch.nn.Linear(3, 3)

    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shared, self.head = shared, torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.shared(self.shared(x)))

    net, x = Twice(), torch.randn(4, 3)
    a = TorchAdapter(net)
    with model_unchanged(net), torch.no_grad():
        rec = a.record(x, "shared")
        zeroed = a.record(x, "head", replace={"shared": lambda out: out * 0})
    first = shared(x)
    torch.testing.assert_close(rec.outputs["shared"][0], first)
    torch.testing.assert_close(rec.outputs["shared"][1], shared(first))
    # both calls replaced by zeros: the head sees zeros and outputs its bias
    torch.testing.assert_close(zeroed.output, net.head.bias.expand(4, 1))


def test_inputs_are_normalised_in_the_adapter():
    a = TorchAdapter(torch.nn.Linear(3, 1).double())
    x = a.float_batch(np.ones((2, 3), "float32"))
    assert x.dtype == torch.float64 and x.shape == (2, 3)
    with pytest.raises(InputShapeError, match="batch dimension"):
        a.float_batch(torch.ones(3))
    with pytest.raises(InputShapeError, match="empty batch"):
        a.checked_inputs({"ids": torch.ones(0, 3)})
    with pytest.raises(NonFiniteError):
        a.checked_inputs((torch.tensor([[float("nan"), 0.0, 0.0]]),))


def _saturating_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    with torch.no_grad():
        net[1].weight.mul_(10)  # steep: inputs far from zero saturate the tanh
    return net.eval()


def test_layer_and_input_integrated_gradients_share_one_auto_steps_rule():
    """At an identity layer on the input, layer IG is input IG: the same attributions and,
    under steps="auto", the same steps per example (a nearly linear example stops at the
    first step count, a saturated one needs more)."""
    net = _saturating_net()
    torch.manual_seed(1)
    x = torch.randn(2, 4) * torch.tensor([[0.05], [20.0]])
    ig = IntegratedGradients(net, steps="auto").attribute(x, target=0)
    lig = LayerIntegratedGradients(net, "0", steps="auto").attribute(x, target=0)
    steps = lig.metrics["steps"]
    assert steps[0] == AUTO_STEPS_START < steps[1] <= AUTO_MAX_STEPS
    np.testing.assert_array_equal(steps, ig.metrics["steps"])
    # both within the 1 % tolerance; float32 paths summed in float64: agreement to 1e-4
    assert lig.metrics["completeness_error"].max() <= 0.01 and ig.metrics["completeness_error"].max() <= 0.01
    np.testing.assert_allclose(lig.attributions, ig.attributions, rtol=1e-4, atol=1e-5)
    assert lig.layer == "0" and lig.inputs is None


def test_layer_methods_are_on_the_method_base():
    from neuralscope.attribution.base import Method
    from neuralscope.attribution.layer import LayerGradientXActivation

    assert issubclass(LayerIntegratedGradients, Method) and issubclass(LayerGradientXActivation, Method)
    with pytest.raises(Exception, match="stepz"):
        LayerIntegratedGradients(_saturating_net(), "0", stepz=3)


def test_running_stats_of_a_channels_last_map_equal_those_of_its_values():
    from neuralscope.capture import RunningStats, _flat_view

    t = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    flat = _flat_view(t)
    assert flat.data_ptr() == t.data_ptr()  # a view, not a copy
    st = RunningStats()
    st.update(t)
    assert st.count == t.numel() and st.min == float(t.min()) and st.max == float(t.max())
    assert st.mean == pytest.approx(float(t.double().mean()), abs=1e-6)
    assert st.std == pytest.approx(float(t.double().std(unbiased=False)), rel=1e-5)
