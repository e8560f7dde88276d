"""Every kind of result has one dashboard view, registered in one table
(``web/src/views/index.js``), and each view draws a real result of its kind in headless
Chromium without a console error.

The registry is read from its source (one line per kind: ``kind: { tab, load: import(...) }``);
the kinds are the ``kind`` attribute of every :class:`neuralscope.result.Result` subclass in
the package. The browser test logs one small result of every kind into a run, serves it, opens
each from its tab's list and waits for the element that the kind's own view marks with
``data-view="<kind>"``. Screenshots go to ``$NEURALSCOPE_GALLERY/views`` (default
``gallery/views``) for people to look at.
"""
from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import neuralscope as ns
from neuralscope import zoo
from neuralscope.result import Result

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "web" / "src" / "views"
SHOTS = Path(os.environ.get("NEURALSCOPE_GALLERY", ROOT / "gallery")) / "views"
ENTRY = re.compile(r'^  (\w+): \{ tab: "(\w+)", load: \(\) => import\("\./(\w+)\.js"\) \},$', re.M)
# modules of views/ that are not the view of one kind
SHARED = {"index", "inspector", "parts"}
# kinds the store holds that are not Result classes: logged pictures and texts
ARTIFACT_KINDS = {"image", "text"}


def registry() -> dict[str, tuple[str, str]]:
    """kind -> (tab, module file name) as views/index.js declares it."""
    return {k: (tab, mod) for k, tab, mod in ENTRY.findall((VIEWS / "index.js").read_text())}


def result_kinds() -> dict[str, type]:
    """kind -> class, for every Result subclass of the package (all modules imported)."""
    import neuralscope

    for m in pkgutil.walk_packages(neuralscope.__path__, "neuralscope."):
        if m.name.endswith("__main__") or ".demo." in m.name or m.name.startswith("neuralscope.keras"):
            continue
        importlib.import_module(m.name)
    out, todo = {}, [Result]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("neuralscope.") and isinstance(sub.__dict__.get("kind"), str):
                out[sub.kind] = sub
    return out


def test_every_result_kind_has_a_registered_view():
    kinds, table = result_kinds(), registry()
    assert len(kinds) >= 30, sorted(kinds)  # the walk found the package's result classes
    missing = sorted(set(kinds) - set(table))
    assert not missing, f"add web/src/views/<kind>.js and a line in web/src/views/index.js for: {missing}"
    assert ARTIFACT_KINDS <= set(table)


# a view that only hands its data to the generic inspector: `render(data) { return inspector(...); }`
PLACEHOLDER = re.compile(r"export function render\([^)]*\)\s*\{\s*return inspector\([^;]*\);\s*\}")


@pytest.mark.parametrize("kind", sorted(registry()))
def test_no_kind_is_drawn_by_the_inspector_placeholder(kind):
    """The inspector draws unknown kinds only; every registered kind draws its own picture."""
    source = (VIEWS / f"{registry()[kind][1]}.js").read_text()
    assert not PLACEHOLDER.search(source), f"views/{kind}.js only hands its data to the inspector; draw what its plot() draws"


def test_the_placeholder_pattern_finds_a_placeholder():
    assert PLACEHOLDER.search('export function render(data) {\n  return inspector(data, "dead_units");\n}')
    assert not PLACEHOLDER.search('export function render(data) {\n  if (!ok) return inspector(data, "x");\n  return h("div");\n}')


def test_each_registry_line_names_its_own_existing_module():
    table = registry()
    lines = [ln for ln in (VIEWS / "index.js").read_text().splitlines() if "load: () =>" in ln]
    assert len(lines) == len(table), "every registry line has the form  kind: { tab: \"...\", load: () => import(\"./kind.js\") },"
    for kind, (tab, mod) in table.items():
        assert mod == kind, f"{kind} is drawn by {mod}.js; a kind's view lives in views/{kind}.js"
        assert (VIEWS / f"{mod}.js").is_file()
        assert tab in {"inside", "attributions", "attention", "featurevis", "graph", "audit"}
    modules = {p.stem for p in VIEWS.glob("*.js")} - SHARED
    assert modules == set(table), f"view modules not in the registry: {sorted(modules - set(table))}"


