"""Dashboard load and first-paint benchmark (not a test).

Load: starts ``neuralscope serve`` in its own process, a writer process logging a live run at
10,000 points/s, and 20 clients that each hold a Server-Sent Events stream and poll the API
(run list + a downsampled 1,000-bucket query of the live series) for ``--seconds``. Prints
p50/p99/max API latency, and checks that no client saw an error or a missing or duplicated
point (every client's SSE points must be exactly the steps the writer logged).

Paint (``--paint``): writes 10 runs x 20 tags x 100,000 points and measures, in headless
Chromium, the time from navigation start until every chart in the first screen of the
Scalars page is drawn, and the CPU time that took: every Chromium process (from /proc), the
page's main thread busy (the DevTools protocol's ``TaskDuration``, wall time of its tasks) and
this Python process (server thread and driver).

Before/after (``--compare SRC``): the paint of the Scalars page and the 1,000-bucket query of a
long series, measured by the dashboard of another source tree (``SRC``, a ``src`` folder whose
``neuralscope/server/static`` is built) and by this one, each in its own process, interleaved
over ``--rounds`` rounds on the same data; prints the medians and the ratios before / after in
wall and CPU time. Issue 15's before is the tree of bb1849c (the commit before its work began):

    git archive bb1849c src web | tar -x -C /tmp/before
    ln -s "$PWD/web/node_modules" /tmp/before/web/node_modules && (cd /tmp/before/web && npx vite build)
    .venv/bin/python benchmarks/dashboard.py --compare /tmp/before/src --rounds 5

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


def write_scalar_runs(root: Path, runs: int, tags: int, points: int) -> None:
    """`runs` runs under `root`, each logging `tags` smooth decaying series of `points` steps."""
    from neuralscope.track.run import Run

    steps = np.arange(points)
    for r in range(runs):
        with Run(root / f"run{r:02d}", flush_interval=1.0) as run:
            vals = {f"tag{k:02d}": np.exp(-steps / (20_000 + 3_000 * r)) + 0.01 * np.sin(steps / (50 + k))
                    for k in range(tags)}
            for i in range(points):
                run.log({name: float(v[i]) for name, v in vals.items()}, step=i)


def write_walk(root: Path, points: int) -> None:
    """One run "big" logging a random walk "walk" of `points` steps."""
    from neuralscope.track.run import Run

    with Run(root / "big", flush_interval=1.0) as run:
        vals = np.cumsum(np.random.default_rng(0).normal(size=points))
        for i in range(points):
            run.log({"walk": float(vals[i])}, step=i)


def _task_seconds(cdp) -> float:
    """The page's renderer main-thread busy time so far (DevTools Performance metric TaskDuration:
    the tasks' wall time, so it grows when the machine is busy)."""
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}["TaskDuration"]


def browser_cpu_seconds() -> float:
    """User + system CPU time of every Chromium process below this one (browser, renderers, GPU
    and network services; read from /proc, Linux only). A process that exits takes its time along."""
    parent, comm, cpu = {}, {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        parent[int(d.name)], comm[int(d.name)] = int(rest[1]), name
        cpu[int(d.name)] = (int(rest[11]) + int(rest[12])) / tick
    me, total = os.getpid(), 0.0
    for pid in cpu:
        p, seen = pid, 0
        while p > 1 and p != me and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p == me and "chrom" in comm[pid].lower():
            total += cpu[pid]
    return total


def measure_paint(root: Path, runs: int, attempts=("cold", "warm")) -> list[dict]:
    """First paint of the Scalars page over the runs under `root`, one fresh page per attempt
    (the browser's cache kept): wall ms from navigation start, the CPU ms of every Chromium
    process, the page's main-thread busy ms (TaskDuration), this process's CPU ms (the server's
    thread and the driver), charts drawn."""
    from playwright.sync_api import sync_playwright

    from neuralscope.server.app import serve_in_background

    out = []
    with serve_in_background(root) as srv, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                               args=["--no-sandbox", "--disable-gpu"])
        ctx = b.new_context(viewport={"width": 1280, "height": 900})
        for attempt in attempts:
            page = ctx.new_page()
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable")
            cpu0, browser0 = time.process_time(), browser_cpu_seconds()
            page.goto(srv.url + "#/scalars")
            ms = page.evaluate(FIRST_SCREEN_DRAWN, runs)
            out.append({"attempt": attempt, "wall_ms": ms, "browser_cpu_ms": (browser_cpu_seconds() - browser0) * 1000,
                        "page_busy_ms": _task_seconds(cdp) * 1000, "python_cpu_ms": (time.process_time() - cpu0) * 1000,
                        "drawn": page.evaluate("[...window.__nsCharts.values()].filter(c => c.u).length")})
            page.close()
        b.close()
    return out


def paint(runs: int, tags: int, points: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="ns-dash-paint-"))
    t = time.perf_counter()
    write_scalar_runs(root, runs, tags, points)
    print(f"paint: wrote {runs} runs x {tags} tags x {points:,} points in {time.perf_counter() - t:.0f} s")
    for m in measure_paint(root, runs):
        print(f"  first paint of the Scalars page ({m['attempt']}): {m['wall_ms']:.0f} ms from navigation start "
              f"(Chromium {m['browser_cpu_ms']:.0f} ms CPU, page main thread busy {m['page_busy_ms']:.0f} ms, "
              f"server+driver {m['python_cpu_ms']:.0f} ms CPU), "
              f"every chart of the first screen drawn with its {runs} runs ({m['drawn']} charts drawn so far; "
              f"target < 1500 ms)")


