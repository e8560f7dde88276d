"""The dashboard's JSON API, security rules, live-update polling and command line.

Runs are written with the real store (``neuralscope.track.Run``) and read back through the
HTTP API with Starlette's TestClient; expected values come from what the test logged.
"""
from __future__ import annotations

import json
import math
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from neuralscope.server.api import ROUTES, openapi_document
from neuralscope.server.app import create_app, resolve_token, serve_in_background
from neuralscope.server.runs import ServerError
from neuralscope.result import check_schema
from neuralscope.server import sse
from neuralscope.server.sse import Broadcaster
from neuralscope.track.results import ScalarSeries
from neuralscope.track.run import Run
from neuralscope.track.store import RunReader

LOOPBACK = "http://127.0.0.1"


def loss_at(i: int) -> float:
    return 1.0 / (i + 1) + 0.01 * (i % 7)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    with Run(root / "alpha", config={"lr": 0.1, "optimizer": "sgd"}) as run:
        for i in range(300):
            run.log({"loss": loss_at(i), "acc": i / 300}, step=i)
        for s in range(0, 300, 100):
            run.log_histogram("weights/fc", np.random.default_rng(s).normal(size=1000) * (1 + s / 100), step=s)
        run.log_text("notes", "first run")
        run.log_image("digit", np.linspace(0, 1, 64).reshape(8, 8), step=5)
    with Run(root / "nested" / "beta", config={"lr": 0.01}) as run:
        for i in range(50):
            run.log({"loss": 2.0 - i / 50}, step=i)
    broken = root / "broken"
    broken.mkdir()
    (broken / "run.sqlite").write_bytes(b"this is not a database" * 200)
    (root / "secret.txt").write_text("outside every run")
    return root


@pytest.fixture(scope="module")
def client(runs_dir):
    with TestClient(create_app(runs_dir), base_url=LOOPBACK) as c:
        yield c


def test_runs_lists_status_config_last_values_and_damaged_run(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"alpha", "nested/beta", "broken"}
    a = runs["alpha"]
    assert a["status"] == "finished"
    assert a["config"] == {"lr": 0.1, "optimizer": "sgd"}
    assert a["last"]["loss"] == loss_at(299)
    assert a["last_step"] == 299
    assert set(a["series"]["scalar"]) == {"loss", "acc"}
    assert runs["broken"]["status"] == "damaged"
    assert "cannot be read (file is not a database)" in runs["broken"]["damaged"]
    # the damaged run does not stop the others from being served
    assert client.get("/api/scalars", params={"run": "nested/beta", "tag": "loss"}).status_code == 200


def test_scalars_without_buckets_return_every_logged_point(client):
    d = client.get("/api/scalars", params={"run": "alpha", "tag": "loss"}).json()
    assert d["steps"] == list(range(300))
    assert d["values"] == [loss_at(i) for i in range(300)]
    assert d["total"] == 300 and d["downsampled"] is None


def test_scalars_downsampled_per_bucket_keep_each_buckets_min_and_max(tmp_path):
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=200_000))
    values[123_457] = 1e4  # a one-step spike must survive downsampling
    with Run(tmp_path / "long") as run:
        for i, v in enumerate(values):
            run.log({"x": float(v)}, step=i)
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        t0 = time.perf_counter()
        d = c.get("/api/scalars", params={"run": "long", "tag": "x", "buckets": 800}).json()
        elapsed = time.perf_counter() - t0
    print(f"downsampled query of 200,000 points to 800 buckets: {elapsed * 1000:.1f} ms")
    steps, vals = np.array(d["steps"]), np.array(d["values"])
    assert d["total"] == 200_000 and len(steps) <= 1600
    assert np.all(np.diff(steps) > 0)
    np.testing.assert_array_equal(vals, values[steps])  # every drawn point is a logged point
    # independent check: the min and max of every equal-width bucket of steps are present
    edges = np.linspace(0, 199_999, 801)
    bucket = np.clip(np.searchsorted(edges, np.arange(200_000), side="right") - 1, 0, 799)
    for b in range(0, 800, 37):
        inside = np.flatnonzero(bucket == b)
        assert inside[np.argmax(values[inside])] in steps
        assert inside[np.argmin(values[inside])] in steps
    assert 123_457 in steps


