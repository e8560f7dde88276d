"""The dashboard views of the run, forward-pass and attribution-check kinds draw what their
Python ``plot()`` draws, checked in headless Chromium against the logged data: the number of
nodes, edges, stages, tiles, curves, bars, rows and axis labels each view draws follows from
the result's ``to_dict()`` (and from the library's own helpers, such as
``Summary.plot_rows``), and no two tick labels of a chart overlap.

Screenshots go to ``$NEURALSCOPE_GALLERY/views`` (default ``gallery/views``), named
``runs_<name>.png``.
"""
from __future__ import annotations

import json
import math
import os
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralscope as ns
from neuralscope import zoo

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("NEURALSCOPE_GALLERY", ROOT / "gallery")) / "views"


def _x8(n=2, seed=1):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def _tracked(tmp: Path) -> dict:
    """Two runs with a config; the first has a loss that decays 1000-fold and turns NaN once."""
    for name, lr in (("a", 0.1), ("b", 0.01)):
        with ns.Run(tmp / "runs" / name, config={"lr": lr}) as run:
            for step in range(300):
                loss = float("nan") if (name == "a" and step == 150) else 3.0 * math.exp(-step / 40)
                run.log({"loss": loss, "accuracy": 1 - math.exp(-step / 50)}, step=step)
    reader = ns.open_run(tmp / "runs" / "a")
    return {"scalar_series": reader.scalars("loss"), "diagnostics": reader.diagnostics(),
            "run_set": ns.runs(tmp / "runs")}


def _results(tmp: Path) -> dict:
    torch.manual_seed(0)
    cnn = zoo.DigitsCNN().eval()
    tt = zoo.TinyTransformer().eval()
    mlp = zoo.MLP().eval()
    fwd = ns.animate_forward(mlp, mlp.example_input(1))
    conv = ns.animate_forward(cnn, _x8(1))
    x = _x8(3)
    out = {
        "attention_head_stats": ns.attention(tt, tt.example_input(2)).head_stats(),
        "forward_pass": fwd, "forward_pass_step": fwd.animation().frames[1], "animation": fwd.animation(),
        "conv_forward_pass": conv, "conv_forward_step": conv.animation().frames[2], "animation conv": conv.animation(),
        "faithfulness_curves": ns.deletion_insertion(cnn, x, ns.explain(cnn, x, target=0, method="saliency"), target=0, steps=6),
        "sanity_check": ns.model_randomization(cnn, _x8(2), method="saliency", target=0, layers=["classifier", "features.7"]),
        "feature_vis": ns.feature_vis(cnn, "features.0:0-2", steps=6, show_progress=False),
        "summary": ns.summary(cnn, _x8(1)),
    }
    out.update(_tracked(tmp))
    out["summary cut"] = _Cut()
    out["attribution_comparison scored"] = _scored_comparison(cnn)
    return out


def _scored_comparison(cnn):
    """Three methods with made-up per-example scores (one missing a score) whose means order
    differently by each column."""
    from neuralscope.attribution.compare import Comparison

    att = ns.explain(cnn, _x8(2), target=0, method="saliency")
    scores = {"a": {"deletion_auc": np.array([0.3, 0.5]), "insertion_auc": np.array([0.9, 0.7])},
              "c": {"deletion_auc": np.array([0.1, 0.2]), "insertion_auc": np.array([0.2, 0.4])},
              "b": {"deletion_auc": np.array([0.6, 0.8])}}
    return Comparison({"a": att, "c": att, "b": att}, scores, {"a": 1.5, "c": 0.25, "b": 3.0})


class _Cut:
    """A summary document cut short (no rows): its view says so in one sentence."""

    kind = "summary"

    def to_dict(self):
        return {"kind": "summary", "name": "cut"}


@pytest.fixture(scope="module")
def runs_server(tmp_path_factory):
    from neuralscope.server.app import STATIC, serve_in_background

    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    tmp = tmp_path_factory.mktemp("runviews")
    results = _results(tmp)
    with ns.Run(tmp / "served" / "views") as run:
        for name, r in results.items():
            run.log_result(r, name=name, step=0)
    srv = serve_in_background(tmp / "served", poll_interval=0.5)
    with urllib.request.urlopen(srv.url.rstrip("/") + "/api/results?run=views") as resp:
        srv.index = {it["name"]: it["index"] for it in json.load(resp)["items"]}
    srv.results = results
    srv.runs_root = tmp / "runs"
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield srv
    srv.stop()


