"""Trajectories: checkpoints that move in a known plane are recovered by the PCA projection,
the plane's loss at the origin is the last checkpoint's, and the pictures and animation draw."""
import numpy as np
import pytest
import torch
from torch import nn

import neuralscope
from neuralscope.errors import InputShapeError


def test_checkpoints_in_a_known_plane_keep_their_distances_in_the_projection(unchanged):
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    n = sum(v.numel() for v in base.values())
    u, v = torch.linalg.qr(torch.randn(n, 2))[0].T  # two orthonormal directions
    ab = np.array([[2.0, 1.0], [1.5, 0.2], [1.0, -0.5], [0.4, -0.3], [0.0, 0.0]])
    ckpts = []
    for a, b in ab:
        flat = torch.cat([t.reshape(-1) for t in base.values()]) + a * u + b * v
        ckpts.append(dict(zip(base, (flat[i:i + t.numel()].reshape(t.shape)
                                     for i, t in zip(np.cumsum([0] + [t.numel() for t in base.values()])[:-1],
                                                     base.values())))))
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    with unchanged(model):
        tr = neuralscope.trajectory(ckpts, model, (x, y), grid=5, steps=[0, 10, 20, 30, 40])
    # an orthonormal change of basis keeps all pairwise distances (up to float32 rounding)
    d_true = np.linalg.norm(ab[:, None] - ab[None], axis=-1)
    d_got = np.linalg.norm(tr.coords[:, None] - tr.coords[None], axis=-1)
    np.testing.assert_allclose(d_got, d_true, atol=1e-5)
    assert tr.explained.sum() == pytest.approx(1.0)
    model.load_state_dict(ckpts[-1])
    with torch.no_grad():
        assert tr.landscape.center_loss == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-5)


def test_trajectory_pictures_animation_and_errors(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    ckpts = []
    for _ in range(6):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        ckpts.append({k: t.clone() for k, t in net.state_dict().items()})
    tr = neuralscope.trajectory(ckpts, net, (x, y), grid=5)
    tr.save(tmp_path / "tr.png")
    anim = tr.animation(frames=4)
    assert len(anim.frames) == 4 and anim.frames[-1].upto == 6
    anim.save(tmp_path / "tr.gif")
    assert tr.to_dict()["landscape"]["kind"] == "loss_landscape"
    bare = neuralscope.trajectory(ckpts)  # no model, no data: the path only
    assert bare.landscape is None and bare.coords.shape == (6, 2)
    with pytest.raises(InputShapeError, match="at least 3 checkpoints"):
        neuralscope.trajectory(ckpts[:2])


def test_trajectory_from_a_watched_run_equals_the_one_from_checkpoints_taken_by_hand(tmp_path, unchanged):
    """run.watch(model, snapshots=N) stores the weights every N steps; trajectory(run) reads them
    back bit for bit (same coordinates as checkpoints copied by hand at those steps), and the
    budget stops the snapshots with a note instead of filling the disk."""
    from neuralscope.track import Run, open_run
    from neuralscope.track.snapshots import read_snapshots

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    by_hand, steps = [], []
    with Run(tmp_path / "run") as run:
        run.watch(net, every=1000, what=(), snapshots=3)
        for step in range(10):
            if step % 3 == 0:
                by_hand.append({k: v.detach().clone() for k, v in net.state_dict().items()})
                steps.append(step)
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    got_steps, states = read_snapshots(tmp_path / "run")
    assert got_steps == steps == [0, 3, 6, 9]
    for mine, stored in zip(by_hand, states):
        assert set(stored) == {k for k, v in mine.items() if v.is_floating_point()}
        assert all(torch.equal(stored[k], mine[k]) for k in stored)
    net.eval()
    with unchanged(net):
        from_run = neuralscope.trajectory(tmp_path / "run", net, (x, y), grid=5)
    from_ckpts = neuralscope.trajectory(by_hand, net, (x, y), grid=5, steps=steps)
    assert list(from_run.steps) == steps
    np.testing.assert_array_equal(from_run.coords, from_ckpts.coords)
    np.testing.assert_array_equal(from_run.landscape.loss, from_ckpts.landscape.loss)

    size = sum(v.numel() * 4 for v in by_hand[0].values() if v.is_floating_point())
    with Run(tmp_path / "small") as run:
        run.watch(net.train(), every=1000, what=(), snapshots=1, snapshot_budget=2 * size)
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    assert read_snapshots(tmp_path / "small")[0] == [0, 1]
    notes = open_run(tmp_path / "small").notes()
    assert any(n["code"] == "snapshots_stopped" and n["step"] == 2 for n in notes), notes
    with pytest.raises(InputShapeError, match="snapshots=N"):
        neuralscope.trajectory(tmp_path / "small", net, (x, y))


def test_dashboard_draws_the_trajectory_over_its_contour_and_reads_out_the_loss(tmp_path, page):
    """The dashboard's trajectory and loss_landscape views (web/src/views) draw the contour map,
    the path, and the loss under the pointer equal to a grid value of the logged result."""
    from neuralscope.server.app import STATIC, serve_in_background

    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    torch.manual_seed(0)
    net, opt = nn.Linear(4, 3), None
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    ckpts = []
    for _ in range(6):
        ckpts.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        opt.zero_grad(); nn.functional.cross_entropy(net(x), y).backward(); opt.step()
    tr = neuralscope.trajectory(ckpts, net, (x, y), grid=9)
    with neuralscope.Run(tmp_path / "runs" / "ls") as run:
        run.log_result(tr, name="path", step=0)
        run.log_result(neuralscope.loss_landscape(net, (x, y), steps=7), name="plane", step=0)
    srv = serve_in_background(tmp_path / "runs", poll_interval=0.5)
    try:
        for index, kind, grid in ((0, "trajectory", tr.landscape.loss), (1, "loss_landscape", None)):
            page.goto(srv.url + f"#/result?run=ls&index={index}")
            page.wait_for_selector(f".result-view[data-view='{kind}'] canvas.ls-map", timeout=60_000)
            box = page.locator("canvas.ls-map").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
            readout = page.locator(".ls-readout").inner_text()
            assert "loss" in readout and "accuracy" in readout, readout
            if grid is not None:
                assert "optimizer's path" in page.locator(".result-view").inner_text()
                shown = float(readout.split("loss")[1].split()[0].strip(":= ,"))
                assert np.isclose(grid, shown, rtol=1e-3).any(), (readout, grid)
            page.screenshot(path=str(tmp_path / f"{kind}.png"))
            assert page.console_errors == []
    finally:
        srv.stop()
