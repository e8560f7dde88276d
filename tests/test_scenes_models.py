"""The zoo's scene models: shapes, attention readable on every head of the ViT with an 8x8
patch grid behind the class token, and Grad-CAM on the CNN equal to CAM up to the pooling's
1/64 (global average pooling and a linear head). Training is exercised by the demo tests."""
import numpy as np
import torch

from neuralscope.attention import attention
from neuralscope.attribution import explain
from neuralscope.data.scenes import make_scenes
from neuralscope.zoo import SceneCNN, SceneViT, create


def test_scene_models_map_scenes_to_four_logits():
    torch.manual_seed(0)
    x = make_scenes(2, seed=0).images
    for name in ("scene_cnn", "scene_vit"):
        net = create(name).eval()
        assert net(x).shape == (2, 4) and tuple(net.example_input(2).shape) == (2, 3, 64, 64)


def test_vit_attention_has_every_head_and_an_8x8_patch_grid(unchanged):
    torch.manual_seed(0)
    vit = SceneViT().eval()
    x = make_scenes(2, seed=1).images
    with unchanged(vit):
        maps = attention(vit, x)
    assert maps.weights.shape == (2, 2, 4, 65, 65)
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)  # softmax rows
    grid = maps.patch_map(1)
    assert grid.shape == (8, 8) and np.all(grid > 0)


def test_grad_cam_on_the_scene_cnn_equals_cam():
    torch.manual_seed(0)
    cnn = SceneCNN().eval()
    x = make_scenes(3, seed=2).images
    a = explain(cnn, x, method="grad_cam", layer="features").attributions
    b = explain(cnn, x, method="cam", layer="features").attributions
    # Grad-CAM's weights are the mean gradient over the 8x8 grid: CAM's divided by 64
    np.testing.assert_allclose(a * 64, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())