def _open(server, page, name: str, ready: str):
    """The result `name` opened on its page, once its view has drawn `ready`."""
    kind = name.split()[0]
    page.goto(server.url + f"#/result?run=views&index={server.index[name]}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector(f".result-view[data-view='{kind}'] {ready}", timeout=30_000)
    time.sleep(0.2)
    return server.results[name]


def _shot(page, name: str):
    page.screenshot(path=str(SHOTS / f"runs_{name.replace(' ', '_')}.png"), full_page=True)
    assert page.console_errors == []


# the boxes of every tick label, per chart: any two of one axis that intersect are reported
OVERLAPS = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('.result-view svg')) {
    for (const cls of ['x-tick', 'y-tick']) {
      const boxes = [...svg.querySelectorAll('text.' + cls)].map((t) => [t.textContent, t.getBoundingClientRect()]);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const [a, p] = boxes[i], [b, q] = boxes[j];
        if (p.left < q.right - 0.5 && q.left < p.right - 0.5 && p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) out.push(a + ' / ' + b);
      }
    }
  }
  return out;
}"""


def _no_overlapping_ticks(page):
    assert page.evaluate(OVERLAPS) == []


def _count(page, selector: str) -> int:
    return page.locator(f".result-view {selector}").count()


def _set_slider(page, selector: str, value: int):
    page.locator(f".result-view {selector}").first.evaluate(
        "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input')); }", value)


def test_head_stats_draw_one_layer_by_head_map_per_statistic(runs_server, page):
    r = _open(runs_server, page, "attention_head_stats", ".head-stat-map")
    L, H = r["entropy"].shape
    assert _count(page, ".head-stat") == len(r.stats) == 6
    cells = page.locator(".result-view .head-stat image.cells")
    assert {(cells.nth(i).get_attribute("data-rows"), cells.nth(i).get_attribute("data-cols")) for i in range(6)} == {(str(L), str(H))}
    assert page.locator(".result-view .head-stat .chart-title").all_text_contents()[:3] == [
        r.LABELS["entropy_ratio"], r.LABELS["diagonal_distance"], r.LABELS["special"]]
    assert page.locator(".result-view .head-stat").first.locator("text.y-tick").all_text_contents() == r.layer_names
    _no_overlapping_ticks(page)
    _shot(page, "attention_head_stats")


def _lit_nodes(page) -> int:
    return page.locator(".result-view circle.node:not([fill='#eeeeee'])").count()


def test_forward_pass_draws_every_shown_unit_and_weight_and_lights_layer_by_layer(runs_server, page):
    r = _open(runs_server, page, "forward_pass", "svg.fp-network")
    units = [len(lay["units"]) for lay in r.layers]
    assert _count(page, "circle.node") == sum(units)
    assert _count(page, "line.edge") == sum(w.size for w in r.weights)
    assert _lit_nodes(page) == sum(units)  # opens on the last layer, as plot() draws it
    assert _count(page, "text.output-label") == units[-1]
    best = int(np.argmax(r.layers[-1]["values"]))
    assert page.locator(".result-view text.output-label[font-weight='bold']").text_content().startswith(f"{best} ")
    _set_slider(page, ".ns-player-slider", 0)
    assert _lit_nodes(page) == units[0]
    assert page.locator(".result-view .ns-player-label").text_content().startswith("layer 0: input")
    _shot(page, "forward_pass")


def test_a_forward_pass_step_is_lit_up_to_its_layer(runs_server, page):
    r = _open(runs_server, page, "forward_pass_step", "svg.fp-network")
    assert _lit_nodes(page) == sum(len(lay["units"]) for lay in r.fp.layers[: r.step + 1])
    _shot(page, "forward_pass_step")


def test_conv_forward_pass_draws_its_stages_and_the_prediction(runs_server, page):
    r = _open(runs_server, page, "conv_forward_pass", ".cfp-probs rect.bar")
    stages = r.stages
    assert _count(page, ".cfp-stage") == len(stages)
    assert _count(page, ".cfp-probs rect.bar") == len(stages[-1]["values"])
    assert page.locator(".result-view .cfp-probs .chart-title").text_content().startswith(
        f"prediction: {int(np.argmax(stages[-1]['values']))} ")
    _no_overlapping_ticks(page)
    _shot(page, "conv_forward_pass")
    maps = next(k for k, s in enumerate(stages) if s["kind"] == "maps" and s["values"].shape[0] > r.max_maps)
    page.locator(f".result-view .cfp-stage[data-stage='{maps}']").click()
    grid = page.locator(".result-view canvas.cfp-maps")
    assert grid.get_attribute("data-tiles") == str(r.max_maps)
    assert f"{r.max_maps} of {stages[maps]['values'].shape[0]} channels" in page.locator(".result-view .cfp-figure").text_content()
    vector = next(k for k, s in enumerate(stages) if s["kind"] == "vector")
    page.locator(f".result-view .cfp-stage[data-stage='{vector}']").click()
    assert f"{stages[vector]['values'].size} units (row by row)" in page.locator(".result-view .cfp-vector .chart-title").text_content()


def test_a_conv_forward_step_draws_its_own_stage(runs_server, page):
    r = _open(runs_server, page, "conv_forward_step", ".cfp-figure")
    stage = r.fp.stages[r.step]
    assert page.locator(".result-view .cfp-stage.current").get_attribute("data-stage") == str(r.step)
    assert page.locator(".result-view canvas.cfp-maps").get_attribute("data-tiles") == str(min(r.fp.max_maps, stage["values"].shape[0]))
    _shot(page, "conv_forward_step")


@pytest.mark.parametrize("name,frame_view", [("animation", "svg.fp-network"), ("animation conv", ".cfp-figure")])
def test_an_animation_plays_its_frames_each_drawn_by_its_own_view(runs_server, page, name, frame_view):
    r = _open(runs_server, page, name, frame_view)
    n = len(r.frames)
    assert page.locator(".result-view .ns-player-slider").get_attribute("max") == str(n - 1)
    assert page.locator(".result-view .ns-player-label").text_content() == f"{r.labels[-1]} ({n}/{n})"
    assert page.locator(f".result-view .anim-frame .result-view[data-view='{r.frames[0].kind}']").count() == 1
    _set_slider(page, ".ns-player-slider", 0)
    page.wait_for_selector(".result-view .anim-frame [data-step='0']", timeout=10_000)
    assert page.locator(".result-view .ns-player-label").text_content() == f"{r.labels[0]} (1/{n})"
    _shot(page, name)


def test_diagnostics_list_every_problem_in_a_table(runs_server, page):
    r = _open(runs_server, page, "diagnostics", ".diag-table")
    assert "nonfinite" in r.codes()  # the NaN loss at step 150
    assert page.locator(".result-view .diag-table tbody tr").count() == len(r)
    first = page.locator(".result-view .diag-table tbody tr").first.locator("td")
    assert first.nth(0).get_attribute("title") == r.items[0].severity and first.nth(2).text_content() == r.items[0].code
    assert first.nth(3).text_content() == "150"
    _shot(page, "diagnostics")


def test_faithfulness_curves_draw_every_example_faint_and_the_means_with_their_auc(runs_server, page):
    r = _open(runs_server, page, "faithfulness_curves", ".faith-chart path.series")
    assert _count(page, ".faith-chart path.series") == 2 * len(r.deletion) + 2
    legend = page.locator(".result-view .legend").first.text_content()
    assert f"deletion (mean AUC {r.deletion_auc.mean():.3g}" in legend and f"insertion (mean AUC {r.insertion_auc.mean():.3g}" in legend
    assert page.locator(".result-view .faith-aucs tbody tr").count() == len(r.deletion)
    _no_overlapping_ticks(page)
    _shot(page, "faithfulness_curves")


def test_sanity_check_draws_both_similarities_over_the_named_steps(runs_server, page):
    r = _open(runs_server, page, "sanity_check", ".sanity-chart path.series")
    assert page.locator(".result-view .sanity-chart text.x-tick").all_text_contents() == list(r.steps)
    assert _count(page, ".sanity-chart circle.dot") == 2 * len(r.steps)
    assert _count(page, ".sanity-chart path.band") == 2
    assert page.locator(".result-view canvas.sanity-maps").get_attribute("data-tiles") == str(len(r.steps))
    _no_overlapping_ticks(page)
    _shot(page, "sanity_check")


def test_feature_vis_shows_each_unit_and_its_objective_curve(runs_server, page):
    r = _open(runs_server, page, "feature_vis", ".fv-images canvas")
    assert _count(page, ".fv-images .fv-unit canvas") == len(r.labels)
    captions = page.locator(".result-view .fv-unit figcaption").all_text_contents()
    assert captions == [f"{label}= {v:.3g}" for label, v in zip(r.labels, r.values)]
    assert _count(page, ".fv-history path.series") == len(r.labels)
    _no_overlapping_ticks(page)
    _shot(page, "feature_vis")


def test_comparison_scores_are_the_library_means_and_sort_by_any_column(runs_server, page):
    r = _open(runs_server, page, "attribution_comparison scored", ".attr-scores tbody tr")
    table = {row["method"]: row for row in r.table()}

    def shown():
        rows = page.locator(".result-view table.attr-scores tbody tr")
        return [rows.nth(i).get_attribute("data-method") for i in range(rows.count())]

    assert shown() == ["a", "c", "b"]  # the comparison's own order until a column is clicked
    for method, row in table.items():
        cell = page.locator(f".result-view tr[data-method='{method}'] td[data-metric='insertion_auc']")
        expected = row.get("insertion_auc")
        assert cell.text_content() == ("—" if expected is None or np.isnan(expected) else f"{expected:.4g}")
    head = page.locator(".result-view .attr-scores th[data-sort='insertion_auc']")
    head.click()  # largest first, the method without the score last
    assert shown() == ["a", "c", "b"] and head.get_attribute("data-dir") == "desc"
    head.click()
    assert shown() == ["c", "a", "b"] and head.get_attribute("data-dir") == "asc"
    page.locator(".result-view .attr-scores th[data-sort='deletion_auc']").click()
    by_deletion = sorted(table, key=lambda m: -table[m]["deletion_auc"])
    assert shown() == by_deletion == ["b", "a", "c"]
    page.locator(".result-view .attr-scores th[data-sort='method']").click()
    assert shown() == ["a", "b", "c"]
    page.locator(".result-view .attr-scores th[data-sort='seconds']").click()
    assert shown() == ["b", "a", "c"]
    assert page.console_errors == []


TABLE = """table => ({ heads: [...table.querySelectorAll('thead th')].map((t) => t.textContent),
    rows: [...table.querySelectorAll('tbody tr')].map((tr) => [tr.dataset.run, ...[...tr.cells].map((td) => td.textContent)]) })"""


def test_run_set_lists_the_runs_with_their_config_and_compares_the_last_values(runs_server, page):
    r = _open(runs_server, page, "run_set", ".runs-table")
    keys, metrics = r.hparams()
    assert page.locator(".result-view .runs-table tbody tr").count() == len(r)
    heads = ["run", "status", "started", "duration", "last step", *keys, *metrics]
    assert page.locator(".result-view .runs-table th").all_text_contents() == heads
    assert page.locator(".result-view .runs-table th.cfg").all_text_contents() == keys
    assert page.locator(".result-view .runs-table td.metric[data-tag='loss']").all_text_contents() == [
        f"{row['last']['loss']:.6g}" for row in r.info]
    assert _count(page, "svg.run-metric") == len(metrics)
    assert _count(page, "svg.run-metric rect.bar") == len(metrics) * len(r)
    _no_overlapping_ticks(page)
    _shot(page, "run_set")


def test_the_runs_page_and_the_run_set_view_draw_the_same_table(runs_server, page):
    _open(runs_server, page, "run_set", ".runs-table")
    view = page.locator(".result-view table.runs-table").evaluate(TABLE)
    from neuralscope.server.app import serve_in_background

    srv = serve_in_background(runs_server.runs_root, poll_interval=0.5)
    try:
        page.goto(srv.url + "#/runs")
        page.wait_for_selector("#runs-table tbody tr", timeout=30_000)
        runs_page = page.locator("#runs-table").evaluate(TABLE)
    finally:
        srv.stop()
    assert runs_page["heads"] == ["", *view["heads"]]  # the page adds its selection column
    assert [row[:1] + row[2:] for row in runs_page["rows"]] == view["rows"] and len(view["rows"]) == 2
    assert page.console_errors == []


# what a uPlot chart of the chart registry draws: x, every series's values and whether it is
# shown, and the y scale's distribution (3: logarithmic)
DRAWN = """chart => ({ data: chart.u.data.map((a) => Array.from(a)), shown: chart.u.series.map((s) => s.show),
                   distr: chart.u.scales.y.distr, canvases: chart.el.querySelectorAll('.uplot canvas').length })"""


def _drawn_view_chart(page) -> dict:
    key = page.locator(".result-view .scalar-chart").get_attribute("data-key")
    return page.evaluate(f"(key) => ({DRAWN})(window.__nsCharts.get(key))", key)


def _ema_skipping_nonfinite(values, weight):
    """TensorBoard's debiased moving average; NaN/Inf points are passed through and left out of the mean."""
    out, last, n = [], 0.0, 0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
            continue
        n += 1
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n))
    return out