# JavaScript syntax and DOM calls that prose and Python code do not contain
JS = re.compile(r"addEventListener|\bfunction\s*\w*\s*\([^)]*\)\s*\{|=>\s*[{(]|\bdocument\.\w+|"
                r"\b(?:const|let|var)\s+\w+\s*=|<script(?:\s[^>]*)?>\s*[\w(!;]")


def python_strings(path: Path):
    """(line, text) of every string constant in a Python file, f-strings' literal parts included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_javascript_in_python_strings():
    """Browser code lives in web/ (built by vite); Python writes markup and JSON only."""
    found = [f"{p.relative_to(ROOT)}:{line}: {JS.search(text).group(0)!r}"
             for p in sorted((ROOT / "src").rglob("*.py")) for line, text in python_strings(p) if JS.search(text)]
    assert not found, "JavaScript in Python strings (move it to web/src/standalone/):\n" + "\n".join(found)


def test_the_javascript_pattern_finds_inline_scripts():
    assert JS.search("<script>(function(){ const D = 1; })();</script>")
    assert JS.search("el.addEventListener('click', f)") and JS.search("x => { y }")
    assert not JS.search('<script type="application/json" id="d">') and not JS.search("the function of a layer")


# -- one small result of every kind ------------------------------------------------------------

def _x8(n=4):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def _labelled(n=8):
    return _x8(n), torch.arange(n) % 10


def _cnn():
    torch.manual_seed(0)
    return zoo.DigitsCNN().eval()


def _tracked(tmp: Path):
    """scalar_series, histogram_series, diagnostics and run_set, read back from a small run."""
    with ns.Run(tmp / "runs" / "train") as run:
        for step in range(12):
            run.log({"loss": 2.0 / (step + 1)}, step=step)
            run.log_histogram("weights", np.random.default_rng(step).normal(size=200), step=step)
    reader = ns.open_run(tmp / "runs" / "train")
    return [reader.scalars("loss"), reader.histograms("weights"), reader.diagnostics(), ns.runs(tmp / "runs")]


def _results(tmp: Path) -> list[Result]:
    """One result of every kind (several attributions: one per modality with a view of its own)."""
    cnn, x = _cnn(), _x8()
    tt = zoo.TinyTransformer().eval()
    maps = ns.attention(tt, tt.example_input(2))
    fwd = ns.animate_forward(zoo.MLP().eval(), zoo.MLP().example_input(1))
    conv = ns.animate_forward(cnn, _x8(1))  # a ConvForwardPass for a convolutional network
    ckpts = [zoo.DigitsCNN().state_dict() for _ in range(3)]
    out = [
        ns.activation_functions(), ns.activation_heatmap(cnn, x, "features.1"), ns.activation_histograms(cnn, x),
        ns.embeddings_over_training(cnn, ckpts[:2], _x8(6), "classifier"), maps, maps.head_stats(),
        ns.explain(cnn, _x8(2), target=1, method="integrated_gradients", steps=8),
        ns.compare(cnn, _x8(2), methods=("saliency", "grad_cam"), target=0, metrics=False),
        ns.audit(cnn, _labelled(), run=tmp / "audit", shard_size=4, steps=4, methods=("saliency",)),
        ns.conv_filters(cnn, "features.0"), conv, conv.animation().frames[0],
        ns.curvature(cnn, _labelled(), max_iter=5, trace_samples=2, show_progress=False),
        ns.dead_units(cnn, x), ns.embed_layer(cnn, _x8(6), "classifier"),
        ns.deletion_insertion(cnn, _x8(2), ns.explain(cnn, _x8(2), target=0, method="saliency"), target=0, steps=4),
        ns.feature_maps(cnn, _x8(1), "features.0"),
        ns.feature_vis(cnn, "features.0:0-1", steps=4, show_progress=False),
        fwd, fwd.animation().frames[0], ns.graph(cnn, _x8(1)),
        ns.hidden_states(zoo.RNNClassifier().eval(), zoo.RNNClassifier().example_input(2)),
        ns.loss_landscape(cnn, _labelled(), dims=2, steps=5, show_progress=False),
        ns.model_randomization(cnn, _x8(2), method="saliency", target=0, layers=["classifier"]),
        ns.reconstruct(cnn, _x8(1), layer="features.0", unit=0), ns.summary(cnn, _x8(1)),
        ns.trajectory(ckpts, _cnn(), _labelled(), grid=5, show_progress=False), ns.unit_activations(cnn, x, "features.1", 0),
        ns.weight_heatmap(cnn, "classifier"), ns.weight_histograms(cnn), ns.weight_stats(cnn),
    ]
    return out + _tracked(tmp) + _modalities()


def _modalities() -> list[Result]:
    """Attributions of tabular rows (SHAP values, with the expected output), of signals and of text."""
    torch.manual_seed(0)
    tab, sig = zoo.TabularMLP(in_features=6).eval(), zoo.SignalCNN(channels=2, length=64).eval()
    rows = torch.randn(24, 6)
    shap = ns.explain(tab, rows, target=1, method="kernel_shap", background=torch.randn(16, 6),
                      feature_names=[f"feature {k}" for k in range(6)], n_samples=200)
    signals = ns.explain(sig, torch.randn(3, 2, 64), target=0, method="integrated_gradients", steps=8)
    tt = zoo.TinyTransformer().eval()
    text = ns.explain_text(tt, tt.example_input(2), target=1, steps=8)
    assert (shap.modality, signals.modality, text.modality) == ("tabular", "signal", "text")
    two = ns.explain(_ImageAndRows().eval(), (torch.rand(2, 1, 6, 6), torch.rand(2, 5)), target=0, method="saliency",
                     abs=False)
    assert two.modality == "several" and [p.modality for p in two.parts()] == ["image", "tabular"]
    return [shap, signals, text, two]


class _ImageAndRows(torch.nn.Module):
    """A model with two inputs: an image branch and a row of five features, joined by a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.rows, self.head = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(5, 5), torch.nn.Linear(9, 3)

    def forward(self, image, rows):
        return self.head(torch.cat([torch.relu(self.conv(image)).mean((2, 3)), torch.tanh(self.rows(rows))], 1))


