"""loss_landscape against direct computation: a linear least-squares model whose loss on any
plane is a quadratic known in closed form, the DigitsCNN's own loss at (0, 0), the reference
approach (a model copy per point) on the same grid, and the model left as found, also when
interrupted."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

import neuralscope
from neuralscope.errors import InputShapeError, TargetError
from neuralscope.landscape.directions import random_direction, weights_of
from neuralscope.zoo import DigitsCNN


def _least_squares(seed=0, n=40, d=5):
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=g))
    x, y = torch.randn(n, d, generator=g), torch.randn(n, 1, generator=g)
    return model, x, y


def test_plane_of_a_least_squares_model_is_the_closed_form_quadratic():
    model, x, y = _least_squares()
    ls = neuralscope.loss_landscape(model, (x, y), steps=(7, 5), span=0.8, norm=None)
    d1, d2 = (random_direction(weights_of(model), seed=s, norm=None)["weight"].double() for s in (0, 1))
    w, X, Y = model.weight.detach().double(), x.double(), y.double()
    for j, b in enumerate(ls.y):
        for i, a in enumerate(ls.x):
            wp = w + a * d1 + b * d2
            expected = ((X @ wp.T - Y) ** 2).mean().item()
            # float32 forward passes: agreement to ~1e-6 relative
            assert ls.loss[j, i] == pytest.approx(expected, rel=1e-5), (a, b)


def test_surface_at_the_origin_equals_the_models_own_loss_for_the_digits_cnn(unchanged):
    torch.manual_seed(0)
    model = DigitsCNN(width=8).eval()
    digits = neuralscope.load_digits()
    x, y = digits.x_test[:64].reshape(-1, 1, 8, 8), digits.y_test[:64]
    with unchanged(model):
        ls = neuralscope.loss_landscape(model, (x, y), steps=3)
    with torch.no_grad():
        out = model(x)
    own = nn.functional.cross_entropy(out, y).item()
    own_acc = (out.argmax(1) == y).float().mean().item()
    assert ls.loss[1, 1] == pytest.approx(own, rel=1e-5) and ls.center_loss == pytest.approx(own, rel=1e-5)
    assert ls.accuracy[1, 1] == pytest.approx(own_acc)


@pytest.mark.parametrize("how", [dict(points_per_batch=4, batch_size=16),  # vmap over 4 points
                                 dict(points_per_batch=1)])  # one point at a time, channels-last
def test_batched_points_equal_the_reference_approach_of_one_model_copy_per_point(how):
    torch.manual_seed(1)
    model = DigitsCNN(width=4).eval()
    digits = neuralscope.load_digits()
    x, y = digits.x_test[:50].reshape(-1, 1, 8, 8), digits.y_test[:50]
    ls = neuralscope.loss_landscape(model, (x, y), steps=3, seed=3, **how)
    assert ls.meta["points_per_batch"] == how["points_per_batch"]
    w = weights_of(model)
    dx, dy = random_direction(w, seed=3), random_direction(w, seed=4)
    for j, b in enumerate(ls.y):
        for i, a in enumerate(ls.x):
            net = copy.deepcopy(model)  # what tomgoldstein/loss-landscape does, point by point
            with torch.no_grad():
                for n, p in net.named_parameters():
                    p.copy_(w[n] + a * dx[n] + b * dy[n])
                expected = nn.functional.cross_entropy(net(x), y).item()
            assert ls.loss[j, i] == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("points_per_batch", [None, 4])  # the working copy cast to bfloat16; vmap under autocast
def test_bfloat16_surface_stays_within_three_percent_of_float32(points_per_batch):
    """dtype=torch.bfloat16 against the float32 surface of the same trained CNN and grid: the
    largest relative loss difference over the grid under 3% (measured 0.8%; 1.5-2.3% on the
    benchmark's digits CNN, largest where the loss is smallest), under 1% of the plane's loss
    range, and the accuracy within 2 points in 100."""
    torch.manual_seed(0)
    model = DigitsCNN(width=8).eval()
    digits = neuralscope.load_digits()
    x, y = digits.x_train[:256].reshape(-1, 1, 8, 8), digits.y_train[:256]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    f32 = neuralscope.loss_landscape(model, (x, y), steps=7, points_per_batch=points_per_batch)
    b16 = neuralscope.loss_landscape(model, (x, y), steps=7, dtype=torch.bfloat16, points_per_batch=points_per_batch)
    assert b16.meta["points_per_batch"] == f32.meta["points_per_batch"] == (points_per_batch or 1)
    span = f32.loss.max() - f32.loss.min()
    err = np.abs(b16.loss - f32.loss)
    assert 0 < err.max() < 0.01 * span, (err.max(), span)  # bf16 keeps 8 bits of mantissa: not exact, close
    assert (err / f32.loss).max() < 0.03, (err / f32.loss).max()
    assert np.abs(b16.accuracy - f32.accuracy).max() <= 0.02


def test_a_model_vmap_cannot_batch_falls_back_to_one_point_at_a_time():
    class Branchy(nn.Module):  # data-dependent Python control flow: vmap refuses it
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            out = self.fc(x)
            return out if bool(out.sum() > -1e9) else -out

    torch.manual_seed(0)
    model, x, y = Branchy(), torch.randn(10, 3), torch.randint(0, 2, (10,))
    ls = neuralscope.loss_landscape(model, (x, y), dims=1, steps=5)
    assert ls.center_loss == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-5)


def test_interpolation_ends_at_the_losses_of_both_models():
    model_a, x, y = _least_squares(0)
    model_b, _, _ = _least_squares(1)
    ls = neuralscope.loss_landscape(model_a, (x, y), dims=1, to=model_b.state_dict(), steps=9, span=(-0.5, 1.5))
    loss = lambda m: nn.functional.mse_loss(m(x), y).item()
    assert ls.loss[np.argmin(abs(ls.x - 0))] == pytest.approx(loss(model_a), rel=1e-5)
    assert ls.loss[np.argmin(abs(ls.x - 1))] == pytest.approx(loss(model_b), rel=1e-5)
    assert ls.direction == "interpolation" and ls.accuracy is None  # regression targets: no accuracy


def test_a_dataloader_gives_the_same_surface_as_one_batch():
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 3), torch.randn(30, 4), torch.randint(0, 3, (30,))
    whole = neuralscope.loss_landscape(model, (x, y), steps=5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=7)
    split = neuralscope.loss_landscape(model, loader, steps=5)
    np.testing.assert_allclose(split.loss, whole.loss, rtol=1e-5)
    np.testing.assert_allclose(split.accuracy, whole.accuracy)


@pytest.mark.parametrize("points_per_batch", [2, 1])  # vmap; the working copy
@pytest.mark.parametrize("where", ["progress callback", "loss function"])
def test_ctrl_c_leaves_the_model_exactly_as_found(where, points_per_batch, unchanged):
    torch.manual_seed(0)
    model = DigitsCNN(width=4).train()  # training mode, with grads and a hook, to be kept
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    model.features[0].register_forward_hook(lambda *a: None)
    calls = []

    def stop(*_):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    def loss_fn(out, target):
        stop()
        return nn.functional.cross_entropy(out, target)

    kwargs = {"on_progress": stop} if where == "progress callback" else {"loss_fn": loss_fn}
    with unchanged(model), pytest.raises(KeyboardInterrupt):
        neuralscope.loss_landscape(model, (x, y), steps=5, points_per_batch=points_per_batch, **kwargs)
    assert model.training


def test_results_save_png_html_and_json(tmp_path):
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 3), torch.randn(20, 4), torch.randint(0, 3, (20,))
    ls = neuralscope.loss_landscape(model, (x, y), steps=5)
    for name in ("c.png", "s.png", "page.html", "data.json"):
        ls.save(tmp_path / name, **({"kind": "surface"} if name == "s.png" else {}))
    page = (tmp_path / "page.html").read_text()
    assert 'data-ns-mount="landscape"' in page and "http://" not in page and "https://" not in page
    d = ls.to_dict()
    assert d["kind"] == "loss_landscape" and len(d["loss"]) == 5 and d["minimum"]["loss"] == pytest.approx(ls.loss.min())
    one = neuralscope.loss_landscape(model, (x, y), dims=1, steps=5)
    one.save(tmp_path / "curve.png")


def test_bad_arguments_raise_one_clear_error():
    model = nn.Linear(2, 2)
    x, y = torch.randn(4, 2), torch.randint(0, 2, (4,))
    with pytest.raises(InputShapeError, match="dims must be 1 or 2"):
        neuralscope.loss_landscape(model, (x, y), dims=3)
    with pytest.raises(TargetError, match="targets"):
        neuralscope.loss_landscape(model, x)
    with pytest.raises(InputShapeError, match="same architecture"):
        neuralscope.loss_landscape(model, (x, y), to=nn.Linear(3, 2))
    with pytest.raises(InputShapeError, match="4 inputs but 3 targets"):
        neuralscope.loss_landscape(model, (x, y[:3]))


@pytest.mark.parametrize("call", [
    lambda m, d: neuralscope.loss_landscape(m, d, dims=1, steps=3, show_progress=False),
    lambda m, d: neuralscope.curvature(m, d, max_iter=3, trace_samples=1, show_progress=False),
])
def test_wrong_shaped_data_names_the_fix_and_leaves_the_model(call, unchanged):
    model = DigitsCNN().train()
    flat, labels = torch.rand(6, 64), torch.randint(0, 10, (6,))
    with unchanged(model), pytest.raises(InputShapeError, match=r"shape \(6, 64\).*pass inputs shaped as") as err:
        call(model, (flat, labels))
    assert not isinstance(err.value, RuntimeError) and "\n" not in str(err.value)
    with unchanged(model), pytest.raises(TargetError, match="pass targets that fit loss_fn"):
        call(model, (flat.reshape(6, 1, 8, 8), torch.randint(0, 10, (6, 3))))


def test_interactive_page_draws_both_canvases_and_reads_out_the_loss_under_the_pointer(tmp_path, page):
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 3), torch.randn(20, 4), torch.randint(0, 3, (20,))
    ls = neuralscope.loss_landscape(model, (x, y), steps=7)
    ls.save(tmp_path / "ls.html")
    page.goto((tmp_path / "ls.html").as_uri())
    box = page.locator("canvas.ls-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
    readout = page.locator(".ls-readout").inner_text()
    assert "loss" in readout and "accuracy" in readout, readout
    painted = page.evaluate("""() => [...document.querySelectorAll('canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (d.length / 4); })""")
    # the map fills its canvas; the surface (a shallow bowl seen from above) a good part of its own
    assert painted[0] > 0.9 and painted[1] > 0.1, painted
    page.screenshot(path=str(tmp_path / "shot.png"))
    assert page.console_errors == []