def test_scalar_series_is_drawn_by_the_scalars_chart_with_a_log_axis_nan_steps_and_smoothing(runs_server, page):
    r = _open(runs_server, page, "scalar_series", ".scalar-chart .uplot canvas")
    assert _count(page, "svg path.series") == 0  # no second line drawing: the Scalars page's uPlot chart
    drawn = _drawn_view_chart(page)
    values = [None if not np.isfinite(v) else float(v) for v in r.values]
    assert drawn["data"][0] == [int(s) for s in r.steps] and drawn["data"][1] == values
    assert drawn["shown"] == [True, True, False]  # x, the raw line; the smoothed line hidden at smoothing 0
    assert drawn["distr"] == 3  # log value axis: 3 .. 3e-3 spans 1000-fold
    key = page.locator(".result-view .scalar-chart").get_attribute("data-key")
    # the log axis keeps its powers of ten and labels no skipped split (uPlot passes null) as "NaN"
    axis = page.evaluate("(key) => { const u = window.__nsCharts.get(key).u, a = u.axes[1]; const kept = a.filter(u, [0.001, 0.002,"
                         " 0.01, 0.05, 1], 1); return { kept, labels: a.values(u, kept, 1) }; }", key)
    assert axis == {"kept": [0.001, None, 0.01, None, 1], "labels": ["0.001", "", "0.01", "", "1"]}
    bad = [int(s) for s, v in zip(r.steps, r.values) if not np.isfinite(v)]
    assert bad == [150] and "at step 150" in page.locator(".result-view .nonfinite-note").text_content()
    _set_slider(page, "input.smoothing", 0.9)
    drawn = _drawn_view_chart(page)
    assert drawn["shown"] == [True, True, True]
    assert np.allclose(np.array(drawn["data"][2], dtype=float), np.array(_ema_skipping_nonfinite(values, 0.9), dtype=float),
                       rtol=1e-12, equal_nan=True)
    _shot(page, "scalar_series")
    key = page.locator(".result-view .scalar-chart").get_attribute("data-key")
    _open(runs_server, page, "run_set", ".runs-table")  # the view is gone: so is its chart
    page.wait_for_function("(key) => !window.__nsCharts.has(key)", arg=key, timeout=10_000)


