"""Cross-checks of the CAM family against pytorch-grad-cam on the same model and inputs.

pytorch-grad-cam returns maps min-max normalised per image after resizing (cv2); we return
unnormalised maps (comparable across examples) and keep the low-resolution map before the
ReLU in ``extras["cam"]``. Each test applies pytorch-grad-cam's normalisation to our
low-resolution map (ReLU, min-max, bilinear resize, min-max) and compares, so the relation
is checked exactly. pytorch-grad-cam changes the model (``eval()``, ``zero_grad()``), so it
runs on a copy; ours runs on the original under the ``unchanged`` check.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.image import scale_cam_image  # noqa: E402

from neuralscope.attribution import cam as ours  # noqa: E402
from neuralscope.zoo import TinyResNet  # noqa: E402

TARGETS = [1, 4, 7]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = TinyResNet()
    with torch.no_grad():
        net(torch.rand(64, 1, 8, 8))  # non-trivial BatchNorm statistics
    net.eval()
    # upsample the 8x8 digits-sized network to 32x32 inputs so maps have a real resize (8 -> 32)
    return net


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(2))


def _their_pipeline(low: np.ndarray, size) -> np.ndarray:
    cam = np.maximum(low, 0)
    return scale_cam_image(scale_cam_image(cam, size))


def _reference(cls, model, x, layer_name, **kw):
    m = copy.deepcopy(model)
    layer = dict(m.named_modules())[layer_name]
    with cls(model=m, target_layers=[layer], **kw) as c:
        return c(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t) for t in TARGETS])


@pytest.mark.parametrize("name,ref_cls", [
    ("GradCAM", "GradCAM"), ("GradCAMPlusPlus", "GradCAMPlusPlus"), ("XGradCAM", "XGradCAM"),
    ("LayerCAM", "LayerCAM"), ("ScoreCAM", "ScoreCAM"),
    # pytorch-grad-cam zeroes the ablated channel when the layer's minimum is 0 (layer2 ends
    # in a ReLU), as the paper and we do
    ("AblationCAM", "AblationCAM"),
])
def test_cam_matches_pytorch_grad_cam(name, ref_cls, model, x, unchanged):
    ref = _reference(getattr(pgc, ref_cls), model, x, "layer2")
    with unchanged(model):
        r = getattr(ours, name)(model, layer="layer2").attribute(x, target=TARGETS)
    mine = _their_pipeline(r.extras["cam"], (32, 32))
    # float32 maps in [0, 1]; cv2 vs torch bilinear and their float32 numpy math: 1e-4
    np.testing.assert_allclose(mine, ref, atol=1e-4)
    # our unnormalised map is the ReLU'd low-res map upsampled: same ordering of pixels
    assert r.attributions.shape == (3, 32, 32)
    assert np.corrcoef(r.attributions[0].ravel(), ref[0].ravel())[0, 1] > 0.999


def test_eigen_cam_matches_pytorch_grad_cam_up_to_the_svd_sign(model, x, unchanged):
    ref = _reference(pgc.EigenCAM, model, x, "layer2")
    with unchanged(model):
        r = ours.EigenCAM(model, layer="layer2").attribute(x)
    # the first principal direction's sign is arbitrary; pytorch-grad-cam keeps whatever the
    # SVD returns, we orient it along the mean activation. One of the two signs must match.
    for i in range(3):
        candidates = [_their_pipeline(s * r.extras["cam"][i:i + 1], (32, 32))[0] for s in (1, -1)]
        err = min(np.abs(c - ref[i]).max() for c in candidates)
        assert err < 1e-4


def test_score_cam_scores_each_distinct_mask_once(model, x):
    calls = []
    h = model.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        ours.ScoreCAM(model, layer="layer2").attribute(x[:1], target=1)
    finally:
        h.remove()
    channels = 32
    # one forward for the unperturbed input (+1 for outputs) and at most one row per channel
    assert sum(calls) <= channels + 2
