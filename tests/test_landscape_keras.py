"""Loss landscapes and curvature of a Keras model (TensorFlow backend here; JAX and torch in a
subprocess each) through the adapter,
against its PyTorch twin holding the same weights: the same directions (drawn in the canonical
layout), the same losses on the grid, the same top eigenvalue and Hutchinson trace (the same
random vectors), and the Keras weights bit for bit as found."""

import numpy as np
import pytest
import torch
from torch import nn

import neuralscope
from neuralscope.errors import InputShapeError, LayerNotFoundError

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the Keras path needs TensorFlow")


def _twins():
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
                           keras.layers.Dense(3, name="out")])
    tm = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        for lin, layer in ((tm[0], km.layers[0]), (tm[2], km.layers[1])):
            lin.weight.copy_(torch.from_numpy(layer.kernel.numpy().T))
            lin.bias.copy_(torch.from_numpy(layer.bias.numpy()))
    g = np.random.default_rng(0)
    x = g.normal(size=(64, 5)).astype(np.float32)
    y = g.integers(0, 3, 64)
    return km, tm, x, y


def _weights(km):
    return [np.array(v.numpy(), copy=True) for v in km.variables]


def test_keras_landscape_equals_its_pytorch_twins_and_leaves_the_weights_bit_for_bit():
    km, tm, x, y = _twins()
    before = _weights(km)
    k = neuralscope.loss_landscape(km, (x, y), steps=5, seed=3, ignore=None, show_progress=False)
    t = neuralscope.loss_landscape(tm, (torch.from_numpy(x), torch.from_numpy(y)), steps=5, seed=3, ignore=None)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(km)))
    # float32 forward passes in two frameworks: agreement to ~1e-6 relative
    np.testing.assert_allclose(k.loss, t.loss, rtol=2e-5)
    np.testing.assert_allclose(k.accuracy, t.accuracy)
    with torch.no_grad():
        own = float(nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)))
    assert k.center_loss == pytest.approx(own, rel=1e-5)
    assert k.loss.max() > k.center_loss + 0.5  # a real surface, not a constant


def test_keras_landscape_is_left_as_found_when_interrupted():
    km, _, x, y = _twins()
    before = _weights(km)

    def stop(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        neuralscope.loss_landscape(km, (x, y), steps=5, on_progress=stop, show_progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(km)))


def test_keras_curvature_equals_its_pytorch_twins():
    km, tm, x, y = _twins()
    before = _weights(km)
    k = neuralscope.curvature(km, (x, y), top_k=2, trace_samples=20, tol=1e-6, show_progress=False)
    t = neuralscope.curvature(tm, (torch.from_numpy(x), torch.from_numpy(y)), top_k=2, trace_samples=20, tol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(km)))
    np.testing.assert_allclose(k.eigenvalues, t.eigenvalues, rtol=1e-4)
    assert k.trace == pytest.approx(t.trace, rel=1e-4)
    # and against the dense Hessian of the twin
    w = [p.detach() for p in tm.parameters()]
    shapes = [p.shape for p in w]

    def loss(flat):
        parts, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            parts.append(flat[i:i + n].reshape(s))
            i += n
        h = torch.tanh(torch.from_numpy(x).double() @ parts[0].T + parts[1])
        return nn.functional.cross_entropy(h @ parts[2].T + parts[3], torch.from_numpy(y))

    dense = torch.autograd.functional.hessian(loss, torch.cat([p.reshape(-1) for p in w]).double())
    top = np.sort(np.linalg.eigvalsh(dense.numpy()))[::-1][:2]
    np.testing.assert_allclose(k.eigenvalues, top, rtol=1e-3)


def test_keras_data_of_the_wrong_shape_is_one_sentence():
    km, _, x, y = _twins()
    with pytest.raises(InputShapeError, match="pass inputs shaped as the model expects"):
        neuralscope.loss_landscape(km, (x[:, :3], y), steps=3, show_progress=False)
    with pytest.raises(LayerNotFoundError, match="hidden"):
        neuralscope.curvature(km, (x, y), layers=["hiden"])


