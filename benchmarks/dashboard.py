"""Dashboard load and first-paint benchmark (not a test).

Load: starts ``neuralscope serve`` in its own process, a writer process logging a live run at
10,000 points/s, and 20 clients that each hold a Server-Sent Events stream and poll the API
(run list + a downsampled 1,000-bucket query of the live series) for ``--seconds``. Prints
p50/p99/max API latency, and checks that no client saw an error or a missing or duplicated
point (every client's SSE points must be exactly the steps the writer logged).

Paint (``--paint``): writes 10 runs x 20 tags x 100,000 points and measures, in headless
Chromium, the time from navigation start until every chart in the first screen of the
Scalars page is drawn.

    .venv/bin/python benchmarks/dashboard.py --seconds 60
    .venv/bin/python benchmarks/dashboard.py --seconds 10 --paint
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writer(path: str, rate: int, seconds: float, started, done_steps) -> None:
    from neuralscope.track.run import Run

    run = Run(path, config={"rate": rate})  # the default flush interval (0.5 s)
    started.set()
    t0 = time.perf_counter()
    step = 0
    batch = max(1, rate // 100)  # 100 bursts per second
    while time.perf_counter() - t0 < seconds:
        target = int((time.perf_counter() - t0) * rate)
        while step < target:
            run.log({"loss": float(np.sin(step / 1000.0))}, step=step)
            step += 1
        time.sleep(batch / rate / 2)
    run.close()
    done_steps.value = step


class Client(threading.Thread):
    def __init__(self, port: int, stop: threading.Event, go: threading.Event, poll_every: float):
        super().__init__(daemon=True)
        self.port, self.stop, self.go, self.poll_every = port, stop, go, poll_every
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.steps: list[int] = []
        self.sse_ready = threading.Event()
        self.sse = threading.Thread(target=self.read_sse, daemon=True)

    def read_sse(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", "/api/events")
            resp = conn.getresponse()
            if resp.status != 200:
                self.errors.append(f"SSE status {resp.status}")
                return
            event = None
            self.sse_ready.set()
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        self.sse_ready.set()
                elif line.startswith("data: ") and event == "scalars":
                    d = json.loads(line[6:])
                    if d.get("reset"):
                        self.errors.append("SSE asked for a reset (too many points at once)")
                    else:
                        self.steps.extend(d["steps"])
        except Exception as exc:  # noqa: BLE001
            if not self.stop.is_set():
                self.errors.append(f"SSE: {exc}")

    def run(self) -> None:
        self.sse.start()
        self.go.wait()  # poll once the writer has created the run
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        paths = ["/api/runs", "/api/scalars?run=live&tag=loss&buckets=1000"]
        k = 0
        while not self.stop.is_set():
            path = paths[k % 2]
            k += 1
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                dt = time.perf_counter() - t
                if resp.status != 200 and not (resp.status == 404 and b"series" in body):
                    self.errors.append(f"{path}: {resp.status} {body[:100]!r}")
                else:
                    self.latencies.append(dt)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{path}: {exc}")
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.stop.wait(self.poll_every)


def load(seconds: float, clients: int, rate: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="ns-dash-bench-"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "neuralscope.cli", "serve", str(root), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit(f"server did not start: {server.stdout.read().decode()}") from None
                time.sleep(0.2)
        stop, go = threading.Event(), threading.Event()
        cs = [Client(port, stop, go, poll_every=0.25) for _ in range(clients)]
        for c in cs:
            c.start()
        for c in cs:
            c.sse_ready.wait(30)
        ctx = mp.get_context("spawn")
        started, done_steps = ctx.Event(), ctx.Value("q", 0)
        w = ctx.Process(target=writer, args=(str(root / "live"), rate, seconds, started, done_steps))
        t0 = time.perf_counter()
        w.start()
        started.wait(60)
        go.set()
        w.join()
        written = done_steps.value
        # let the last points reach every stream
        deadline = time.perf_counter() + 15
        while time.perf_counter() < deadline and any(len(c.steps) < written for c in cs):
            time.sleep(0.2)
        stop.set()
        elapsed = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
    lat = np.array([x for c in cs for x in c.latencies]) * 1000
    errors = [e for c in cs for e in c.errors]
    expected = list(range(written))
    exact = sum(c.steps == expected for c in cs)
    print(f"load: {clients} clients (SSE + polling every 250 ms), writer at {rate:,} points/s for {seconds:.0f} s "
          f"({written:,} points, {written / seconds:,.0f}/s achieved), {elapsed:.0f} s in all")
    print(f"  API requests: {len(lat):,}; latency p50 {np.percentile(lat, 50):.1f} ms, "
          f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms (target p99 < 100 ms)")
    print(f"  errors seen by clients: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"  clients whose SSE points are exactly the steps written (none missing, none twice): {exact}/{clients}")


#: A function Playwright compiles through the DevTools protocol (the page's Content-Security-Policy
#: forbids eval, so ``wait_for_function``'s string predicate is refused): it checks on every
#: animation frame whether every chart card of the first screen has its canvas and all ``runs``
#: series, and resolves with ``performance.now()`` at the first frame where they do.
FIRST_SCREEN_DRAWN = """runs => new Promise((resolve, reject) => {
    const drawn = () => {
        const cards = [...document.querySelectorAll('.chart-card')].filter(c => {
            const r = c.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; });
        const charts = window.__nsCharts;
        return cards.length > 0 && charts !== undefined && cards.every(c => c.querySelector('canvas'))
            && cards.every(c => charts.has(c.dataset.tag) && charts.get(c.dataset.tag).series.size === runs);
    };
    const check = () => drawn() ? resolve(performance.now()) : requestAnimationFrame(check);
    setTimeout(() => reject(new Error('the first screen was not drawn within 120 s')), 120000);
    check();
})"""


def paint(runs: int, tags: int, points: int) -> None:
    from neuralscope.server.app import serve_in_background
    from neuralscope.track.run import Run

    root = Path(tempfile.mkdtemp(prefix="ns-dash-paint-"))
    t = time.perf_counter()
    steps = np.arange(points)
    for r in range(runs):
        with Run(root / f"run{r:02d}", flush_interval=1.0) as run:
            vals = {f"tag{k:02d}": np.exp(-steps / (20_000 + 3_000 * r)) + 0.01 * np.sin(steps / (50 + k))
                    for k in range(tags)}
            for i in range(points):
                run.log({name: float(v[i]) for name, v in vals.items()}, step=i)
    print(f"paint: wrote {runs} runs x {tags} tags x {points:,} points in {time.perf_counter() - t:.0f} s")
    from playwright.sync_api import sync_playwright

    with serve_in_background(root) as srv, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                               args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        for attempt in ("cold", "warm"):
            page.goto(srv.url + "#/scalars")
            ms = page.evaluate(FIRST_SCREEN_DRAWN, runs)
            drawn = page.evaluate("[...window.__nsCharts.values()].filter(c => c.u).length")
            print(f"  first paint of the Scalars page ({attempt}): {ms:.0f} ms from navigation start, "
                  f"every chart of the first screen drawn with its {runs} runs ({drawn} charts drawn so far; target < 1500 ms)")
            page.goto("about:blank")
        b.close()


def million(points: int = 1_000_000) -> None:
    """Time of one chart query (1,000 pixel buckets) of a 1,000,000-point series over HTTP."""
    from neuralscope.server.app import serve_in_background
    from neuralscope.track.run import Run

    root = Path(tempfile.mkdtemp(prefix="ns-dash-million-"))
    with Run(root / "big", flush_interval=1.0) as run:
        rng = np.random.default_rng(0)
        vals = np.cumsum(rng.normal(size=points))
        for i in range(points):
            run.log({"walk": float(vals[i])}, step=i)
    with serve_in_background(root) as srv:
        times, cached = [], []
        for k in range(5):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            t = time.perf_counter()
            conn.request("GET", f"/api/scalars?run=big&tag=walk&buckets={1000 + k}")  # distinct: not cached
            body = conn.getresponse().read()
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn.request("GET", f"/api/scalars?run=big&tag=walk&buckets={1000 + k}")
            conn.getresponse().read()
            cached.append(time.perf_counter() - t)
        n = len(json.loads(body)["steps"])
    print(f"1,000,000-point series, 1,000-bucket chart query over HTTP: median {np.median(times) * 1000:.0f} ms "
          f"({n:,} points sent), repeated while unchanged: {np.median(cached) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--paint", action="store_true", help="also measure first paint of 10 x 20 x 100,000 points")
    ap.add_argument("--paint-points", type=int, default=100_000)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    load(args.seconds, args.clients, args.rate)
    million()
    if args.paint:
        paint(10, 20, args.paint_points)


if __name__ == "__main__":
    main()
