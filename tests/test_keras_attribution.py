"""Attribution and feature visualization of Keras models (TensorFlow backend), cross-checked
against tf-keras-vis 0.8.7 on the same model and input (tf-keras-vis is the oracle; we did not
write it); JAX and torch backends by a subprocess smoke test each. Tolerances per test."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras_vis")
if keras.backend.backend() != "tensorflow":  # pragma: no cover - the suite runs on TensorFlow
    pytest.skip("these checks run on Keras's TensorFlow backend", allow_module_level=True)

from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: E402
from tf_keras_vis.gradcam import Gradcam  # noqa: E402
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus  # noqa: E402
from tf_keras_vis.saliency import Saliency  # noqa: E402
from tf_keras_vis.scorecam import Scorecam  # noqa: E402
from tf_keras_vis.utils.scores import CategoricalScore  # noqa: E402

from neuralscope.adapters.keras_autodiff import KerasFunction  # noqa: E402
from neuralscope.attribution import compare, explain  # noqa: E402
from neuralscope.attribution.metrics import deletion_insertion, infidelity  # noqa: E402
from neuralscope.errors import LayerNotFoundError, TargetError  # noqa: E402
from neuralscope.featurevis import objectives  # noqa: E402
from neuralscope.featurevis.optimize import feature_vis  # noqa: E402
from neuralscope.testing import KerasSnapshot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match")

TARGET = [1, 4, 0]


@pytest.fixture(scope="module")
def cnn():
    """conv -> BatchNorm (non-trainable statistics) -> max pool -> conv2 (4x4) -> GAP -> Dense."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(5, name="head")(h)
    model = keras.Model(inp, out, name="cnn")
    bn = model.get_layer("bn")  # non-trivial statistics, so the guard has something to protect
    bn.moving_mean.assign(np.linspace(-0.2, 0.2, 6).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 1.5, 6).astype("float32"))
    return model


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((3, 8, 8, 3), dtype=np.float32)


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def _minmax(a):
    a = np.asarray(a, dtype=np.float64)
    lo = a.reshape(len(a), -1).min(1).reshape(-1, *[1] * (a.ndim - 1))
    hi = a.reshape(len(a), -1).max(1).reshape(-1, *[1] * (a.ndim - 1))
    return (a - lo) / (hi - lo + 1e-7)


# -- cross-checks against tf-keras-vis ----------------------------------------------------------
def test_saliency_equals_tf_keras_vis_raw_gradient_in_the_users_layout(cnn, x):
    snap = KerasSnapshot.of(cnn)
    ours = explain(cnn, x, target=TARGET, method="saliency")
    theirs = Saliency(cnn, clone=True)(CategoricalScore(TARGET), x, keepdims=True, gradient_modifier=None,
                                       normalize_map=False)
    assert ours.attributions.shape == x.shape and ours.layout == "channels_last"
    # both are tf.GradientTape gradients of the same logit: float32 rounding only
    assert _rel(ours.attributions, theirs) < 1e-5
    assert snap.differences(cnn) == []


def test_smoothgrad_equals_tf_keras_vis_with_the_same_noise(cnn, x):
    samples, level, seed = 6, 0.2, 7
    np.random.seed(seed)  # tf-keras-vis draws np.random.normal(0, sigma, (samples, B, H, W, C))
    theirs = Saliency(cnn, clone=True)(CategoricalScore(TARGET), x, smooth_samples=samples, smooth_noise=level,
                                       keepdims=True, gradient_modifier=None, normalize_map=False)
    draws = np.random.RandomState(seed).standard_normal((samples, *x.shape))  # the same standard-normal values
    ours = explain(cnn, x, target=TARGET, method="smoothgrad", n_samples=samples, noise=level, draws=draws)
    # same noise (sigma = level * per-example value range in both), same gradients: float32 rounding
    assert _rel(ours.attributions, theirs) < 1e-4


def test_grad_cam_equals_tf_keras_vis_at_the_layer_and_after_upsampling(cnn, x):
    ours = explain(cnn, x, target=TARGET, method="grad_cam", layer="conv2")
    low = Gradcam(cnn, clone=True)(CategoricalScore(TARGET), x, penultimate_layer="conv2", expand_cam=False,
                                   normalize_cam=False, activation_modifier=None)
    # the map at the layer's 4x4 resolution, before the ReLU: float32 rounding only
    assert _rel(ours.extras["cam"], low) < 1e-5
    full = Gradcam(cnn, clone=True)(CategoricalScore(TARGET), x, penultimate_layer="conv2")
    assert ours.attributions.shape == full.shape == (3, 8, 8)
    # upsampling differs on purpose: scipy.ndimage.zoom (corner-aligned) there, half-pixel
    # bilinear here (as pytorch-grad-cam and cv2.resize); the normalized maps still agree closely
    for a, b in zip(_minmax(ours.attributions), full):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95