def test_keras_per_layer_curvature_equals_its_pytorch_twins_blocks():
    """Each layer's diagonal block: the same eigenvalues and trace as the twin's, and the top
    eigenvalue of the dense block of the twin's Hessian."""
    km, tm, x, y = _twins()
    before = _weights(km)
    k = neuralscope.curvature(km, (x, y), top_k=1, trace_samples=20, tol=1e-6, per_layer=True, show_progress=False)
    t = neuralscope.curvature(tm, (torch.from_numpy(x), torch.from_numpy(y)), top_k=1, trace_samples=20, tol=1e-6,
                              per_layer=True)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(km)))
    assert list(k.layers) == ["hidden", "out"] and list(t.layers) == ["0", "2"]
    for kl, tl in zip(k.layers.values(), t.layers.values()):
        np.testing.assert_allclose(kl["eigenvalues"], tl["eigenvalues"], rtol=1e-4)
        assert kl["trace"] == pytest.approx(tl["trace"], rel=1e-4) and kl["n_params"] == tl["n_params"]
    w2, b2 = tm[2].weight.detach().double(), tm[2].bias.detach().double()
    h = torch.tanh(tm[0](torch.from_numpy(x))).detach().double()

    def head_loss(flat):
        return nn.functional.cross_entropy(h @ flat[:24].reshape(3, 8).T + flat[24:], torch.from_numpy(y))

    block = torch.autograd.functional.hessian(head_loss, torch.cat([w2.reshape(-1), b2]))
    assert k.layers["out"]["eigenvalues"][0] == pytest.approx(np.linalg.eigvalsh(block.numpy())[-1], rel=1e-3)


_OTHER_BACKEND = """
import numpy as np, torch, keras, neuralscope
from torch import nn
keras.utils.set_random_seed(0)
km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
                       keras.layers.Dense(3, name="out")])
tm = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
with torch.no_grad():
    for lin, layer in ((tm[0], km.layers[0]), (tm[2], km.layers[1])):
        lin.weight.copy_(torch.from_numpy(np.asarray(layer.kernel.numpy()).T))
        lin.bias.copy_(torch.from_numpy(np.asarray(layer.bias.numpy())))
g = np.random.default_rng(0)
x, y = g.normal(size=(64, 5)).astype(np.float32), g.integers(0, 3, 64)
before = [np.array(v.numpy(), copy=True) for v in km.variables]
k = neuralscope.loss_landscape(km, (x, y), steps=5, seed=3, ignore=None, show_progress=False)
t = neuralscope.loss_landscape(tm, (torch.from_numpy(x), torch.from_numpy(y)), steps=5, seed=3, ignore=None)
np.testing.assert_allclose(k.loss, t.loss, rtol=2e-5)
kc = neuralscope.curvature(km, (x, y), top_k=2, trace_samples=10, tol=1e-6, per_layer=True, show_progress=False)
tc = neuralscope.curvature(tm, (torch.from_numpy(x), torch.from_numpy(y)), top_k=2, trace_samples=10, tol=1e-6,
                           per_layer=True)
np.testing.assert_allclose(kc.eigenvalues, tc.eigenvalues, rtol=1e-4)
assert abs(kc.trace - tc.trace) <= 1e-4 * abs(tc.trace)
for a, b in zip(kc.layers.values(), tc.layers.values()):
    np.testing.assert_allclose(a["eigenvalues"], b["eigenvalues"], rtol=1e-4)
assert all(np.array_equal(a, np.asarray(v.numpy())) for a, v in zip(before, km.variables))
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_landscape_and_curvature_on_the_other_backends_equal_the_pytorch_twins(backend, on_keras_backend):
    on_keras_backend(_OTHER_BACKEND, backend)
