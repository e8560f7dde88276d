"""embed(): PCA against numpy's SVD, t-SNE/UMAP keep neighbourhoods, and the HTML scatter
works in a real browser (hover shows the example)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from neuralscope.errors import InputShapeError
from neuralscope.inspect.embedding import embed, embed_layer
from neuralscope.zoo import DigitsCNN


def _clusters(n=300, d=20, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 6
    lab = np.arange(n) % k
    return centers[lab] + rng.normal(size=(n, d)), lab


def test_pca_equals_numpy_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 30)) @ rng.normal(size=(30, 30))
    e = embed(x, "pca", dims=3)
    xc = x - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    ref = u[:, :3] * s[:3]
    signs = np.sign((e.coords * ref).sum(0))  # components are defined up to sign
    # coords are stored as float32: relative 1e-5 of the spread
    np.testing.assert_allclose(e.coords, ref * signs, atol=1e-5 * np.abs(ref).max())
    # features are cast to float32 before the projection: relative 1e-6
    np.testing.assert_allclose(e.explained_variance, s[:3] ** 2 / (s ** 2).sum(), rtol=1e-6)


def test_pca_on_wide_data_equals_svd():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 400))  # more features than rows: the Gram-matrix path
    e = embed(x, "pca")
    u, s, _ = np.linalg.svd(x - x.mean(0), full_matrices=False)
    ref = u[:, :2] * s[:2]
    np.testing.assert_allclose(np.abs(e.coords), np.abs(ref), atol=1e-4)


def _knn_agreement(x, y, k=10):
    from sklearn.manifold import trustworthiness

    return trustworthiness(x, y, n_neighbors=k)


@pytest.fixture
def one_thread():
    """scikit-learn's t-SNE uses OpenMP threads; on a shared 2-core machine they spin and
    make a 2-second fit take a minute. One thread keeps the test fast and deterministic."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_tsne_and_umap_keep_neighbourhoods_and_are_deterministic(method, one_thread):
    x, lab = _clusters(150)
    if method == "umap":
        a = embed(x, method, labels=lab, seed=3)  # umap-learn's first call compiles with numba (~40 s here): one call only
        assert _knn_agreement(x, a.coords) > 0.9
        return
    a = embed(x, method, labels=lab, seed=3, max_iter=300)
    b = embed(x, method, labels=lab, seed=3, max_iter=300)
    np.testing.assert_array_equal(a.coords, b.coords)
    # trustworthiness (Venna & Kaski 2001): 1 = every embedding neighbour is a true neighbour
    assert _knn_agreement(x, a.coords) > 0.9
    # the three well-separated clusters stay separated: nearest neighbour has the same label
    d = ((a.coords[:, None] - a.coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (lab[d.argmin(1)] == lab).mean() > 0.95
    e3 = embed(x[:60], method, dims=3, max_iter=250)
    assert e3.coords.shape == (60, 3)
    plt.close(e3.figure())


def test_nonfinite_rows_are_left_out_and_marked():
    x, lab = _clusters(60)
    x[5, 3] = np.nan
    x[9, 0] = np.inf
    e = embed(x, "pca", labels=lab)
    assert e.dropped.tolist() == [5, 9]
    assert np.isnan(e.coords[[5, 9]]).all() and np.isfinite(np.delete(e.coords, [5, 9], 0)).all()
    ax = e.plot()
    assert "2 points with NaN/Inf features left out" in ax.get_title()
    plt.close(ax.figure)
    assert 'data-ns-mount="embedding"' in e.to_html()  # drawn by the browser bundle


def test_bad_arguments_get_one_clear_sentence():
    x, lab = _clusters(30)
    with pytest.raises(ValueError, match="method must be one of pca, tsne, umap"):
        embed(x, "mds")
    with pytest.raises(InputShapeError, match="labels has 29 entries but features has 30 rows"):
        embed(x, labels=lab[:29])
    with pytest.raises(ValueError, match="dims must be 2 or 3"):
        embed(x, dims=4)


def test_embed_layer_uses_the_layer_activations(unchanged):
    torch.manual_seed(0)
    net = DigitsCNN().eval()
    xs = net.example_input(40)
    with unchanged(net):
        e = embed_layer(net, xs, "pool", labels=list(range(40)))
    with torch.no_grad():
        feats = net.pool(net.features(xs)).flatten(1).numpy()
    ref = embed(feats, "pca")
    np.testing.assert_allclose(e.coords, ref.coords, atol=1e-5)
    assert e.images.shape == (40, 8, 8) and e.images.dtype == np.uint8


@pytest.mark.browser
def test_embedding_html_renders_and_hover_shows_the_example(page, tmp_path):
    from neuralscope.data import load_digits

    d = load_digits()
    x, y = d.x_test[:200], d.y_test[:200]
    e = embed(x.flatten(1), "pca", labels=y, images=x, texts=[f"digit {int(v)} (test #{i})" for i, v in enumerate(y)])
    path = e.save(tmp_path / "emb.html")
    page.goto(path.as_uri())
    root = page.locator(".ns-embedding")
    assert root.count() == 1
    # the canvas drew points: some non-white pixels
    painted = page.evaluate("""() => { const c = document.querySelector('.ns-embedding canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 240 || d[i+1] < 240 || d[i+2] < 240) n++; return n; }""")
    assert painted > 500
    i = 17
    sx, sy = page.evaluate(f"() => document.querySelector('.ns-embedding').nsScreen({i})")
    box = page.locator(".ns-embedding canvas").bounding_box()
    page.mouse.move(box["x"] + sx * box["width"] / 760, box["y"] + sy * box["height"] / 620)
    tip = page.locator(".ns-tip")
    tip.wait_for(state="visible", timeout=3000)
    text = tip.inner_text()
    # the nearest point may be another one drawn on the same pixel: it must still be an example
    assert "digit" in text and "label" in text
    assert page.locator(".ns-tip canvas.ns-thumb").count() == 1
    # the thumbnail is the hovered digit
    shown = int(text.split("#")[1].split()[0])
    thumb = page.evaluate("""() => { const c = document.querySelector('.ns-tip canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, 8, 8).data).filter((_, k) => k % 4 == 0); }""")
    expected = (x[shown, 0].numpy().ravel() * 255).round()
    np.testing.assert_allclose(thumb, expected, atol=1)
    # a legend entry hides its class
    page.locator(".ns-legend div", has_text="3").first.click()
    page.screenshot(path=str(tmp_path / "emb.png"))
    assert page.console_errors == []


@pytest.mark.browser
def test_50k_point_3d_embedding_renders_and_rotates(page, tmp_path):
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 10, 50_000)
    x = rng.normal(size=(10, 16))[lab] * 4 + rng.normal(size=(50_000, 16))
    e = embed(x, "pca", labels=lab, dims=3)
    path = e.save(tmp_path / "big.html")
    page.goto(path.as_uri())
    canvas = page.locator(".ns-embedding canvas")
    before = page.evaluate("() => document.querySelector('.ns-embedding').nsScreen(0)")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 220, box["y"] + 130, steps=3)
    page.mouse.up()
    after = page.evaluate("() => document.querySelector('.ns-embedding').nsScreen(0)")
    assert before != after  # dragging rotated the cloud
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".ns-tip").wait_for(state="visible", timeout=5000)
    assert "label" in page.locator(".ns-tip").inner_text()
    assert page.console_errors == []
