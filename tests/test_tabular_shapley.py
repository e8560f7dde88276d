"""Shapley values of tabular models: exact values against brute force and shap's exact
explainer, KernelSHAP against shap's KernelExplainer with the same background, additivity,
one-hot groups as one feature, background baselines for IG against Captum, bad input."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

from neuralscope.attribution import explain
from neuralscope.attribution.perturbation import KernelSHAP
from neuralscope.attribution.shapley import ExactShapley, all_coalitions, shapley_from_table
from neuralscope.errors import InputShapeError, NonFiniteError, UnknownOptionError

shap = pytest.importorskip("shap")
warnings.filterwarnings("ignore", message=".*IPython.*")


def _mlp(features: int, seed: int = 0, dtype=torch.float64) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(features, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 2)).to(dtype).eval()


def _value(net, x, bg, keep, target):
    rows = torch.where(torch.as_tensor(keep, dtype=torch.bool), x, bg)
    with torch.no_grad():
        return float(net(rows)[:, target].mean())


def _brute_force(net, x, bg, target, players):
    """Shapley values by the permutation definition: the average marginal contribution of
    each player over all orders in which the players can join."""
    m = len(players)
    phi = np.zeros(m)
    orders = list(itertools.permutations(range(m)))
    for order in orders:
        keep = np.zeros(x.shape[-1], dtype=bool)
        before = _value(net, x, bg, keep, target)
        for p in order:
            keep[players[p]] = True
            after = _value(net, x, bg, keep, target)
            phi[p] += after - before
            before = after
    return phi / len(orders)


def test_exact_shapley_equals_brute_force_over_all_orders(unchanged):
    net = _mlp(5)
    x, bg = torch.randn(2, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    with unchanged(net):
        r = ExactShapley(net, background=bg).attribute(x, target=1)
    for i in range(2):
        ref = _brute_force(net, x[i], bg, 1, [[k] for k in range(5)])
        # float32 results of a float64 model: 1e-6 absolute
        np.testing.assert_allclose(r.attributions[i], ref, atol=1e-6)


def test_exact_shapley_values_add_up_to_output_minus_expected_background_output():
    net = _mlp(8)
    x, bg = torch.randn(4, 8, dtype=torch.float64), torch.randn(10, 8, dtype=torch.float64)
    r = ExactShapley(net, background=bg).attribute(x, target=0)
    with torch.no_grad():
        fx, fb = net(x)[:, 0].numpy(), float(net(bg)[:, 0].mean())
    np.testing.assert_allclose(r.metrics["expected_value"], fb, atol=1e-12)
    np.testing.assert_allclose(r.attributions.sum(1), fx - fb, atol=1e-5)  # float32 values
    assert r.metrics["additivity_error"].max() < 1e-12  # on the float64 coefficients


def test_shapley_table_formula_on_a_known_game():
    # v(S) = |S|^2 for 3 symmetric players: every player gets v(all) / 3 = 3
    m = 3
    z = all_coalitions(m)
    v = z.sum(1).double() ** 2  # bool rows: the number of players in each coalition
    np.testing.assert_allclose(shapley_from_table(v, m).numpy(), [3.0, 3.0, 3.0])


def test_exact_shapley_matches_shaps_exact_explainer():
    net = _mlp(7, seed=1)
    x, bg = torch.randn(3, 7, dtype=torch.float64), torch.randn(12, 7, dtype=torch.float64)
    ours = explain(net, x, target=1, method="exact_shapley", background=bg).attributions

    def f(a):
        with torch.no_grad():
            return net(torch.from_numpy(a))[:, 1].numpy()

    ref = shap.explainers.Exact(f, shap.maskers.Independent(bg.numpy(), max_samples=12))(x.numpy()).values
    np.testing.assert_allclose(ours, ref, atol=1e-6)  # same definition; float32 results


def test_kernel_shap_enumerating_every_coalition_matches_shaps_kernel_explainer():
    net = _mlp(6, seed=2)
    x, bg = torch.randn(3, 6, dtype=torch.float64), torch.randn(9, 6, dtype=torch.float64)
    ours = explain(net, x, target=0, method="kernel_shap", background=bg, n_samples=2 ** 6)
    assert ours.metrics["exact"].all() and (ours.metrics["convergence"] == 0).all()

    def f(a):
        with torch.no_grad():
            return net(torch.from_numpy(a))[:, 0].numpy()

    ref = shap.KernelExplainer(f, bg.numpy()).shap_values(x.numpy(), nsamples=2 ** 6, l1_reg=False, silent=True)
    np.testing.assert_allclose(ours.attributions, ref, atol=1e-5)


def test_sampled_kernel_shap_is_as_close_to_exact_values_as_shaps():
    """With 300 of 1022 coalitions both samplers land near the exact values; ours is within
    twice shap's error (plus 0.005) and within 5 % of the largest value, and its convergence
    estimate is the size of its real error within a factor of 10."""
    net = _mlp(10, seed=3, dtype=torch.float32)
    x, bg = torch.randn(4, 10), torch.randn(16, 10)
    exact = ExactShapley(net, background=bg).attribute(x, target=1).attributions
    ours = KernelSHAP(net, background=bg, n_samples=300).attribute(x, target=1)

    def f(a):
        with torch.no_grad():
            return net(torch.from_numpy(a).float())[:, 1].numpy()

    ref = shap.KernelExplainer(f, bg.numpy()).shap_values(x.numpy(), nsamples=300, l1_reg=False, silent=True)
    err_ours, err_shap = np.abs(ours.attributions - exact).max(), np.abs(ref - exact).max()
    assert err_ours <= 2 * err_shap + 5e-3
    assert err_ours <= 0.05 * np.abs(exact).max()
    real = np.abs(ours.attributions - exact).max(1)
    assert np.all(ours.metrics["convergence"] < 10 * real + 1e-3)
    assert np.all(ours.metrics["convergence"] > real / 10)
    assert ours.metrics["additivity_error"].max() < 1e-5


def test_one_hot_group_is_one_feature_with_the_groups_shapley_value():
    net = _mlp(6, seed=4)
    x = torch.randn(2, 6, dtype=torch.float64)
    x[:, 2:5] = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    bg = torch.randn(5, 6, dtype=torch.float64)
    bg[:, 2:5] = torch.eye(3, dtype=torch.float64)[torch.tensor([0, 1, 2, 0, 1])]
    names = ["age", "income", "red", "green", "blue", "height"]
    for method in ("exact_shapley", "kernel_shap"):
        r = explain(net, x, target=0, method=method, background=bg, feature_names=names,
                    groups={"colour": ["red", "green", "blue"]}, n_samples=64) if method == "kernel_shap" else \
            explain(net, x, target=0, method=method, background=bg, feature_names=names,
                    groups={"colour": [2, 3, 4]})
        assert r.feature_names == ["age", "income", "colour", "height"] and r.attributions.shape == (2, 4)
        for i in range(2):
            ref = _brute_force(net, x[i], bg, 0, [[0], [1], [2, 3, 4], [5]])
            np.testing.assert_allclose(r.attributions[i], ref, atol=1e-5)
        assert r.extras["feature_values"][:, 2].tolist() == [1, 2]  # the category of the one-hot group


def test_gradient_methods_sum_their_columns_per_group():
    net = _mlp(4, seed=5, dtype=torch.float32)
    x = torch.randn(3, 4)
    plain = explain(net, x, target=1, method="integrated_gradients", steps=32)
    grouped = explain(net, x, target=1, method="integrated_gradients", steps=32, groups=[[1, 2]])
    np.testing.assert_allclose(grouped.attributions[:, 1], plain.attributions[:, 1:3].sum(1), rtol=1e-6)
    assert grouped.feature_names == ["x0", "x1+x2", "x3"]


def test_integrated_gradients_over_background_equals_captums_averaged_over_the_same_baselines(unchanged):
    captum = pytest.importorskip("captum.attr")
    net = _mlp(5, seed=6, dtype=torch.float64)
    x, bg = torch.randn(2, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    with unchanged(net):
        ours = explain(net, x, target=1, method="integrated_gradients", background=bg, steps=64)
    ig = captum.IntegratedGradients(net)
    ref = np.mean([ig.attribute(x, baselines=b.expand_as(x), target=1, n_steps=64).numpy() for b in bg], 0)
    np.testing.assert_allclose(ours.attributions, ref, atol=1e-5)  # both Gauss-Legendre; float32 results
    assert ours.metrics["additivity_error"].max() < 1e-3  # completeness; 64 steps across ReLU kinks


def test_gradient_shap_takes_the_background_as_its_baselines_and_reports_additivity():
    net = _mlp(6, seed=7, dtype=torch.float32)
    x, bg = torch.randn(3, 6), torch.randn(40, 6)
    r = explain(net, x, target=0, method="gradient_shap", background=bg, n_samples=200)
    with torch.no_grad():
        fb = float(net(bg)[:, 0].mean())
    np.testing.assert_allclose(r.metrics["expected_value"], fb, rtol=1e-5)
    gap = np.abs(net(x)[:, 0].detach().numpy() - fb)
    assert np.all(r.metrics["additivity_error"] < 0.25 * gap + 0.05)  # a sampled expectation


@pytest.mark.parametrize("stdev", [0.0, 0.3])
def test_gradient_shap_agrees_with_captums_in_expectation(stdev, unchanged):
    """Captum draws its baselines and interpolation points from numpy's global generator
    and its noise from torch's; ours from a seeded ``torch.Generator``: the draws cannot be
    shared, so the two estimators of the same expectation are compared. Each side gives
    ``K`` independent single-draw attributions per input (the input repeated ``K`` times,
    ``n_samples=1``); their means must agree within 4.5 standard errors of the difference
    (estimated from both sides' samples), per input and feature -- 40 comparisons per noise
    level, so a chance failure has probability below 1e-3. Measured: at most 2.4 (no noise)
    and 3.7 (noise) standard errors apart; Captum given noise that ours lacks is 9.4 apart,
    Captum drawing from half the baselines 17."""
    captum_attr = pytest.importorskip("captum.attr")
    net = _mlp(10, seed=3, dtype=torch.float32)
    torch.manual_seed(5)
    x, dist = torch.randn(4, 10), torch.randn(12, 10)
    k = 3000
    xs = x.repeat_interleave(k, 0)
    with unchanged(net):
        ours = explain(net, xs, target=1, method="gradient_shap", baselines=dist, n_samples=1, stdev=stdev,
                       seed=11).attributions.reshape(4, k, 10)
    np.random.seed(11)
    torch.manual_seed(11)
    ref = captum_attr.GradientShap(net).attribute(xs, baselines=dist, target=1, n_samples=1, stdevs=stdev)
    ref = ref.detach().numpy().reshape(4, k, 10)
    se = np.sqrt(ours.var(1) / k + ref.var(1) / k)
    gap = np.abs(ours.mean(1) - ref.mean(1))
    assert np.all(gap <= 4.5 * se + 1e-6), float((gap / (se + 1e-12)).max())


def test_kernel_shap_and_exact_leave_the_model_as_found_also_when_they_raise(unchanged):
    net = _mlp(4, dtype=torch.float32).train()
    net[0].weight.grad = torch.ones_like(net[0].weight)
    x, bg = torch.randn(2, 4), torch.randn(5, 4)
    with unchanged(net):
        explain(net, x, target=0, method="kernel_shap", background=bg, n_samples=20)
        explain(net, x, target=0, method="exact_shapley", background=bg)
        with pytest.raises(InputShapeError):
            explain(net, x, target=0, method="exact_shapley", background=torch.randn(5, 3))


def test_bad_tabular_input_gets_one_sentence_each():
    net = _mlp(4, dtype=torch.float32)
    x = torch.randn(3, 4)
    with pytest.raises(InputShapeError, match=r"Got 3 feature names for inputs with 4 columns; give one name per"):
        explain(net, x, method="kernel_shap", feature_names=["a", "b", "c"])
    with pytest.raises(InputShapeError, match=r"The background has shape \(5, 3\) but each input row has shape \(4,\)"):
        explain(net, x, method="kernel_shap", background=torch.randn(5, 3))
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match="the first is row 1 in column 'c'"):
        explain(net, bad, method="kernel_shap", feature_names=["a", "b", "c", "d"])
    with pytest.raises(NonFiniteError, match="background data contains 1 NaN"):
        explain(net, x, method="kernel_shap", background=torch.tensor([[0.0, float("nan"), 0, 0]]))
    with pytest.raises(UnknownOptionError, match=r"takes no option 'nsamples' \(did you mean 'n_samples'\?\); its options are"):
        explain(net, x, method="lime", nsamples=10)
    with pytest.raises(UnknownOptionError, match="takes no background data"):
        explain(net, x, method="saliency", background=torch.randn(5, 4))
    with pytest.raises(InputShapeError, match="at most 15 features"):
        explain(net.__class__(torch.nn.Linear(16, 2)), torch.randn(1, 16), method="exact_shapley")
    with pytest.raises(UnknownOptionError, match="takes no option 'nsamples'"):
        KernelSHAP(net, nsamples=5)  # the class itself checks too


def _relu_mlp(features: int, hidden: tuple[int, ...], seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers, prev = [], features
    for width in hidden:
        layers += [torch.nn.Linear(prev, width), torch.nn.ReLU()]
        prev = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(prev, 2)).eval()


def _model_coalition_values(net, x, bg, target):
    """``v(S)`` of every coalition from the model itself: rows built with ``torch.where``."""
    keep = all_coalitions(x.shape[0])
    rows = torch.where(keep[:, None, :], x, bg[None]).reshape(-1, x.shape[0])
    with torch.no_grad():
        return net(rows)[:, target].double().reshape(keep.shape[0], -1).mean(1)


def _saturate(net, every_unit_mixed: bool):
    """First layer made so that, against zero background rows and an input of ones, every
    unit changes sign over the coalitions (zero bias, weights of both signs) or none does
    (biases of +-50 that the weights cannot overturn)."""
    first = net[0]
    with torch.no_grad():
        if every_unit_mixed:
            first.bias.zero_()
            first.weight[:, 0] = first.weight[:, 0].abs() + 0.1
            first.weight[:, 1] = -first.weight[:, 1].abs() - 0.1
        else:
            first.bias.copy_(torch.where(torch.arange(first.out_features) % 2 == 0, 50.0, -50.0))


@pytest.mark.parametrize("case", ["random", "every unit mixed", "no unit mixed", "deep", "one hidden layer",
                                  "callable target"])
def test_sign_stable_split_equals_the_plain_path_and_the_model(case):
    """The ReLU split (units that never change sign in a block taken out of the per-row
    product) against the plain product (split_below=0) and against the model's own forward
    on every coalition's rows. Tolerance 1e-6 relative plus 2e-6: float32 sums in another
    order (values up to about 13 where the biases are +-50)."""
    from neuralscope.attribution.base import Target
    from neuralscope.attribution.chain import chain_forward
    from neuralscope.attribution.shapley import _HalfTables, _ReluLayer, all_coalition_values

    hidden = {"deep": (16, 12, 8), "one hidden layer": (16,)}.get(case, (16, 8))
    net = _relu_mlp(9, hidden, seed=len(case))
    x, bg = torch.randn(9), torch.randn(5, 9)
    if case in ("every unit mixed", "no unit mixed"):
        _saturate(net, case == "every unit mixed")
        x, bg = torch.ones(9), torch.zeros(3, 9)
    run = chain_forward(net, x[None], net(x[None]), 512)
    assert run is not None
    target = Target((lambda out: out[:, 1] - out[:, 0]) if case == "callable target" else 1, 1)
    labels = torch.arange(9)
    split = all_coalition_values(run, x, bg, labels, 9, target, 0, 4096, split_below=1.0)
    plain = all_coalition_values(run, x, bg, labels, 9, target, 0, 4096, split_below=0.0)
    if case == "callable target":
        ref = _model_coalition_values(net, x, bg, 1) - _model_coalition_values(net, x, bg, 0)
    else:
        ref = _model_coalition_values(net, x, bg, 1)
    np.testing.assert_allclose(split.numpy(), plain.numpy(), rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(split.numpy(), ref.numpy(), rtol=1e-6, atol=2e-6)
    signs = _HalfTables(run, x, bg, labels, 9, constant_unit=True).signs()[:, :-1]  # (the constant unit is 1)
    assert _ReluLayer.of(run.column_steps(1)) is not None
    if case == "every unit mixed":
        assert bool((signs == 0).all())
    elif case == "no unit mixed":
        assert bool((signs != 0).all()) and bool((signs == 1).any()) and bool((signs == -1).any())


def test_exact_shapley_of_relu_mlps_matches_shaps_exact_explainer():
    """The ReLU path (bias folded into the next layer, and a first layer saturated so that
    most units are fixed in sign: skipped by the compiled pass, or taken out by the
    sign-stable split where that pass is missing) against shap's exact explainer."""
    for saturated in (False, True):
        net = _relu_mlp(8, (24, 12), seed=8)
        if saturated:
            with torch.no_grad():
                net[0].bias[:18] = torch.where(torch.arange(18) % 2 == 0, 6.0, -6.0)
        x, bg = torch.randn(3, 8), torch.randn(10, 8)
        ours = explain(net, x, target=0, method="exact_shapley", background=bg)

        def f(a, net=net):
            with torch.no_grad():
                return net(torch.from_numpy(a).float())[:, 0].numpy()

        ref = shap.explainers.Exact(f, shap.maskers.Independent(bg.numpy(), max_samples=10))(x.numpy()).values
        np.testing.assert_allclose(ours.attributions, ref, atol=1e-5)  # float32 model on both sides
        assert ours.metrics["additivity_error"].max() < 1e-5


@pytest.mark.parametrize("head", ["linear", "sigmoid"])
def test_exact_shapley_of_a_single_linear_layer_equals_brute_force(head):
    """A chain that is one linear layer (its values from the tables' means) and one with a
    sigmoid after it (the target's column picked before the activation)."""
    from neuralscope.attribution.chain import chain_forward

    torch.manual_seed(9)
    layers = [torch.nn.Linear(6, 3)] + ([torch.nn.Sigmoid()] if head == "sigmoid" else [])
    net = torch.nn.Sequential(*layers).double().eval()
    x, bg = torch.randn(2, 6, dtype=torch.float64), torch.randn(7, 6, dtype=torch.float64)
    assert chain_forward(net, x[:1], net(x[:1]), 2 ** 6) is not None  # (64 coalitions: the chain is used)
    r = ExactShapley(net, background=bg).attribute(x, target=2)
    for i in range(2):
        np.testing.assert_allclose(r.attributions[i], _brute_force(net, x[i], bg, 2, [[k] for k in range(6)]),
                                   atol=1e-6)  # float32 results of a float64 model


@pytest.mark.parametrize("model", ["relu", "one hidden layer", "tanh", "callable target", "split"])
@pytest.mark.parametrize("players, rows", [(9, 48), (9, 8), (5, 64), (12, 4096)])
def test_blocks_cut_anywhere_in_the_coalition_tables_give_the_models_values(model, players, rows):
    """Blocks of ``rows`` coalition rows: 48 with 9 players cuts each background row's 512
    coalitions after every third high row (the last block of a row holds two); 8 is below
    one high row's 16 low coalitions (a block is then one high row); 64 with 5 players
    holds two background rows of 32 coalitions (the last block one); 4,096 with 12 players
    is the default block, one background row. Against the model's own forward on every
    coalition's rows; 1e-6 relative plus 2e-6, float32 sums in another order."""
    from neuralscope.attribution.base import Target
    from neuralscope.attribution.chain import chain_forward
    from neuralscope.attribution.shapley import _HalfTables, _ReluLayer, chain_coalition_values

    if model == "tanh":
        net = _mlp(players, seed=players, dtype=torch.float32)
    else:
        net = _relu_mlp(players, (16,) if model == "one hidden layer" else (24, 8), seed=players + rows)
    x, bg = torch.randn(players), torch.randn(5, players)
    run = chain_forward(net, x[None], net(x[None]), 4096)  # (the pass count only gates building it)
    assert run is not None
    column = None if model == "callable target" else 1
    steps = run.column_steps(column)
    relu = _ReluLayer.of(steps)
    assert (relu is None) == (model == "tanh")
    tables = _HalfTables(run, x, bg, torch.arange(players), players, constant_unit=relu is not None)
    target = Target(lambda out: out[:, 1] - out[:, 0], 1)
    scores = (lambda o: target.scores(o, torch.zeros(o.shape[0], dtype=torch.long))) if column is None else None
    with torch.no_grad():
        got = chain_coalition_values(run, tables, steps, scores, 1.0 if model == "split" else 0.0, rows=rows)
    ref = _model_coalition_values(net, x, bg, 1)
    if column is None:
        ref = ref - _model_coalition_values(net, x, bg, 0)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, atol=2e-6)