def test_grad_cam_plus_plus_equals_tf_keras_vis_with_its_alpha_normalization(cnn, x):
    ours = explain(cnn, x, target=TARGET, method="grad_cam_plus_plus", layer="conv2", normalize_alphas=True)
    theirs = GradcamPlusPlus(cnn, clone=True)(CategoricalScore(TARGET), x, penultimate_layer="conv2",
                                              expand_cam=False, normalize_cam=True)
    # tf-keras-vis multiplies every derivative by exp(score) (a positive factor per example,
    # removed by its min-max normalization) and divides each channel's alphas by their sum
    # (normalize_alphas=True here); its 1e-7 normalization epsilon bounds the difference
    assert _rel(_minmax(np.maximum(ours.extras["cam"], 0)), theirs) < 1e-4


def test_score_cam_equals_tf_keras_vis_with_class_probability_weights(cnn, x):
    ours = explain(cnn, x, target=TARGET, method="score_cam", layer="conv2", weighting="class_probability")
    theirs = Scorecam(cnn, clone=True)(CategoricalScore(TARGET), x, penultimate_layer="conv2", expand_cam=False,
                                       normalize_cam=False, activation_modifier=None)
    # same masks (corner-aligned bilinear upsampling, min-max per channel), same softmax
    # probabilities; mask epsilons differ (1e-8 here, 1e-7 there): 1e-4 of the map's scale
    assert _rel(ours.extras["cam"], theirs) < 1e-4


def test_activation_maximization_gradient_equals_tf_keras_vis_first_step(cnn):
    x0 = np.random.default_rng(3).random((1, 8, 8, 3), dtype=np.float32)
    seen = []
    ActivationMaximization(cnn, clone=True)(
        CategoricalScore([2]), seed_input=x0, input_range=(None, None), input_modifiers=[], regularizers=[],
        steps=1, optimizer=keras.optimizers.SGD(0.0), gradient_modifier=lambda g: seen.append(g.numpy()) or g)
    # ours: the feature-vis objective on the Keras model's output, through the adapter's gradients
    f = KerasFunction(cnn)
    xt = torch.from_numpy(x0).permute(0, 3, 1, 2).requires_grad_(True)
    with f.preserved():
        value = objectives.class_logit(2).batch_values({objectives.OUTPUT: f(xt)})
        value.sum().backward()
    ours = xt.grad.permute(0, 2, 3, 1).numpy()
    # tf-keras-vis minimizes -score: its gradient is minus ours (float32 rounding only)
    assert _rel(-ours, seen[0]) < 1e-5


def test_feature_vis_of_a_keras_layer_raises_its_activation(cnn):
    snap = KerasSnapshot.of(cnn)
    r = feature_vis(cnn, objectives.class_logit([0, 3]), steps=24, lr=0.1)
    assert r.images.shape == (2, 3, 8, 8)  # channels-first for every framework
    assert (r.history[-4:].mean(0) > r.history[:4].mean(0) + 0.02).all()  # both logits rise
    layer = feature_vis(cnn, "conv:0-1", steps=8, transforms=None)  # a hidden Keras layer by name
    assert layer.images.shape == (2, 3, 8, 8) and np.isfinite(layer.values).all()
    assert snap.differences(cnn) == []


# -- properties ---------------------------------------------------------------------------------
def test_ig_attributions_of_a_keras_model_sum_to_its_output_difference(cnn, x):
    r = explain(cnn, x, target=TARGET, method="integrated_gradients")
    fx = cnn(x).numpy()[range(3), TARGET]
    f0 = cnn(np.zeros_like(x)).numpy()[range(3), TARGET]
    total = r.attributions.reshape(3, -1).sum(1)
    np.testing.assert_allclose(total, fx - f0, rtol=0.01, atol=1e-5)  # the default 1 % tolerance
    assert float(r.metrics["completeness_error"].max()) < 0.01


