"""Hessian estimates against direct computation: the closed-form Hessian of least squares,
torch.autograd.functional.hvp, a dense eigendecomposition of a small MLP's Hessian (model
and per layer), PyHessian on the same model and batch, and curvature logged into a Run."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

import neuralscope
from neuralscope.landscape import hvp


def _least_squares(n=30, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, d, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    return model, x, y, (2.0 / n) * (x.T @ x)  # Hessian of mean((x w - y)^2)


def _mlp(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(24, 4, dtype=torch.float64), torch.randint(0, 3, (24,))
    return model, x, y


def _dense_hessian(model, x, y, names=None):
    params = dict(model.named_parameters())
    names = names or list(params)
    sizes = [params[n].numel() for n in names]

    def loss(flat):
        parts = dict(zip(names, (t.reshape(params[n].shape) for n, t in zip(names, flat.split(sizes)))))
        out = functional_call(model, {**{k: v.detach() for k, v in params.items()}, **parts}, (x,))
        return nn.functional.cross_entropy(out, y)

    flat = torch.cat([params[n].detach().reshape(-1) for n in names])
    return torch.autograd.functional.hessian(loss, flat)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_least_squares_eigenvalues_and_trace_match_the_closed_form(method, unchanged):
    model, x, y, h = _least_squares()
    exact = np.sort(np.linalg.eigvalsh(h.numpy()))[::-1]
    with unchanged(model):
        cv = neuralscope.curvature(model, (x, y), top_k=3, method=method, tol=1e-8, max_iter=300)
    # float64 throughout: Lanczos is exact to rounding, power iteration to its stopping rule
    np.testing.assert_allclose(cv.eigenvalues, exact[:3], rtol=1e-6 if method == "lanczos" else 1e-4)
    # Hutchinson on a non-diagonal Hessian is an estimate: within 4 of its standard errors
    assert abs(cv.trace - np.trace(h.numpy())) < 4 * cv.trace_std + 1e-9


def test_hessian_vector_product_equals_torch_autograd_functional_hvp():
    model, x, y = _mlp()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    g = torch.Generator().manual_seed(1)
    v = {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in zip(names, shapes)}

    def loss(*ps):
        return nn.functional.cross_entropy(functional_call(model, dict(zip(names, ps)), (x,)), y)

    _, expected = torch.autograd.functional.hvp(loss, tuple(p.detach() for p in model.parameters()),
                                                tuple(v[n] for n in names))
    got = hvp(model, (x, y), v)
    for n, e in zip(names, expected):
        torch.testing.assert_close(got[n], e, rtol=1e-10, atol=1e-12)


def test_top_eigenvalue_of_a_small_mlp_matches_a_dense_eigendecomposition():
    model, x, y = _mlp()
    dense = np.linalg.eigvalsh(_dense_hessian(model, x, y).numpy())
    cv = neuralscope.curvature(model, (x, y), top_k=2, tol=1e-9, per_layer=True, trace=False)
    np.testing.assert_allclose(cv.eigenvalues, np.sort(dense)[::-1][:2], rtol=1e-6)
    # per layer: the eigenvalues of that layer's own block of the dense Hessian
    block = _dense_hessian(model, x, y, ["2.weight", "2.bias"]).numpy()
    assert cv.layers["2"]["eigenvalues"][0] == pytest.approx(np.linalg.eigvalsh(block).max(), rel=1e-6)
    assert set(cv.layers) == {"0", "2"}


def test_eigenvalue_density_integrates_to_one_and_its_nodes_are_the_spectrum():
    from neuralscope.landscape import hessian
    from neuralscope.landscape.directions import weights_of
    from neuralscope.landscape.objective import make_objective

    model, x, y = _mlp()
    dense = np.sort(np.linalg.eigvalsh(_dense_hessian(model, x, y).numpy()))[::-1]
    cv = neuralscope.curvature(model, (x, y), density=True, density_steps=30, trace=False)
    grid, dens = cv.density
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-3)
    assert grid.min() <= dense.min() and grid.max() >= dense.max()
    # Lanczos run to the end of its Krylov space (at most 51 steps; fewer, as zero is a repeated
    # eigenvalue of a softmax classifier's Hessian): every quadrature node is an eigenvalue
    op = hessian.HessianOperator(make_objective(model, (x, y)), weights_of(model))
    _, _, nodes = hessian.slq_density(op, steps=op.size)
    gap = np.abs(nodes[:, None] - dense[None, :]).min(1)
    assert gap.max() < 1e-8 * np.abs(dense).max()
    assert nodes[0] == pytest.approx(dense[0]) and nodes[-1] == pytest.approx(dense[-1], abs=1e-10)


def test_top_eigenvalue_agrees_with_pyhessian_on_the_same_model_and_batch():
    pyhessian = pytest.importorskip("pyhessian")
    import copy

    model, x, y = _mlp()
    model = model.float()
    xf = x.float()
    ours = neuralscope.hessian_eigenvalues(model, (xf, y), k=1, tol=1e-6)[0]
    theirs = pyhessian.hessian(copy.deepcopy(model), nn.CrossEntropyLoss(), data=(xf, y), cuda=False)
    torch.manual_seed(0)
    ref, _ = theirs.eigenvalues(maxIter=500, tol=1e-6)
    assert ours == pytest.approx(ref[0], rel=1e-3)  # float32: both stop at 1e-6 relative change


def test_curvature_logged_into_a_run_is_read_back_beside_the_loss(tmp_path):
    model, x, y = _mlp()
    with neuralscope.Run(tmp_path / "run") as run:
        for step in (1, 2):
            run.log({"loss": 1.0 / step}, step=step)
            neuralscope.curvature(model, (x, y), per_layer=True, trace=False).log_to(run, step=step)
    reader = neuralscope.open_run(tmp_path / "run")
    names = reader.names("scalar")
    assert {"loss", "curvature/top_eigenvalue", "curvature/top_eigenvalue/0"} <= set(names)
    steps, values, _ = reader.scalar_arrays("curvature/top_eigenvalue")
    assert list(steps) == [1, 2] and values[0] == pytest.approx(values[1])


def test_ctrl_c_during_curvature_leaves_the_model_as_found(unchanged):
    model, x, y = _mlp()
    model.train()

    def stop(products):
        if products == 3:
            raise KeyboardInterrupt

    with unchanged(model), pytest.raises(KeyboardInterrupt):
        neuralscope.curvature(model, (x, y), on_progress=stop)


def test_curvature_pictures_save(tmp_path):
    model, x, y = _mlp()
    cv = neuralscope.curvature(model, (x, y), per_layer=True, density=True, density_steps=30, top_k=3)
    for kind in ("density", "layers", "spectrum"):
        cv.save(tmp_path / f"{kind}.png", kind=kind)
    cv.save(tmp_path / "cv.html")
    assert cv.to_dict()["kind"] == "curvature" and "curvature/trace/0" in cv.scalars()
    with pytest.raises(neuralscope.LayerNotFoundError, match="Valid names include: '0', '2'"):
        neuralscope.curvature(model, (x, y), layers=["3"])
