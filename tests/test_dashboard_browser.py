"""The dashboard in headless Chromium: every page loads without console errors and shows
what the test logged; live updates, smoothing, zoom, escaping and the graph viewer.

Runs are written by the test with the real store (a digits CNN trained a few steps under
``run.watch``, result objects logged with ``run.log_result``); the server runs in a thread
(``serve_in_background``). Screenshots of every page go to ``$NEURALSCOPE_SHOTS`` (default
``/tmp/neuralscope-dashboard``).
"""
from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralscope.server.app import STATIC, serve_in_background
from neuralscope.track.run import Run

SHOTS = Path(os.environ.get("NEURALSCOPE_SHOTS", "/tmp/neuralscope-dashboard"))
WEB = Path(__file__).resolve().parents[1] / "web"
XSS_RUN = "<b>bold</b>"
XSS_TAG = "<img src=x onerror=window.__xss=1>"
SCRIPT_TAG = "<script>window.__xss=2</script>"


def loss_at(i: int) -> float:
    return 1.0 / (i + 1) + 0.01 * (i % 7)


def ema(values, weight):
    """TensorBoard's debiased exponential moving average, written out independently."""
    out, last = [], 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n))
    return out


@pytest.fixture(scope="module")
def frontend():
    """The built frontend (built from web/ with npm when missing and npm is available)."""
    if not (STATIC / "index.html").is_file():
        if os.environ.get("CI") is None and not (WEB / "node_modules").is_dir():
            pytest.skip("the frontend is not built; run web/build.sh")
        subprocess.run(["sh", str(WEB / "build.sh")], check=True, capture_output=True, timeout=300)
    return STATIC


def _train_cnn_run(path: Path) -> None:
    from neuralscope.attribution.compare import compare
    from neuralscope.attribution.explain import explain
    from neuralscope.data import load_digits
    from neuralscope.graph.api import graph
    from neuralscope.inspect.embedding import embed
    from neuralscope.zoo import DigitsCNN

    torch.manual_seed(0)
    data = load_digits()
    x, y = data.x_train[:256], data.y_train[:256]
    model = DigitsCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with Run(path, config={"model": "DigitsCNN", "lr": 0.1}) as run:
        run.log_result(graph(model, x[:2]), name="graph")
        run.watch(model, every=4)
        for step in range(12):
            idx = torch.randint(0, len(x), (32,), generator=torch.Generator().manual_seed(step))
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log({"loss": loss.item()}, step=step)
        run.unwatch()
        model.eval()
        run.log_result(explain(model, x[:4], method="saliency"), name="saliency", step=11)
        run.log_result(explain(model, x[:3], target=y[:3].tolist(), method="integrated_gradients", steps=32),
                       name="integrated gradients", step=11)
        run.log_result(compare(model, x[:2], methods=["saliency", "grad_cam"], steps=5), name="comparison", step=11)
        with torch.no_grad():
            feats = model.features(x[:120]).mean(dim=(2, 3))
        run.log_result(embed(feats, labels=y[:120].tolist(), images=x[:120]), name="embedding", step=11)
        run.log_image("first digit", x[0, 0].numpy(), step=11)


