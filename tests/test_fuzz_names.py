"""Fuzz-style: seeded random names (unicode, markup, path characters, ``#%?&``, very long,
``__proto__``) go in as run names, config keys and values, series tags, layer names and graph
fields; they must come back unchanged from the store and the API, and every dashboard page
must show them without running script, without a 500, and without touching a file outside
the runs directory (serving also creates no file inside it).

The set is drawn from a fixed seed so a failure reproduces; it stays small (a few dozen
names) to keep the file fast.
"""
from __future__ import annotations

import json
import random
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient
from torch import nn

from neuralscope.graph.api import graph
from neuralscope.graph.model import Graph, Node, TensorMeta
from neuralscope.server.api import ROUTES
from neuralscope.server.app import STATIC, create_app, serve_in_background
from neuralscope.track import open_run
from neuralscope.track.run import Run

SEED = 20261204
CANARY = "window.__pwned=1;parent.__pwned=1"
PIECES = [
    "<", ">", '"', "'", "&", "&amp;", "<b>", "</script>", "<!--", "-->", f"<img src=x onerror={CANARY}>",
    f'"><svg onload="{CANARY}">', f"<script>{CANARY}</script>", "javascript:", "{{7*7}}", "${7*7}",
    "#", "%", "%2e%2e%2f", "?", "&a=b", "=", ";", "\\", ":", "..", "./", "~", "*", "[", "]", "`",
    "ü", "中文", "ש", "🙂", "\u200b", "\u2028", "Ω", "ﬁ", " ", "  ", "__proto__", "constructor", "toString",
    "valueOf", "hasOwnProperty", "loss", "a", "0", "-1", "NaN", "null", "undefined",
]


def fuzz_names(n: int, rng: random.Random, max_len: int = 190, slash: bool = True) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        k = rng.choice([1, 1, 2, 3, 5])
        name = "".join(rng.choice(PIECES) for _ in range(k))
        if rng.random() < 0.15:
            name = (name + "ß" * 200)[:max_len]
        if slash and rng.random() < 0.2:
            name = name + "/" + rng.choice(PIECES)
        name = name[:max_len]
        if name.strip() and name not in out and name.isprintable():
            out.append(name)
    return out


def dir_name(name: str, i: int) -> str:
    """A run directory name from a fuzz name: path separators and '..' components cannot be
    directory names; everything else (#, %, ?, &, markup, unicode) stays."""
    safe = name.replace("/", "∕").replace("\\", "⧵").replace("\0", "")
    safe = safe.encode("utf-8")[:120].decode("utf-8", "ignore").strip(". ") or "x"
    return f"{i}{safe}"


class Fuzzed(nn.Module):
    """A model whose layer names are fuzz names (torch refuses '.' and '' in them)."""

    def __init__(self, names: list[str]):
        super().__init__()
        layers = OrderedDict()
        for n in names:
            key = n.replace(".", "·")
            if key and key not in layers:
                layers[key] = nn.Linear(4, 4)
        self.body = nn.Sequential(layers)

    def forward(self, x):
        return self.body(x)


def crafted_graph(names: list[str]) -> Graph:
    g = Graph(names[0], method=names[1])
    prev = None
    for i, n in enumerate(names[2:]):
        nid = f"{i}{n}"
        g.add_node(Node(nid, ["module", "op", n][i % 3], n, n[::-1], group=n.replace(".", "·") if i % 2 else "",
                        module=n if i % 3 == 0 else None, params=i, trainable_params=i,
                        outputs=[TensorMeta((1, i + 1), n)], attrs={n: n, "__proto__": n}))
        if prev is not None:
            g.add_edge(prev, nid, TensorMeta((1, i), n))
        prev = nid
    return g


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    rng = random.Random(SEED)
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "runs"
    (base / "outside.txt").write_text("must stay as it is")
    logged = {}
    always = ["a#b?c%d&e=f %2e%2e", "__proto__"]  # drawn or not, these are in the set
    for i, run_name in enumerate(always + fuzz_names(4, rng, max_len=60)):
        keys, tags = fuzz_names(6, rng), fuzz_names(6, rng)
        if i == 1:
            keys[:2], tags[:2] = ["constructor", "__proto__"], ["constructor", "__proto__/x"]
        config = {k: rng.choice([k, 1, 0.5, None, [k], {k: k}]) for k in keys}
        run_dir = root / dir_name(run_name, i)
        with Run(run_dir, name=run_name, config=config) as run:
            for step in range(4):
                run.log({t: float(step * (j + 1)) for j, t in enumerate(tags)}, step=step)
            run.log_histogram(tags[0], np.arange(30.0) * (i + 1), step=0)
            run.log_text(tags[1], tags[2])
            layer_names = fuzz_names(4, rng, max_len=40, slash=False)
            model = Fuzzed(layer_names)
            run.log_result(graph(model, torch.zeros(1, 4)), name=tags[3])
            run.log_result(crafted_graph(fuzz_names(7, rng, max_len=80)), name=tags[4])
        logged[run_dir.relative_to(root).as_posix()] = {"name": run_name, "config": config, "tags": tags,
                                                          "layers": list(model.body._modules)}
    return base, root, logged


