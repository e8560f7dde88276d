"""Diagnostics links in headless Chromium: a diagnostic on a histogram series opens the
Distributions view of that series for the diagnostic's run, zoomed to the steps around the
one where the problem began, with that step marked and its histogram drawn; a diagnostic on
a scalar opens the zoomed chart with that run's series only (the run selector and "all
runs" widen it again; other views keep every selected run).

The runs are written with ``neuralscope.track``: a small network trained under
``run.watch`` twice, once healthy and once with a NaN pixel in the batch of step 24, which
makes the tracker report NaN activations (a histogram series), NaN gradients and a NaN loss
(a scalar), all from step 24. Screenshots go to ``$NEURALSCOPE_SHOTS`` (default /tmp/dash).
"""
from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralscope.server.app import STATIC, serve_in_background
from neuralscope.track.run import Run

SHOTS = Path(os.environ.get("NEURALSCOPE_SHOTS", "/tmp/dash"))
WEB = Path(__file__).resolve().parents[1] / "web"
NAN_STEP = 24
STEPS = 60
EVERY = 2  # run.watch records histograms on every second step: 0, 2, ..., 58


@pytest.fixture(scope="module")
def frontend():
    """The built frontend (built from web/ with npm when missing and npm is available)."""
    if not (STATIC / "index.html").is_file():
        if os.environ.get("CI") is None and not (WEB / "node_modules").is_dir():
            pytest.skip("the frontend is not built; run web/build.sh")
        subprocess.run(["sh", str(WEB / "build.sh")], check=True, capture_output=True, timeout=300)
    return STATIC


def _batch(x, y, step):
    i = step * 4 % 200
    return x[i:i + 32].clone(), y[i:i + 32]


def _train(path: Path, x, y, nan_at: int | None) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with Run(path) as run:
        run.watch(model, every=EVERY)
        for step in range(STEPS):
            xb, yb = _batch(x, y, step)
            if step == nan_at:
                xb[0, 0, 0, 0] = math.nan  # one bad pixel: NaN activations, gradients and loss
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log({"loss": loss.item()}, step=step)
        run.unwatch()


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from neuralscope.data import load_digits

    data = load_digits()
    root = tmp_path_factory.mktemp("diaglinks")
    _train(root / "diverged", data.x_train, data.y_train, NAN_STEP)
    _train(root / "healthy", data.x_train, data.y_train, None)
    return root, data


@pytest.fixture(scope="module")
def server(frontend, runs_dir):
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = serve_in_background(runs_dir[0], poll_interval=0.2)
    yield srv
    srv.stop()


def open_page(page, server, route: str, ready: str, timeout: float = 15_000):
    page.goto(server.url + route)
    page.wait_for_selector("body[data-ready='1']", timeout=timeout)
    page.wait_for_selector(ready, timeout=timeout)
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def red_pixels(page, canvas_js: str, y0_js: str = "0", y1_js: str = "c.height") -> int:
    """Pixels of the marker red (#cf222e and its tints' strong end) in rows [y0, y1) of a canvas."""
    return page.evaluate(f"""(() => {{ const c = {canvas_js}, y0 = Math.max(0, Math.floor({y0_js})),
        y1 = Math.min(c.height, Math.ceil({y1_js}));
        const d = c.getContext('2d').getImageData(0, y0, c.width, Math.max(1, y1 - y0)).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 100) n++;
        return n; }})()""")