def _extras_run(path: Path) -> None:
    from neuralscope.attention.extract import attention
    from neuralscope.featurevis.optimize import feature_vis
    from neuralscope.zoo import DigitsCNN, TinyTransformer

    torch.manual_seed(0)
    tf = TinyTransformer().eval()
    ids = tf.example_input(1)
    tokens = [f"t{int(i)}" for i in ids[0]]
    with Run(path) as run:
        run.log({"loss": 1.0}, step=0)
        run.log_result(attention(tf, ids, tokens=tokens), name="attention", step=0)
        run.log_result(feature_vis(DigitsCNN().eval(), "features.5:0-3", steps=8, show_progress=False),
                       name="features.5", step=0)
        from neuralscope.inspect.embedding import embed

        pts = np.random.default_rng(0).normal(size=(150, 6)) + np.repeat(np.eye(6)[:3] * 4, 50, axis=0)
        run.log_result(embed(pts, dims=3, labels=[i // 50 for i in range(150)]), name="embedding 3d", step=0)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    with Run(root / "alpha", config={"lr": 0.1}) as run:
        for i in range(300):
            run.log({"loss": loss_at(i), "acc": i / 300}, step=i)
        for s in range(0, 300, 30):
            run.log_histogram("weights/fc", np.random.default_rng(s).normal(s / 100, 1, size=2000), step=s)
    with Run(root / "gamma", config={"lr": 1.0}) as run:
        for i in range(120):
            run.log({"loss": 2.0 - i / 100, "val/loss": 1.0 + (i / 100) ** 2}, step=i)
        run.log({"loss": math.nan}, step=120)
    with Run(root / XSS_RUN) as run:
        for i in range(5):
            run.log({XSS_TAG: float(i), SCRIPT_TAG: float(i)}, step=i)
    _train_cnn_run(root / "cnn")
    _extras_run(root / "extras")
    (root / "broken").mkdir()
    (root / "broken" / "run.sqlite").write_bytes(b"\0not sqlite" * 300)
    return root


@pytest.fixture(scope="module")
def live_run(runs_dir):
    run = Run(runs_dir / "live", config={"lr": 0.5}, flush_interval=0.05)
    for i in range(50):
        run.log({"loss": 10.0 - i * 0.1}, step=i)
    run.flush()
    yield run
    run.close()


@pytest.fixture(scope="module")
def server(frontend, runs_dir, live_run):
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = serve_in_background(runs_dir, poll_interval=0.2)
    yield srv
    srv.stop()


def server_root(server) -> Path:
    return Path(server.server.config.app.state.ns.root)


def open_page(page, server, route: str, ready: str, timeout: float = 15_000):
    page.goto(server.url + route)
    page.wait_for_selector("body[data-ready='1']", timeout=timeout)
    page.wait_for_selector(ready, timeout=timeout)
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def hover_step(page, tag: str, step: float, run: str):
    """Move the mouse over ``tag``'s chart at ``step`` and return the tooltip row of ``run``."""
    page.wait_for_function(f"window.__nsCharts.get({tag!r}) && window.__nsCharts.get({tag!r}).u", timeout=10_000)
    card = page.locator(f".chart-card[data-tag='{tag}']")
    card.scroll_into_view_if_needed()
    x = page.evaluate(f"window.__nsCharts.get({tag!r}).u.valToPos({step}, 'x')")
    box = card.locator(".u-over").bounding_box()
    x = min(max(x, 0.5), box["width"] - 1)  # the plot area's right edge is outside it
    page.mouse.move(box["x"] + x, box["y"] + box["height"] / 2)
    row = card.locator(f".tooltip .tt-row[data-run='{run}']")
    row.wait_for(timeout=5_000)
    return row


PAGES = [
    ("runs", "#runs-table tbody tr"),
    ("scalars", ".chart-card canvas"),
    ("distributions", ".hist-card canvas"),
    ("diagnostics", "#diag-table tr"),
    ("graph", "iframe.graph-frame"),
    ("inside", ".result-view, .logged-img"),
    ("attributions", ".result-view"),
    ("attention", ".result-view canvas"),
    ("featurevis", ".result-view canvas"),
]


@pytest.mark.parametrize("name,ready", PAGES)
def test_every_page_loads_without_console_errors(server, page, name, ready):
    open_page(page, server, f"#/{name}", ready)
    time.sleep(0.6)  # let lazy charts and frames finish
    shot(page, name)
    assert page.console_errors == []


def test_runs_page_shows_status_config_last_values_and_damaged_run(server, page):
    open_page(page, server, "#/runs", "#runs-table tbody tr")
    row = page.locator("#runs-table tr[data-run='alpha']")
    assert row.locator(".status").inner_text() == "finished"
    assert row.locator("td.metric[data-tag='loss']").inner_text() == f"{loss_at(299):.6g}"
    assert page.locator("#runs-table tr[data-run='live'] .status").inner_text().endswith("live")
    assert page.locator("#runs-table tr[data-run='broken'] .status").inner_text() == "damaged"
    assert "0.5" in page.locator("#runs-table tr[data-run='live']").inner_text()  # its config lr
    from neuralscope import runs

    with pytest.warns(UserWarning, match="Skipping the run .*broken"):  # the damaged run: no columns of its own
        keys, metrics = runs(server_root(server)).hparams()  # the one column rule (the run_set view too)
    assert page.locator("#runs-table th.cfg").all_text_contents() == keys
    assert page.locator("#runs-table th.metric").all_text_contents() == metrics[:8]


def test_scalar_hover_shows_the_logged_value(server, page):
    open_page(page, server, "#/scalars", ".chart-card[data-tag='loss'] canvas")
    for target in (0, 37, 151, 299):
        row = hover_step(page, "loss", target, "alpha")
        # the mouse lands on a whole pixel (about 1.3 steps wide here): the tooltip names the
        # logged point under it, and shows exactly the value logged at that step
        step = int(row.get_attribute("data-step"))
        assert abs(step - target) <= 1
        assert float(row.locator(".tt-value").get_attribute("data-value")) == loss_at(step)
        assert row.locator(".tt-value").inner_text() == f"{loss_at(step):.6g}"
    shot(page, "scalars-hover")
    assert page.console_errors == []


def test_chart_updates_live_when_a_point_is_logged(server, page, live_run):
    open_page(page, server, "#/scalars", ".chart-card[data-tag='loss'] canvas")
    page.wait_for_function("window.__nsCharts.get('loss').series.get('live')")
    live_run.log({"loss": 123.456}, step=500)
    live_run.flush()
    page.wait_for_function(
        "window.__nsCharts.get('loss').series.get('live').steps.includes(500)", timeout=10_000)
    time.sleep(0.3)  # the chart redraws at most every 150 ms
    row = hover_step(page, "loss", 500, "live")
    assert row.get_attribute("data-step") == "500"
    assert float(row.locator(".tt-value").get_attribute("data-value")) == 123.456
    shot(page, "scalars-live")
    # the Runs page follows too
    page.goto(server.url + "#/runs")
    page.wait_for_function(
        "document.querySelector(\"#runs-table tr[data-run='live'] td.metric[data-tag='loss']\")"
        "?.textContent === '123.456'", timeout=10_000)
    assert page.console_errors == []


def test_a_point_pushed_while_the_chart_reloads_is_kept(server, page, live_run):
    # A resync re-queries a chart; a point pushed while that query is in flight must survive
    # the query's (older) answer. Answers to /api/scalars are held back 1.5 s here, so the
    # query runs before the point is logged and its answer lands after the point was pushed.
    open_page(page, server, "#/scalars", ".chart-card[data-tag='loss'] canvas")
    page.wait_for_function("window.__nsCharts.get('loss').series.get('live')")
    # settled: connected, and the reload that follows the connection's "hello" is done
    page.wait_for_function("window.__nsEvents.readyState === 1 && !window.__nsCharts.get('loss').loading")
    time.sleep(0.5)
    step = page.evaluate("Math.max(...window.__nsCharts.get('loss').series.get('live').steps)") + 100
    page.evaluate("""() => {
        const fetch0 = window.fetch;
        window.fetch = async (...args) => {
            const answer = await fetch0(...args);
            if (String(args[0]).includes("/api/scalars")) await new Promise((ok) => setTimeout(ok, 1500));
            return answer;
        };
        window.__nsCharts.get("loss").refine();
    }""")
    time.sleep(0.3)  # the query has been answered by the server, not yet seen by the chart
    live_run.log({"loss": 7.25}, step=step)
    live_run.flush()
    page.wait_for_function("!window.__nsCharts.get('loss').loading", timeout=10_000)
    time.sleep(1.8)  # the held-back answer has been applied
    page.wait_for_function(
        f"window.__nsCharts.get('loss').series.get('live').steps.includes({step})", timeout=5_000)
    assert page.console_errors == []


def test_smoothing_slider_changes_the_drawn_line(server, page):
    open_page(page, server, "#/scalars?tag=loss", ".chart-card[data-tag='loss'] canvas")
    page.evaluate("document.querySelector('#smoothing').value = 0; document.querySelector('#smoothing')"
                  ".dispatchEvent(new Event('input'))")
    page.wait_for_function("window.__nsCharts.get('loss') && window.__nsCharts.get('loss').u")
    before = page.evaluate("window.__nsCharts.get('loss').u.ctx.canvas.toDataURL()")
    page.evaluate("document.querySelector('#smoothing').value = 0.9; document.querySelector('#smoothing')"
                  ".dispatchEvent(new Event('input'))")
    time.sleep(0.3)
    after = page.evaluate("window.__nsCharts.get('loss').u.ctx.canvas.toDataURL()")
    assert before != after
    # the smoothed line drawn is TensorBoard's debiased EMA of the logged values
    drawn = page.evaluate("""(() => { const c = window.__nsCharts.get('loss');
        const k = c.runs.findIndex(r => r.id === 'alpha');
        return c.u.data[2 + 2 * k].filter(v => v !== undefined && v !== null); })()""")
    expected = ema([loss_at(i) for i in range(300)], 0.9)
    np.testing.assert_allclose(drawn, expected, rtol=1e-12)
    hover = hover_step(page, "loss", 100, "alpha")
    step = int(hover.get_attribute("data-step"))  # the logged point under the mouse's pixel
    assert abs(step - 100) <= 1
    assert float(hover.locator(".tt-smoothed").get_attribute("data-value")) == pytest.approx(expected[step], rel=1e-12)
    assert float(hover.locator(".tt-value").get_attribute("data-value")) == loss_at(step)
    shot(page, "scalars-smoothed")
    page.evaluate("document.querySelector('#smoothing').value = 0.6; document.querySelector('#smoothing')"
                  ".dispatchEvent(new Event('input'))")


def test_zoom_asks_the_server_for_more_detail(server, page, runs_dir):
    with Run(runs_dir / "long") as run:
        for i in range(100_000):
            run.log({"wave": math.sin(i / 50.0) + (3.0 if i == 77_777 else 0.0)}, step=i)
    open_page(page, server, "#/scalars", ".chart-card[data-tag='wave'] canvas")
    page.wait_for_function("window.__nsCharts.get('wave') && window.__nsCharts.get('wave').series.get('long')",
                           timeout=10_000)
    full = page.evaluate("window.__nsCharts.get('wave').series.get('long')")
    assert full["total"] == 100_000 and len(full["steps"]) < 3000
    assert 77_777 in full["steps"]  # the spike survives per-pixel downsampling
    page.evaluate("window.__nsCharts.get('wave').u.setScale('x', {min: 50000, max: 50999})")
    page.wait_for_function("""(() => { const s = window.__nsCharts.get('wave').series.get('long');
        return s.steps[0] >= 50000 && s.steps[s.steps.length - 1] <= 50999; })()""", timeout=10_000)
    zoomed = page.evaluate("window.__nsCharts.get('wave').series.get('long')")
    before = [s for s in full["steps"] if 50000 <= s <= 50999]
    assert len(zoomed["steps"]) > 10 * max(1, len(before))  # finer than the full view
    np.testing.assert_allclose(zoomed["values"], np.sin(np.array(zoomed["steps"]) / 50.0), rtol=0, atol=1e-12)
    shot(page, "scalars-zoomed")
    assert page.console_errors == []


def test_x_axis_modes_and_log_scale(server, page):
    open_page(page, server, "#/scalars", ".chart-card[data-tag='loss'] canvas")
    page.check("input[name='xaxis'][value='relative']")
    page.wait_for_function("window.__nsCharts.get('loss').u.data[0][0] < 1000")
    page.check("input[name='xaxis'][value='wall']")
    page.wait_for_function("window.__nsCharts.get('loss').u.data[0][0] > 1.6e9")
    page.check("input[name='xaxis'][value='step']")
    page.check("#logy")
    page.wait_for_function("window.__nsCharts.get('loss').u.scales.y.distr === 3")
    shot(page, "scalars-log")
    page.uncheck("#logy")
    assert page.console_errors == []


def test_csv_download_holds_every_logged_point(server, page):
    open_page(page, server, "#/scalars", ".chart-card[data-tag='acc'] canvas")
    card = page.locator(".chart-card[data-tag='acc']")
    with page.expect_download() as dl:
        card.locator("button[data-action='csv']").click()
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[0] == "run,step,wall_time,value"
    alpha = [ln.split(",") for ln in lines[1:] if ln.startswith("alpha,")]
    assert [int(r[1]) for r in alpha] == list(range(300))
    assert [float(r[3]) for r in alpha] == [i / 300 for i in range(300)]
    with page.expect_download() as dl:
        card.locator("button[data-action='png']").click()
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_names_are_shown_as_text_not_markup(server, page):
    open_page(page, server, "#/runs", "#runs-table tbody tr")
    cell = page.locator("#runs-table tbody tr", has_text=XSS_RUN).first
    assert cell.locator("b").count() == 0
    open_page(page, server, "#/scalars", ".chart-card canvas")
    page.fill(".tag-filter", "img")
    page.wait_for_selector(".chart-card .chart-title")
    assert page.locator(".chart-card .chart-title").first.inner_text() == XSS_TAG
    page.fill(".tag-filter", "script")
    page.wait_for_function("document.querySelector('.chart-card .chart-title')?.textContent.includes('script')")
    assert page.locator(".chart-card .chart-title").first.inner_text() == SCRIPT_TAG
    time.sleep(0.5)
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0


def test_distributions_ridge_and_overlay(server, page):
    open_page(page, server, "#/distributions", ".hist-card[data-run='alpha'] canvas")
    card = page.locator(".hist-card[data-run='alpha'][data-tag='weights/fc']")
    card.scroll_into_view_if_needed()  # cards load when they scroll into view
    page.wait_for_function("document.querySelector(\".hist-card[data-run='alpha'] .chart-foot\").textContent.includes('steps')")
    foot = card.locator(".chart-foot").inner_text()
    x = np.random.default_rng(270).normal(2.7, 1, size=2000)  # the last histogram logged
    assert "10 steps shown" in foot and "last step 270: n=2000" in foot
    assert f"range [{x.min():.4g}, {x.max():.4g}]" in foot
    ridge = card.locator("canvas").evaluate("c => c.toDataURL()")
    page.check("input[name='histmode'][value='overlay']")
    overlay = card.locator("canvas").evaluate("c => c.toDataURL()")
    assert ridge != overlay
    shot(page, "distributions-overlay")
    page.check("input[name='histmode'][value='ridge']")
    assert page.console_errors == []


def test_diagnostics_link_to_the_chart(server, page):
    open_page(page, server, "#/diagnostics", "#diag-table tbody tr")
    row = page.locator("#diag-table tr[data-run='gamma'][data-code='nonfinite']")
    assert row.locator("td.num").inner_text() == "120"
    row.locator("a.chart-link").click()
    page.wait_for_selector(".chart-card[data-tag='loss'] canvas")
    assert page.locator(".chart-card").count() == 1
    # the chart opens zoomed to a window around step 120 (where the NaN began), marked
    # (the chart shows gamma only, whose last step is 120: the window is clipped there)
    page.wait_for_function("""(() => { const c = window.__nsCharts.get('loss');
        return c && c.u && c.loaded && c.u.scales.x.min > Math.min(...c.u.data[0]); })()""", timeout=10_000)
    time.sleep(0.3)  # a refined (finer) query for the zoomed range may follow
    x = page.evaluate("""(() => { const c = window.__nsCharts.get('loss'), xs = c.u.data[0];
        return {min: c.u.scales.x.min, max: c.u.scales.x.max, lo: xs[0], hi: xs[xs.length - 1], mark: c.mark,
                markPx: c.u.valToPos(c.mark, 'x'), width: c.u.over.clientWidth}; })()""")
    assert x["min"] < 120 < x["max"]
    assert x["max"] - x["min"] < 0.5 * (x["hi"] - x["lo"])
    assert x["mark"] == 120 and 0 < x["markPx"] < x["width"]
    # the marker is drawn: the plot's pixels in the marker's column are red
    red = page.evaluate("""(() => { const u = window.__nsCharts.get('loss').u, dpr = devicePixelRatio || 1;
        const px = Math.round(u.valToPos(120, 'x', true)), ctx = u.ctx;
        const d = ctx.getImageData(px - 1, u.bbox.top, 3, u.bbox.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 80 && d[i + 2] < 80) n++;
        return n; })()""")
    assert red > 20
    shot(page, "diagnostics-link-zoomed")
    assert page.console_errors == []


def test_graph_expands_collapses_and_shows_layer_statistics(server, page):
    open_page(page, server, "#/graph?run=cnn", "iframe.graph-frame")
    frame = page.frame_locator("iframe.graph-frame")
    frame.locator("html[data-ns-ready='1']").wait_for(timeout=15_000)
    inner = next(f for f in page.frames if f.url.endswith("/graph-view?run=cnn"))
    page.wait_for_function("document.querySelector('#graph-step') && !document.querySelector('#graph-step').disabled",
                           timeout=10_000)
    inner.wait_for_selector(".ns-stat", timeout=10_000)
    badges = dict(inner.eval_on_selector_all(
        ".ns-stat", "els => els.map(e => [e.getAttribute('data-layer'), e.textContent])"))
    # the badge shows the gradient norm watch() logged for that layer at the selected step
    from neuralscope.track.store import RunReader

    norms = RunReader(server_root(server) / "cnn").scalars("gradients/norm/features.0")
    step = int(page.locator(".step-label").inner_text())
    assert step == int(norms.steps[-1])
    assert badges["features.0"] == f"‖g‖ {norms.values[-1]:.3g}"
    shot(page, "graph-stats")
    before = inner.evaluate("window.neuralscopeGraph.visibleNodeIds().length")
    group = inner.evaluate("window.neuralscopeGraph.visibleGroups().find(g => g === 'features')")
    assert group == "features"
    inner.locator(".ns-cluster-title[data-toggle='features']").click()
    inner.wait_for_function(f"window.neuralscopeGraph.visibleNodeIds().length < {before}")
    assert not inner.evaluate("window.neuralscopeGraph.isExpanded('features')")
    inner.locator(".ns-node[data-collapsed='features']").click()
    inner.wait_for_function(f"window.neuralscopeGraph.visibleNodeIds().length === {before}")
    # the statistics follow the viewer's re-render
    inner.wait_for_selector(".ns-stat", timeout=5_000)
    assert page.console_errors == []


def test_result_pages_draw_logged_results(server, page):
    open_page(page, server, "#/attributions", ".result-item[data-name='saliency']")
    page.locator(".result-item[data-name='saliency']").click()
    page.wait_for_function("document.querySelector('.result-view td[data-key=method]')?.textContent === 'saliency'")
    assert page.locator(".result-view[data-kind='attribution'] canvas").count() >= 1
    shot(page, "attributions")
    open_page(page, server, "#/inside", ".result-item")
    page.locator(".result-item[data-name='embedding']").click()
    page.wait_for_selector(".result-view[data-kind='embedding'] canvas.scatter")
    shot(page, "inside-embedding")
    # a 3D embedding rotates when dragged
    page.locator(".result-item[data-name='embedding 3d']").click()
    canvas = page.wait_for_selector(".result-view[data-kind='embedding'] canvas.scatter")
    before = canvas.evaluate("c => c.toDataURL()")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 320, box["y"] + 240, steps=5)
    page.mouse.up()
    assert canvas.evaluate("c => c.toDataURL()") != before
    shot(page, "inside-embedding-3d")
    page.locator(".result-item[data-name='first digit']").click()
    img = page.wait_for_selector("img.logged-img")
    page.wait_for_function("document.querySelector('img.logged-img').naturalWidth === 8")
    assert img.get_attribute("alt") == "first digit at step 11"
    # attention: every head of the chosen layer; a click enlarges one head with its tokens
    open_page(page, server, "#/attention", ".result-view[data-kind='attention'] svg.attn-map image.cells")
    assert page.locator(".attn-heads figure").count() == 4  # TinyTransformer: 4 heads
    big = page.locator("svg.attn-map image.cells")
    before = big.get_attribute("href")
    page.locator(".attn-heads figure[data-head='2']").click()
    assert page.locator(".attn-heads figure.selected").get_attribute("data-head") == "2"
    assert big.get_attribute("href") != before
    page.select_option("#attn-layer", "0")
    assert "layer 0 (encoder.layers.0.self_attn), head 2" in page.locator(".attn-big").inner_text()
    shot(page, "attention")
    open_page(page, server, "#/featurevis", ".result-view[data-kind='feature_vis'] canvas")
    assert page.locator(".r-section[data-key='visualizations'] .fv-unit canvas").count() == 4  # one picture per unit
    shot(page, "featurevis")
    assert page.console_errors == []


def test_embedding_hover_shows_the_thumbnail_of_the_point_under_the_mouse(server, page):
    import base64
    import io

    from PIL import Image

    from neuralscope.track.store import RunReader

    logged = next(r for r in RunReader(server_root(server) / "cnn").results() if r["name"] == "embedding")
    data = logged["data"]
    open_page(page, server, "#/inside", ".result-item")
    page.locator(".result-item[data-name='embedding']").click()
    canvas = page.wait_for_selector(".result-view[data-kind='embedding'] canvas.scatter")
    # points drawn far from every other point, so the one under the mouse is unambiguous
    pts = np.array(canvas.evaluate("c => c.closest('.ns-embedding').nsPoints()"))
    gaps = np.sqrt(((pts[:, None, :2] - pts[None, :, :2]) ** 2).sum(-1)) + np.eye(len(pts)) * 1e9
    lonely = [int(pts[k, 2]) for k in np.argsort(-gaps.min(1))[:3]]
    assert gaps.min(1).max() > 8
    box = canvas.bounding_box()
    for i in lonely:
        x, y = canvas.evaluate(f"c => c.closest('.ns-embedding').nsScreen({i})")
        page.mouse.move(box["x"] + x + 1, box["y"] + y - 1)
        tip = page.locator(".ns-tip")
        page.wait_for_function(f"document.querySelector('.ns-tip')?.dataset.index === '{i}'", timeout=5_000)
        assert tip.is_visible()
        img = tip.locator("img.ns-thumb")
        assert img.get_attribute("data-index") == str(i)
        assert f"label {data['labels'][i]}" in tip.inner_text()
        assert "null" not in tip.inner_text() and "undefined" not in tip.inner_text()
        # the picture is that example's thumbnail: the logged digit's pixels, decoded back
        src = img.get_attribute("src")
        assert src == data["thumbnails"][i]
        page.wait_for_function("document.querySelector('.ns-tip img.ns-thumb').naturalWidth === 8")
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
        from neuralscope.data import load_digits

        digit = load_digits().x_train[i, 0].numpy()
        np.testing.assert_array_equal(pixels, (np.clip(digit, 0, 1) * 255).round().astype(np.uint8))
    shot(page, "inside-embedding-thumbnail")
    page.mouse.move(box["x"] + 2, box["y"] + 2)  # away from every point (a corner of the frame)
    assert page.console_errors == []


def test_attribution_overlay_has_an_opacity_slider_and_the_logged_metric_scores(server, page):
    from neuralscope.data import load_digits
    from neuralscope.track.store import RunReader

    data = next(r for r in RunReader(server_root(server) / "cnn").results()
                if r["name"] == "integrated gradients")["data"]
    open_page(page, server, "#/attributions", ".result-item")
    page.locator(".result-item[data-name='integrated gradients']").click()
    page.wait_for_selector(".result-view[data-kind='attribution'] canvas.attr-overlay")
    assert page.locator("figure.attr-example").count() == 3
    assert page.locator(".attr-head td[data-key='method']").inner_text() == "integrated_gradients"
    for i in range(3):
        fig = page.locator(f"figure.attr-example[data-example='{i}']")
        t = data["targets"][i]
        assert fig.locator("td[data-fact='target']").inner_text() == str(t)
        logits = np.asarray(data["outputs"][i])
        p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert float(fig.locator("td[data-fact='p(target)']").inner_text()) == pytest.approx(p[t], abs=5e-4)
        # every metric the result holds is shown for its example, with the logged value
        for name in ("completeness_error", "steps", "output_difference"):
            cell = fig.locator(f"td[data-metric='{name}']")
            assert float(cell.get_attribute("data-value")) == data["metrics"][name][i]
    read = """(sel) => { const c = document.querySelector(sel), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = []; for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]); return out; }"""

    def set_opacity(a: float):
        page.evaluate(f"(() => {{ const s = document.querySelector('#attr-opacity'); s.value = {a};"
                      " s.dispatchEvent(new Event('input')); })()")
        page.wait_for_function(f"document.querySelector(\"canvas.attr-overlay[data-example='0']\").dataset.opacity === '{a}'")
        return np.array(page.evaluate(read, "canvas.attr-overlay[data-example='0']"), dtype=float)

    heat = np.array(page.evaluate(read, "canvas.attr-map[data-example='0']"), dtype=float)
    digit = load_digits().x_train[0, 0].numpy().reshape(-1)
    maps = np.asarray(data["attributions"]).sum(1)
    lim = np.percentile(np.abs(maps), 99.5)  # the library's symmetric_limit
    m = maps[0].reshape(-1)
    # each pixel of the map is laid over the input with opacity x (|map| / limit)^0.7, as the
    # library's own figure does; the input is dimmed as there: grey [-0.5, 1.9] -> [0, 255]
    strength = np.clip(np.abs(m) / lim, 0, 1)[:, None] ** 0.7
    dimmed = np.repeat(np.round(255 * (digit + 0.5) / 2.4)[:, None], 3, 1)
    clear = set_opacity(0)
    np.testing.assert_array_equal(clear, dimmed)  # the input alone
    for a in (1, 0.5):
        np.testing.assert_allclose(set_opacity(a), (1 - a * strength) * dimmed + a * strength * heat, atol=1.01)
    assert not np.array_equal(set_opacity(0.5), clear)
    # signed map: diverging colours centred at zero -- a pixel with no attribution is white,
    # the most positive is red, the most negative blue; the colour bar is symmetric
    assert (m == 0).any()
    np.testing.assert_array_equal(heat[m == 0], np.full(((m == 0).sum(), 3), 247.0))
    assert heat[m.argmax(), 0] > heat[m.argmax(), 2] and heat[m.argmin(), 2] > heat[m.argmin(), 0]
    ends = page.locator(".attr-ctl .cbar > span").all_inner_texts()[:2]
    assert float(ends[0]) == pytest.approx(-lim, rel=1e-2) and float(ends[1]) == pytest.approx(lim, rel=1e-2)
    set_opacity(0.8)
    shot(page, "attributions-overlay")
    # a comparison of methods: each method's overlay with its faithfulness scores
    scores = next(r for r in RunReader(server_root(server) / "cnn").results() if r["name"] == "comparison")["data"]["scores"]
    page.locator(".result-item[data-name='comparison']").click()
    page.wait_for_selector("#attr-method")
    page.select_option("#attr-method", "grad_cam")
    page.wait_for_function("document.querySelector('.attr-head td[data-key=method]')?.textContent === 'grad_cam'")
    for i in range(2):
        for name in ("deletion_auc", "insertion_auc"):
            cell = page.locator(f"figure.attr-example[data-example='{i}'] td[data-metric='{name}']")
            assert float(cell.get_attribute("data-value")) == scores["grad_cam"][name][i]
    shot(page, "attributions-comparison")
    assert page.console_errors == []


def test_model_file_opens_the_graph_page(frontend, tmp_path, page):
    from neuralscope.zoo import MLP

    torch.manual_seed(0)
    model = MLP()
    path = tmp_path / "mlp.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (model.example_input(1),), str(path), dynamo=False)
    with serve_in_background(path) as srv:
        page.goto(srv.url)
        page.wait_for_selector("iframe.graph-frame")
        page.frame_locator("iframe.graph-frame").locator("html[data-ns-ready='1']").wait_for(timeout=15_000)
        assert page.locator("nav.tabs a").all_inner_texts() == ["Graph"]
        shot(page, "model-file")
    assert page.console_errors == []
