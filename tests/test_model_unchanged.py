"""Every public function that takes a model leaves it exactly as it found it, when it succeeds
and when it raises.

The model is put in an awkward state first (training mode, one frozen parameter, a ``.grad``
already there, a user's hook registered), so that a function which evaluates in eval mode,
unfreezes parameters, runs a backward pass or registers hooks would be caught. One table
lists a good call and a bad call for each function; a second test fails when a public
function that takes a model is missing from the table, so a new one cannot skip the check.
"""
from __future__ import annotations

import inspect

import pytest
import torch

import neuralscope as ns
from neuralscope import zoo

# Public functions that take a model but change it on purpose, with the reason.
EXEMPT = {
    "train_digits": "trains the model it is given (its documented job)",
    "preserve_model_state": "is the guard itself (tested in tests/test_foundation.py)",
    "train_scenes": "trains the model it is given (its documented job)",
}


def awkward(model: torch.nn.Module) -> torch.nn.Module:
    """The model in a state that a careless visualisation would disturb."""
    torch.manual_seed(0)
    model.train()
    params = list(model.parameters())
    params[0].requires_grad_(False)
    params[-1].grad = torch.full_like(params[-1], 0.5)
    model.register_forward_hook(lambda *_: None)
    return model


def digits_cnn():
    return awkward(zoo.DigitsCNN())


def x8(n=4):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def saliency(model, x):
    model = zoo.DigitsCNN().eval()
    return ns.explain(model, x, target=0, method="saliency")


BAD_IMAGE = torch.rand(2, 3, 5, 5)

# name -> (model factory, good call, bad call); each call takes the model.
CALLS = {
    "activation_heatmap": (digits_cnn, lambda m: ns.activation_heatmap(m, x8(), "features.1"),
                           lambda m: ns.activation_heatmap(m, x8(), "no.such.layer")),
    "activation_histograms": (digits_cnn, lambda m: ns.activation_histograms(m, x8()),
                              lambda m: ns.activation_histograms(m, BAD_IMAGE)),
    "animate_forward": (lambda: awkward(zoo.MLP()), lambda m: ns.animate_forward(m, m.example_input(1)),
                        lambda m: ns.animate_forward(m, torch.rand(1, 3))),
    "compare": (digits_cnn, lambda m: ns.compare(m, x8(2), methods=("saliency", "grad_cam"), target=0, metrics=False),
                lambda m: ns.compare(m, BAD_IMAGE, methods=("saliency",), target=0, metrics=False)),
    "conv_filters": (digits_cnn, lambda m: ns.conv_filters(m, "features.0"),
                     lambda m: ns.conv_filters(m, "classifier_typo")),
    "data_randomization": (digits_cnn,
                           lambda m: ns.data_randomization(m, zoo.DigitsCNN(), x8(2), method="saliency", target=0),
                           lambda m: ns.data_randomization(m, zoo.DigitsCNN(), BAD_IMAGE, method="saliency")),
    "dead_units": (digits_cnn, lambda m: ns.dead_units(m, x8()), lambda m: ns.dead_units(m, BAD_IMAGE)),
    "deletion_insertion": (digits_cnn,
                           lambda m: ns.deletion_insertion(m, x8(2), saliency(m, x8(2)), target=0, steps=4),
                           lambda m: ns.deletion_insertion(m, x8(2), saliency(m, x8(2)), target=99, steps=4)),
    "embed_layer": (digits_cnn, lambda m: ns.embed_layer(m, x8(6), "classifier"),
                    lambda m: ns.embed_layer(m, x8(6), "no.such.layer")),
    "embeddings_over_training": (
        digits_cnn,
        lambda m: ns.embeddings_over_training(m, [zoo.DigitsCNN().state_dict()] * 2, x8(6), "classifier"),
        lambda m: ns.embeddings_over_training(m, [zoo.DigitsCNN().state_dict()] * 2, x8(6), "nope")),
    "explain": (digits_cnn, lambda m: ns.explain(m, x8(2), target=1, method="integrated_gradients", steps=8),
                lambda m: ns.explain(m, x8(2), target=10, method="saliency")),
    "explain_text": (lambda: awkward(zoo.TinyTransformer()),
                     lambda m: ns.explain_text(m, m.example_input(2), target=1, steps=8),
                     lambda m: ns.explain_text(m, m.example_input(2), target=1, layer="no.such.layer")),
    "feature_maps": (digits_cnn, lambda m: ns.feature_maps(m, x8(1), "features.0"),
                     lambda m: ns.feature_maps(m, x8(1), "no.such.layer")),
    "feature_maps_over_training": (
        digits_cnn,
        lambda m: ns.feature_maps_over_training(m, [zoo.DigitsCNN().state_dict()] * 2, x8(1), "features.0"),
        lambda m: ns.feature_maps_over_training(m, [zoo.DigitsCNN().state_dict()] * 2, x8(1), "nope")),
    "feature_vis": (digits_cnn, lambda m: ns.feature_vis(m, "features.0:0-1", steps=4, show_progress=False),
                    lambda m: ns.feature_vis(m, "no.such.layer:0", steps=4, show_progress=False)),
    "hidden_states": (lambda: awkward(zoo.RNNClassifier()), lambda m: ns.hidden_states(m, m.example_input(2)),
                      lambda m: ns.hidden_states(m, m.example_input(2), "no.such.layer")),
    "infidelity": (digits_cnn, lambda m: ns.infidelity(m, x8(2), saliency(m, x8(2)), target=0, n_perturb=4),
                   lambda m: ns.infidelity(m, x8(2), saliency(m, x8(2)), target=99, n_perturb=4)),
    "max_sensitivity": (digits_cnn, lambda m: ns.max_sensitivity(m, x8(2), target=0, n_perturb=2),
                        lambda m: ns.max_sensitivity(m, BAD_IMAGE, target=0, n_perturb=2)),
    "model_randomization": (digits_cnn,
                            lambda m: ns.model_randomization(m, x8(2), method="saliency", target=0,
                                                             layers=["classifier"]),
                            lambda m: ns.model_randomization(m, x8(2), method="saliency", target=0,
                                                             layers=["no.such.layer"])),
    "project_weights": (digits_cnn, lambda m: ns.project_weights(m, "features.3"),
                        lambda m: ns.project_weights(m, "no.such.layer")),
    "reconstruct": (digits_cnn, lambda m: ns.reconstruct(m, x8(1), layer="features.0", unit=0),
                    lambda m: ns.reconstruct(m, x8(1), layer="no.such.layer", unit=0)),
    "summary": (digits_cnn, lambda m: ns.summary(m, x8(1)), lambda m: ns.summary(m, BAD_IMAGE)),
    "unit_activations": (digits_cnn, lambda m: ns.unit_activations(m, x8(), "features.1", 0),
                         lambda m: ns.unit_activations(m, x8(), "features.1", 10_000)),
    "weight_heatmap": (digits_cnn, lambda m: ns.weight_heatmap(m, "classifier"),
                       lambda m: ns.weight_heatmap(m, "no.such.layer")),
    "weight_histograms": (digits_cnn, lambda m: ns.weight_histograms(m),
                          lambda m: ns.weight_histograms(m, "no.such.layer")),
    "weight_stats": (digits_cnn, lambda m: ns.weight_stats(m), lambda m: ns.weight_stats(m, near_zero=None)),
    "attention": (lambda: awkward(zoo.TinyTransformer()), lambda m: ns.attention(m, m.example_input(2)),
                  lambda m: ns.attention(m, m.example_input(2), layers=["no.such.layer"])),
    "graph": (digits_cnn, lambda m: ns.graph(m, x8(1)), lambda m: ns.graph(m, BAD_IMAGE)),
    "capture": (digits_cnn, lambda m: _capture_and_leave(m, "features.*"),
                lambda m: _capture_and_leave(m, "no.such.layer")),
}


