"""The run store: logging, reading, downsampling, locking, crash safety, concurrent readers,
schema migrations and bad input."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from neuralscope.errors import FileFormatError, NeuralscopeError, RunLockedError
from neuralscope.track import LogNameError, LogValueError, Run, RunStorageError, open_run, runs
from neuralscope.track import downsample, store


def _writer_script(path, body: str) -> list[str]:
    code = "import sys, time\nfrom neuralscope.track import Run\n" + textwrap.dedent(body)
    return [sys.executable, "-c", code, str(path)]


def test_logged_scalars_read_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20_000)
    with Run(tmp_path / "r", config={"lr": 0.1, "layers": [1, 2]}) as run:
        for i, v in enumerate(values):
            run.log({"loss": v, "double": 2 * v}, step=i)
        run.log({"acc": torch.tensor(0.5), "flag": True, "n": np.int64(3)}, step=7)
    r = open_run(tmp_path / "r")
    s = r.scalars("loss")
    assert s.steps.tolist() == list(range(20_000))
    np.testing.assert_array_equal(s.values, values)  # float64 kept bit for bit
    np.testing.assert_array_equal(r.scalars("double").values, 2 * values)
    assert r.last_values()["acc"] == 0.5 and r.last_values()["flag"] == 1.0
    info = r.info()
    assert info["status"] == "finished" and info["config"] == {"lr": 0.1, "layers": [1, 2]}
    assert info["last_step"] == 19_999


def test_log_without_step_counts_up_and_histograms_images_text_results(tmp_path):
    from neuralscope.track.results import ScalarSeries

    with Run(tmp_path) as run:
        run.log({"a": 1.0})
        run.log({"a": 2.0})
        x = torch.randn(5000, generator=torch.Generator().manual_seed(0))
        run.log_histogram("w", x, bins=30)
        run.log_image("img", torch.rand(3, 12, 10))
        run.log_text("notes", "hello **world**")
        run.log_result(ScalarSeries("demo", [0, 1], [3.0, 4.0]), name="series")
        fig = ScalarSeries("demo", [0, 1], [3.0, 4.0]).figure()
        run.log_figure("chart", fig, step=5)
    r = open_run(tmp_path)
    assert r.scalars("a").steps.tolist() == [0, 1]
    h = r.histogram_rows("w")[0]
    assert h["step"] == 1
    ref, edges = np.histogram(x.numpy(), bins=30, range=(float(x.min()), float(x.max())))
    # torch.histc and numpy agree up to values sitting exactly on a bin edge (float32 rounding)
    assert np.abs(h["counts"] - ref).sum() <= 2 and h["counts"].sum() == 5000
    np.testing.assert_allclose(h["edges"], edges, rtol=1e-6)
    assert h["num"] == 5000 and h["sum"] == pytest.approx(float(x.double().sum()), rel=1e-6)
    img = r.artifacts(kind="image")[0]
    from PIL import Image

    assert Image.open(img["path"]).size == (10, 12)
    assert r.artifacts(kind="text")[0]["text"] == "hello **world**"
    chart = r.artifacts("chart")[0]
    assert chart["step"] == 5 and chart["meta"]["source"] == "figure"
    assert Image.open(chart["path"]).size == (chart["meta"]["width"], chart["meta"]["height"])
    res = r.results("series")[0]
    assert res["kind"] == "scalar_series" and res["data"]["values"] == [3.0, 4.0]


def test_downsampling_matches_tsdownsample_reference(tmp_path):
    ts = pytest.importorskip("tsdownsample")
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.standard_normal(200_000))
    x = np.arange(len(y))
    # LTTB and min/max per bucket from an independent (Rust) implementation: same indices
    np.testing.assert_array_equal(downsample.lttb(x, y, 500), ts.LTTBDownsampler().downsample(x, y, n_out=500))
    np.testing.assert_array_equal(downsample.minmax(x, y, 500),
                                  np.sort(ts.MinMaxDownsampler().downsample(x, y, n_out=1000)))


def test_minmax_keeps_every_bucket_extreme_on_irregular_steps():
    rng = np.random.default_rng(2)
    x = np.sort(rng.choice(10**6, 50_000, replace=False))
    y = rng.standard_normal(len(x))
    y[1234] = 50.0
    y[40_000] = np.nan
    idx = downsample.minmax(x, y, 100)
    assert 1234 in idx and 40_000 in idx  # a spike and a NaN survive
    bounds = downsample.bucket_bounds(x, 100)
    for b in range(100):  # brute force: each bucket's min and max are kept
        s, e = bounds[b], bounds[b + 1]
        if s == e:
            continue
        seg = np.where(np.isnan(y[s:e]), np.inf, y[s:e])
        assert s + int(np.argmin(seg)) in idx
    assert len(idx) <= 300


def test_query_downsamples_at_read_time_and_keeps_everything(tmp_path):
    n = 300_000
    with Run(tmp_path) as run:
        for i in range(n):
            run.log({"x": float(np.sin(i / 1000))}, step=i)
    r = open_run(tmp_path)
    full = r.scalars("x")
    assert len(full) == n
    small = r.scalars("x", buckets=1000)
    assert small.total == n and len(small) <= 2000 and small.downsampled == "minmax"
    assert small.values.max() == full.values.max() and small.values.min() == full.values.min()
    window = r.scalars("x", start=1000, end=1999)
    assert window.steps[0] == 1000 and window.steps[-1] == 1999
    assert len(r.scalars("x", buckets=1000, method="lttb")) == 1000


def test_bad_values_are_refused_with_one_sentence_and_the_run_survives(tmp_path):
    with Run(tmp_path) as run:
        run.log({"loss": 1.0}, step=0)
        for bad in ("0.3", [1, 2], torch.ones(3), None):
            with pytest.raises(LogValueError, match="not a number") as e:
                run.log({"loss": bad}, step=1)
            assert "\n" not in str(e.value)
        for name in ("", "a\nb", "tab\there", "x" * 300, 7):
            with pytest.raises(LogNameError):
                run.log({name: 1.0}, step=1)
        with pytest.raises(LogValueError, match="dict of name -> number"):
            run.log(0.5)
        with pytest.raises(LogValueError, match="step must be an integer"):
            run.log({"loss": 1.0}, step=1.5)
        run.log({"loss": float("nan")}, step=2)       # stored and flagged
        run.log({"loss": torch.tensor(float("inf"))}, step=3)
        run.log({"loss": 0.5}, step=1)                # backwards: stored and flagged
        run.log({"loss/ünïcode & [odd] chars": 1.0}, step=0)  # printable: fine
        run.log_histogram("h", torch.tensor([1.0, float("nan"), 2.0, float("inf")]), step=3)
        with pytest.raises(LogValueError):
            run.log_histogram("h", "not numbers", step=4)
        with pytest.raises(LogValueError, match="image"):
            run.log_image("img", np.zeros((2, 3, 4, 5)), step=4)
    r = open_run(tmp_path)
    s = r.scalars("loss")
    assert s.steps.tolist() == [0, 2, 3, 1]
    assert np.isnan(s.values[1]) and np.isinf(s.values[2])
    codes = {n["code"] for n in r.notes()}
    assert codes == {"nonfinite", "step_backwards"}
    assert any(n["series"] == "h" and "2 NaN/Inf" in n["message"] for n in r.notes())
    assert r.histogram_rows("h")[0]["counts"].sum() == 2  # the finite values
    diag = r.diagnostics()
    assert {"nonfinite", "step_backwards"} <= diag.codes()
    assert r.integrity_check() == "ok"


def test_unwritable_directory_is_refused_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root may write anywhere: then only the cases below
            with pytest.raises(RunStorageError, match="Cannot write the run directory"):
                Run(ro / "run")
    finally:
        ro.chmod(0o700)
    with pytest.raises(RunStorageError):
        Run("/proc/neuralscope-run")  # a directory nobody can create
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunStorageError, match="file"):
        Run(tmp_path / "file" / "run")


def test_second_writer_in_another_process_gets_run_locked_error(tmp_path):
    with Run(tmp_path / "r") as run:
        run.log({"a": 1.0}, step=0)
        proc = subprocess.run(_writer_script(tmp_path / "r", """
            try:
                Run(sys.argv[1], lock_timeout=0.2)
            except Exception as e:
                print(type(e).__name__, e)
            """), capture_output=True, text=True, timeout=60)
        assert proc.stdout.startswith("RunLockedError"), proc.stdout + proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout
        assert open_run(tmp_path / "r").status == "live"
        with pytest.raises(RunLockedError, match="earlier Run object of this process"):
            Run(tmp_path / "r", lock_timeout=0.1)  # also a second writer in this process
    assert open_run(tmp_path / "r").status == "finished"


def test_writer_killed_with_sigkill_keeps_every_flushed_batch(tmp_path):
    path = tmp_path / "crash"
    proc = subprocess.Popen(_writer_script(path, """
        run = Run(sys.argv[1], config={"job": "crash"})
        i = 0
        while True:
            for _ in range(500):
                run.log({"x": i * 0.5}, step=i)
                i += 1
            run.log_text("t", f"batch {i}", step=i)
            run.flush()
            print(i, flush=True)
        """), stdout=subprocess.PIPE, text=True)
    flushed = 0
    try:
        while flushed < 5000:
            line = proc.stdout.readline()
            assert line, "the writer died early"
            flushed = int(line)
        time.sleep(0.05)  # let it be in the middle of logging the next batch
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    r = open_run(path)
    assert r.integrity_check() == "ok"
    assert r.info()["status"] == "crashed"
    s = r.scalars("x")
    assert len(s) >= flushed
    np.testing.assert_array_equal(s.steps, np.arange(len(s)))   # a prefix, nothing torn
    np.testing.assert_array_equal(s.values, np.arange(len(s)) * 0.5)
    r.close()
    with Run(path) as run:  # the kernel released the lock: the run can be appended to
        assert run.step == len(s) - 1 and run.config == {"job": "crash"}
        run.log({"x": -1.0})
    s2 = open_run(path).scalars("x")
    assert len(s2) == len(s) + 1 and s2.steps[-1] == len(s) and s2.values[-1] == -1.0
    assert open_run(path).info()["status"] == "finished"


def test_reader_sees_a_consistent_prefix_while_a_writer_writes_100k_points(tmp_path):
    path = tmp_path / "live"
    proc = subprocess.Popen(_writer_script(path, """
        with Run(sys.argv[1], flush_interval=0.02) as run:
            print("ready", flush=True)
            for i in range(100_000):
                run.log({"x": float(i), "y": -float(i)}, step=i)
                if i % 2000 == 0:
                    time.sleep(0.01)
        """), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    seen, reads = [], 0
    try:
        while True:
            done = proc.poll() is not None
            r = open_run(path)
            try:
                snap = r.snapshot()
                snap.__enter__()  # both queries below see the same committed state
                names = r.names("scalar")
                if "x" in names:
                    x = r.scalars("x")
                    n = len(x)
                    np.testing.assert_array_equal(x.steps, np.arange(n))
                    np.testing.assert_array_equal(x.values, np.arange(n, dtype=float))
                    if n:
                        d = r.scalars("x", buckets=100)
                        assert d.total == n and d.values.max() == n - 1
                    seen.append(n)
                    reads += 1
                snap.__exit__(None, None, None)
            finally:
                r.close()
            if done:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert seen == sorted(seen) and seen[-1] == 100_000
    assert len(set(seen)) >= 3, f"the reader only saw {sorted(set(seen))}"  # it read mid-write
    y = open_run(path).scalars("y")
    np.testing.assert_array_equal(y.values, -np.arange(100_000, dtype=float))


def test_old_schema_is_migrated_and_newer_schema_refused(tmp_path):
    path = tmp_path / "old"
    path.mkdir()
    conn = sqlite3.connect(path / store.DB_NAME)
    store.create_schema(conn, version=1)
    conn.execute("INSERT INTO series(id, name, kind) VALUES (1, 'loss', 'scalar')")
    steps, vals = np.arange(3, dtype="<i8"), np.array([3.0, 2.0, 1.0], "<f8")
    conn.execute("INSERT INTO scalar_chunks VALUES (1, 0, 3, 0, 2, ?, ?, ?)",
                 (steps.tobytes(), vals.tobytes(), np.zeros(3).tobytes()))
    conn.commit()
    conn.close()
    assert open_run(path).version == 1 and open_run(path).notes() == []  # v1 is still readable
    with Run(path) as run:
        run.log({"loss": float("nan")})
    r = open_run(path)
    assert r.version == store.SCHEMA_VERSION
    assert r.scalars("loss").steps.tolist() == [0, 1, 2, 3]
    assert [n["code"] for n in r.notes()] == ["nonfinite"]
    r.close()
    conn = sqlite3.connect(path / store.DB_NAME)
    conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(FileFormatError, match="newer"):
        Run(path)
    with pytest.raises(FileFormatError):
        open_run(path)


def test_corrupt_or_missing_run_gives_file_format_error(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / store.DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FileFormatError, match="junk"):
        open_run(tmp_path / "junk")
    with pytest.raises(FileFormatError, match="not a neuralscope run"):
        open_run(tmp_path)
    with pytest.raises(NeuralscopeError):
        Run(tmp_path / "junk")


def test_runs_lists_status_config_and_per_rank_runs(tmp_path):
    with Run(tmp_path / "a", config={"lr": 0.1}, tags=["baseline"]) as run:
        run.log({"loss": 1.0}, step=0)
    with pytest.raises(ZeroDivisionError):
        with Run(tmp_path / "b", config={"lr": 0.5}) as run:
            run.log({"loss": 2.0}, step=0)
            1 / 0
    live = Run(tmp_path / "c", config={"lr": 1.0})
    for rank in (0, 1):
        with Run(tmp_path / "ddp", per_rank=True, rank=rank) as run:
            run.log({"loss": float(rank)}, step=0)
    off = Run(tmp_path / "rank1-default", rank=1)  # not rank 0: writes nothing
    off.log({"loss": 1.0})
    off.close()
    assert not (tmp_path / "rank1-default").exists()
    found = runs(tmp_path)
    by = {r["name"]: r for r in found}
    assert sorted(by) == ["a", "b", "c", "ddp/rank0", "ddp/rank1"]
    assert by["a"]["status"] == "finished" and by["a"]["tags"] == ["baseline"]
    assert by["b"]["status"] == "failed" and by["c"]["status"] == "live"
    assert by["ddp/rank1"]["last"] == {"loss": 1.0}
    assert found.hparams() == (["lr"], ["loss"])
    assert "<table>" in found.table_html()
    import matplotlib.pyplot as plt

    ax = found.plot(metric="loss")
    assert len(ax.get_lines()) == 4 and ax.get_legend() is not None  # "c" logged nothing
    plt.close("all")
    live.close()
    assert runs(tmp_path).reader("c").status == "finished"


def test_log_costs_microseconds(tmp_path):
    with Run(tmp_path) as run:
        run.log({"warm": 0.0}, step=0)
        n = 20_000
        t = time.perf_counter()
        for i in range(n):
            run.log({"loss": 0.5, "acc": 0.9}, step=i)
        per_call = (time.perf_counter() - t) / n
    # enqueue only; generous bound for a loaded 2-core CI machine (typically ~3 us)
    assert per_call < 100e-6, f"run.log took {per_call * 1e6:.1f} us per call"
    assert len(open_run(tmp_path).scalars("loss")) == n


def test_scalar_and_histogram_series_plot(tmp_path):
    import matplotlib.pyplot as plt

    with Run(tmp_path) as run:
        for i in range(200):
            run.log({"loss": 1 / (i + 1) if i != 150 else float("nan")}, step=i)
            if i % 20 == 0:
                run.log_histogram("w", torch.randn(1000, generator=torch.Generator().manual_seed(i)) * (1 + i / 50), step=i)
    r = open_run(tmp_path)
    ax = r.scalars("loss").plot(smoothing=0.6)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    hs = r.histograms("w")
    grid, counts = hs.regrid(40)
    np.testing.assert_allclose(counts.sum(axis=1), 1000)  # re-binning keeps every value
    ax = hs.plot()
    assert ax.get_xlabel() == "step" and len(ax.figure.axes) == 2  # with a colorbar
    plt.close("all")
    d = r.scalars("loss").to_dict()
    assert d["kind"] == "scalar_series" and len(d["values"]) == 200


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("downsample", "store", "run", "runs", "watch", "results", "tensorboard", "__init__"):
        mod = importlib.import_module("neuralscope.track" + ("" if name == "__init__" else f".{name}"))
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name


def test_script_ending_without_close_finishes_or_fails_its_run(tmp_path):
    ok = subprocess.run(_writer_script(tmp_path / "ok", """
        run = Run(sys.argv[1])
        run.log({"a": 1.0})
        """), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(_writer_script(tmp_path / "bad", """
        run = Run(sys.argv[1])
        run.log({"a": 1.0})
        raise SystemError("boom")
        """), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "boom" in bad.stderr
    assert open_run(tmp_path / "ok").status == "finished"
    assert open_run(tmp_path / "bad").status == "failed"
    assert len(open_run(tmp_path / "bad").scalars("a")) == 1  # logged data is kept either way


def test_status_of_a_run_written_from_another_host_follows_its_heartbeat(tmp_path):
    with Run(tmp_path) as run:
        run.log({"a": 1.0})
    conn = sqlite3.connect(tmp_path / store.DB_NAME)
    for key, value in (("status", '"running"'), ("host", '"other-machine"'), ("heartbeat", repr(time.time()))):
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
    conn.commit()
    assert open_run(tmp_path).status == "live"  # no lock here, but a fresh heartbeat
    conn.execute("UPDATE meta SET value = ? WHERE key = 'heartbeat'", (repr(time.time() - 60),))
    conn.commit()
    conn.close()
    assert open_run(tmp_path).status == "crashed"


def test_run_set_columns_fall_back_to_every_metric_when_none_is_top_level(tmp_path):
    for name in ("a", "b"):
        with Run(tmp_path / name, config={"lr": 0.1}) as run:
            run.log({"train/loss": 1.0, "val/acc": 0.5}, step=0)
    assert runs(tmp_path).hparams() == (["lr"], ["train/loss", "val/acc"])
    with Run(tmp_path / "c") as run:
        run.log({"loss": 2.0}, step=0)
    assert runs(tmp_path).hparams() == (["lr"], ["loss"])  # a top-level metric: only those
