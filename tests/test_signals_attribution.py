"""1-D signal models: CAM maps at the input's length, Grad-CAM = CAM on a pooled linear
head, attribution mass inside the known window of the synthetic set for every method,
feature maps and filters of Conv1d layers, and the signal pictures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from neuralscope.attribution import explain
from neuralscope.data import make_signals
from neuralscope.errors import InputShapeError
from neuralscope.inspect.activations import feature_maps
from neuralscope.inspect.weights import conv_filters
from neuralscope.plot.signal import plot_signal, time_axis
from neuralscope.train import train_digits
from neuralscope.zoo import SignalCNN

LENGTH = 96


@pytest.fixture(scope="module")
def trained():
    data = make_signals(n=256, length=64, window=(24, 40), jitter=4, seed=1)
    torch.manual_seed(0)
    result = train_digits(SignalCNN(length=64, width=12), data=data, epochs=3, batch_size=16, lr=1e-2,
                          show_progress=False)
    assert result.test_accuracy > 0.9
    return result.model, data


def test_cam_maps_of_a_conv1d_model_have_the_input_length(unchanged):
    torch.manual_seed(0)
    net = SignalCNN(length=LENGTH).eval()
    x = net.example_input(3)
    with unchanged(net):
        for method in ("grad_cam", "grad_cam_plus_plus", "score_cam", "layer_cam", "eigen_cam", "ablation_cam"):
            r = explain(net, x, method=method)
            assert r.attributions.shape == (3, LENGTH) and r.layer == "features.7", method
            assert r.modality == "signal"
            assert r.extras["cam"].shape == (3, LENGTH // 2)  # the layer's resolution, after the pooling


def test_grad_cam_equals_cam_on_a_pooled_linear_head_in_one_dimension():
    torch.manual_seed(0)
    net = SignalCNN(length=LENGTH).eval()
    x = net.example_input(2)
    cam = explain(net, x, target=1, method="cam", layer="features", fc="classifier")
    grad = explain(net, x, target=1, method="grad_cam", layer="features")
    # Grad-CAM's weights are the mean gradient = the head's weights / length: the same map
    np.testing.assert_allclose(grad.attributions * (LENGTH // 2), cam.attributions, rtol=1e-4, atol=1e-5)


def test_upsampled_cam_is_linear_interpolation_of_the_layer_map():
    torch.manual_seed(0)
    net = SignalCNN(length=LENGTH).eval()
    r = explain(net, net.example_input(1), method="grad_cam")
    low = np.maximum(r.extras["cam"][0], 0)
    # half-pixel centres: output sample j reads the layer at (j + 0.5) / 2 - 0.5
    pos = np.clip((np.arange(LENGTH) + 0.5) / 2 - 0.5, 0, len(low) - 1)
    np.testing.assert_allclose(r.attributions[0], np.interp(pos, np.arange(len(low)), low), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method,options", [
    ("grad_cam", {}), ("integrated_gradients", {"steps": 32}), ("occlusion", {"window": 6, "stride": 2}),
    ("kernel_shap", {"mask": ("windows", 4), "n_samples": 256}), ("exact_shapley", {}),
])
def test_attribution_mass_falls_inside_the_known_window(trained, method, options, unchanged):
    """The share of positive attribution inside each burst's window must beat the share a
    random map puts there (the window's share of the length, 16/64 = 0.25) by at least 0.25."""
    net, data = trained
    sel = data.y_test == 1
    x, windows = data.x_test[sel][:8], data.windows_test[sel.numpy()][:8]
    with unchanged(net):
        r = explain(net, x, target=1, method=method, **options)
    a = np.clip(r.attributions if r.attributions.ndim == 2 else r.attributions.sum(1), 0, None)
    inside = np.zeros_like(a, dtype=bool)
    for i, (lo, hi) in enumerate(windows):
        inside[i, lo:hi] = True
    share = (a * inside).sum(1) / np.maximum(a.sum(1), 1e-12)
    rng = np.random.default_rng(0)
    random = rng.random(a.shape)
    random_share = (random * inside).sum(1) / random.sum(1)
    assert share.mean() > random_share.mean() + 0.25, (method, share.round(2))


def test_feature_maps_and_filters_accept_conv1d_layers(tmp_path, unchanged):
    torch.manual_seed(0)
    net = SignalCNN(length=LENGTH).eval()
    x = net.example_input(2)
    with unchanged(net):
        fm = feature_maps(net, x, "features.2", index=1)
        cf = conv_filters(net, "features.3")
    assert fm.maps.shape == (16, LENGTH) and fm.image.shape == (2, LENGTH)
    assert cf.mode == "taps" and cf.weight.shape == (16, 16, 5)
    ax = fm.plot()
    assert ax.get_ylabel().startswith("channel") and ax.images
    ax2 = cf.plot()
    assert "5 taps" in ax2.get_xlabel() and ax2.images[0].norm.vmin == -ax2.images[0].norm.vmax
    plt.close("all")
    with pytest.raises(ValueError, match="drawn with mode='taps'"):
        conv_filters(net, "features.0", mode="rgb")


def test_signal_plot_puts_time_in_the_users_units_and_a_band_under_each_channel():
    torch.manual_seed(0)
    net = SignalCNN(length=LENGTH).eval()
    r = explain(net, net.example_input(2), method="integrated_gradients", steps=8, sampling_rate=48.0,
                feature_names=["ecg", "resp"])
    axes = plot_signal(r, 1)
    assert len(axes) == 4  # signal, band, signal, band
    assert axes[-1].get_xlabel() == "time (s)" and axes[0].get_ylabel() == "ecg" and axes[2].get_ylabel() == "resp"
    line = axes[0].lines[0].get_xdata()
    assert line[-1] == pytest.approx((LENGTH - 1) / 48.0)
    band = axes[1].images[0]
    assert band.norm.vmin == -band.norm.vmax  # signed: centred at zero
    blocks = r.plot()  # several signals: the first ones, the rest announced
    assert len(blocks) == 2
    plt.close("all")
    t, label = time_axis(4, time=[0.0, 0.1, 0.2, 0.3])
    assert label == "time (s)" and t[-1] == 0.3
    with pytest.raises(InputShapeError, match="time= has 3 values for a signal of 96 samples"):
        explain(net, net.example_input(1), method="saliency", time=[0, 1, 2])
    with pytest.raises(InputShapeError, match="Got 3 feature names for inputs with 2 channels"):
        explain(net, net.example_input(1), method="saliency", feature_names=["a", "b", "c"])


def test_synthetic_signal_set_is_seeded_and_its_bursts_lie_in_the_window():
    a, b = make_signals(n=40, seed=3), make_signals(n=40, seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    lo, hi = a.windows_train.min(), a.windows_train.max()
    assert lo >= 48 - 8 and hi <= 80 + 8
    with pytest.raises(InputShapeError, match="must lie inside"):
        make_signals(length=64, window=(48, 80))