def labelled(n=8):
    return x8(n), torch.arange(n) % 10


def _audit(model, **kw):
    import tempfile

    return ns.audit(model, labelled(), run=tempfile.mkdtemp() + "/run", shard_size=4, steps=4, **kw)


CALLS.update({
    "loss_landscape": (digits_cnn, lambda m: ns.loss_landscape(m, labelled(), dims=1, steps=3, show_progress=False),
                       lambda m: ns.loss_landscape(m, (BAD_IMAGE, torch.zeros(2, dtype=torch.long)), dims=1,
                                                   steps=3, show_progress=False)),
    "curvature": (digits_cnn, lambda m: ns.curvature(m, labelled(), max_iter=5, trace_samples=2, show_progress=False),
                  lambda m: ns.curvature(m, (BAD_IMAGE, torch.zeros(2, dtype=torch.long)), max_iter=5)),
    "hessian_eigenvalues": (digits_cnn, lambda m: ns.hessian_eigenvalues(m, labelled(), max_iter=5),
                            lambda m: ns.hessian_eigenvalues(m, (BAD_IMAGE, torch.zeros(2, dtype=torch.long)))),
    "audit": (digits_cnn, lambda m: _audit(m, methods=("saliency",)),
              lambda m: _audit(m, methods=("grad_cam",), layer="no.such.layer")),
})


def _capture_and_leave(model, layers):
    with ns.capture(model, layers) as rec:
        pass
    return rec


def public_functions_taking_a_model() -> set[str]:
    names = set()
    for name in ns.__all__:
        obj = getattr(ns, name)
        if inspect.isfunction(obj):
            params = list(inspect.signature(obj).parameters)
            if params and params[0] in ("model", "net", "module"):
                names.add(name)
    return names


def test_every_public_function_taking_a_model_is_checked_here():
    missing = public_functions_taking_a_model() - set(CALLS) - set(EXEMPT)
    assert not missing, f"add a good and a bad call to CALLS in {__file__} for: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_model_is_left_as_found_after_a_good_call(name, unchanged):
    make, good, _ = CALLS[name]
    model = make()
    with unchanged(model):
        good(model)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_model_is_left_as_found_when_the_call_raises(name, unchanged):
    make, _, bad = CALLS[name]
    model = make()
    with unchanged(model), pytest.raises(Exception):  # any error; the model is the point
        bad(model)