@pytest.fixture(scope="module")
def views_server(tmp_path_factory):
    from neuralscope.server.app import STATIC, serve_in_background

    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    tmp = tmp_path_factory.mktemp("views")
    results = _results(tmp)
    with ns.Run(tmp / "served" / "views") as run:
        for r in results:
            run.log_result(r, name=_name(r), step=0)
        run.log_result(_large_heatmap(), name="activation_heatmap large", step=0)
        for name, r in _other_modes().items():
            run.log_result(r, name=name, step=0)
        run.log_image("picture", np.random.default_rng(0).random((16, 16, 3)), step=0)
        run.log_text("notes", "a text logged with run.log_text", step=0)
    srv = serve_in_background(tmp / "served", poll_interval=0.5)
    srv.names = {_name(r): r.kind for r in results}
    srv.results = {_name(r): r for r in results}
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield srv
    srv.stop()


def _large_heatmap():
    """A units x examples heatmap larger than the view draws (256 x 1,000 cells at most)."""
    from neuralscope.inspect.activations import ActivationHeatmap

    values = np.random.default_rng(3).normal(size=(260, 1010)) + np.linspace(-2, 2, 260)[:, None]
    values[7, 11] = np.nan
    return ActivationHeatmap("large", values.astype(np.float32))


def _other_modes() -> dict[str, Result]:
    """Results of the inside kinds drawn another way than the fixture's: RGB, norm and 1-D
    filters, 1-D feature maps, hidden states along tokens."""
    from neuralscope.featurevis.reconstruct import Reconstruction

    torch.manual_seed(0)
    sig = zoo.SignalCNN(channels=2, length=64).eval()
    conv1d = next(n for n, m in sig.named_modules() if isinstance(m, torch.nn.Conv1d))
    rnn = zoo.RNNClassifier().eval()
    return {
        "conv_filters rgb": ns.conv_filters(torch.nn.Sequential(torch.nn.Conv2d(3, 6, 5)), "0"),
        "conv_filters norm": ns.conv_filters(torch.nn.Sequential(torch.nn.Conv2d(40, 20, 3)), "0"),
        "conv_filters taps": ns.conv_filters(sig, conv1d),
        "feature_maps 1d": ns.feature_maps(sig, torch.randn(1, 2, 64), conv1d),
        "hidden_states tokens": ns.hidden_states(rnn, rnn.example_input(1), tokens=[f"t{i}" for i in range(8)]),
        "unit_reconstruction rgb": Reconstruction(np.random.default_rng(0).random((2, 3, 8, 8)),
                                                  np.random.default_rng(1).normal(size=(2, 3, 8, 8)), "f:0", "guided",
                                                  np.array([0.5, 2.0])),
    }