def snapshot(path: Path) -> dict[str, tuple]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_fuzz_names_come_back_unchanged_from_the_store(fuzzed):
    _base, root, logged = fuzzed
    for rid, want in logged.items():
        r = open_run(root / rid)
        info = r.info()
        assert info["name"] == want["name"]
        assert json.loads(json.dumps(info["config"])) == json.loads(json.dumps(want["config"]))
        assert set(r.names("scalar")) == set(want["tags"])
        for j, t in enumerate(want["tags"]):
            assert r.scalars(t).values.tolist() == [float(s * (j + 1)) for s in range(4)]
        g = next(x for x in r.results() if x["data"]["method"] != "manual" and x["kind"] == "graph")
        modules = {n["module"] for n in g["data"]["nodes"] if n["module"]}
        assert {f"body.{k}" for k in want["layers"]} <= modules
        r.close()


def test_fuzz_names_through_every_api_route_never_500_and_come_back(fuzzed):
    base, root, logged = fuzzed
    before = snapshot(base)
    rng = random.Random(SEED + 1)
    junk = fuzz_names(12, rng)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as c:
        listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert set(listed) == set(logged)
        for rid, want in logged.items():
            assert listed[rid]["name"] == want["name"] and listed[rid]["status"] == "finished"
            assert set(listed[rid]["series"]["scalar"]) == set(want["tags"])
            for t in want["tags"]:
                got = c.get("/api/scalars", params={"run": rid, "tag": t})
                assert got.status_code == 200 and got.json()["name"] == t and got.json()["total"] == 4
            assert c.get("/api/histograms", params={"run": rid, "tag": want["tags"][0]}).json()["name"] == want["tags"][0]
            results = c.get("/api/results", params={"run": rid}).json()["items"]
            assert {r["name"] for r in results} == set(want["tags"][3:5])
            for k in range(len(results)):
                assert c.get("/api/result", params={"run": rid, "index": k}).status_code == 200
            assert c.get("/graph-view", params={"run": rid}).status_code == 200
        # junk in every parameter of every route
        for path, _fn, _s, params in ROUTES:
            for value in junk:
                q = {p["name"]: value for p in params}
                if "run" in q and rng.random() < 0.5:
                    q["run"] = rng.choice(list(logged))
                r = c.get(path, params=q)
                assert r.status_code < 500, (path, q, r.text)
                assert "error" in r.json() or r.status_code == 200
        for value in junk:
            assert c.get("/graph-view", params={"run": value}).status_code < 500
            assert c.get("/" + value.lstrip("/")).status_code < 500
    assert snapshot(base) == before  # reading created, changed or removed no file


@pytest.mark.parametrize("page_name", ["runs", "scalars", "distributions", "diagnostics", "graph", "inside",
                                       "attributions", "attention", "featurevis", "audit"])
def test_every_dashboard_page_shows_fuzz_names_without_running_script(fuzzed, browser, page_name, dash):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})  # the page's own CSP applies
    dialogs, errors = [], []
    try:
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        bad = []
        page.on("response", lambda r: bad.append((r.url, r.status)) if r.status >= 500 else None)
        page.goto(dash.url + f"#/{page_name}")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        time.sleep(0.8)
        if page_name == "graph":
            for opt in page.locator("#graph-run option").all()[:3]:
                page.select_option("#graph-run", opt.get_attribute("value"))
                page.frame_locator("iframe.graph-frame").locator("#ns-svg").wait_for(timeout=10_000)
        for frame in page.frames:
            assert frame.evaluate("window.__pwned") is None, frame.url
        assert dialogs == [] and bad == []
        assert not [e for e in errors if "Content Security Policy" in e or "pwned" in e], errors
        text = page.locator("body").inner_text()
        assert "function Object()" not in text and "[native code]" not in text
        if page_name == "runs":
            _base, _root, logged = fuzzed
            shown = page.locator("#runs-table .run-name").all_inner_texts()
            assert sorted(shown) == sorted(logged)  # run ids exactly as on disk
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def dash(fuzzed):
    if not (STATIC / "index.html").is_file():
        pytest.skip("the frontend is not built; run web/build.sh")
    base, root, _logged = fuzzed
    before = snapshot(base)
    with serve_in_background(root, poll_interval=0.2) as srv:
        yield srv
    assert snapshot(base) == before  # serving created, changed or removed no file