def test_scalar_step_range_query(client):
    d = client.get("/api/scalars", params={"run": "alpha", "tag": "loss", "start": 100, "end": 109}).json()
    assert d["steps"] == list(range(100, 110))


def test_histograms_round_trip(client):
    rows = client.get("/api/histograms", params={"run": "alpha", "tag": "weights/fc"}).json()["histograms"]
    assert [r["step"] for r in rows] == [0, 100, 200]
    for r, s in zip(rows, (0, 100, 200)):
        x = np.random.default_rng(s).normal(size=1000) * (1 + s / 100)
        assert sum(r["counts"]) == 1000
        assert r["min"] == pytest.approx(x.min()) and r["max"] == pytest.approx(x.max())
        assert len(r["edges"]) == len(r["counts"]) + 1


def test_artifacts_and_files(client, runs_dir):
    items = client.get("/api/artifacts", params={"run": "alpha"}).json()["items"]
    image = next(i for i in items if i["kind"] == "image")
    text = next(i for i in items if i["kind"] == "text")
    assert text["text"] == "first run"
    r = client.get("/api/file", params={"run": "alpha", "path": image["file"]})
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.headers["content-type"] == "image/png"


@pytest.mark.parametrize("path", [
    "../secret.txt", "../../etc/passwd", "/etc/passwd", "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt", "%252e%252e%252fsecret.txt", "artifacts/../../secret.txt", "....//secret.txt",
    "run.sqlite", "/", "", "C:\\Windows\\win.ini", "artifacts/%00x",
])
def test_no_file_outside_the_run_is_served(client, path):
    r = client.get("/api/file", params={"run": "alpha", "path": path})
    assert r.status_code in (400, 404), path
    assert b"outside every run" not in r.content and b"root:" not in r.content


def test_raw_encoded_traversal_in_the_url_is_refused(client):
    for url in ("/api/file?run=alpha&path=..%2F..%2Fsecret.txt", "/api/file?run=..&path=secret.txt",
                "/api/file?run=%2E%2E&path=secret.txt", "/api/file?run=alpha/..&path=secret.txt",
                "/assets/..%2F..%2Fapp.py", "/assets/../../app.py", "/graph-assets/..%2F..%2Fserver%2Fapp.py"):
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert b"outside every run" not in r.content and b"def create_app" not in r.content


def test_symlink_out_of_the_run_is_refused(tmp_path):
    with Run(tmp_path / "r") as run:
        run.log({"a": 1.0})
    (tmp_path / "outside.txt").write_text("outside")
    (tmp_path / "r" / "link.txt").symlink_to(tmp_path / "outside.txt")
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        assert c.get("/api/file", params={"run": "r", "path": "link.txt"}).status_code == 404


def test_unknown_run_and_series_give_one_sentence(client):
    r = client.get("/api/scalars", params={"run": "nope", "tag": "loss"})
    assert r.status_code == 404 and r.json()["error"] == f"No run named 'nope' under {str(client.app.state.ns.root)!r}."
    r = client.get("/api/scalars", params={"run": "alpha", "tag": "los"})
    assert r.status_code == 404 and "Did you mean: 'loss'" in r.json()["error"]
    r = client.get("/api/scalars", params={"run": "alpha"})
    assert r.status_code == 400 and r.json()["error"] == "The query parameter 'tag' is required."


def test_openapi_describes_every_route(client):
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    served = {r.path for r in client.app.routes if getattr(r, "path", "").startswith("/api/")}
    assert served <= set(doc["paths"])
    for path, _fn, _summary, params in ROUTES:
        assert [p["name"] for p in doc["paths"][path]["get"]["parameters"]] == [p["name"] for p in params]
    assert doc == openapi_document(client.app.state.ns.version)