def test_exact_shapley_in_small_blocks_matches_shaps_exact_explainer(monkeypatch):
    """The whole method with blocks of 64 coalition rows (a quarter of the 16 x 16 table of
    each background row of 8 players, and the ReLU split off and on) against shap's exact
    explainer on the same float32 model and background."""
    from neuralscope.attribution import shapley

    net = _relu_mlp(8, (32, 16), seed=12)
    x, bg = torch.randn(3, 8), torch.randn(7, 8)

    def f(a):
        with torch.no_grad():
            return net(torch.from_numpy(a).float())[:, 0].numpy()

    ref = shap.explainers.Exact(f, shap.maskers.Independent(bg.numpy(), max_samples=7))(x.numpy()).values
    monkeypatch.setattr(shapley, "BLOCK_FLOATS", 64 * 33)  # 32 units and the constant one: 64 rows a block
    assert shapley.block_rows(33) == 64
    for split_below in (0.0, 1.0):
        monkeypatch.setattr(shapley, "SPLIT_BELOW", split_below)
        ours = explain(net, x, target=0, method="exact_shapley", background=bg)
        np.testing.assert_allclose(ours.attributions, ref, atol=1e-6)
        assert ours.metrics["additivity_error"].max() < 1e-5


def test_exact_shapley_rows_on_parallel_threads_equal_rows_one_after_another(monkeypatch):
    """On an idle machine with two intra-op threads the explained rows run on two Python
    threads (each with its own block buffers): the same values as one row after another (to
    float32 rounding: BLAS may split a product differently on one thread than on two, as MKL
    does on AMD EPYC), and the thread setting is given back."""
    from neuralscope.attribution import threads

    net = _relu_mlp(10, (32, 16), seed=3)
    x, bg = torch.randn(6, 10), torch.randn(9, 10)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(threads, "machine_busy", lambda: True)
        one_after_another = explain(net, x, target=1, method="exact_shapley", background=bg).attributions
        ran = []
        real = threads.ThreadPoolExecutor
        monkeypatch.setattr(threads, "ThreadPoolExecutor", lambda n: ran.append(n) or real(n))
        monkeypatch.setattr(threads, "machine_busy", lambda: False)
        parallel = explain(net, x, target=1, method="exact_shapley", background=bg).attributions
        assert ran == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(parallel, one_after_another, rtol=1e-5, atol=1e-8)