def test_ig_takes_a_channels_last_baseline(cnn, x):
    base = np.full((8, 8, 3), 0.5, np.float32)
    r = explain(cnn, x, target=TARGET, method="ig", baseline=base)
    fb = cnn(np.broadcast_to(base, x.shape)).numpy()[range(3), TARGET]
    fx = cnn(x).numpy()[range(3), TARGET]
    np.testing.assert_allclose(r.attributions.reshape(3, -1).sum(1), fx - fb, rtol=0.01, atol=1e-5)


@pytest.mark.parametrize("method", ["input_x_gradient", "gradient_shap", "layer_cam", "xgrad_cam", "eigen_cam",
                                    "ablation_cam", "score_cam", "occlusion", "lime", "kernel_shap"])
def test_every_family_explains_a_keras_model_and_leaves_it_as_found(cnn, x, method):
    snap = KerasSnapshot.of(cnn)
    r = explain(cnn, x[:2], target=TARGET[:2], method=method)
    cam = "cam" in method
    assert r.attributions.shape == ((2, 8, 8) if cam else (2, 8, 8, 3))
    assert np.isfinite(r.attributions).all() and np.abs(r.attributions).max() > 0
    if cam:
        assert r.layer == "conv2"  # the last Conv2D by default
    assert snap.differences(cnn) == []


def test_ablation_cam_zeroes_a_channel_inside_the_keras_model(cnn, x):
    # the drop of the target when channel k of conv2 is zeroed, computed by hand with Keras
    r = explain(cnn, x[:1], target=[1], method="ablation_cam", layer="conv2")
    sub = keras.Model(cnn.inputs, [cnn.get_layer("conv2").output, cnn.output])
    act, out = (t.numpy() for t in sub(x[:1]))
    w, b = cnn.get_layer("head").kernel.numpy(), cnn.get_layer("head").bias.numpy()
    drops = []
    for k in range(act.shape[-1]):
        a = act.copy()
        a[..., k] = 0
        y = (a.mean((1, 2)) @ w + b)[0, 1]
        drops.append((out[0, 1] - y) / out[0, 1])
    cam = np.maximum(np.einsum("c,hwc->hw", np.array(drops), act[0]), 0)
    np.testing.assert_allclose(r.extras["cam"][0].clip(0), cam, rtol=1e-4, atol=1e-6)


def test_faithfulness_metrics_and_compare_take_keras_models(cnn, x):
    r = explain(cnn, x, target=TARGET, method="saliency")
    curves = deletion_insertion(cnn, x, r, steps=4)
    assert curves.deletion.shape == (3, 5)
    assert infidelity(cnn, x, r).shape == (3,)
    c = compare(cnn, x, methods=["saliency", "grad_cam"], target=TARGET, steps=4)
    assert set(c.scores["grad_cam"]) == {"deletion_auc", "insertion_auc"}


def test_model_randomization_of_a_keras_model_works_on_clones(cnn, x):
    from neuralscope.attribution.metrics import model_randomization

    snap = KerasSnapshot.of(cnn)
    r = model_randomization(cnn, x[:2], method="saliency", target=TARGET[:2])
    assert r.steps == ["head", "conv2", "bn", "conv"]  # output first, cascading
    assert r.spearman.shape == (4, 2) and float(r.spearman[-1].mean()) < 0.9  # the maps really change
    assert snap.differences(cnn) == []


def test_data_randomization_compares_two_keras_models(cnn, x):
    from neuralscope.attribution.metrics import data_randomization

    other = keras.models.clone_model(cnn)  # same architecture, fresh weights
    r = data_randomization(cnn, other, x[:2], method="saliency", target=TARGET[:2])
    assert r.spearman.shape == (1, 2) and np.isfinite(r.spearman).all()


def test_two_input_keras_model_gives_one_map_per_input():
    keras.utils.set_random_seed(2)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    z = keras.layers.Concatenate()([keras.layers.Dense(5, activation="tanh")(a), b])
    model = keras.Model([a, b], keras.layers.Dense(2)(z))
    xa, xb = np.random.default_rng(0).random((2, 4), np.float32), np.random.default_rng(1).random((2, 3), np.float32)
    r = explain(model, [xa, xb], target=1, method="saliency")
    ta, tb = tf.constant(xa), tf.constant(xb)
    with tf.GradientTape() as tape:
        tape.watch([ta, tb])
        y = model([ta, tb])[:, 1]
    ga, gb = tape.gradient(y, [ta, tb])
    assert _rel(r.attributions[0], ga.numpy()) < 1e-6 and _rel(r.attributions[1], gb.numpy()) < 1e-6
    ig = explain(model, {"a": xa, "b": xb}, target=1, method="ig")
    assert ig.input_names == ["a", "b"] and float(ig.metrics["completeness_error"].max()) < 0.01


