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