def test_host_header_other_than_loopback_is_refused_without_token(client):
    r = client.get("/api/runs", headers={"host": "evil.example:6006"})
    assert r.status_code == 403
    assert client.get("/api/runs", headers={"host": "localhost:6006"}).status_code == 200


def _every_get_route():
    return [p for p, *_ in ROUTES] + ["/api/openapi.json", "/api/events", "/", "/graph-view", "/assets/x.js"]


def test_with_a_token_every_route_refuses_requests_without_it(runs_dir):
    app = create_app(runs_dir, token="s3cret-token")
    with TestClient(app, base_url="http://192.0.2.7") as c:
        for path in _every_get_route():
            r = c.get(path, params={"run": "alpha", "tag": "loss"})
            assert r.status_code == 401, path
            assert "token" in r.json()["error"]
            assert c.get(path, params={"run": "alpha", "token": "wrong"}).status_code == 401
        ok = c.get("/api/runs", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and ok.json()["runs"]
        assert c.get("/api/runs", params={"token": "s3cret-token"}).status_code == 200
        # first visit with ?token= sets an http-only cookie and drops the token from the URL
        first = c.get("/", params={"token": "s3cret-token"}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert "httponly" in first.headers["set-cookie"].lower()
        assert c.get("/api/runs").status_code == 200  # the cookie now carries it


def test_non_loopback_host_gets_a_generated_token():
    assert resolve_token("127.0.0.1", None) is None
    assert resolve_token("::1", None) is None
    assert resolve_token("localhost", None) is None
    t = resolve_token("0.0.0.0", None)
    assert t and len(t) >= 24 and t != resolve_token("0.0.0.0", None)
    assert resolve_token("0.0.0.0", "given") == "given"


def test_broadcaster_pushes_exactly_the_new_points(tmp_path):
    run = Run(tmp_path / "live", flush_interval=0.05)
    try:
        for i in range(10):
            run.log({"loss": float(i)}, step=i)
        run.flush()
        app = create_app(tmp_path)
        bc = Broadcaster(app.state.ns.index)
        bc.poll(first=True)
        assert bc.poll() == []  # nothing changed
        for i in range(10, 9000):  # crosses a chunk boundary of the store (8192 points)
            run.log({"loss": float(i)}, step=i)
        run.log({"loss": -1.0}, step=3)  # a step going backwards is still pushed, once
        run.flush()
        msgs = bc.poll()
        events = [m.split("\n")[0][len("event: "):] for m in msgs]
        assert events[0] == "run" and "scalars" in events and events[-1] == "changed"
        pts = [json.loads(m.split("\n")[1][len("data: "):]) for m in msgs if m.startswith("event: scalars")]
        assert len(pts) == 1 and pts[0]["name"] == "loss" and pts[0]["run"] == "live"
        check_schema(pts[0], ScalarSeries.schema)  # exactly the to_dict() of the new points
        assert pts[0]["steps"] == list(range(10, 9000)) + [3]
        assert pts[0]["values"] == [float(i) for i in range(10, 9000)] + [-1.0]
        assert pts[0]["total"] == 9001
        assert bc.poll() == []
    finally:
        run.close()


def test_broadcaster_asks_for_a_requery_with_the_to_dict_names_when_too_many_points_arrive(tmp_path, monkeypatch):
    monkeypatch.setattr(sse, "MAX_PUSH", 5)
    with Run(tmp_path / "live", flush_interval=0.05) as run:
        run.log({"loss": 0.0}, step=0)
        run.flush()
        bc = Broadcaster(create_app(tmp_path).state.ns.index)
        bc.poll(first=True)
        for i in range(1, 7):
            run.log({"loss": float(i)}, step=i)
        run.flush()
        msgs = [m for m in bc.poll() if m.startswith("event: scalars")]
    assert [json.loads(m.split("\n")[1][len("data: "):]) for m in msgs] == [
        {"name": "loss", "run": "live", "total": 7, "reset": True}]


def test_sse_stream_over_a_real_server_delivers_live_points(tmp_path):
    run = Run(tmp_path / "live", flush_interval=0.05)
    run.log({"loss": 0.5}, step=0)
    run.flush()
    with serve_in_background(tmp_path, poll_interval=0.1) as srv:
        with urllib.request.urlopen(srv.url + "api/events", timeout=10) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            run.log({"loss": 0.25}, step=1)
            run.flush()
            deadline = time.monotonic() + 10
            event = None
            while time.monotonic() < deadline:
                line = stream.readline().decode()
                if line.startswith("event: "):
                    event = line.strip()[7:]
                elif line.startswith("data: ") and event == "scalars":
                    data = json.loads(line[6:])
                    assert data["run"] == "live" and data["steps"] == [1] and data["values"] == [0.25]
                    assert data["name"] == "loss" and data["kind"] == "scalar_series"
                    break
            else:
                pytest.fail("no scalars event within 10 s")
    run.close()


def test_stopping_the_dashboard_ends_open_event_streams_at_once_without_a_traceback(tmp_path, capfd):
    import threading

    srv = serve_in_background(tmp_path)
    ended = []

    def browser_tab():  # an open tab: its event stream stays open until the server ends it
        with urllib.request.urlopen(srv.url + "api/events", timeout=10) as stream:
            while stream.readline():
                pass
        ended.append(True)

    tab = threading.Thread(target=browser_tab)
    tab.start()
    time.sleep(0.5)
    start = time.perf_counter()
    srv.stop()
    tab.join(5)
    assert ended and time.perf_counter() - start < 0.9  # uvicorn's graceful-shutdown wait is 1 s
    err = capfd.readouterr().err
    assert "Traceback" not in err and "CancelledError" not in err, err[-2000:]


def test_serve_missing_directory_is_one_sentence_and_exit_2(tmp_path, capsys):
    from neuralscope.cli import main

    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    with pytest.raises(ServerError):
        create_app(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ServerError, match="neither a runs directory nor a model file"):
        create_app(tmp_path / "notes.txt")


def test_serve_port_in_use_is_one_sentence_and_exit_2(tmp_path, capsys):
    from neuralscope.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"Port {port} on 127.0.0.1 is already in use" in err[0]


def test_unreadable_runs_directory(tmp_path):
    import os

    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        if os.access(d, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ServerError, match="not readable"):
            create_app(d)
    finally:
        d.chmod(0o755)


def test_a_damaged_run_appearing_while_serving_is_reported_not_fatal(tmp_path):
    with Run(tmp_path / "good") as run:
        run.log({"a": 1.0})
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        assert [r["status"] for r in c.get("/api/runs").json()["runs"]] == ["finished"]
        (tmp_path / "later").mkdir()
        (tmp_path / "later" / "run.sqlite").write_bytes(b"\0" * 4096)
        time.sleep(1.1)  # the index rescans the directory at most once a second
        runs = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert runs["good"]["status"] == "finished"
        assert runs["later"]["status"] == "damaged" and runs["later"]["damaged"]
        assert c.get("/api/scalars", params={"run": "later", "tag": "a"}).status_code == 422
        assert c.get("/api/scalars", params={"run": "good", "tag": "a"}).json()["values"] == [1.0]
        # once the run is written properly it is opened again
        (tmp_path / "later" / "run.sqlite").unlink()
        with Run(tmp_path / "later") as run:
            run.log({"a": 2.0})
        time.sleep(1.1)
        runs = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert runs["later"]["status"] == "finished" and runs["later"]["last"] == {"a": 2.0}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_model_file_mode_serves_its_graph(tmp_path):
    import torch

    from neuralscope.zoo import MLP

    torch.manual_seed(0)
    model = MLP()
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(model, (model.example_input(1),), str(path), dynamo=False)
    with TestClient(create_app(path), base_url=LOOPBACK) as c:
        info = c.get("/api/info").json()
        assert info["mode"] == "model"
        g = c.get("/api/graph").json()["graph"]
        n_params = sum(p.numel() for p in model.parameters())
        assert g["total_params"] == n_params
        page = c.get("/graph-view")
        assert page.status_code == 200 and "neuralscopeGraph" in page.text
        assert c.get("/api/runs").json() == {"runs": []}


def test_corrupt_model_file_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ValueError) as info:
        create_app(bad)
    assert "\n" not in str(info.value).strip()


def test_reader_and_api_agree_on_nan_values(tmp_path):
    with Run(tmp_path / "r") as run:
        run.log({"loss": 1.0}, step=0)
        run.log({"loss": math.nan}, step=1)
        run.log({"loss": math.inf}, step=2)
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        d = c.get("/api/scalars", params={"run": "r", "tag": "loss"}).json()
        assert d["values"] == [1.0, None, None]
        diags = c.get("/api/diagnostics", params={"run": "r"}).json()["items"]
        assert any(x["code"] == "nonfinite" and x["step"] == 1 for x in diags)
    assert np.isnan(RunReader(tmp_path / "r").scalars("loss").values[1])


def test_series_being_written_is_served_in_full_as_it_grows(tmp_path):
    """The server extends its in-memory copy with new chunks only; every answer must still
    equal the store's own reader."""
    from neuralscope.server import api

    run = Run(tmp_path / "live", flush_interval=0.05)
    try:
        with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
            api_age, api.SCALARS_MAX_AGE = api.SCALARS_MAX_AGE, 0.0
            try:
                n = 0
                for batch in (10, 5000, 4000, 1, 9000):  # crosses chunk boundaries (8192 points)
                    for i in range(n, n + batch):
                        run.log({"x": float(i) * 0.5}, step=i)
                    n += batch
                    run.flush()
                    d = c.get("/api/scalars", params={"run": "live", "tag": "x"}).json()
                    steps, vals, _ = RunReader(tmp_path / "live").scalar_arrays("x")
                    assert d["total"] == n and d["steps"] == steps.tolist() and d["values"] == vals.tolist()
                    ds = c.get("/api/scalars", params={"run": "live", "tag": "x", "buckets": 100}).json()
                    assert ds["total"] == n and len(ds["steps"]) <= 200 and ds["steps"][-1] == n - 1
            finally:
                api.SCALARS_MAX_AGE = api_age
    finally:
        run.close()


def test_serving_one_run_directory(tmp_path):
    with Run(tmp_path / "only", config={"lr": 3e-4}) as run:
        run.log({"loss": 0.5}, step=7)
    with TestClient(create_app(tmp_path / "only"), base_url=LOOPBACK) as c:
        [r] = c.get("/api/runs").json()["runs"]
        assert r["id"] == "." and r["name"] == "only" and r["config"] == {"lr": 3e-4}
        d = c.get("/api/scalars", params={"run": ".", "tag": "loss"}).json()
        assert d["steps"] == [7] and d["values"] == [0.5]
        assert c.get("/api/file", params={"run": ".", "path": "../only/run.sqlite"}).status_code == 404


def test_a_logged_graph_is_shown_as_the_graph_package_draws_it(tmp_path):
    # the viewer page of a run's logged graph is the page render_html makes of the model's
    # graph itself: Graph.from_dict rebuilds what run.log_result stored, folds included
    import torch

    from neuralscope.graph.api import graph
    from neuralscope.graph.render_html import render_html
    from neuralscope.zoo import TinyResNet

    torch.manual_seed(0)
    model = TinyResNet().eval()
    g = graph(model, model.example_input(1))
    with Run(tmp_path / "r") as run:
        run.log_result(g, name="graph", step=0)
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        page = c.get("/graph-view", params={"run": "r"})
        assert page.status_code == 200
        assert page.text == render_html(g)
        assert c.get("/api/graph", params={"run": "r"}).json()["graph"] == json.loads(json.dumps(g.to_dict()))
