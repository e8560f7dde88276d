"""The store and the dashboard on runs they did not write: odd directory names, read-only
directories and other users' runs, thousands of runs, unreadable subdirectories, damaged
databases, symbolic link loops, odd TensorBoard tags.

Permission tests run the reading side as the unprivileged user ``nobody`` (``setpriv``)
when the tests run as root, since root ignores permission bits.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from neuralscope.errors import FileFormatError
from neuralscope.server.app import create_app
from neuralscope.server.runs import RunIndex, TooManyOpenFilesError, open_reader
from neuralscope.track import open_run, runs
from neuralscope.track.run import Run
from neuralscope.track.tensorboard import EventFileWriter, export_tensorboard, import_tensorboard

LOOPBACK = "http://127.0.0.1"
NOBODY = 65534


def write_run(path: Path, n: int = 10, **config) -> Path:
    with Run(path, config=config or None) as run:
        for i in range(n):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_python(code: str, *, as_other_user: bool = False, timeout: float = 120, env=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (as ``nobody`` when asked and we are root)."""
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    if as_other_user and os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    home = tempfile.mkdtemp(prefix="ns-home-")
    os.chmod(home, 0o777)
    full_env = {**os.environ, "HOME": home, "MPLCONFIGDIR": home, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


def other_user_available() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


@pytest.fixture
def shared_tmp():
    """A temporary directory another user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="ns-shared-"))
    os.chmod(d, 0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, 0o755)
    shutil.rmtree(d, ignore_errors=True)


# -- directory names ------------------------------------------------------------------------
ODD_NAMES = ["hash#1", "query?mode=rwc", "pct%23x", "pct%", "with space", "ünïcödé-ρ", "a&b=c",
             "x?mode=rwc&vfs=unix-none#frag", "semi;colon", "emoji-🙂"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_directory_names_read_back_and_create_no_file_anywhere(tmp_path, name):
    run_dir = write_run(tmp_path / "root" / name, n=5)
    before = files_under(tmp_path)
    reader = open_run(run_dir)
    assert reader.scalars("loss").values.tolist() == pytest.approx([1.0 / (i + 1) for i in range(5)])
    reader.close()
    assert [r["name"] for r in runs(tmp_path / "root").info] == [name]
    for served in (tmp_path / "root", run_dir):  # a root holding the run, and the run itself
        with TestClient(create_app(served), base_url=LOOPBACK) as c:
            listed = c.get("/api/runs").json()["runs"]
            assert [r["status"] for r in listed] == ["finished"]
            r = c.get("/api/scalars", params={"run": listed[0]["id"], "tag": "loss"})
            assert r.status_code == 200 and r.json()["total"] == 5
    assert files_under(tmp_path) == before  # no stray file, no -wal/-shm left by a reader


def test_a_reader_sees_points_a_later_writer_appends(tmp_path):
    write_run(tmp_path / "r", n=3)
    reader = open_run(tmp_path / "r")
    assert reader.immutable  # nobody writes: opened without locks or side files
    assert reader.scalar_count("loss") == 3
    with Run(tmp_path / "r") as run:
        run.log({"loss": 9.0}, step=3)
        run.flush()
        assert reader.scalar_count("loss") == 4 and not reader.immutable
        assert reader.scalars("loss").values[-1] == 9.0
    reader.close()


# -- read-only runs -------------------------------------------------------------------------
@pytest.mark.skipif(not other_user_available(), reason="needs setpriv to drop root")
def test_runs_on_a_read_only_directory_read_fine_and_leave_no_files(shared_tmp):
    root = shared_tmp / "runs"
    write_run(root / "done", n=20, lr=0.1)
    for p in [root, *root.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o444)
    before = files_under(shared_tmp)
    result = run_python(f"""
        import json, warnings
        from starlette.testclient import TestClient
        from neuralscope.track import open_run, runs
        from neuralscope.server.app import create_app
        out = {{"values": open_run({str(root / 'done')!r}).scalars("loss").values.tolist(),
               "runs": [r["config"] for r in runs({str(root)!r}).info]}}
        with TestClient(create_app({str(root)!r}), base_url="http://127.0.0.1") as c:
            out["api"] = c.get("/api/scalars", params={{"run": "done", "tag": "loss"}}).json()["total"]
            out["status"] = c.get("/api/runs").json()["runs"][0]["status"]
        print(json.dumps(out))
    """, as_other_user=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["values"] == pytest.approx([1.0 / (i + 1) for i in range(20)])
    assert out["runs"] == [{"lr": 0.1}] and out["api"] == 20 and out["status"] == "finished"
    assert files_under(shared_tmp) == before


@pytest.mark.skipif(not other_user_available(), reason="needs setpriv to drop root")
def test_another_users_live_run_reads_while_it_is_written(shared_tmp):
    run = Run(shared_tmp / "live")
    try:
        for i in range(50):
            run.log({"loss": float(i)}, step=i)
        run.flush()
        assert (shared_tmp / "live" / "run.sqlite-wal").exists()
        result = run_python(f"""
            from neuralscope.track import open_run
            r = open_run({str(shared_tmp / 'live')!r})
            print(r.scalar_count("loss"), r.info()["status"])
        """, as_other_user=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["50", "live"]
    finally:
        run.close()


# -- many runs, few file descriptors ----------------------------------------------------------
def test_the_dashboard_serves_1500_runs_within_1024_open_files(tmp_path):
    template = write_run(tmp_path / "template", n=30)
    root = tmp_path / "many"
    for i in range(1500):
        d = root / f"run{i:04d}"
        d.mkdir(parents=True)
        shutil.copyfile(template / "run.sqlite", d / "run.sqlite")
    result = run_python(f"""
        import os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        from starlette.testclient import TestClient
        from neuralscope.server.app import create_app
        peak = 0
        with TestClient(create_app({str(root)!r}), base_url="http://127.0.0.1") as c:
            listed = c.get("/api/runs").json()["runs"]
            assert len(listed) == 1500 and {{r["status"] for r in listed}} == {{"finished"}}, listed[:2]
            for r in listed[::5] + listed[-3:]:  # all were opened by /api/runs; read again across the set
                got = c.get("/api/scalars", params={{"run": r["id"], "tag": "loss"}})
                assert got.status_code == 200 and got.json()["total"] == 30, got.text
                peak = max(peak, len(os.listdir("/proc/self/fd")))
        print("peak", peak)
    """, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    peak = int(result.stdout.split()[-1])
    assert peak < 400  # 64 readers of at most 3 descriptors, plus the interpreter's own


def test_running_out_of_file_descriptors_is_said_clearly(tmp_path):
    import resource

    run_dir = write_run(tmp_path / "r", n=3)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 16, hard))
    try:
        with pytest.raises(OSError):
            while len(held) < 64:  # take every descriptor left
                held.append(os.open(os.devnull, os.O_RDONLY))
        with pytest.raises(TooManyOpenFilesError, match=r"limit of \d+ open files while opening .*; raise it \(ulimit -n\)"):
            open_reader(run_dir)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    open_reader(run_dir).close()


# -- unreadable subdirectories ------------------------------------------------------------------
@pytest.mark.skipif(not other_user_available(), reason="needs setpriv to drop root")
def test_an_unreadable_subdirectory_is_skipped_with_a_warning(shared_tmp):
    root = shared_tmp / "runs"
    os.chmod(shared_tmp, 0o777)  # the export writes here
    write_run(root / "a", n=4)
    write_run(root / "locked" / "b", n=4)
    os.chmod(root / "locked", 0o700)  # root's alone
    with Run(root / "c") as run:
        run.log_image("pic", np.eye(8), step=0)
        run.log({"loss": 1.0}, step=0)
    os.chmod(root / "c" / "artifacts", 0o700)
    result = run_python(f"""
        import json, warnings
        from starlette.testclient import TestClient
        from neuralscope.track import runs
        from neuralscope.server.app import create_app
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            names = [r["name"] for r in runs({str(root)!r}).info]
            with TestClient(create_app({str(root)!r}), base_url="http://127.0.0.1") as c:
                api = [r["id"] for r in c.get("/api/runs").json()["runs"]]
            from neuralscope.cli import main
            code = main(["export-tensorboard", {str(root / 'c')!r}, {str(shared_tmp / 'tb')!r}])
        print(json.dumps({{"names": names, "api": api, "export": code,
                          "warnings": [str(w.message) for w in caught]}}))
    """, as_other_user=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["names"] == ["a", "c"] and out["api"] == ["a", "c"]
    assert any("locked" in w and "cannot be listed" in w for w in out["warnings"])
    assert out["export"] == 0 and any("Skipping the image 'pic'" in w for w in out["warnings"])


# -- damaged databases ----------------------------------------------------------------------
def damage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    half = len(data) // 2
    data[half:] = np.random.default_rng(1).integers(0, 256, len(data) - half, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))


def test_a_database_damaged_past_its_first_pages_is_one_sentence_everywhere(tmp_path, capsys):
    root = tmp_path / "runs"
    write_run(root / "fine", n=5)
    write_run(root / "hurt", n=40_000)
    damage(root / "hurt" / "run.sqlite")
    with pytest.raises(FileFormatError, match=r"cannot be read \(database disk image is malformed\); the file is damaged"):
        open_run(root / "hurt").scalars("loss")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [r["name"] for r in runs(root).info] == ["fine"]
    assert any("hurt" in str(w.message) and "malformed" in str(w.message) for w in caught)
    from neuralscope.cli import main

    assert main(["export-tensorboard", str(root / "hurt"), str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("neuralscope: error: The run database")


def test_garbage_in_the_middle_of_a_small_run_is_listed_as_damaged_by_the_dashboard(tmp_path):
    write_run(tmp_path / "ok", n=3)
    (tmp_path / "bad").mkdir()
    head = (tmp_path / "ok" / "run.sqlite").read_bytes()[:100]
    (tmp_path / "bad" / "run.sqlite").write_bytes(head + b"\xff" * 8000)
    with TestClient(create_app(tmp_path), base_url=LOOPBACK) as c:
        listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert listed["ok"]["status"] == "finished" and listed["bad"]["status"] == "damaged"
        assert "\n" not in listed["bad"]["damaged"]


# -- symbolic link loops ----------------------------------------------------------------------
def test_symlink_loops_list_every_run_once(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "a", n=2)
    write_run(root / "group" / "b", n=2)
    (root / "latest").symlink_to(root, target_is_directory=True)           # runs/latest -> .
    (root / "group" / "up").symlink_to(root, target_is_directory=True)     # a second loop
    (root / "group" / "self").symlink_to(root / "group", target_is_directory=True)
    (root / "dangling").symlink_to(tmp_path / "nothing")
    start = time.perf_counter()
    assert [r["name"] for r in runs(root).info] == ["a", "group/b"]
    assert [e.id for e in RunIndex(root).entries()] == ["a", "group/b"]
    assert time.perf_counter() - start < 5


# -- TensorBoard tags -------------------------------------------------------------------------
def test_tensorboard_tags_follow_the_run_name_rules(tmp_path):
    w = EventFileWriter(tmp_path / "tb")
    w.scalar("good/tag", 1.0, step=0)
    w.scalar("bad\ntag", 2.0, step=0)
    w.scalar("", 3.0, step=0)
    w.scalar("x" * 500, 4.0, step=0)
    w.scalar("tab\there", 5.0, step=0)
    w.close()
    counts = import_tensorboard(tmp_path / "tb", tmp_path / "run")
    assert counts["scalar"] == 1 and counts["skipped"] == 4
    assert open_run(tmp_path / "run").names("scalar") == ["good/tag"]
    assert export_tensorboard(tmp_path / "run", tmp_path / "back").exists()