def _name(r: Result) -> str:
    modality = getattr(r, "modality", None)
    return f"{r.kind} {modality}" if r.kind == "attribution" else r.kind


NAMES = ["attribution image", "attribution tabular", "attribution signal", "attribution text", "attribution several"]


# what a kind's own view draws (beyond its data-view mark), where it draws something of its own
DRAWS = {
    "attention": "svg.attn-map image.cells", "attribution image": "canvas.attr-overlay", "attribution signal": "canvas.sig-band",
    "attribution tabular": ".tab-svg circle", "attribution text": ".tok-strip span.tok",
    "attribution several": ".attr-several .tab-svg", "attribution_comparison": "#attr-method", "audit": ".audit-classes rect",
    "curvature": ".curv-spectrum circle", "embedding": ".ns-embedding canvas.scatter", "graph": "iframe.graph-frame",
    "loss_landscape": "canvas.ls-map", "trajectory": "canvas.ls-map",
}


def _logged(server) -> dict[str, int]:
    """name -> index of its result in the served run (as /api/results lists them)."""
    import json
    import urllib.request

    with urllib.request.urlopen(server.url.rstrip("/") + "/api/results?run=views") as r:
        items = json.load(r)["items"]
    return {it["name"]: it["index"] for it in items}


def test_the_fixture_logs_every_registered_kind(views_server):
    assert set(registry()) - ARTIFACT_KINDS <= set(views_server.names.values())
    assert set(NAMES) <= set(_logged(views_server))