def measure_query(root: Path, repeats: int = 5) -> dict:
    """The 1,000-bucket chart query of run "big"'s "walk" over HTTP: median wall ms of distinct
    (uncached) queries and of repeated ones, this process's CPU ms per uncached query, points sent."""
    from neuralscope.server.app import serve_in_background

    with serve_in_background(root) as srv:
        times, cached, cpu = [], [], []
        for k in range(repeats):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            t, c = time.perf_counter(), time.process_time()
            conn.request("GET", f"/api/scalars?run=big&tag=walk&buckets={1000 + k}")  # distinct: not cached
            body = conn.getresponse().read()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            t = time.perf_counter()
            conn.request("GET", f"/api/scalars?run=big&tag=walk&buckets={1000 + k}")
            conn.getresponse().read()
            cached.append(time.perf_counter() - t)
    return {"wall_ms": float(np.median(times)) * 1000, "cpu_ms": float(np.median(cpu)) * 1000,
            "cached_ms": float(np.median(cached)) * 1000, "points": len(json.loads(body)["steps"])}


def million(points: int = 1_000_000) -> None:
    """Time of one chart query (1,000 pixel buckets) of a 1,000,000-point series over HTTP."""
    root = Path(tempfile.mkdtemp(prefix="ns-dash-million-"))
    write_walk(root, points)
    m = measure_query(root)
    print(f"{points:,}-point series, 1,000-bucket chart query over HTTP: median {m['wall_ms']:.0f} ms "
          f"({m['cpu_ms']:.0f} ms CPU; {m['points']:,} points sent), repeated while unchanged: {m['cached_ms']:.1f} ms")


def measure(root: Path, runs: int) -> None:
    """One process's measurements of the data written by `compare`, printed as one JSON line."""
    import neuralscope

    print(json.dumps({"tree": str(Path(neuralscope.__file__).parents[1]), "paint": measure_paint(root / "paint", runs),
                      "query": measure_query(root / "million")}))


def _measured_by(src: str, root: Path, runs: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(root), "--runs", str(runs)], env=env,
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(before_src: str, rounds: int, runs: int, tags: int, points: int, walk: int) -> None:
    """The dashboard of `before_src` against this tree's, interleaved in fresh processes."""
    after_src = str(Path(__file__).resolve().parents[1] / "src")
    for src in (before_src, after_src):
        if not (Path(src) / "neuralscope" / "server" / "static" / "index.html").is_file():
            raise SystemExit(f"{src}: no built dashboard in neuralscope/server/static (build it with vite first).")
    root = Path(tempfile.mkdtemp(prefix="ns-dash-compare-"))
    t = time.perf_counter()
    write_scalar_runs(root / "paint", runs, tags, points)
    write_walk(root / "million", walk)
    print(f"compare: wrote {runs} runs x {tags} tags x {points:,} points and a {walk:,}-point series "
          f"in {time.perf_counter() - t:.0f} s; {rounds} interleaved rounds, before = {before_src}")
    got = {"before": [], "after": []}
    for _ in range(rounds):
        for name, src in (("before", before_src), ("after", after_src)):
            got[name].append(_measured_by(src, root, runs))
    rows = [(f"Scalars first paint, {a}", lambda m, a=a, k=k: next(p for p in m["paint"] if p["attempt"] == a)[k], unit)
            for a in ("cold", "warm") for k, unit in (("wall_ms", "wall ms"), ("browser_cpu_ms", "Chromium CPU ms"),
                                                      ("page_busy_ms", "page busy ms"), ("python_cpu_ms", "server CPU ms"))]
    rows += [("1,000-bucket query", lambda m, k=k: m["query"][k], unit)
             for k, unit in (("wall_ms", "wall ms"), ("cpu_ms", "server CPU ms"))]
    print(f"  {'measure':<30} {'unit':<16} {'before':>9} {'after':>9} {'before/after':>13}")
    for label, pick, unit in rows:
        b = float(np.median([pick(m) for m in got["before"]]))
        a = float(np.median([pick(m) for m in got["after"]]))
        print(f"  {label:<30} {unit:<16} {b:9.1f} {a:9.1f} {b / a if a else float('nan'):12.2f}x")
    print("  (medians over rounds; a ratio above 1 means this tree is faster)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--paint", action="store_true", help="also measure first paint of 10 x 20 x 100,000 points")
    ap.add_argument("--paint-points", type=int, default=100_000)
    ap.add_argument("--compare", metavar="SRC", help="only the before/after paint and query against the dashboard of SRC")
    ap.add_argument("--rounds", type=int, default=5, help="--compare: interleaved rounds")
    ap.add_argument("--runs", type=int, default=10, help="--compare: runs on the Scalars page")
    ap.add_argument("--tags", type=int, default=20, help="--compare: tags per run")
    ap.add_argument("--walk-points", type=int, default=1_000_000, help="--compare: points of the queried series")
    ap.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)  # one --compare process
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.measure:
        measure(Path(args.measure), args.runs)
        return
    if args.compare:
        compare(args.compare, args.rounds, args.runs, args.tags, args.paint_points, args.walk_points)
        return
    load(args.seconds, args.clients, args.rate)
    million()
    if args.paint:
        paint(10, 20, args.paint_points)


if __name__ == "__main__":
    main()
