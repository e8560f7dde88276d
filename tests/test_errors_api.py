"""Bad input to the Python API gets one sentence as a neuralscope exception, and the model is
left as found: class-name targets, empty batches, NaN/Inf inputs, models whose weights live on
the meta device, weights asked for without a layer, models that raise inside animate_forward."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import neuralscope as ns
from neuralscope.errors import (InputShapeError, LayerNotFoundError, ModelForwardError, ModelNotBuiltError,
                                NeuralscopeError, NonFiniteError, TargetError)
from neuralscope.zoo import DigitsCNN


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith("."), text
    assert "Traceback" not in text and "aten::" not in text and "torch.cat" not in text, text
    return text


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return DigitsCNN().eval()


@pytest.fixture
def x():
    return torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("target", ["cat", ["cat", "dog", "cow"], b"x", object()])
def test_explain_with_a_class_name_target_is_a_target_error(cnn, x, target, unchanged):
    with unchanged(cnn), pytest.raises(TargetError) as info:
        ns.explain(cnn, x, target=target, method="saliency")
    assert "class index" in one_sentence(info.value)


BATCH_FUNCTIONS = {
    "feature_maps": lambda m, x: ns.feature_maps(m, x, "features.0"),
    "embed_layer": lambda m, x: ns.embed_layer(m, x, "pool"),
    "dead_units": lambda m, x: ns.dead_units(m, x),
    "unit_activations": lambda m, x: ns.unit_activations(m, x, "features.0", 0),
    "activation_heatmap": lambda m, x: ns.activation_heatmap(m, x, "pool"),
    "activation_histograms": lambda m, x: ns.activation_histograms(m, x, "features.*"),
    "explain": lambda m, x: ns.explain(m, x, method="saliency"),
}


@pytest.mark.parametrize("name", sorted(BATCH_FUNCTIONS))
def test_empty_batch_is_one_sentence(cnn, x, name, unchanged):
    with unchanged(cnn), pytest.raises((InputShapeError, NeuralscopeError)) as info:
        BATCH_FUNCTIONS[name](cnn, x[:0])
    assert "empty" in one_sentence(info.value) or "batch" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name", sorted(BATCH_FUNCTIONS))
def test_non_finite_inputs_are_refused_like_explain_does(cnn, x, name, bad, unchanged):
    x = x.clone()
    x[1, 0, 2, 3] = bad
    with unchanged(cnn), pytest.raises(NonFiniteError) as info:
        BATCH_FUNCTIONS[name](cnn, x)
    assert "1 NaN/Inf" in one_sentence(info.value)


def _meta_cnn():
    with torch.device("meta"):
        return DigitsCNN()


# (capture() is left out: it only hooks the user's own forward pass, which records meta
# tensors' shapes without computing anything.)
MODEL_FUNCTIONS = {
    "explain": lambda m, x: ns.explain(m, x, method="integrated_gradients"),
    "compare": lambda m, x: ns.compare(m, x[:1], methods=["saliency"]),
    "weight_histograms": lambda m, x: ns.weight_histograms(m),
    "weight_heatmap": lambda m, x: ns.weight_heatmap(m, "classifier"),
    "weight_stats": lambda m, x: ns.weight_stats(m),
    "conv_filters": lambda m, x: ns.conv_filters(m, "features.0"),
    "project_weights": lambda m, x: ns.project_weights(m, "classifier"),
    "feature_maps": lambda m, x: ns.feature_maps(m, x, "features.0"),
    "unit_activations": lambda m, x: ns.unit_activations(m, x, "features.0", 0),
    "activation_heatmap": lambda m, x: ns.activation_heatmap(m, x, "pool"),
    "activation_histograms": lambda m, x: ns.activation_histograms(m, x, "features.*"),
    "dead_units": lambda m, x: ns.dead_units(m, x),
    "embed_layer": lambda m, x: ns.embed_layer(m, x, "pool"),
    "animate_forward": lambda m, x: ns.animate_forward(m, x[:1]),
    "graph": lambda m, x: ns.graph(m, x[:1]),
    "summary": lambda m, x: ns.summary(m, x[:1]),
    "feature_vis": lambda m, x: ns.feature_vis(m, "features.0:0", steps=2),
    "reconstruct": lambda m, x: ns.reconstruct(m, x[:1], "features.0:0"),
    "deletion_insertion": lambda m, x: ns.deletion_insertion(m, x, ns.explain(m, x, method="saliency")),
    "attention": lambda m, x: ns.attention(m, x[:1]),
    "hidden_states": lambda m, x: ns.hidden_states(m, x, "features.0"),
    "Run.watch": lambda m, x: _watch(m),
}


def _watch(model):
    import tempfile

    with ns.Run(tempfile.mkdtemp()) as run:
        run.watch(model)


@pytest.mark.parametrize("name", sorted(MODEL_FUNCTIONS))
def test_meta_device_model_is_one_sentence(x, name):
    meta = _meta_cnn()
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in meta.modules())
    with pytest.raises(ModelNotBuiltError) as info:
        MODEL_FUNCTIONS[name](meta, x)
    assert "'meta' device" in one_sentence(info.value)
    # (the shared unchanged() check compares values, which meta tensors do not have)
    assert meta.training and all(p.requires_grad and p.grad is None for p in meta.parameters())
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in meta.modules()) == hooks


def test_weight_heatmap_of_a_bare_linear_needs_no_layer():
    layer = nn.Linear(1000, 1000)
    assert ns.weight_heatmap(layer).name == "weight"


def test_weight_heatmap_without_layer_names_the_candidates(cnn):
    with pytest.raises(LayerNotFoundError) as info:
        ns.weight_heatmap(cnn)
    text = one_sentence(info.value)
    assert "None" not in text and "layer=" in text and "'features.0'" in text and "7 parameters" in text


def test_animate_forward_wraps_the_models_error_naming_the_layer(unchanged):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(4, 4), nn.Linear(5, 2)

        def forward(self, x):
            return self.second(torch.relu(self.first(x)))

    model = Broken()
    with unchanged(model), pytest.raises(ModelForwardError) as info:
        ns.animate_forward(model, torch.rand(1, 4))
    assert info.value.module == "second" and "'second' (Linear)" in str(info.value)
