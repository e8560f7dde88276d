"""The dashboard server's security rules, tested as classes: every route, several spellings
of each bad input.

* binding: any host that is not loopback needs the token; the printed URL answers;
* the session cookie is scoped to the port;
* security headers on every response;
* numeric query parameters: one 400 sentence for every non-number on every route;
* file paths read from a run's database stay inside the run (also through symlinks);
* a damaged run gives one sentence on every route and the other runs keep working.
"""
from __future__ import annotations

import json
import os
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from neuralscope.graph.model import Graph, Node, TensorMeta
from neuralscope.server.api import ROUTES
from neuralscope.server.app import (
    SECURITY_HEADERS,
    cookie_name,
    create_app,
    dashboard_url,
    is_loopback,
    resolve_token,
    serve_in_background,
)
from neuralscope.track.run import Run

LOOPBACK = "http://127.0.0.1"


def tiny_graph() -> Graph:
    g = Graph("tiny", method="manual")
    g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 4), "float32")]))
    g.add_node(Node("fc", "module", "fc", "Linear", module="fc", params=20, trainable_params=20))
    g.add_edge("x", "fc", TensorMeta((1, 4), "float32"))
    return g


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    with Run(root / "good", config={"lr": 0.1}) as run:
        for i in range(20):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
        run.log_histogram("w", np.arange(10.0), step=0)
        run.log_image("img", np.eye(4), step=0)
        run.log_result(tiny_graph())
    return root


@pytest.fixture(scope="module")
def client(root):
    with TestClient(create_app(root), base_url=LOOPBACK) as c:
        yield c


# -- binding -------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["", " ", "0.0.0.0", "::", "[::]", "192.168.1.20", "10.0.0.1", "fe80::1",
                                  "example.invalid", "0"])
def test_every_host_that_is_not_loopback_requires_a_token(host):
    assert not is_loopback(host)
    token = resolve_token(host, None)
    assert token and len(token) >= 24


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_token(host):
    assert is_loopback(host)
    assert resolve_token(host, None) is None


def test_server_on_127_0_0_2_prints_a_url_that_answers(tmp_path):
    with serve_in_background(tmp_path, host="127.0.0.2") as srv:
        assert srv.url.startswith("http://127.0.0.2:")
        with urllib.request.urlopen(srv.url + "api/runs", timeout=10) as r:
            assert json.load(r) == {"runs": []}


@pytest.mark.parametrize("token", ["a&b=c", "with space", "hash#tail", "p%20q+r?s/t", "ünï"])
def test_printed_url_carries_the_token_escaped_and_opens_the_dashboard(tmp_path, token):
    url = dashboard_url("127.0.0.1", 6006, token)
    assert url.startswith("http://127.0.0.1:6006/?token=") and not any(c in url.split("?", 1)[1][6:] for c in "&# ?")
    with serve_in_background(tmp_path, token=token) as srv:
        assert srv.url.endswith(url.split("/", 3)[3])
        # the URL as printed opens the page (redirect sets the cookie; the page is served)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(srv.url, timeout=10) as r:
            assert r.status == 200 and r.url.rstrip("/").endswith(str(srv.port))
        with opener.open(srv.url.split("?")[0] + "api/runs", timeout=10) as r:  # by cookie alone
            assert json.load(r) == {"runs": []}
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(srv.url.split("?")[0] + "api/runs", timeout=10)
        assert exc.value.code == 401


def test_without_token_foreign_host_headers_are_refused_and_loopback_literals_answered(root):
    with TestClient(create_app(root), base_url=LOOPBACK) as c:
        for host in ("evil.example", "evil.example:6006", "127.0.0.1.evil.example", "localhost.evil", "0.0.0.0"):
            assert c.get("/api/runs", headers={"host": host}).status_code == 403, host
        for host in ("127.0.0.1:6006", "127.0.0.2:6006", "localhost:6006", "[::1]:6006", "LOCALHOST"):
            assert c.get("/api/runs", headers={"host": host}).status_code == 200, host


# -- cookie -------------------------------------------------------------------------------
def test_two_dashboards_on_two_ports_keep_separate_cookies_and_the_cookie_holds_no_token(tmp_path):
    with serve_in_background(tmp_path, token="same-token") as a, serve_in_background(tmp_path, token="same-token") as b:
        jar = urllib.request.HTTPCookieProcessor()
        opener = urllib.request.build_opener(jar)
        opener.open(a.url, timeout=10).read()
        opener.open(b.url, timeout=10).read()
        cookies = {c.name: c.value for c in jar.cookiejar}
        assert set(cookies) == {cookie_name(a.port), cookie_name(b.port)}
        assert "same-token" not in cookies.values()
        assert cookies[cookie_name(a.port)] != cookies[cookie_name(b.port)]
        # a cookie taken from one port does not open the dashboard on the other
        stolen = f"{cookie_name(b.port)}={cookies[cookie_name(a.port)]}"
        req = urllib.request.Request(b.url.split("?")[0] + "api/runs", headers={"Cookie": stolen})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=10)
        assert exc.value.code == 401


