"""The digits CNN built in PyTorch and in Keras with the same weights: every view gives the
same numbers (activations, feature maps, dead units, weights, graph shapes and parameter
counts), up to the channel layout. ``neuralscope.zoo.keras_digits_cnn`` builds the Keras twin;
the attribution maps of both are compared in this file too (see the attribution tests)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")

import neuralscope  # noqa: E402
from neuralscope.inspect.activations import dead_units, feature_maps, layer_activations  # noqa: E402
from neuralscope.inspect.weights import conv_filters, weight_heatmap  # noqa: E402
from neuralscope.zoo import KERAS_DIGITS_NAMES, DigitsCNN, keras_digits_cnn  # noqa: E402

# float32 sums over at most 3*3*64 products of values near 1: differences stay below 1e-5
ATOL = 2e-5


@pytest.fixture(scope="module")
def twins():
    """A DigitsCNN with non-trivial BatchNorm statistics and affine parameters, its Keras twin,
    and 40 real digits in both layouts."""
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    net = DigitsCNN().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.1)
    d = load_digits()
    x = torch.from_numpy((d.images[:40, None] / 16).astype("float32"))
    return net, keras_digits_cnn(net), x, x.permute(0, 2, 3, 1).numpy()


def test_every_layer_computes_the_same_activations(twins):
    net, k, x, x_nhwc = twins
    for torch_name, keras_name in KERAS_DIGITS_NAMES.items():
        a = layer_activations(net, x, torch_name).numpy()
        b = layer_activations(k, x_nhwc, keras_name).numpy()  # canonical: (batch, channel, ...)
        np.testing.assert_allclose(b.reshape(a.shape), a, atol=ATOL, err_msg=torch_name)
    np.testing.assert_allclose(k(x_nhwc).numpy(), net(x).detach().numpy(), atol=ATOL)


def test_feature_maps_dead_units_and_weights_agree(twins):
    net, k, x, x_nhwc = twins
    fa, fb = feature_maps(net, x, "features.5", index=7), feature_maps(k, x_nhwc, "relu2", index=7)
    np.testing.assert_allclose(fb.maps, fa.maps, atol=ATOL)
    assert fb.order.tolist() == fa.order.tolist()
    da, db = dead_units(net, x), dead_units(k, x_nhwc)
    assert [r["dead"] for r in db.layers] == [r["dead"] for r in da.layers]
    np.testing.assert_allclose(db.layers[2]["active_fraction_per_unit"], da.layers[2]["active_fraction_per_unit"])
    np.testing.assert_array_equal(conv_filters(k, "conv2").weight, conv_filters(net, "features.3").weight)
    np.testing.assert_array_equal(weight_heatmap(k, "classifier").matrix, weight_heatmap(net, "classifier").matrix)


def test_graph_shapes_and_parameter_counts_agree_up_to_layout(twins):
    net, k, x, x_nhwc = twins
    gt, gk = neuralscope.graph(net, x[:2]), neuralscope.graph(k, x_nhwc[:2])
    # the same trainable weights; Keras also counts BatchNorm's moving statistics (torch buffers)
    assert gt.total_params == gk.trainable_params == 28970
    assert gk.total_params == k.count_params() == 28970 + 2 * (32 + 32 + 64)
    torch_shapes = {n.module: n.outputs[0].shape for n in gt.nodes.values() if n.kind == "module"}
    keras_shapes = {n.module: n.outputs[0].shape for n in gk.nodes.values() if n.kind == "module"}
    for torch_name, keras_name in KERAS_DIGITS_NAMES.items():
        t, kk = torch_shapes[torch_name], keras_shapes[keras_name]
        if len(t) == 4 and t[2:] != (1, 1):
            assert kk == (t[0], t[2], t[3], t[1]), torch_name  # channels last
        else:
            assert np.prod(kk) == np.prod(t), torch_name  # the pooled (B, 64, 1, 1) is (B, 64) in Keras
    sa, sb = neuralscope.summary(net, x[:1]), neuralscope.summary(k, x_nhwc[:1])
    assert sb.total_macs == sa.total_macs


# -- attribution maps (issue 11 part B) --------------------------------------------------------------
@pytest.mark.parametrize("method,options,tol", [
    ("saliency", {}, 1e-4),
    ("input_x_gradient", {}, 1e-4),
    ("integrated_gradients", {"steps": 32}, 1e-4),
    ("grad_cam", {"layer": ("features.9", "relu3")}, 1e-4),
    ("grad_cam_plus_plus", {"layer": ("features.9", "relu3")}, 1e-4),
    ("score_cam", {"layer": ("features.9", "relu3")}, 1e-4),
    ("occlusion", {}, 1e-4),
    ("guided_backprop", {}, 1e-4),
    ("deconvnet", {}, 1e-4),
    ("guided_grad_cam", {"layer": ("features.9", "relu3")}, 1e-4),
])
def test_attribution_maps_agree_across_frameworks(twins, method, options, tol):
    # the same function in both frameworks: maps agree to float32 rounding, relative to the
    # largest value of the map (1e-4; a transposed kernel or a wrong layer is off by O(1))
    net, k, x, x_nhwc = twins
    opts = dict(options)
    layer = opts.pop("layer", None)
    targets = list(range(10)) * 1
    xt, xk = x[:10], x_nhwc[:10]
    a = neuralscope.explain(net, xt, target=targets, method=method, **opts, **({"layer": layer[0]} if layer else {}))
    b = neuralscope.explain(k, xk, target=targets, method=method, **opts, **({"layer": layer[1]} if layer else {}))
    got = b.attributions if b.attributions.ndim == 3 else np.moveaxis(b.attributions, -1, 1)
    assert got.shape == a.attributions.shape
    scale = float(np.abs(a.attributions).max())
    assert float(np.abs(got - a.attributions).max()) <= tol * scale + 1e-7, method


@pytest.mark.parametrize("rule,captum_cls", [("guided_backprop", "GuidedBackprop"), ("deconvnet", "Deconvolution")])
def test_keras_relu_rules_equal_captums_on_the_pytorch_twin(twins, rule, captum_cls):
    """Captum (which we did not write) on the PyTorch twin is the oracle for the Keras ReLU
    rules: the same maps to float32 rounding (1e-4 of the map's scale)."""
    import captum.attr

    net, k, x, x_nhwc = twins
    targets = list(range(10))
    ref = getattr(captum.attr, captum_cls)(net).attribute(x[:10].clone().requires_grad_(True), target=targets)
    ref = ref.detach().numpy()
    got = np.moveaxis(neuralscope.explain(k, x_nhwc[:10], target=targets, method=rule).attributions, -1, 1)
    assert float(np.abs(got - ref).max()) <= 1e-4 * float(np.abs(ref).max())