def test_histogram_diagnostic_opens_distributions_of_its_run_zoomed_to_the_step(server, runs_dir, page):
    _, data = runs_dir
    open_page(page, server, "#/diagnostics", "#diag-table tbody tr[data-run='diverged']")
    row = page.locator("#diag-table tr[data-run='diverged'][data-code='nonfinite_activations']")
    assert row.locator("td.num").inner_text() == str(NAN_STEP)
    link = row.locator("a.chart-link")
    assert link.inner_text() == "histogram: activations/0"
    link.click()
    page.wait_for_selector(".hist-card[data-run='diverged'][data-tag='activations/0'][data-focus-step]", timeout=15_000)
    assert page.evaluate("location.hash") == f"#/distributions?tag=activations%2F0&run=diverged&step={NAN_STEP}"
    # that series of that run only, although "healthy" is selected and has it too
    assert page.locator(".hist-card").count() == 1
    assert page.is_checked("input[type=checkbox][data-run='healthy']")
    card = page.locator(".hist-card[data-run='diverged'][data-tag='activations/0']")
    page.wait_for_function(
        "document.querySelector(\".hist-card[data-run='diverged']\").dataset.focusStep === '24'", timeout=10_000)
    # zoomed: the logged steps within the scalar charts' focus window around step 24 (a tenth
    # of the 0..58 range on each side, at least 10 steps): 14, 16, ..., 34
    foot = card.locator(".chart-foot").inner_text()
    xb, _ = _batch(data.x_train, data.y_train, NAN_STEP)
    finite = np.delete(xb.flatten().double().numpy(), 0)  # what step 24 logged, less the NaN pixel
    assert "11 steps shown (steps 14–34 of 0–58)" in foot, foot
    assert f"marked step {NAN_STEP}: n={finite.size}, range [{finite.min():.4g}, {finite.max():.4g}], " \
        f"mean {finite.mean():.4g}" in foot, foot
    drawn = page.evaluate("""(() => { const c = window.__nsHists.get('diverged\\u0000activations/0');
        return {steps: c.rows.map((r) => r.step), focus: c.focusIndex()}; })()""")
    assert drawn["steps"] == list(range(14, 35, EVERY))
    assert drawn["steps"][drawn["focus"]] == NAN_STEP
    # the marked step's ridge is drawn in red (its row of the canvas), the others are not
    hist = "window.__nsHists.get('diverged\\u0000activations/0')"
    band = f"{hist}.base({hist}.focusIndex()) * devicePixelRatio"
    assert red_pixels(page, f"{hist}.canvas", f"{band} - 3 * devicePixelRatio", f"{band} + 3 * devicePixelRatio") > 50
    top = f"{hist}.base(0) * devicePixelRatio"  # the earliest ridge's baseline, far from the mark
    assert red_pixels(page, f"{hist}.canvas", f"{top} - 2", f"{top} + 2") == 0
    # the histogram of step 24 on its own, below: bars over the values that step logged
    focus = card.locator(".hist-focus")
    assert focus.is_visible() and focus.get_attribute("data-step") == str(NAN_STEP)
    counts = np.array(page.evaluate(f"{hist}.rows[{hist}.focusIndex()].counts"), dtype=float)
    bars = focus.locator("svg.hist-chart rect.bar")  # the shared histogram drawing, a bar per bin
    heights = np.array(bars.evaluate_all("rs => rs.map((r) => +r.getAttribute('height'))"))
    assert bars.count() == counts.size > 1 and counts.sum() == finite.size
    assert np.allclose(heights / heights.max(), counts / counts.max())
    card.scroll_into_view_if_needed()
    shot(page, "distributions-from-diagnostic")
    # overlay mode: the marked step's curve is the red one
    page.check("input[name='histmode'][value='overlay']")
    assert red_pixels(page, f"{hist}.canvas") > 50
    assert card.get_attribute("data-focus-step") == str(NAN_STEP)
    shot(page, "distributions-from-diagnostic-overlay")
    page.check("input[name='histmode'][value='ridge']")

    # every step again, the mark kept
    card.locator("button[data-action='zoom']").click()
    page.wait_for_function(f"{hist}.rows.length === {STEPS // EVERY}")
    assert f"{STEPS // EVERY} steps shown · marked step {NAN_STEP}" in card.locator(".chart-foot").inner_text()
    shot(page, "distributions-from-diagnostic-all-steps")
    # clicking a ridge marks that step
    box = card.locator("canvas").first.bounding_box()
    y = page.evaluate(f"{hist}.base(2) - {hist}.rowH / 2")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + y)
    page.wait_for_function(f"{hist}.el.dataset.focusStep === '4'")
    assert focus.get_attribute("data-step") == "4"
    # and zooming again shows the steps around the newly marked one: 0..14
    card.locator("button[data-action='zoom']").click()
    page.wait_for_function(f"{hist}.rows[{hist}.rows.length - 1].step === 14")
    assert page.evaluate(f"{hist}.rows.map((r) => r.step)") == list(range(0, 15, EVERY))
    # "all runs" shows every selected run's card again
    page.click(".only-run button[data-action='widen']")
    page.wait_for_selector(".hist-card[data-run='healthy'][data-tag='activations/0']")
    assert page.locator(".hist-card").count() == 2
    assert page.console_errors == []


def test_gradient_diagnostic_links_to_its_histograms_too(server, page):
    open_page(page, server, "#/diagnostics", "#diag-table tbody tr[data-run='diverged']")
    link = page.locator("#diag-table tr[data-run='diverged'][data-code='nonfinite_gradients'] a.chart-link")
    tag = link.inner_text().removeprefix("histogram: ")
    assert tag.startswith("gradients/")
    link.click()
    page.wait_for_function(f"""(() => {{ const c = document.querySelector(".hist-card[data-run='diverged'][data-tag='{tag}']");
        return c && c.dataset.focusStep === '{NAN_STEP}'; }})()""", timeout=15_000)
    assert page.locator(".hist-card").count() == 1
    # every gradient of that step is NaN: the marked step says so instead of drawing bars
    foot = page.locator(".hist-card .chart-foot").inner_text()
    assert f"marked step {NAN_STEP}: no finite values" in foot, foot
    shot(page, "distributions-nan-gradients")
    assert page.console_errors == []