def test_the_fused_coalition_pass_is_built_by_the_install():
    # optional in pyproject.toml (a machine without a C compiler still installs): pinned here
    from neuralscope.attribution import shapley

    assert shapley._FUSED_COALITIONS is not None, "neuralscope._coalitions was not built: pip install -e . needs gcc"


@pytest.mark.parametrize("players, hidden, saturated", [(8, (16, 8), False), (9, (20, 7), False),
                                                        (12, (64, 32), False), (13, (24, 40), True)])
def test_fused_coalition_pass_equals_torchs_operations_and_the_model(monkeypatch, players, hidden, saturated):
    """The compiled pass (first layer's ReLU, second layer, its ReLU and the target's column
    in registers; units at most 0 over a run of 16 coalitions skipped) against torch's four
    operations a block and against the model's own forward on every coalition's rows;
    outputs that are not a multiple of 16 (padded with zero weights), an odd number of
    players (high tables twice the low ones) and a first layer where most units are skipped.
    Tolerance as for the sign-stable split: float32 sums in another order."""
    from neuralscope.attribution import shapley
    from neuralscope.attribution.base import Target
    from neuralscope.attribution.chain import chain_forward

    net = _relu_mlp(players, hidden, seed=players)
    if saturated:
        with torch.no_grad():
            net[0].bias[: hidden[0] * 3 // 4] = -4.0
    x, bg = torch.randn(players), torch.randn(6, players)
    run = chain_forward(net, x[None], net(x[None]), 512)
    labels, target = torch.arange(players), Target(1, 1)

    def values():
        return shapley.all_coalition_values(run, x, bg, labels, players, target, 0, 4096, split_below=0.0)

    fused = values()
    monkeypatch.setattr(shapley, "_FUSED_COALITIONS", None)
    four_operations = values()
    np.testing.assert_allclose(fused.numpy(), four_operations.numpy(), rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(fused.numpy(), _model_coalition_values(net, x, bg, 1).numpy(), rtol=1e-6, atol=2e-6)


def test_fused_kernel_equals_its_formula_where_most_units_are_skipped():
    """The kernel on its own, against its formula: score = b3 + w3 . relu(W2 relu(low + high)),
    with half tables drawn mostly negative, so most units are skipped in most runs."""
    from neuralscope._coalitions import relu_linear_relu_column

    gen = torch.Generator().manual_seed(3)
    units, rows, nlow, nhigh, outputs = 33, 3, 32, 64, 32
    low = torch.randn(units, rows, nlow, generator=gen) - 1.5
    high = torch.randn(units, rows, nhigh, generator=gen) - 1.0
    w2t, w3 = torch.randn(units, outputs, generator=gen), torch.randn(outputs, generator=gen)
    out = torch.empty(rows, nhigh * nlow)
    relu_linear_relu_column(low.data_ptr(), high.data_ptr(), units, rows, nlow, nhigh, w2t.data_ptr(), outputs,
                            w3.data_ptr(), 0.25, out.data_ptr())
    hidden = torch.relu(low[:, :, None, :].double() + high[:, :, :, None].double())  # (units, rows, nhigh, nlow)
    second = torch.relu(torch.einsum("uo,urhl->orhl", w2t.double(), hidden))
    want = 0.25 + torch.einsum("o,orhl->rhl", w3.double(), second).reshape(rows, -1)
    assert float((hidden == 0).double().mean()) > 0.8
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 16"):
        relu_linear_relu_column(low.data_ptr(), high.data_ptr(), units, rows, 8, nhigh, w2t.data_ptr(), outputs,
                                w3.data_ptr(), 0.25, out.data_ptr())


@pytest.mark.parametrize("compiled", [True, False])
def test_by_default_the_split_is_planned_only_where_the_compiled_pass_is_missing(monkeypatch, compiled):
    """The compiled pass skips inactive units itself and was faster than the sign-stable split
    at every share of fixed units measured: by default the split is not even planned there."""
    from neuralscope.attribution import shapley
    from neuralscope.attribution.base import Target
    from neuralscope.attribution.chain import chain_forward

    net = _relu_mlp(9, (24, 12), seed=9)
    with torch.no_grad():
        net[0].bias[:18] = torch.where(torch.arange(18) % 2 == 0, 6.0, -6.0)
    x, bg = torch.randn(9), torch.randn(4, 9)
    run = chain_forward(net, x[None], net(x[None]), 512)
    planned = []
    plan = shapley._split_plan
    monkeypatch.setattr(shapley, "_split_plan", lambda *a: planned.append(1) or plan(*a))
    if not compiled:
        monkeypatch.setattr(shapley, "_FUSED_COALITIONS", None)
    got = shapley.all_coalition_values(run, x, bg, torch.arange(9), 9, Target(1, 1), 0, 4096)
    assert bool(planned) is not compiled
    np.testing.assert_allclose(got.numpy(), _model_coalition_values(net, x, bg, 1).numpy(), rtol=1e-6, atol=2e-6)
