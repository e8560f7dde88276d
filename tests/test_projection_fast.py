"""t-SNE on openTSNE with exact neighbours, and PCA by the covariance route: checked against
scikit-learn (PCA, NearestNeighbors, trustworthiness) and openTSNE's own default pipeline."""
import numpy as np
import pytest

from neuralscope.inspect.embedding import embed, exact_neighbors, pca, tsne


def _clusters(n, dim=20, k=4, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, k, n)
    return (rng.normal(size=(k, dim))[lab] * 4 + rng.normal(size=(n, dim))).astype(np.float32), lab


def test_exact_neighbors_equal_sklearn_nearest_neighbors():
    from sklearn.neighbors import NearestNeighbors

    x, _ = _clusters(700)
    idx, dist = exact_neighbors(x, 9, chunk=128)  # several chunks
    ref_d, ref_i = NearestNeighbors(n_neighbors=9).fit(x).kneighbors()
    # float32 distance products: distances agree to ~1e-4 relative, the sets of neighbours exactly
    np.testing.assert_allclose(dist, ref_d, rtol=1e-3, atol=1e-3)
    assert (np.sort(idx, 1) == np.sort(ref_i, 1)).mean() > 0.999


def test_pca_equals_sklearn_also_with_a_large_mean_column():
    from sklearn.decomposition import PCA

    x, _ = _clusters(2000, dim=30)
    x[:, 3] += 1e5  # a column whose mean dwarfs its spread: the uncentred product would cancel
    for data in (x, x.astype(np.float64)):
        coords, comps, ratio = pca(data, 3)
        ref = PCA(3, svd_solver="full").fit(data.astype(np.float64))
        np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-4)
        for i in range(3):  # axes equal up to sign; float32 products: 1e-4 of the coordinate scale
            r = ref.transform(data.astype(np.float64))[:, i]
            s = np.sign(np.dot(coords[:, i], r))
            np.testing.assert_allclose(s * coords[:, i], r, atol=1e-4 * np.abs(r).max())


def _trust(x, y, k=10):
    from sklearn.manifold import trustworthiness

    return trustworthiness(x, y, n_neighbors=k)


def test_tsne_matches_opentsne_default_pipeline_quality_and_is_deterministic():
    import openTSNE

    x, lab = _clusters(600)
    kw = dict(early_exaggeration_iter=100, n_iter=200)  # short schedules: a fast test, same for both
    a = tsne(x, seed=1, n_jobs=1, **kw)
    np.testing.assert_array_equal(a, tsne(x, seed=1, n_jobs=1, **kw))
    ref = np.asarray(openTSNE.TSNE(random_state=1, n_jobs=1, **kw).fit(x.astype(np.float64)))
    # same method, different neighbour search (exact vs Annoy): the same quality of embedding
    assert _trust(x, a) > 0.95 and abs(_trust(x, a) - _trust(x, ref)) < 0.01
    d = ((a[:, None] - a[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (lab[d.argmin(1)] == lab).mean() > 0.98


def test_embed_tsne_uses_opentsne_and_keeps_nan_rows_out():
    x, lab = _clusters(300)
    x[5] = np.nan
    e = embed(x, "tsne", labels=lab, max_iter=100, early_exaggeration_iter=50)
    assert np.isnan(e.coords[5]).all() and np.isfinite(np.delete(e.coords, 5, 0)).all()
    assert e.coords.shape == (300, 2)


@pytest.mark.parametrize("dims", [3])
def test_tsne_in_three_dimensions_uses_barnes_hut(dims):
    x, _ = _clusters(200)
    y = tsne(x, dims, n_iter=150, early_exaggeration_iter=50, n_jobs=1)
    assert y.shape == (200, 3) and _trust(x, y) > 0.9


def test_rows_whose_sum_overflows_are_still_finite_rows():
    x = np.ones((6, 3), np.float32)
    x[1] = [3e38, 3e38, 0]  # finite values, row sum overflows float32
    x[2, 1], x[4, 0] = np.nan, np.inf
    from neuralscope.inspect.embedding import _finite_rows

    np.testing.assert_array_equal(_finite_rows(x), np.isfinite(x).all(1))


def test_tsne_stopped_early_keeps_opentsne_defaults_quality_on_overlapping_clusters():
    """opt-SNE's stopping rule and the renumbered points against openTSNE's full default
    schedule (250 + 500 iterations) on clusters that overlap: trustworthiness within 0.005 and
    the KL divergence within 5%, the price of stopping once an iteration gains less than 1/5000
    (here: stopped after 250 + 210 iterations, trustworthiness 0.9771 against 0.9774, KL 1.228
    against 1.189; 50,000 noisy copies of scikit-learn's digits: 0.958 against 0.957)."""
    import openTSNE

    rng = np.random.default_rng(3)
    lab = rng.integers(0, 8, 1500)
    x = rng.normal(size=(8, 20))[lab] * 1.5 + rng.normal(size=(1500, 20))  # centres ~2 sd apart
    trace = []
    ours = tsne(x, seed=0, n_jobs=1, trace=trace)
    ref = openTSNE.TSNE(random_state=0, n_jobs=1).fit(x)
    iters = sum(max(i for p, i, _ in trace if p == phase) for phase in ("exaggeration", "main"))
    assert iters < 750  # it did stop early
    assert abs(_trust(x, ours) - _trust(x, np.asarray(ref))) < 0.005
    assert trace[-1][2] < 1.05 * ref.kl_divergence  # KL at the last check (before the last step)


def test_tsne_callbacks_see_the_points_in_the_callers_order():
    x, _ = _clusters(400)
    seen = []
    y = tsne(x, n_jobs=1, n_iter=20, early_exaggeration_iter=20,
             callbacks=lambda it, kl, e: seen.append(np.array(e)) and False)
    # the last check is the final embedding's predecessor: one step apart, rows matched
    assert seen and np.abs(seen[-1] - y).max() < 0.05 * np.abs(y).max()