def test_the_scalars_page_and_the_scalar_series_view_draw_the_same_points_with_one_chart(runs_server, page):
    r = _open(runs_server, page, "scalar_series", ".scalar-chart .uplot canvas")
    view = _drawn_view_chart(page)
    from neuralscope.server.app import serve_in_background

    srv = serve_in_background(runs_server.runs_root, poll_interval=0.5)
    try:
        page.goto(srv.url + "#/scalars?tag=loss&run=a")  # the run the result was read from, alone
        page.wait_for_selector(".chart-card[data-tag='loss'] .uplot canvas", timeout=30_000)
        page.wait_for_function("() => window.__nsCharts.get('loss').series.size === 1", timeout=30_000)
        scalars = page.evaluate(f"() => ({DRAWN})(window.__nsCharts.get('loss'))")
    finally:
        srv.stop()
    assert scalars["data"][:2] == view["data"][:2] and len(view["data"][0]) == len(r.steps)
    assert scalars["canvases"] == view["canvases"] >= 1
    assert page.console_errors == []


def test_summary_draws_the_rows_plot_draws_and_the_whole_table(runs_server, page):
    r = _open(runs_server, page, "summary", "svg.summary-params")
    rows = r.plot_rows()
    assert _count(page, "svg.summary-params text.row-label") == len(rows)
    assert _count(page, "svg.summary-macs rect.bar") == len(rows)
    assert page.locator(".result-view svg.summary-params text.row-label").first.text_content().startswith(rows[0].name)
    assert page.locator(".result-view .summary-table tbody tr").count() == len(r.rows)
    _no_overlapping_ticks(page)
    _shot(page, "summary")


def test_an_animation_of_one_pass_holds_the_pass_once_and_its_steps_by_number():
    mlp = zoo.MLP().eval()
    fwd = ns.animate_forward(mlp, mlp.example_input(1))
    doc = fwd.animation().to_dict()
    assert doc["frames"] == [{"kind": "forward_pass_step", "step": k} for k in range(len(fwd.layers))]
    assert doc["pass"]["layers"] is fwd.layers and fwd.animation().frames[1].to_dict()["pass"]["layers"] is fwd.layers
    other = ns.animate([fwd, fwd.animation().frames[0]]).to_dict()  # frames that are not steps of one pass
    assert "pass" not in other and other["frames"][0]["kind"] == "forward_pass" and "pass" in other["frames"][1]


def test_a_document_without_what_its_drawing_needs_gets_one_sentence(runs_server, page):
    _open(runs_server, page, "summary cut", ".view-note")
    assert page.locator(".result-view .view-note").text_content() == "This summary result cannot be drawn: it has no rows."
    assert page.console_errors == []
