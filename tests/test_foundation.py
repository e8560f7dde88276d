"""The skeleton every analysis builds on: adapters, model-state guard, zoo, training, CLI."""
import pytest
import torch
from torch import nn

import neuralscope
from neuralscope import zoo
from neuralscope.adapters.torch import forward_with_context, preserve_model_state, resolve_layers
from neuralscope.cli import main
from neuralscope.errors import LayerNotFoundError, ModelForwardError
from neuralscope.testing import ModelSnapshot


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_zoo_model_runs_on_its_example_input(name):
    model = zoo.create(name)
    out = model(model.example_input(3))
    assert out.shape[0] == 3 and torch.isfinite(out).all()


def test_preserve_model_state_restores_modes_grads_buffers_and_hooks_after_an_exception(unchanged):
    model = zoo.DigitsCNN()
    model.classifier.weight.grad = torch.ones_like(model.classifier.weight)
    model.features[0].weight.requires_grad_(False)
    with unchanged(model), pytest.raises(RuntimeError):
        with preserve_model_state(model):
            model.eval()
            model.features[3].weight.requires_grad_(False)
            model.register_forward_hook(lambda *a: None)
            model.features[1].register_full_backward_hook(lambda *a: None)
            model.train()
            model(model.example_input(4)).sum().backward()  # BN statistics and grads move
            raise RuntimeError("boom")


def test_preserve_model_state_puts_back_the_same_grad_tensors_and_swapped_parameters():
    model = zoo.DigitsCNN()
    grad = torch.ones_like(model.classifier.weight)
    model.classifier.weight.grad = grad
    weight = model.features[0].weight
    with preserve_model_state(model):
        model(model.example_input(4)).sum().backward()  # accumulates into the same tensor
        model.features[0]._parameters["weight"] = torch.nn.Parameter(weight.detach().clone())
        model.classifier.weight.grad = None
    assert model.classifier.weight.grad is grad and torch.equal(grad, torch.ones_like(grad))
    assert model.features[0].weight is weight


def test_model_snapshot_notices_each_kind_of_change():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    changes = {
        "parameter": lambda: model[0].weight.data.add_(1e-7),
        "training flag": lambda: model.eval(),
        "requires_grad": lambda: model[0].bias.requires_grad_(False),
        ".grad": lambda: setattr(model[0].weight, "grad", torch.zeros(2, 2)),
        "forward_hooks": lambda: model.register_forward_hook(lambda *a: None),
        "buffer": lambda: model[1].running_mean.add_(1),
    }
    for what, change in changes.items():
        snap = ModelSnapshot.of(model)
        change()
        assert any(what in d for d in snap.differences(model)), what


def test_unknown_layer_name_suggests_the_closest_valid_names():
    model = zoo.TinyResNet()
    with pytest.raises(LayerNotFoundError, match=r"layer1\.0\.conv1") as info:
        resolve_layers(model, "layer1.0.cnv1")
    assert isinstance(info.value, ValueError)


def test_layers_can_be_chosen_by_glob_type_and_object():
    model = zoo.TinyResNet()
    assert [n for n, _ in resolve_layers(model, "layer2.*.conv?")] == [
        "layer2.0.conv1", "layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2"]
    assert len(resolve_layers(model, nn.BatchNorm2d)) == 1 + 2 * 2 + 2 * 2 + 1
    assert resolve_layers(model, model.fc) == [("fc", model.fc)]


def test_forward_error_names_the_innermost_failing_module(unchanged):
    model = zoo.TinyResNet()
    with unchanged(model), pytest.raises(ModelForwardError, match=r"'stem\.0' \(Conv2d\)"):
        forward_with_context(model, torch.zeros(1, 3, 8, 8))


def test_training_the_digits_cnn_reaches_95_percent_quickly():
    result = neuralscope.train_digits(zoo.DigitsCNN(), epochs=8)
    assert result.test_accuracy > 0.95
    assert not result.model.training


def test_cli_without_a_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_every_public_name_resolves_and_functions_win_over_same_named_subpackages():
    import neuralscope.attention.rollout  # importing sub-modules must not rebind
    import neuralscope.graph.layout

    for name in neuralscope.__all__:
        assert getattr(neuralscope, name) is not None, name
    for name in ("graph", "attention", "capture"):
        assert callable(getattr(neuralscope, name)) and not hasattr(getattr(neuralscope, name), "__path__")