# -- headers ------------------------------------------------------------------------------
def _all_paths() -> list[str]:
    run = "run=good"
    params = {"/api/scalars": f"?{run}&tag=loss", "/api/histograms": f"?{run}&tag=w", "/api/result": f"?{run}&index=0",
              "/api/file": f"?{run}&path=nope", "/api/artifacts": f"?{run}", "/api/results": f"?{run}",
              "/api/graph": f"?{run}"}
    return ([p + params.get(p, "") for p, *_ in ROUTES]
            + ["/", "/api/openapi.json", f"/graph-view?{run}", "/no/such/page", "/api/scalars?run=nope&tag=x"])


@pytest.mark.parametrize("path", _all_paths())
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        if name == "content-security-policy" and path.startswith("/graph-view"):
            continue
        assert r.headers.get(name) == value, (path, name)
    csp = r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors" in csp


def test_graph_view_allows_only_its_own_script_by_hash(client):
    r = client.get("/graph-view?run=good")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "frame-ancestors 'self'" in csp and "default-src 'none'" in csp


def test_unauthorised_answers_carry_the_headers_too(root):
    with TestClient(create_app(root, token="t"), base_url=LOOPBACK) as c:
        r = c.get("/api/runs")
        assert r.status_code == 401 and r.headers["x-content-type-options"] == "nosniff"


# -- numeric parameters -------------------------------------------------------------------
BAD_NUMBERS = ["inf", "-inf", "Infinity", "1e400", "-1e400", "nan", "NaN", "9" * 400, "-" + "9" * 30, "2.5",
               "abc", "0x10", "1_0"]
INT_PARAMS = [(path, p["name"]) for path, _fn, _s, params in ROUTES for p in params
              if p["schema"]["type"] == "integer"]


def test_the_route_table_has_integer_parameters_to_check():
    assert {p for _path, p in INT_PARAMS} >= {"buckets", "start", "end", "max_steps", "index"}


@pytest.mark.parametrize("path,name", INT_PARAMS)
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_non_numbers_in_integer_parameters_are_one_400_sentence(client, path, name, value):
    base = {"run": "good", "tag": "w" if "hist" in path else "loss"}
    r = client.get(path, params={**base, name: value})
    assert r.status_code == 400, (path, name, value, r.text)
    message = r.json()["error"]
    assert name in message and message.endswith(".") and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("path,name,value", [("/api/result", "index", "-1"), ("/api/histograms", "max_steps", "0"),
                                             ("/api/histograms", "max_steps", "-1"), ("/api/scalars", "buckets", "-1"),
                                             ("/api/scalars", "buckets", "1000000")])
def test_out_of_range_integers_are_refused_not_clamped(client, path, name, value):
    r = client.get(path, params={"run": "good", "tag": "w" if "hist" in path else "loss", name: value})
    assert r.status_code == 400 and "must be" in r.json()["error"]


def test_valid_integers_still_work(client):
    assert client.get("/api/scalars", params={"run": "good", "tag": "loss", "buckets": "1e2", "start": "-1",
                                              "end": "12"}).status_code == 200
    assert client.get("/api/result", params={"run": "good", "index": "0"}).json()["kind"] == "graph"


# -- paths read from a run's database -------------------------------------------------------
def _crafted_run(tmp_path: Path, stored_path: str, make=None) -> Path:
    """A run whose database names ``stored_path`` as the file of its logged graph."""
    root = tmp_path / "root"
    with Run(root / "evil") as run:
        run.log_result(tiny_graph())
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"kind": "graph", "data": {"secret": "TOP-SECRET-CONTENT"}}))
    if make:
        make(root / "evil", secret)
    con = sqlite3.connect(root / "evil" / "run.sqlite")
    with con:
        con.execute("UPDATE artifacts SET path = ?", (stored_path,))
    con.close()
    return root