# -- bad input ------------------------------------------------------------------------------------
def test_wrong_keras_layer_name_lists_the_closest_names_and_leaves_the_model(cnn, x):
    snap = KerasSnapshot.of(cnn)
    with pytest.raises(LayerNotFoundError, match="Did you mean: 'conv2'"):
        explain(cnn, x, method="grad_cam", layer="conv_2")
    assert snap.differences(cnn) == []


def test_out_of_range_target_of_a_keras_model_is_one_sentence(cnn, x):
    with pytest.raises(TargetError, match=r"Target 7 for example 0 is out of range: the model has 5 outputs"):
        explain(cnn, x, target=7, method="saliency")


def relu_layer_twin(model):
    """``cnn`` with each fused ``activation="relu"`` as a separate ``ReLU`` layer, same weights."""
    inp = keras.Input((8, 8, 3))
    h = keras.layers.ReLU(name="r1")(keras.layers.Conv2D(6, 3, padding="same", name="conv")(inp))
    h = keras.layers.MaxPooling2D(name="pool")(keras.layers.BatchNormalization(name="bn")(h))
    h = keras.layers.ReLU(name="r2")(keras.layers.Conv2D(8, 3, padding="same", name="conv2")(h))
    out = keras.layers.Dense(5, name="head")(keras.layers.GlobalAveragePooling2D(name="gap")(h))
    twin = keras.Model(inp, out)
    for name in ("conv", "bn", "conv2", "head"):
        twin.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return twin


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "guided_grad_cam"])
def test_relu_rules_treat_fused_relus_as_relu_layers_and_leave_the_model(cnn, x, method, unchanged):
    """Fused ``activation="relu"`` and a ``ReLU`` layer are the same ReLU for the rule: equal
    maps (float32 rounding, 1e-6 of the map's scale); the rule changes the map (it is not the
    plain gradient), and the fused activation is the plain one again afterwards."""
    cam = method == "guided_grad_cam"  # conv2's output is after its fused ReLU: the twin's r2
    with unchanged(cnn):
        fused = explain(cnn, x, target=TARGET, method=method, **({"layer": "conv2"} if cam else {})).attributions
    twin = relu_layer_twin(cnn)
    layers = explain(twin, x, target=TARGET, method=method, **({"layer": "r2"} if cam else {})).attributions
    scale = np.abs(layers).max()
    assert fused.shape == layers.shape and np.abs(fused - layers).max() <= 1e-6 * scale
    if method != "guided_grad_cam":
        plain = explain(cnn, x, target=TARGET, method="saliency").attributions
        assert np.abs(plain - fused).max() > 0.05 * scale
    assert cnn.get_layer("conv").activation is keras.activations.relu and "activation" in vars(cnn.get_layer("conv"))


def test_relu_rules_on_a_keras_model_without_relu_say_so():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="this Keras model has none"):
        explain(m, np.ones((1, 4), "float32"), method="guided_backprop")


