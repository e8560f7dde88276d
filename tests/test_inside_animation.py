"""Animations: frames hold the checkpoints' real numbers; GIF/HTML players work; the forward
pass picture shows the network's real activations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from neuralscope.errors import FileFormatError, InputShapeError, LayerNotFoundError
from neuralscope.inspect.embedding import embed_layer
from neuralscope.plot.animation import (animate_forward, embeddings_over_training, feature_maps_over_training,
                                        ffmpeg_available, weights_over_training)
from neuralscope.zoo import MLP, DigitsCNN


@pytest.fixture(scope="module")
def checkpoints():
    torch.manual_seed(0)
    net = DigitsCNN(width=8)
    ckpts = []
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    for _ in range(3):
        ckpts.append({k: v.clone() for k, v in net.state_dict().items()})
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.zero_grad(set_to_none=True)
    return net, ckpts, x


def test_weight_frames_equal_checkpoints_and_share_one_scale(checkpoints, tmp_path):
    net, ckpts, _ = checkpoints
    anim = weights_over_training(ckpts, "features.0.weight", steps=[0, 1, 2])
    for frame, ck in zip(anim.frames, ckpts):
        np.testing.assert_array_equal(frame.matrix, ck["features.0.weight"].reshape(8, -1).numpy())
    vmax = max(float(ck["features.0.weight"].abs().max()) for ck in ckpts)
    assert anim.plot_kwargs["vmax"] == pytest.approx(vmax)
    path = anim.save(tmp_path / "w.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        sizes = set()
        for k in range(3):
            gif.seek(k)
            sizes.add(gif.size)
        assert len(sizes) == 1
    with pytest.raises(LayerNotFoundError, match="features.0.weight"):
        weights_over_training(ckpts, "features.0.weigth")


def test_feature_map_frames_use_each_checkpoint_and_leave_the_model(checkpoints, unchanged):
    net, ckpts, x = checkpoints
    with unchanged(net):
        anim = feature_maps_over_training(net, ckpts, x, "features.2", index=1)
    first = DigitsCNN(width=8)
    first.load_state_dict(ckpts[0])
    first.eval()
    with torch.no_grad():
        ref = first.features[:3](x)[1].numpy()
    np.testing.assert_allclose(anim.frames[0].maps, ref, rtol=1e-6)
    assert all((f.order[:8] == anim.frames[0].order[:8]).all() for f in anim.frames)  # fixed channels


def test_embedding_frames_are_aligned_to_the_last(checkpoints, unchanged):
    net, ckpts, x = checkpoints
    with unchanged(net):
        anim = embeddings_over_training(net, ckpts, x, "pool")
    last = DigitsCNN(width=8)
    last.load_state_dict(ckpts[-1])
    ref = embed_layer(last, x, "pool").coords
    np.testing.assert_allclose(anim.frames[-1].coords, ref, atol=1e-4)  # aligning to itself is identity
    # Procrustes only rotates/scales: pairwise distance ratios inside a frame are unchanged
    raw = embed_layer(_loaded(net, ckpts[0]), x, "pool").coords
    d_raw = np.linalg.norm(raw[:, None] - raw[None], axis=-1)
    d_al = np.linalg.norm(anim.frames[0].coords[:, None] - anim.frames[0].coords[None], axis=-1)
    mask = d_raw > 0
    ratio = d_al[mask] / d_raw[mask]
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-3)


def _loaded(net, ck):
    import copy

    m = copy.deepcopy(net)
    m.load_state_dict(ck)
    return m


def test_forward_pass_nodes_equal_the_real_activations(unchanged):
    torch.manual_seed(0)
    net = MLP(hidden=(6, 5))
    x = net.example_input(1)
    with unchanged(net):
        fp = animate_forward(net, x, max_units=64)
    with torch.no_grad():
        h1 = torch.relu(net.body[0](x))[0]
        h2 = torch.relu(net.body[2](h1[None]))[0]
        p = torch.softmax(net.head(h2[None])[0], 0)
    assert [lay["size"] for lay in fp.layers] == [64, 6, 5, 10]
    np.testing.assert_allclose(fp.layers[1]["values"], h1.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fp.layers[2]["values"], h2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fp.layers[3]["values"], p.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(fp.weights[1], net.body[2].weight.detach().numpy())


def test_forward_pass_shows_the_largest_units_of_wide_layers(tmp_path):
    torch.manual_seed(0)
    net = MLP()
    x = net.example_input(1)
    fp = animate_forward(net, x, max_units=8)
    with torch.no_grad():
        h1 = torch.relu(net.body[0](x))[0].numpy()
    shown = fp.layers[1]["units"]
    assert len(shown) == 8 and set(shown) == set(np.argsort(-np.abs(h1), kind="stable")[:8])
    np.testing.assert_array_equal(fp.weights[0], net.body[0].weight.detach().numpy()[np.ix_(shown, fp.layers[0]["units"])])
    path = fp.save(tmp_path / "fp.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 4  # input, two hidden layers, output
    with pytest.raises(InputShapeError, match="one input"):
        animate_forward(net, net.example_input(3))
    with pytest.raises(LayerNotFoundError, match="nn.Linear"):
        animate_forward(nn.Sequential(nn.ReLU()), torch.zeros(1, 3))


def test_mp4_needs_ffmpeg(checkpoints, tmp_path):
    _, ckpts, _ = checkpoints
    anim = weights_over_training(ckpts[:2], "classifier.weight")
    if ffmpeg_available():
        import shutil
        import subprocess

        path = anim.save(tmp_path / "w.mp4")
        assert path.stat().st_size > 1000
        if shutil.which("ffprobe"):  # an independent reader counts the frames
            out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                                  "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                                 capture_output=True, text=True, check=True).stdout
            assert int(out.strip()) == 2
    else:
        with pytest.raises(FileFormatError, match="needs the ffmpeg program"):
            anim.save(tmp_path / "w.mp4")


@pytest.mark.browser
def test_html_player_slider_changes_the_frame(checkpoints, page, tmp_path):
    _, ckpts, _ = checkpoints
    anim = weights_over_training(ckpts, "classifier.weight", steps=[0, 5, 10])
    path = anim.save(tmp_path / "player.html")
    page.goto(path.as_uri())
    label = page.locator(".ns-label")
    assert label.inner_text() == "step 0 (1/3)"
    src0 = page.locator(".ns-frame").get_attribute("src")
    page.locator(".ns-slider").fill("2")
    assert label.inner_text() == "step 10 (3/3)"
    assert page.locator(".ns-frame").get_attribute("src") != src0
    assert page.evaluate("() => document.querySelector('.ns-frame').naturalWidth") > 100
    page.locator(".ns-play").click()
    page.wait_for_function("() => document.querySelector('.ns-label').textContent.startsWith('step 0')")
    assert page.console_errors == []


def test_gif_and_html_player_share_one_drawing_until_the_frames_change(checkpoints, tmp_path, monkeypatch):
    _, ckpts, _ = checkpoints
    anim = weights_over_training(ckpts, "features.0.weight", steps=[0, 1, 2])
    drawn = []
    draw = type(anim)._draw_frames
    monkeypatch.setattr(type(anim), "_draw_frames", lambda self, dpi: drawn.append(dpi) or draw(self, dpi))
    anim.save(tmp_path / "a.gif")
    anim.save(tmp_path / "a.html")
    assert drawn == [90]
    gif = Image.open(tmp_path / "a.gif")
    first = anim.render()[0]
    assert gif.size == first.size  # the cached drawing is the one the GIF was written from
    anim.labels = ["a", "b", "c"]  # new labels are new pictures
    anim.render()
    anim.render(dpi=60)
    assert drawn == [90, 90, 60]
