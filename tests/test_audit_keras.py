"""neuralscope.audit on a Keras model (TensorFlow backend), through the adapter: the same
per-example numbers as Keras's own predictions and the public single-batch calls on the
Keras model (explain, deletion_insertion), layer statistics equal to the layers' outputs read
with Keras, and the model left as found."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":  # pragma: no cover - the suite runs on TensorFlow
    pytest.skip("these checks run on Keras's TensorFlow backend", allow_module_level=True)

from neuralscope.attribution import explain  # noqa: E402
from neuralscope.attribution.metrics import deletion_insertion  # noqa: E402
from neuralscope.audit import audit  # noqa: E402


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((12, 12, 3)), keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv"),
        keras.layers.Conv2D(8, 3, padding="same", name="conv2"), keras.layers.ReLU(name="act"),
        keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(3, name="dense")])


def test_a_keras_model_is_audited_like_its_own_calls(tmp_path):
    m = _model()
    rng = np.random.default_rng(0)
    x = rng.random((20, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 3, 20)
    before = [w.copy() for w in m.get_weights()]
    a = audit(m, x, labels=y, layer="act", run=tmp_path, shard_size=10, steps=4)
    assert all(np.array_equal(b, w) for b, w in zip(before, m.get_weights()))  # left as found
    t = a.table()
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(m(x)))
    np.testing.assert_array_equal(t["pred"], probs.argmax(1))
    np.testing.assert_allclose(t["prob"], probs.max(1), rtol=1e-5)
    np.testing.assert_allclose(t["loss"], -np.log(probs[np.arange(20), y]), rtol=1e-4)
    for lo in (0, 10):  # the public calls on the Keras model, shard by shard
        r = explain(m, x[lo:lo + 10], method="grad_cam", layer="act")
        c = deletion_insertion(m, x[lo:lo + 10], r, steps=4)
        np.testing.assert_allclose(t["grad_cam/deletion_auc"][lo:lo + 10], c.deletion_auc, atol=1e-6)
        np.testing.assert_allclose(t["grad_cam/insertion_auc"][lo:lo + 10], c.insertion_auc, atol=1e-6)
    # activation statistics of the layers with an activation (fused or their own), from Keras
    inner = keras.Model(m.inputs, [m.get_layer("conv").output, m.get_layer("act").output])
    conv, act = (keras.ops.convert_to_numpy(v) for v in inner(x))
    layers = a.summary["layers"]
    assert set(layers) == {"conv", "act"}
    for name, out in (("conv", conv), ("act", act)):  # channels last: units on the last axis
        never = np.flatnonzero((out > 0).sum((0, 1, 2)) == 0)
        np.testing.assert_array_equal(layers[name]["dead_units"], never)
    assert len(np.flatnonzero((conv > 0).sum((0, 1, 2)) == 0)) + len(layers["act"]["dead_units"]) < 14
    assert a.thumbnails("grad_cam").shape == (20, 12, 12) and a.projection.shape == (20, 2)


def test_keras_models_stay_on_the_local_engine(tmp_path):
    with pytest.raises(ValueError, match="local engine"):
        audit(_model(), np.zeros((4, 12, 12, 3), "float32"), layer="act", run=tmp_path, engine="ray")