# -- other backends ---------------------------------------------------------------------------------
_SMOKE = textwrap.dedent("""
    import numpy as np, keras, torch
    from neuralscope.attribution import explain
    from neuralscope.testing import KerasSnapshot
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    out = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(h))
    m = keras.Model(inp, out)
    x = np.random.default_rng(0).random((2, 6, 6, 2), dtype=np.float32)
    snap = KerasSnapshot.of(m)
    sal = explain(m, x, target=[0, 2], method="saliency").attributions
    if keras.backend.backend() == "jax":  # the backend's own gradient of the same logits
        import jax
        ref = jax.grad(lambda z: m(z)[np.array([0, 1]), np.array([0, 2])].sum())(x)
    else:
        xt = torch.tensor(x, requires_grad=True)
        m(xt)[[0, 1], [0, 2]].sum().backward()
        ref = xt.grad
    ref = np.asarray(keras.ops.convert_to_numpy(ref))
    assert sal.shape == x.shape and np.abs(sal - ref).max() <= 1e-5 * np.abs(ref).max(), np.abs(sal - ref).max()
    ig = explain(m, x, target=[0, 2], method="ig")
    assert ig.metrics["completeness_error"].max() < 0.01
    cam = explain(m, x, target=[0, 2], method="grad_cam", layer="conv")
    assert cam.attributions.shape == (2, 6, 6) and np.isfinite(cam.attributions).all()
    assert snap.differences(m) == []
    # Guided Backprop through the backend's custom gradient: a fused ReLU is a ReLU layer
    inp2 = keras.Input((6, 6, 2))
    r = keras.layers.ReLU()(keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp2))
    twin = keras.Model(inp2, keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(r)))
    for name in ("conv", "head"):
        twin.get_layer(name).set_weights(m.get_layer(name).get_weights())
    gb = explain(m, x, target=[0, 2], method="guided_backprop").attributions
    gb2 = explain(twin, x, target=[0, 2], method="guided_backprop").attributions
    assert np.abs(gb - gb2).max() <= 1e-6 * np.abs(gb2).max() and np.abs(gb - sal).max() > 0
    # the fit callback's statistics, reduced inside the compiled pass, equal numpy on the eager one
    from neuralscope.adapters.keras import KerasAdapter
    from neuralscope.keras import _Summary, _histogram
    m.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    a, y = KerasAdapter(m), np.array([0, 2])
    loss, gs, acts = a.loss_pass(["conv"], summary=_Summary(16, {"conv": "relu"}, a.channels_axis))(x, y)
    ref_loss, ref_gs, ref_acts = a.loss_gradients(x, y, layers=["conv"])
    h, (counts, _) = _histogram(acts["conv"][0]), np.histogram(ref_acts["conv"][0], 16)
    assert abs(loss - ref_loss) < 1e-5 and np.abs(h.counts - counts).sum() <= 2, (h.counts, counts)
    for n, g in ref_gs.items():
        assert abs(np.sqrt(float(gs[n]["sum_sq"])) - np.linalg.norm(g)) <= 1e-5 * np.linalg.norm(g) + 1e-7, n
    print("ok", keras.backend.backend())
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_attribution_smoke_on_other_backends(backend, on_keras_backend):
    on_keras_backend(_SMOKE, backend)


def test_grad_cam_of_a_channels_last_conv1d_is_over_positions():
    """A Conv1D's output (batch, positions, channels) gives one CAM value per position: the
    definition (ReLU of the channel sum of activations weighted by their position-averaged
    gradients) computed with tf.GradientTape is the oracle (float32, 1e-5 of the map's scale).
    Input-shaped maps come back (batch, positions, features), as the model takes them."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 3))
    a = keras.layers.Conv1D(5, 3, padding="same", activation="relu", name="conv")(inp)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling1D(name="gap")(a))
    m, x = keras.Model(inp, out), np.random.default_rng(0).random((2, 20, 3), dtype=np.float32)
    cam = explain(m, x, target=[0, 1], method="grad_cam", layer="conv").attributions
    with tf.GradientTape() as tape:
        acts, logits = keras.Model(inp, [a, out])(x)
        score = tf.reduce_sum(logits * np.eye(2, dtype="float32"))
    g = tape.gradient(score, acts).numpy()
    ref = np.maximum((g.mean(axis=1, keepdims=True) * acts.numpy()).sum(-1), 0)
    assert cam.shape == (2, 20) and np.abs(cam - ref).max() <= 1e-5 * np.abs(ref).max()
    sal = explain(m, x, target=[0, 1], method="saliency")
    assert sal.attributions.shape == x.shape and sal.layout == "channels_last"
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        s = tf.reduce_sum(m(xt) * np.eye(2, dtype="float32"))
    np.testing.assert_allclose(sal.attributions, tape.gradient(s, xt).numpy(), rtol=1e-5, atol=1e-7)


def test_a_callable_target_picks_the_output_of_a_multi_output_keras_model():
    """As for PyTorch models with several outputs, ``target=callable(outputs)`` picks any output
    (the outputs in ``model.outputs`` order); an int explains the first output. The gradient of
    that output's logit by tf.GradientTape is the oracle (float32, rel 1e-5)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh", name="trunk")(inp)
    m = keras.Model(inp, [keras.layers.Dense(3, name="a")(h), keras.layers.Dense(2, name="b")(h)])
    x = np.random.default_rng(0).random((4, 6), dtype=np.float32)
    got = explain(m, x, target=lambda outs: outs[1][:, 1], method="saliency").attributions
    first = explain(m, x, target=2, method="saliency").attributions
    for out_index, cls, value in ((1, 1, got), (0, 2, first)):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            s = tf.reduce_sum(m(xt)[out_index][:, cls])
        np.testing.assert_allclose(value, tape.gradient(s, xt).numpy(), rtol=1e-5, atol=1e-7)