ESCAPES = {
    "dotdot": ("../../secret.json", None),
    "absolute": ("{secret}", None),
    "dotdot-inside": ("artifacts/../../../secret.json", None),
    "symlink-file": ("artifacts/link.json", lambda run, s: os.symlink(s, run / "artifacts" / "link.json")),
    "symlink-dir": ("artifacts/out/secret.json", lambda run, s: os.symlink(s.parent, run / "artifacts" / "out")),
    "the-run-itself": (".", None),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_paths_in_a_run_database_never_leave_the_run(tmp_path, case):
    stored, make = ESCAPES[case]
    stored = stored.format(secret=tmp_path / "secret.json")
    root = _crafted_run(tmp_path, stored, make)
    with TestClient(create_app(root), base_url=LOOPBACK) as c:
        answers = [c.get("/api/result", params={"run": "evil", "index": 0}),
                   c.get("/api/graph", params={"run": "evil"}),
                   c.get("/graph-view", params={"run": "evil"}),
                   c.get("/api/artifacts", params={"run": "evil"}),
                   c.get("/api/results", params={"run": "evil"})]
        for r in answers:
            assert "TOP-SECRET-CONTENT" not in r.text, r.request.url
            assert r.status_code < 500
        assert answers[0].status_code == 422 and "outside the run directory" in answers[0].json()["error"]
        assert answers[3].json()["items"][0]["file"] is None
    from neuralscope.errors import FileFormatError
    from neuralscope.track import open_run

    with pytest.raises(FileFormatError, match="outside the run directory"):
        open_run(root / "evil").results()


def test_api_file_refuses_every_spelling_of_a_path_out_of_the_run(client, root):
    (root / "good" / "artifacts" / "up").symlink_to(root.parent, target_is_directory=True)
    for p in ("../secret", "/etc/passwd", "%2e%2e/x", "..%2fx", "artifacts/../../x", "artifacts/up/x",
              "run.sqlite", "run.lock", "C:/x", "\x00"):
        r = client.get("/api/file", params={"run": "good", "path": p})
        assert r.status_code == 404, p
        assert r.json() == {"error": "No such file in this run."}


# -- a damaged run -------------------------------------------------------------------------
def damage_past_first_pages(db: Path) -> None:
    """Overwrite the second half of the database (the scalar chunk pages) with garbage."""
    data = bytearray(db.read_bytes())
    half = len(data) // 2
    data[half:] = np.random.default_rng(0).integers(0, 256, len(data) - half, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))


@pytest.fixture
def damaged_root(tmp_path) -> Path:
    root = tmp_path / "runs"
    for name in ("a-ok", "b-damaged"):
        with Run(root / name) as run:
            for i in range(30_000):
                run.log({"loss": float(i), "acc": float(-i)}, step=i)
    damage_past_first_pages(root / "b-damaged" / "run.sqlite")
    return root


def test_a_damaged_run_gives_one_sentence_on_every_route_and_other_runs_keep_working(damaged_root):
    with TestClient(create_app(damaged_root), base_url=LOOPBACK) as c:
        runs = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert runs["a-ok"]["status"] == "finished"
        for path, *_ in ROUTES:
            r = c.get(path, params={"run": "b-damaged", "tag": "loss", "index": 0, "path": "x"})
            assert r.status_code != 500 or "Traceback" not in r.text
            assert r.headers["content-type"].startswith("application/json"), path
            if r.status_code >= 400:
                message = r.json()["error"]
                assert "\n" not in message and message.endswith("."), (path, message)
        r = c.get("/api/scalars", params={"run": "b-damaged", "tag": "loss"})
        assert r.status_code in (404, 422) and "cannot be read" in r.json()["error"] or "damaged" in r.json()["error"]
        ok = c.get("/api/scalars", params={"run": "a-ok", "tag": "loss"}).json()
        assert ok["total"] == 30_000 and ok["values"][-1] == 29_999.0


def test_an_audit_directory_linked_out_of_the_run_is_not_read(tmp_path):
    root = tmp_path / "root"
    with Run(root / "r") as run:
        run.log({"loss": 1.0}, step=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "spec.json").write_text(json.dumps({"n": 1, "shard_size": 1, "secret": "TOP-SECRET-CONTENT"}))
    (elsewhere / "summary.json").write_text(json.dumps({"secret": "TOP-SECRET-CONTENT"}))
    (root / "r" / "audit").mkdir()
    (root / "r" / "audit" / "linked").symlink_to(elsewhere, target_is_directory=True)
    with TestClient(create_app(root), base_url=LOOPBACK) as c:
        assert c.get("/api/audits", params={"run": "r"}).json() == {"items": []}
        for path in ("/api/audit", "/api/audit/columns", "/api/audit/thumbs", "/api/audit/projection"):
            r = c.get(path, params={"run": "r", "name": "linked"})
            assert r.status_code == 404 and "TOP-SECRET-CONTENT" not in r.text, path