def test_other_views_keep_every_selected_run(server, page):
    open_page(page, server, "#/distributions", ".hist-card canvas")
    for run in ("diverged", "healthy"):
        card = page.locator(f".hist-card[data-run='{run}'][data-tag='activations/0']")
        card.scroll_into_view_if_needed()  # cards load when they scroll into view
        page.wait_for_function(f"""document.querySelector(".hist-card[data-run='{run}'][data-tag='activations/0'] .chart-foot")
            .textContent.includes('last step 58')""", timeout=10_000)
        assert "30 steps shown · last step 58" in card.locator(".chart-foot").inner_text()
    # nothing marked, nothing narrowed
    assert page.locator(".hist-card[data-focus-step], .hist-focus").count() == 0
    assert page.locator(".only-run").is_hidden()
    assert page.console_errors == []


def chart_runs(page, tag: str) -> list[str]:
    return page.evaluate(f"(window.__nsCharts.get({tag!r}).runs || []).map((r) => r.id)")


def test_scalar_diagnostic_chart_shows_only_its_run(server, page):
    open_page(page, server, "#/diagnostics", "#diag-table tbody tr[data-run='diverged']")
    page.locator("#diag-table tr[data-run='diverged'][data-code='nonfinite'] a.chart-link").click()
    page.wait_for_function("""(() => { const c = window.__nsCharts.get('loss');
        return c && c.u && c.loaded && c.u.scales.x.max < Math.max(...c.u.data[0]); })()""", timeout=15_000)
    assert page.evaluate("location.hash") == f"#/scalars?tag=loss&run=diverged&step={NAN_STEP}"
    # both runs are selected and log "loss", but the chart draws the diagnostic's run only:
    # x plus its raw and smoothed lines
    assert page.is_checked("input[type=checkbox][data-run='healthy']")
    assert chart_runs(page, "loss") == ["diverged"]
    assert page.evaluate("window.__nsCharts.get('loss').u.series.length") == 3
    assert page.evaluate("Object.keys(Object.fromEntries(window.__nsCharts.get('loss').series))") == ["diverged"]
    assert page.locator(".chart-card[data-tag='loss'] .only-run[data-run='diverged']").is_visible()
    x = page.evaluate("""(() => { const c = window.__nsCharts.get('loss');
        return {min: c.u.scales.x.min, max: c.u.scales.x.max, mark: c.mark}; })()""")
    assert x["min"] < NAN_STEP < x["max"] and x["mark"] == NAN_STEP
    shot(page, "scalars-from-diagnostic-one-run")
    # "all runs" widens it to the selected runs, keeping the zoom and the mark
    page.click(".chart-card[data-tag='loss'] button[data-action='widen']")
    page.wait_for_function("window.__nsCharts.get('loss').runs.length === 2", timeout=10_000)
    assert sorted(chart_runs(page, "loss")) == ["diverged", "healthy"]
    assert page.locator(".chart-card[data-tag='loss'] .only-run").is_hidden()
    x = page.evaluate("(() => { const c = window.__nsCharts.get('loss'); return {min: c.u.scales.x.min, max: c.u.scales.x.max}; })()")
    assert x["min"] < NAN_STEP < x["max"]
    shot(page, "scalars-from-diagnostic-widened")
    assert page.console_errors == []


def test_the_run_selector_widens_the_zoomed_chart(server, page):
    open_page(page, server, f"#/scalars?tag=loss&run=diverged&step={NAN_STEP}", ".chart-card[data-tag='loss'] .u-over")
    page.wait_for_function("window.__nsCharts.get('loss').loaded && window.__nsCharts.get('loss').runs.length === 1")
    assert chart_runs(page, "loss") == ["diverged"]
    # unticking a run goes back to the selection: diverged alone; ticking it again adds healthy
    page.uncheck("input[type=checkbox][data-run='healthy']")
    page.check("input[type=checkbox][data-run='healthy']")
    page.wait_for_function("window.__nsCharts.get('loss').runs.length === 2", timeout=10_000)
    assert sorted(chart_runs(page, "loss")) == ["diverged", "healthy"]
    # and a chart opened without a run shows every selected run
    open_page(page, server, "#/scalars", ".chart-card[data-tag='loss'] .u-over")
    page.wait_for_function("window.__nsCharts.get('loss').runs && window.__nsCharts.get('loss').runs.length === 2")
    assert page.console_errors == []