@pytest.mark.parametrize("name", sorted(set(registry()) - ARTIFACT_KINDS - {"attribution"}) + NAMES)
def test_each_kind_is_drawn_by_its_own_view_without_console_errors(views_server, page, name):
    kind = name.split()[0]
    page.goto(views_server.url + f"#/result?run=views&index={_logged(views_server)[name]}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector(f".result-view[data-view='{kind}']", timeout=60_000)
    if name in DRAWS:
        page.wait_for_selector(f".result-view {DRAWS[name]}", timeout=10_000)
    time.sleep(0.3)  # lazy charts finish drawing
    page.screenshot(path=str(SHOTS / f"{name.replace(' ', '_')}.png"), full_page=True)
    assert page.console_errors == []
    alone = page.locator(f".result-view[data-view='{kind}'] > .inspector").count() == 1
    assert not alone, f"{name} is drawn by the generic inspector alone"


# -- text attributions: the tokens coloured as the library's figure colours them -------------

def _drawn_tokens(page) -> list[dict]:
    """Every token span of the text attribution view: its example, index, value, text,
    background colour and box."""
    return page.locator(".result-view .tok-strip span.tok").evaluate_all(
        "ts => ts.map(t => { const r = t.getBoundingClientRect(); return { example: +t.closest('figure').dataset.example,"
        " index: +t.dataset.index, value: +t.dataset.value, text: t.textContent, colour: getComputedStyle(t).backgroundColor,"
        " box: [r.left, r.top, r.right, r.bottom], strip: t.parentElement.getBoundingClientRect().right }; })")


def _overlap(a, b) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def test_several_inputs_draw_each_input_by_the_view_of_its_own_modality(views_server, page):
    page.goto(views_server.url + f"#/result?run=views&index={_logged(views_server)['attribution several']}")
    page.wait_for_selector(".attr-several .tab-svg", timeout=60_000)
    sections = page.locator(".attr-several > .r-section")
    assert sections.count() == 2
    assert [sections.nth(i).get_attribute("data-key") for i in range(2)] == views_server.results["attribution several"].input_names
    two = views_server.results["attribution several"]
    image, rows = two.parts()
    examples = len(image.attributions)
    # the image input: one overlay and one map alone per example, and nothing tabular
    assert sections.nth(0).locator("canvas.attr-overlay").count() == examples == 2
    assert sections.nth(0).locator("canvas.attr-map").count() == examples
    assert sections.nth(0).locator(".tab-svg").count() == 0
    # the row input: an importance bar per feature, most important first (mean |attribution|)
    bars = sections.nth(1).locator(".tab-svg").first.locator("rect[data-feature]")
    mean_abs = np.abs(np.asarray(rows.attributions)).mean(0)
    assert bars.count() == mean_abs.size == 5
    order = sorted(range(5), key=lambda k: (-mean_abs[k], k))
    assert [bars.nth(i).get_attribute("data-feature") for i in range(5)] == [f"x{k}" for k in order]
    assert sections.nth(1).locator("canvas.attr-overlay").count() == 0
    assert page.locator(".result-view > .inspector").count() == 0  # neither part left to the generic inspector alone
    assert page.console_errors == []


def test_attention_draws_each_head_and_the_chosen_one_by_the_one_heatmap(views_server, page):
    maps = next(r for r in views_server.results.values() if r.kind == "attention")
    _B, layers, heads, queries, keys = np.shape(maps.to_dict()["weights"])
    page.goto(views_server.url + f"#/result?run=views&index={_logged(views_server)['attention']}")
    page.wait_for_selector(".result-view svg.attn-map image.cells", timeout=60_000)
    cells = page.locator(".result-view .attn-heads svg.attn-head image.cells")
    assert cells.count() == heads  # the last layer's heads, each a queries x keys map
    assert {(cells.nth(i).get_attribute("data-rows"), cells.nth(i).get_attribute("data-cols")) for i in range(heads)} == {
        (str(queries), str(keys))}
    big = page.locator(".result-view svg.attn-map image.cells")
    assert (big.get_attribute("data-rows"), big.get_attribute("data-cols")) == (str(queries), str(keys))
    assert page.locator(".result-view canvas.heat").count() == 0  # no second heatmap routine
    assert page.console_errors == []


def test_curvature_lists_the_whole_model_and_every_layer_in_the_shared_table(views_server, page):
    doc = next(r for r in views_server.results.values() if r.kind == "curvature").to_dict()
    page.goto(views_server.url + f"#/result?run=views&index={_logged(views_server)['curvature']}")
    page.wait_for_selector(".result-view table.rows.curv-layers", timeout=60_000)
    rows = page.locator(".result-view table.curv-layers tbody tr")
    assert rows.count() == 1 + len(doc["layers"])
    assert rows.first.locator("td").first.text_content() == "whole model"
    assert [rows.nth(i + 1).get_attribute("data-layer") for i in range(len(doc["layers"]))] == list(doc["layers"])
    top = float(rows.first.locator("td.num").first.text_content())
    assert top == pytest.approx(doc["eigenvalues"][0], rel=1e-3)  # written with 4 significant digits
    assert page.console_errors == []


def test_text_attribution_draws_every_token_on_the_library_colour_of_its_score(views_server, page):
    """One span per token, in reading order, with Attribution.token_scores' value; its background
    is matplotlib's colour for that score (the result's cmap, RdBu_r, over the example's own
    symmetric limit, as Attribution._draw_tokens draws it), so red where the token raises the
    target and blue where it lowers it. On a narrow page the lines wrap and no token covers another."""
    import matplotlib

    r = views_server.results["attribution text"]
    scores = r.token_scores()
    assert r.signed and (scores > 0).any() and (scores < 0).any()  # both signs are checked
    page.set_viewport_size({"width": 320, "height": 900})
    _open(views_server, page, "attribution text")
    drawn = _drawn_tokens(page)
    page.screenshot(path=str(SHOTS / "attribution_text_narrow.png"), full_page=True)
    assert len(drawn) == scores.size
    cmap = matplotlib.colormaps[r.cmap]
    for i, row in enumerate(scores):
        spans = [d for d in drawn if d["example"] == i]
        assert [d["index"] for d in spans] == list(range(len(row)))
        assert [d["text"] for d in spans] == r.tokens[i]
        np.testing.assert_allclose([d["value"] for d in spans], row, rtol=1e-6, atol=1e-6 * float(np.abs(row).max()))  # float32 rounding of small scores
        norm = r.norm(row)
        for d, s in zip(spans, row):
            colour = np.array([float(c) for c in re.findall(r"[\d.]+", d["colour"])[:3]])
            np.testing.assert_allclose(colour, np.array(cmap(norm(s))[:3]) * 255, atol=12, err_msg=f"token {d['index']} = {s}")
            if abs(s) > 0.05 * norm.vmax:
                assert (colour[0] > colour[2]) == (s > 0), f"token {d['index']} = {s} drawn {d['colour']}"
        assert len({round(d["box"][1]) for d in spans}) > 1, "the tokens of a narrow page wrap onto several lines"
        assert all(d["box"][2] <= d["strip"] + 0.5 for d in spans)
        assert not [(a["index"], b["index"]) for k, a in enumerate(spans) for b in spans[k + 1:] if _overlap(a["box"], b["box"])]
    assert _count(page, ".tok-example .cbar") == len(scores)
    assert _texts(page, ".tok-example [data-fact='target']") == [str(t) for t in r.targets]
    assert page.console_errors == []


@pytest.mark.parametrize("kind,name,tab", [("image", "picture", "inside"), ("text", "notes", "inside")])
def test_logged_pictures_and_texts_are_drawn_by_their_views(views_server, page, kind, name, tab):
    page.goto(views_server.url + f"#/{tab}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.locator(f".result-item[data-name='{name}']").click(timeout=30_000)
    page.wait_for_selector(f".result-view[data-view='{kind}']", timeout=60_000)
    assert page.console_errors == []


# -- what the views of the "inside" kinds draw, counted against the result ----------------------

def _open(server, page, name):
    page.goto(server.url + f"#/result?run=views&index={_logged(server)[name]}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page.wait_for_selector(f".result-view[data-view='{name.split()[0]}']", timeout=60_000)


def _count(page, selector):
    return page.locator(f".result-view {selector}").count()


def _texts(page, selector):
    return page.locator(f".result-view {selector}").all_text_contents()


def _overlapping_ticks(page) -> list[str]:
    """Tick labels of one axis of one chart whose boxes overlap (a label drawn over another)."""
    boxes = page.locator(".result-view svg.ns-chart").evaluate_all(
        "charts => charts.map(c => ['x-tick', 'y-tick'].map(k => [...c.querySelectorAll('text.' + k)]"
        ".map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })))")
    bad = []
    for chart in boxes:
        for axis in chart:
            for i, a in enumerate(axis):
                for b in axis[i + 1:]:
                    if a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5 and a[2] < b[4] - 0.5 and b[2] < a[4] - 0.5:
                        bad.append(f"{a[0]!r} over {b[0]!r}")
    return bad


def _cells(page, cls):
    img = page.locator(f".result-view svg.{cls} image.cells")
    return int(img.get_attribute("data-rows")), int(img.get_attribute("data-cols"))


def _check_activation_functions(page, r):
    assert _count(page, "svg.af-y path.series") == _count(page, "svg.af-dy path.series") == len(r.names)
    assert set(r.names) <= set(_texts(page, ".legend-item"))


def _check_activation_heatmap(page, r):
    assert _cells(page, "ah-heat") == r.values.shape
    assert _texts(page, "svg.ah-heat .y-label") == ["unit"]
    page.locator(".result-view select.ah-style").select_option("lines")
    assert _count(page, "svg.ah-lines path.series") == min(8, len(r.values))


def _check_histograms(page, r):
    assert _count(page, ".hist-panel") == len(r.names)
    assert _count(page, ".hist-panel:first-child rect.bar") == len(r.counts[0])
    page.locator(".result-view .hist-panel").nth(1).click()
    assert _texts(page, ".hist-detail .x-label")[0] in ("weight value", "activation")
    assert r.names[1] in _texts(page, ".hist-detail .chart-title")[0]


def _check_dead_units(page, r):
    assert _count(page, "svg.du-overview .row-label") == len(r.layers)
    assert _count(page, "svg.du-overview rect.bar") == 2 * len(r.layers)
    notes = _texts(page, "svg.du-overview .row-note")
    assert [n.split(" dead")[0] for n in notes] == [str(d["dead"]) for d in r.layers]
    red = page.locator(".result-view svg.du-units rect.bar[fill='#d62728']").count()
    assert _count(page, "svg.du-units rect.bar") == r.layers[0]["units"] and red == r.layers[0]["dead"]


def _check_unit_activations(page, r):
    assert _count(page, "svg.ua-bars rect.bar") == len(r.values)
    assert page.locator(".result-view svg.ua-bars rect.bar[fill='#d62728']").count() == len(r.top)
    assert _count(page, "table.ua-top tbody tr") == len(r.top)


def _check_unit_reconstruction(page, r):
    assert _count(page, "canvas.ur-input") == _count(page, "canvas.ur-map") == 1
    assert any("signed contribution" in t for t in _texts(page, ".cbar"))


def _check_hidden_states(page, r):
    t, units = r.states.shape
    assert _cells(page, "hs-states") == (units, t)
    assert _cells(page, "hs-input") == (r.inputs.shape[1], t)
    assert _texts(page, "svg.hs-states .x-label") == ["time step"]


def _check_feature_maps(page, r):
    grid = page.locator(".result-view canvas.fm-tiles")
    assert int(grid.get_attribute("data-tiles")) == min(len(r.maps), r.max_maps)


def _check_conv_filters(page, r):
    assert r.mode == "channels" and r.weight.shape[1] == 1  # the fixture's first convolution
    assert int(page.locator(".result-view canvas.cf-channels").get_attribute("data-tiles")) == min(len(r.weight), r.max_filters)


def _check_weight_matrix(page, r):
    assert _cells(page, "wm-heat") == r.display.shape
    assert _texts(page, "svg.wm-heat .x-label") == ["input unit"] and _texts(page, "svg.wm-heat .y-label") == ["output unit"]
    assert any("0 = white" in t for t in _texts(page, ".cbar"))


def _check_weight_stats(page, r):
    assert _texts(page, "svg.ws-bars .row-label") == [row["name"] for row in r.rows]
    assert _count(page, "table.ws-table tbody tr") == len(r.rows)


def _check_histogram_series(page, r):
    """The percentile lines are the library's HistogramSeries.percentiles (numpy's interp)."""
    lines = page.locator(".result-view svg.hs-dist path.percentile")
    assert lines.count() == 3
    drawn = np.array([[float(v) for v in lines.nth(k).get_attribute("data-values").split(",")] for k in range(3)]).T
    np.testing.assert_allclose(drawn, r.percentiles((0.05, 0.5, 0.95)), rtol=1e-9, atol=1e-12)
    assert _cells(page, "hs-dist") == (80, len(r.rows))


INSIDE_CHECKS = {
    "activation_functions": _check_activation_functions, "activation_heatmap": _check_activation_heatmap,
    "activation_histograms": _check_histograms, "weight_histograms": _check_histograms, "dead_units": _check_dead_units,
    "unit_activations": _check_unit_activations, "unit_reconstruction": _check_unit_reconstruction,
    "hidden_states": _check_hidden_states, "feature_maps": _check_feature_maps, "conv_filters": _check_conv_filters,
    "weight_matrix": _check_weight_matrix, "weight_stats": _check_weight_stats, "histogram_series": _check_histogram_series,
}


@pytest.mark.parametrize("kind", sorted(INSIDE_CHECKS))
def test_inside_views_draw_what_the_result_holds_with_no_overlapping_labels(views_server, page, kind):
    _open(views_server, page, kind)
    INSIDE_CHECKS[kind](page, views_server.results[kind])
    assert _overlapping_ticks(page) == []
    assert page.console_errors == []


def test_a_large_activation_heatmap_is_drawn_as_the_library_block_means(views_server, page):
    """Cells of 2 units x 2 examples, each the mean that plot.block_reduce computes (a block
    with a NaN stays NaN), read from the tooltip of cells across the map."""
    from neuralscope.plot import block_reduce

    _open(views_server, page, "activation_heatmap large")
    values = _large_heatmap().values
    mean, block, bad = block_reduce(values, (256, 1000), "mean")
    expected = np.where(bad, np.nan, mean)
    assert _cells(page, "ah-heat") == expected.shape and block == (2.0, 2.0)
    assert "each cell = mean of 2 units × 2 examples" in _texts(page, "svg.ah-heat .chart-title")[0].replace("\n", " ")
    cells = page.locator(".result-view svg.ah-heat image.cells")
    cells.scroll_into_view_if_needed()
    box = cells.bounding_box()
    rows, cols = expected.shape
    for i, j in [(0, 0), (3, 5), (100, 400), (rows - 1, cols - 1)]:
        page.mouse.move(box["x"] + (j + 0.5) * box["width"] / cols, box["y"] + (i + 0.5) * box["height"] / rows)
        shown = page.locator(".result-view .tooltip:visible").text_content(timeout=10_000)
        assert shown.startswith(f"unit {2 * i}–{2 * i + 1}, example {2 * j}–"), shown
        np.testing.assert_allclose(float(shown.rsplit(": ", 1)[1]), expected[i, j], rtol=1e-5, equal_nan=True)


def _other_mode_checks(page, name, r):
    if name == "conv_filters rgb":
        assert r.mode == "rgb" and int(page.locator(".result-view canvas.cf-rgb").get_attribute("data-tiles")) == 6
    elif name == "conv_filters norm":
        assert r.mode == "norm" and _cells(page, "cf-norm") == (20, 40)
    elif name == "conv_filters taps":
        o, i, k = r.weight.shape
        assert _cells(page, "cf-taps") == (o, i * k) and _texts(page, "svg.cf-taps .x-tick") == [f"in {c}" for c in range(i)]
    elif name == "feature_maps 1d":
        assert _cells(page, "fm-rows") == r.maps.shape
    elif name == "hidden_states tokens":
        assert _texts(page, "svg.hs-states .x-tick") == r.tokens and _count(page, "svg.hs-input") == 0
    else:  # two RGB examples: the slider moves to the second one and its activation
        assert "activation 0.5" in _texts(page, "figcaption")[0]
        page.locator(".result-view input.ur-example").fill("1")
        assert "activation 2" in _texts(page, "figcaption")[0] and _count(page, "canvas.ur-map") == 1


@pytest.mark.parametrize("name", ["conv_filters rgb", "conv_filters norm", "conv_filters taps", "feature_maps 1d",
                                  "hidden_states tokens", "unit_reconstruction rgb"])
def test_inside_views_draw_their_other_modes(views_server, page, name):
    _open(views_server, page, name)
    _other_mode_checks(page, name, _other_modes()[name])
    assert _overlapping_ticks(page) == []
    assert page.console_errors == []
