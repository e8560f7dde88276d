"""The run store: one directory per run holding ``run.sqlite`` (SQLite in WAL mode) and the
larger artefacts (PNG images, result JSON) as files under ``artifacts/``.

Writing: :class:`StoreWriter` owns a background thread with its own connection. Every way
into a run (``Run``, ``run.watch()``, the Keras callback, the TensorBoard importer) calls its
typed methods (:meth:`~StoreWriter.scalars`, :meth:`~StoreWriter.histogram`,
:meth:`~StoreWriter.image`, :meth:`~StoreWriter.text`, :meth:`~StoreWriter.result`,
:meth:`~StoreWriter.meta`, :meth:`~StoreWriter.note`); each appends one message to a deque (a
few hundred nanoseconds, no lock, no I/O) whose form only this module knows. The thread
drains the deque every ``flush_interval`` seconds and writes everything it took in one
transaction. A process killed at any moment loses at most what it had not yet committed;
SQLite's WAL never exposes a half-written transaction.

Scalars are stored in chunks: each row of ``scalar_chunks`` holds up to :data:`CHUNK`
consecutive points of one series as three little-endian arrays (steps int64, values
float64, wall times float64). Loading 100,000 points is one query and three
``numpy.frombuffer`` calls; appending extends the newest chunk of the series.

Reading: :class:`RunReader` opens the database read-only; every query is a single
statement, so a reader sees a consistent snapshot (a prefix of what the writer logged)
even while the writer commits.

Schema changes bump :data:`SCHEMA_VERSION` (kept in ``PRAGMA user_version``) and add a
function to :data:`MIGRATIONS`; opening an older run for writing migrates it in place.
"""
from __future__ import annotations

import collections
import json
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np

from ..errors import FileFormatError, NeuralscopeError, RunLockedError
from ..histogram import Histogram

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
ARTIFACTS = "artifacts"
SCHEMA_VERSION = 2
CHUNK = 8192  # points per scalar chunk row
HEARTBEAT = 2.0  # seconds between the writer's heartbeats (also when idle)
HEARTBEAT_FRESH = 10.0  # a run without lock but with a heartbeat this recent is live
_DTYPES = (np.dtype("<i8"), np.dtype("<f8"), np.dtype("<f8"))  # steps, values, wall times

__all__ = ["SCHEMA_VERSION", "StoreWriter", "RunReader", "ScalarTail", "RunStorageError", "RunLock",
           "run_status", "is_run_dir", "DB_NAME", "LogNameError", "check_series_name"]

_MAX_NAME = 200


class RunStorageError(NeuralscopeError, OSError):
    """A run directory that cannot be created or written (permissions, disk full)."""


class LogNameError(NeuralscopeError, ValueError):
    """A series name that cannot be stored (empty, too long, control characters)."""


def check_series_name(name: Any) -> str:
    """``name`` if it is a valid series name (a non-empty printable string of at most 200
    characters), else :class:`LogNameError`; the rule every way into a run uses
    (:class:`StoreWriter` checks each name the first time it sees it).

    Example:
        >>> check_series_name("train/loss")
        'train/loss'
    """
    if not isinstance(name, str):
        raise LogNameError(f"A series name must be a string, not {type(name).__name__} ({name!r}).")
    if not name or not name.strip():
        raise LogNameError("A series name must not be empty.")
    if len(name) > _MAX_NAME:
        raise LogNameError(f"The series name {name[:40]!r}... is {len(name)} characters long; "
                           f"the limit is {_MAX_NAME}.")
    if not name.isprintable():
        raise LogNameError(f"The series name {name!r} contains control characters (newline, tab, "
                           "NUL...); use printable characters and '/' to group names.")
    return name


# -- schema -------------------------------------------------------------------------------
_SCHEMA_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE series(id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                    UNIQUE(name, kind));
CREATE TABLE scalar_chunks(series_id INTEGER NOT NULL, seq INTEGER NOT NULL, n INTEGER NOT NULL,
                           first_step INTEGER NOT NULL, last_step INTEGER NOT NULL,  -- min and max step
                           steps BLOB NOT NULL, vals BLOB NOT NULL, walls BLOB NOT NULL,
                           PRIMARY KEY(series_id, seq));
CREATE TABLE histograms(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, step INTEGER NOT NULL,
                        wall REAL NOT NULL, num REAL, min REAL, max REAL, sum REAL, sum_sq REAL,
                        edges BLOB NOT NULL, counts BLOB NOT NULL);
CREATE INDEX histograms_by_series ON histograms(series_id, step);
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, step INTEGER NOT NULL,
                       wall REAL NOT NULL, kind TEXT NOT NULL, path TEXT, text TEXT, meta TEXT);
CREATE INDEX artifacts_by_series ON artifacts(series_id, step);
"""


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2 adds ``notes`` (what the writer flagged: steps going backwards, NaN/Inf
    values) and a per-series count of flagged points."""
    conn.executescript("""
    CREATE TABLE notes(id INTEGER PRIMARY KEY, step INTEGER, wall REAL NOT NULL, level TEXT NOT NULL,
                       series TEXT, code TEXT NOT NULL, message TEXT NOT NULL);
    ALTER TABLE series ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
    """)


#: from-version -> function bringing a database to from-version + 1
MIGRATIONS = {1: _migrate_1_to_2}


def create_schema(conn: sqlite3.Connection, version: int = SCHEMA_VERSION) -> None:
    """Create the tables of schema ``version`` in an empty database (older versions exist
    so the migration path can be tested)."""
    conn.executescript(_SCHEMA_V1)
    conn.execute("PRAGMA user_version = 1")
    migrate(conn, target=version)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target`` step by step; returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise FileFormatError(
            f"The run database has schema version {found}, newer than this neuralscope "
            f"understands ({SCHEMA_VERSION}); upgrade neuralscope to open it.")
    v = found
    while v < target:
        with conn:
            MIGRATIONS[v](conn)
            conn.execute(f"PRAGMA user_version = {v + 1}")
        v += 1
    return found


def sqlite_uri(db: Path, **params: str) -> str:
    """The ``file:`` URI of ``db`` with its path percent-encoded, so that ``#``, ``?``, ``%``,
    spaces and non-ASCII characters in directory names stay part of the path (spliced in
    raw, ``a?mode=rwc`` would become a query and open another file).

    Example:
        >>> sqlite_uri(Path("/runs/a?mode=rwc#x/run.sqlite"), mode="ro")
        'file:/runs/a%3Fmode%3Drwc%23x/run.sqlite?mode=ro'
    """
    from urllib.parse import quote, urlencode

    path = quote(Path(os.path.abspath(db)).as_posix(), safe="/")
    return f"file:{path}" + (f"?{urlencode(params)}" if params else "")


def _connect(db: Path, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """A connection to ``db``: read-write (WAL), read-only (``mode=ro``: reads the WAL of a
    live writer, creates no file where the writer's ``-wal``/``-shm`` exist) or immutable
    (``immutable=1``: no lock, no ``-wal``/``-shm`` ever created; only for a database no
    process writes)."""
    if readonly:
        params = {"mode": "ro", **({"immutable": "1"} if immutable else {})}
        conn = sqlite3.connect(sqlite_uri(db, **params), uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(db), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# -- the lock -----------------------------------------------------------------------------
class RunLock:
    """An exclusive ``flock`` on ``run.lock``: held while a process writes the run, released
    by the kernel when the process ends in any way (so a crash never leaves a stale lock)."""

    def __init__(self, directory: Path, timeout: float = 1.0):
        import fcntl

        self.path = Path(directory) / LOCK_NAME
        self._fh = open(self.path, "a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._fh.seek(0)
                    owner = self._fh.read().strip() or "another process"
                    self._fh.close()
                    if owner.startswith(f"pid {os.getpid()} "):
                        owner = "an earlier Run object of this process (close it, or use `with Run(...)`)"
                    raise RunLockedError(
                        f"The run {str(directory)!r} is being written by {owner}; open it "
                        "read-only with neuralscope.track.open_run() or log to another directory.") from None
                time.sleep(0.05)
        self._fh.seek(0)
        self._fh.truncate()
        import socket

        self._fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()  # closing the descriptor releases the flock


def lock_held(directory: Path) -> bool:
    """Whether some process holds the run's write lock now (probed with a shared lock)."""
    import fcntl

    path = Path(directory) / LOCK_NAME
    if not path.exists():
        return False
    try:
        fh = open(path, "r")
    except OSError:
        return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        fh.close()


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run database (``False`` also when it cannot be looked into)."""
    try:
        return (Path(path) / DB_NAME).is_file()
    except OSError:  # a directory this user may not enter
        return False


def run_status(directory: Path, meta: dict | None = None) -> str:
    """``live`` (a process holds the write lock, or, where locks do not reach - a run
    written from another host over a network file system - its writer's heartbeat is
    recent), ``finished``, ``failed`` (closed after an exception) or ``crashed`` (no writer
    and never closed)."""
    if lock_held(directory):
        return "live"
    if meta is None:
        with RunReader(directory) as reader:
            meta = reader.meta()
    status = meta.get("status")
    if status in ("finished", "failed"):
        return status
    import socket

    beat = meta.get("heartbeat")
    remote = meta.get("host") not in (None, socket.gethostname())  # on this host the lock decides
    if remote and isinstance(beat, (int, float)) and time.time() - beat < HEARTBEAT_FRESH:
        return "live"
    return "crashed"


# -- writing ------------------------------------------------------------------------------
def _blob(a: np.ndarray, dtype) -> bytes:
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


# the messages on the writer's queue (their form is private to this module)
_SCALARS, _HISTOGRAM, _ARTIFACT, _META, _NOTE, _FLUSH = "scalars", "histogram", "artifact", "meta", "note", "flush"


class StoreWriter:
    """Owns the database connection of a writing run and its background thread.

    The typed methods queue what they are given (names are checked with
    :func:`check_series_name` the first time each is seen, so a bad name is refused on the
    caller's thread); :meth:`flush` returns once everything queued before it is committed.
    ``wall`` defaults to now; ``step`` is stored as given.

    Example:
        >>> import tempfile
        >>> from neuralscope.histogram import histogram
        >>> d = tempfile.mkdtemp()
        >>> w = StoreWriter(d)
        >>> w.scalars(0, {"loss": 0.5})
        >>> w.histogram("weights/fc", 0, histogram([0.1, 0.2, 0.4], bins=2))
        >>> w.close()
        >>> sorted(RunReader(d).names().items())
        [('histogram', ['weights/fc']), ('scalar', ['loss'])]
    """

    def __init__(self, directory: Path, flush_interval: float = 0.5, heartbeat: float = HEARTBEAT):
        self.dir = Path(directory)
        self.db = self.dir / DB_NAME
        self.artifacts = self.dir / ARTIFACTS
        self.flush_interval = flush_interval
        self.heartbeat_every = heartbeat
        fresh = not self.db.exists()
        try:
            conn = _connect(self.db)
            try:
                if fresh or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                    create_schema(conn)
                else:
                    migrate(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
                raise RunStorageError(f"Cannot write the run database {str(self.db)!r}: {exc}.") from exc
            raise FileFormatError(f"{str(self.db)!r} is not a neuralscope run database ({exc}).") from exc
        self.queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self.error: BaseException | None = None
        self._names: set[str] = set()  # series names already checked
        self._series: dict[tuple[str, str], int] = {}
        self._open_chunk: dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._last_step: dict[int, int] = {}
        self._flagged_nonfinite: set[int] = set()
        self._last_beat = 0.0
        self.conn = _connect(self.db)
        self._load_series()
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        self.existing_config = json.loads(row[0]) if row else None
        self.max_step = max(self._last_step.values()) if self._last_step else None
        self.thread = threading.Thread(target=self._loop, name=f"neuralscope-writer:{self.dir.name}",
                                       daemon=True)
        self.thread.start()

    # producer side: the typed interface
    def _known(self, name: str) -> str:
        if name not in self._names:
            self._names.add(check_series_name(name))
        return name

    def scalars(self, step: int, values: Mapping[str, float], wall: float | None = None) -> None:
        """Queue scalar points: ``values`` maps series names to plain numbers (``float`` or
        ``int``; NaN and Inf are stored and flagged), all at ``step``. The dict is kept as
        given: do not change it afterwards."""
        if not self._names.issuperset(values):
            for name in values:
                self._known(name)
        self.queue.append((_SCALARS, step, time.time() if wall is None else wall, values))

    def histogram(self, name: str, step: int, hist: Histogram, wall: float | None = None) -> None:
        """Queue one step of a histogram series (a :class:`~neuralscope.histogram.Histogram`);
        NaN/Inf values it counted get a note naming the series and step."""
        wall = time.time() if wall is None else wall
        self.queue.append((_HISTOGRAM, self._known(name), step, wall, np.asarray(hist.edges, np.float64),
                           np.asarray(hist.counts, np.float64), hist.stats))
        if hist.nonfinite:
            self.note(step, "error", "nonfinite", f"{name!r} held {hist.nonfinite} NaN/Inf value(s) at step "
                      f"{step}; they are left out of the histogram.", series=name, wall=wall)

    def image(self, name: str, step: int, data: bytes | Callable[[], bytes], meta: dict,
              suffix: str = ".png", wall: float | None = None) -> None:
        """Queue an image file (``data``: its bytes, or a function returning them, called on the
        writer thread so that PNG encoding stays off the training loop); ``meta`` holds
        ``height``, ``width``, ``channels``."""
        self._artifact(name, step, wall, "image", data, suffix, None, meta)

    def text(self, name: str, step: int, text: str, wall: float | None = None) -> None:
        """Queue a piece of text (kept in the database)."""
        self._artifact(name, step, wall, "text", None, None, text, None)

    def weights(self, name: str, step: int, data: bytes | Callable[[], bytes], meta: dict,
                wall: float | None = None) -> None:
        """Queue a weight snapshot: ``data`` is the ``.npz`` file's bytes (or a function returning
        them, called on the writer thread); see :mod:`neuralscope.track.snapshots`."""
        self._artifact(name, step, wall, "weights", data, ".npz", None, meta)

    def result(self, name: str, step: int, kind: str, document: str, wall: float | None = None) -> None:
        """Queue a logged result: ``document`` is the JSON text ``{"kind", "data"}`` written to a
        file that :meth:`RunReader.results` reads back."""
        self._artifact(name, step, wall, "result", document, ".json", None, {"kind": kind})

    def _artifact(self, name, step, wall, kind, payload, suffix, text, meta) -> None:
        self.queue.append((_ARTIFACT, self._known(name), step, time.time() if wall is None else wall,
                           kind, payload, suffix, text, meta))

    def meta(self, key: str, value: Any) -> None:
        """Queue a run metadata entry (``config``, ``status``...; ``value`` is JSON data)."""
        self.queue.append((_META, key, value))

    def note(self, step: int | None, level: str, code: str, message: str, *, series: str | None = None,
             wall: float | None = None) -> None:
        """Queue a note (what a writer flagged: ``level`` ``error``/``warning``, a ``code`` the
        diagnostics read, one sentence)."""
        self.queue.append((_NOTE, step, time.time() if wall is None else wall, level, series, code, message))

    def flush(self, timeout: float | None = 60.0) -> None:
        """Block until everything put so far is committed (re-raises a writer failure)."""
        if not self.thread.is_alive():
            self._drain()
        else:
            done = threading.Event()
            self.queue.append((_FLUSH, done))
            self._wake.set()
            done.wait(timeout)
        if self.error is not None:
            err, self.error = self.error, None
            raise RunStorageError(f"The run {str(self.dir)!r} could not be written: {err}") from err

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self.thread.join()
        self._drain()  # anything put after the thread's last pass
        self.conn.close()

    # consumer side
    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._drain()
            if self._stop:
                return

    def _drain(self) -> None:
        items, waiters = [], []
        q = self.queue
        for _ in range(len(q)):  # what is there now; a fast producer cannot keep us here
            item = q.popleft()
            if item[0] is _FLUSH:
                waiters.append(item[1])
            else:
                items.append(item)
        now = time.time()
        if items or now - self._last_beat > self.heartbeat_every:
            try:
                self._write(items, now)
                self._last_beat = now
            except BaseException as exc:  # noqa: BLE001 - kept and reported on flush/close
                self.error = exc
                # keep the data: put it back at the front for the next attempt
                q.extendleft(reversed(items))
                self._open_chunk.clear()
        for w in waiters:
            w.set()

    def _load_series(self) -> None:
        for sid, name, kind in self.conn.execute("SELECT id, name, kind FROM series"):
            self._series[(name, kind)] = sid
        for sid, last in self.conn.execute(
                "SELECT series_id, max(last_step) FROM scalar_chunks GROUP BY series_id"):
            self._last_step[sid] = last

    def _series_id(self, name: str, kind: str) -> int:
        sid = self._series.get((name, kind))
        if sid is None:
            sid = self.conn.execute("INSERT INTO series(name, kind) VALUES (?, ?)", (name, kind)).lastrowid
            self._series[(name, kind)] = sid
        return sid

    def _note(self, step, wall, level, series, code, message) -> None:
        self.conn.execute("INSERT INTO notes(step, wall, level, series, code, message) VALUES (?,?,?,?,?,?)",
                          (step, wall, level, series, code, message))

    def _write(self, items: list, now: float) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            scalars: dict[str, list] = {}
            for item in items:
                if item[0] is _SCALARS:
                    _, step, wall, values = item
                    for name, v in values.items():
                        s = scalars.get(name)
                        if s is None:
                            s = scalars[name] = [[], [], []]
                        s[0].append(step)
                        s[1].append(v)
                        s[2].append(wall)
                else:
                    self._apply(item)
            for name, (steps, vals, walls) in scalars.items():
                self._append_scalars(name, np.asarray(steps, np.int64), np.asarray(vals, np.float64),
                                     np.asarray(walls, np.float64))
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('heartbeat', ?)", (repr(now),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _append_scalars(self, name, steps, vals, walls) -> None:
        sid = self._series_id(name, "scalar")
        # flag (but keep) steps that go backwards and non-finite values
        prev = self._last_step.get(sid)
        # the highest step logged before each point; a point below it went backwards
        base = np.iinfo(np.int64).min if prev is None else prev
        running = np.maximum.accumulate(np.concatenate([[base], steps]))[:-1]
        back = np.flatnonzero(steps < running)
        if len(back):
            i = int(back[0])
            self._note(int(steps[i]), float(walls[i]), "warning", name, "step_backwards",
                       f"{name!r}: step {int(steps[i])} was logged after step {int(running[i])}; the point "
                       f"is kept in logging order and flagged ({len(back)} such point(s) in this batch).")
            self.conn.execute("UPDATE series SET flagged = flagged + ? WHERE id = ?", (len(back), sid))
        bad = ~np.isfinite(vals)
        if bad.any() and sid not in self._flagged_nonfinite:
            i = int(np.argmax(bad))
            self._flagged_nonfinite.add(sid)
            self._note(int(steps[i]), float(walls[i]), "error", name, "nonfinite",
                       f"{name!r} became {vals[i]} at step {int(steps[i])}; the value is stored as logged.")
        self._last_step[sid] = int(max(steps.max(), prev if prev is not None else steps.max()))
        chunk = self._open_chunk.get(sid)
        if chunk is None:
            row = self.conn.execute(
                "SELECT seq, n, steps, vals, walls FROM scalar_chunks WHERE series_id = ? "
                "ORDER BY seq DESC LIMIT 1", (sid,)).fetchone()
            if row is None:
                chunk = (-1, steps[:0], vals[:0], walls[:0])
            else:
                chunk = (row[0], np.frombuffer(row[2], "<i8"), np.frombuffer(row[3], "<f8"),
                         np.frombuffer(row[4], "<f8"))
        seq, cs, cv, cw = chunk
        if seq >= 0 and len(cs) < CHUNK:
            take = CHUNK - len(cs)
            cs, cv, cw = (np.concatenate([cs, steps[:take]]), np.concatenate([cv, vals[:take]]),
                          np.concatenate([cw, walls[:take]]))
            self.conn.execute(
                "UPDATE scalar_chunks SET n=?, first_step=?, last_step=?, steps=?, vals=?, walls=? "
                "WHERE series_id=? AND seq=?",
                (len(cs), int(cs.min()), int(cs.max()), _blob(cs, "i8"), _blob(cv, "f8"), _blob(cw, "f8"), sid, seq))
            steps, vals, walls = steps[take:], vals[take:], walls[take:]
        for start in range(0, len(steps), CHUNK):
            seq += 1
            cs, cv, cw = steps[start:start + CHUNK], vals[start:start + CHUNK], walls[start:start + CHUNK]
            self.conn.execute(
                "INSERT INTO scalar_chunks(series_id, seq, n, first_step, last_step, steps, vals, walls) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (sid, seq, len(cs), int(cs.min()), int(cs.max()), _blob(cs, "i8"), _blob(cv, "f8"), _blob(cw, "f8")))
        self._open_chunk[sid] = (seq, cs, cv, cw)

    def _apply(self, item: tuple) -> None:
        tag = item[0]
        conn = self.conn
        if tag is _HISTOGRAM:
            _, name, step, wall, edges, counts, stats = item
            sid = self._series_id(name, "histogram")
            conn.execute(
                "INSERT INTO histograms(series_id, step, wall, num, min, max, sum, sum_sq, edges, counts) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sid, step, wall, *[None if v is None or not math.isfinite(v) else float(v) for v in stats],
                 _blob(edges, "f8"), _blob(counts, "f8")))
        elif tag is _ARTIFACT:
            _, name, step, wall, kind, payload, suffix, text, meta = item
            sid = self._series_id(name, kind)
            aid = conn.execute(
                "INSERT INTO artifacts(series_id, step, wall, kind, text, meta) VALUES (?,?,?,?,?,?)",
                (sid, step, wall, kind, text, None if meta is None else json.dumps(meta))).lastrowid
            if payload is not None:
                if callable(payload):  # deferred encoding (PNG) done here, off the training thread
                    payload = payload()
                rel = f"{ARTIFACTS}/{sid}/{step}-{aid}{suffix}"
                path = self.dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                data = payload.encode() if isinstance(payload, str) else payload
                path.write_bytes(data)
                conn.execute("UPDATE artifacts SET path = ? WHERE id = ?", (rel, aid))
        elif tag is _META:
            _, key, value = item
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))
        elif tag is _NOTE:
            _, step, wall, level, series, code, message = item
            self._note(step, wall, level, series, code, message)
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown store item {tag!r}")


# -- reading ------------------------------------------------------------------------------
def _unreadable(db: Path, exc: BaseException) -> FileFormatError:
    """One sentence for an SQLite failure while reading ``db``."""
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if "malformed" in text or "not a database" in text:
        hint = "the file is damaged: restore it from a copy or delete the run"
    elif "unable to open" in text or "readonly" in text:
        hint = "check that this user may read the run directory and its files"
    else:
        hint = "retry, or check the file with `sqlite3 run.sqlite 'PRAGMA integrity_check'`"
    return FileFormatError(f"The run database {str(db)!r} cannot be read ({text}); {hint}.")


def _db_errors(method):
    """Report an SQLite failure inside a :class:`RunReader` query as one sentence
    (:class:`~neuralscope.errors.FileFormatError`) naming the run's database."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.db, exc) from None
    return wrapper


class ReadPositionError(NeuralscopeError, ValueError):
    """A read position that is not a whole number of points >= 0."""


class ScalarTail(NamedTuple):
    """Points of a scalar series after a position (:meth:`RunReader.scalars_since`):
    ``steps`` (int64), ``values`` and ``walls`` (float64), ``start`` (index of the first
    point returned) and ``position`` (the index after the last one: the points the series
    holds)."""

    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray
    start: int
    position: int


class RunReader:
    """Read a run directory, also while another process writes it.

    Example:
        >>> from neuralscope.track import Run, open_run
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> with Run(d) as run:
        ...     for i in range(5): run.log({"loss": 1 / (i + 1)}, step=i)
        >>> open_run(d).scalars("loss").values.round(2).tolist()
        [1.0, 0.5, 0.33, 0.25, 0.2]
    """

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.db = self.dir / DB_NAME
        self._wal = self.dir / (DB_NAME + "-wal")
        if not self.db.is_file():
            raise FileFormatError(f"{str(self.dir)!r} is not a neuralscope run (no {DB_NAME} in it).")
        try:
            self._conn = self._open()
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.db, exc) from None
        if version > SCHEMA_VERSION or version < 1:
            raise FileFormatError(
                f"{str(self.db)!r} has schema version {version}; this neuralscope reads 1 to {SCHEMA_VERSION}.")
        self.version = version
        self._chunk_cache: dict[int, tuple] = {}

    def _open(self) -> sqlite3.Connection:
        """Reading never writes: a run no process writes (no ``-wal`` file) is opened
        ``immutable`` (no lock, no ``-wal``/``-shm`` created, works on a read-only directory
        or another user's run); otherwise ``mode=ro`` reads the live writer's WAL. Should a
        writer start later, :attr:`conn` notices its ``-wal`` file and reopens."""
        self.immutable = self._watch_wal = not self._wal.exists()
        try:
            conn = _connect(self.db, readonly=True, immutable=self.immutable)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError:
            if self.immutable:
                raise
            # a crashed writer's WAL beside a database this user cannot lock: read the
            # database as it is (what the WAL held is not seen)
            self.immutable, self._watch_wal = True, False
            conn = _connect(self.db, readonly=True, immutable=True)
        conn.execute("PRAGMA mmap_size = 1073741824")  # read blobs without extra copies
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The read-only connection (reopened in WAL-reading mode once a writer appears)."""
        if self._watch_wal and self._wal.exists():
            self._conn.close()
            self._chunk_cache.clear()
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def snapshot(self):
        """A context in which every query sees the same committed state of the run (one
        read transaction), e.g. several series of one chart while the writer goes on."""
        import contextlib

        @contextlib.contextmanager
        def ctx():
            self.conn.execute("BEGIN")
            try:
                self.conn.execute("SELECT count(*) FROM series").fetchone()  # pins the snapshot
                yield self
            finally:
                self.conn.execute("COMMIT")
        return ctx()

    # metadata
    @_db_errors
    def meta(self) -> dict:
        out = {}
        for k, v in self.conn.execute("SELECT key, value FROM meta"):
            try:
                out[k] = json.loads(v)
            except ValueError:
                out[k] = v
        return out

    @_db_errors
    def info(self) -> dict:
        """Name, status, config, tags, times and the last step of the run."""
        meta = self.meta()
        last = self.conn.execute("SELECT max(last_step) FROM scalar_chunks").fetchone()[0]
        return {
            "name": meta.get("name", self.dir.name), "path": str(self.dir),
            "status": run_status(self.dir, meta), "config": meta.get("config", {}),
            "tags": meta.get("tags", []), "created": meta.get("created"),
            "finished": meta.get("finished_at"), "heartbeat": meta.get("heartbeat"),
            "last_step": last, "schema_version": self.version,
        }

    @property
    def status(self) -> str:
        return run_status(self.dir)

    @_db_errors
    def names(self, kind: str | None = None) -> dict[str, list[str]] | list[str]:
        """Series names per kind (``scalar``, ``histogram``, ``image``, ``text``, ``result``);
        the list of one kind when ``kind`` is given."""
        out: dict[str, list[str]] = {}
        for name, k in self.conn.execute("SELECT name, kind FROM series ORDER BY name"):
            out.setdefault(k, []).append(name)
        return out.get(kind, []) if kind else out

    def _sid(self, name: str, kind: str) -> int:
        row = self.conn.execute("SELECT id FROM series WHERE name = ? AND kind = ?", (name, kind)).fetchone()
        if row is None:
            from ..errors import LayerNotFoundError

            raise LayerNotFoundError(name, self.names(kind), what=f"{kind} series")
        return row[0]

    # scalars
    @_db_errors
    def scalar_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every point of a scalar series: ``(steps int64, values float64, wall times)``
        (read-only arrays).

        All chunks of a series but the newest hold exactly :data:`CHUNK` points and never
        change again, so a reader keeps them in a growing buffer and a later query (a
        dashboard polling a live run) reads only the newest chunks from the database.
        """
        sid = self._sid(name, "scalar")
        cache = self._chunk_cache.get(sid)
        done = cache["chunks"] if cache else 0
        rows = self.conn.execute(
            "SELECT seq, n, steps, vals, walls FROM scalar_chunks WHERE series_id = ? AND seq >= ? ORDER BY seq",
            (sid, done)).fetchall()
        if cache is None:
            cache = self._chunk_cache[sid] = {"chunks": 0, "full": 0, "bufs": [np.empty(0, d) for d in _DTYPES]}
        need = cache["full"] + sum(r[1] for r in rows)
        bufs = cache["bufs"]
        if need > len(bufs[0]):  # grow (old arrays handed out earlier stay valid)
            cap = max(need, int(len(bufs[0]) * 1.5), 1024)
            grown = [np.empty(cap, d) for d in _DTYPES]
            for g, old in zip(grown, bufs):
                g[:cache["full"]] = old[:cache["full"]]
            bufs = cache["bufs"] = grown
        pos = cache["full"]
        for seq, n, *blobs in rows:
            for buf, blob, d in zip(bufs, blobs, _DTYPES):
                buf[pos:pos + n] = np.frombuffer(blob, d)
            pos += n
            if n == CHUNK and seq == cache["chunks"]:  # immutable from now on
                cache["chunks"] += 1
                cache["full"] = pos
        out = tuple(buf[:pos] for buf in bufs)
        for a in out:
            a.flags.writeable = False
        return out

    def scalars(self, name: str, buckets: int | None = None, method: str = "minmax",
                start: int | None = None, end: int | None = None):
        """A :class:`~neuralscope.track.results.ScalarSeries`; with ``buckets`` it keeps only
        the points that draw the same chart at that many pixel columns (``method`` is
        ``"minmax"`` or ``"lttb"``); ``start``/``end`` limit the step range (inclusive)."""
        from . import downsample
        from .results import ScalarSeries

        steps, vals, walls = self.scalar_arrays(name)
        total = len(steps)
        steps, vals, walls, used = downsample.select(steps, vals, walls, start=start, end=end,
                                                     buckets=buckets, method=method)
        return ScalarSeries(name, steps, vals, walls, total=total, downsampled=used,
                            run=self.dir.name)

    @_db_errors
    def scalar_count(self, name: str) -> int:
        """How many points the scalar series ``name`` holds (a sum over its chunk rows; no
        point is read). Use it as the first position for :meth:`scalars_since`.

        Example:
            >>> import tempfile
            >>> from neuralscope.track import Run
            >>> d = tempfile.mkdtemp()
            >>> with Run(d) as run:
            ...     for i in range(3): run.log({"loss": 1.0}, step=i)
            >>> RunReader(d).scalar_count("loss")
            3
        """
        sid = self._sid(name, "scalar")
        row = self.conn.execute("SELECT coalesce(sum(n), 0) FROM scalar_chunks WHERE series_id = ?",
                                (sid,)).fetchone()
        return int(row[0])

    @_db_errors
    def scalars_since(self, name: str, position: int) -> "ScalarTail":
        """The points of the scalar series ``name`` appended after the first ``position``
        points (in logging order), and the new position: a follower (the dashboard's live
        stream) keeps the position and asks again later, reading only the new chunk rows.

        Returns a :class:`ScalarTail` ``(steps, values, walls, start, position)``: ``start``
        is the index of the first point returned, equal to the ``position`` asked for unless
        the series now holds fewer points than that (the run directory was replaced by
        another run): then every point is returned from 0. ``position`` is the number of
        points the series holds now. The query is one statement, so what it returns is a
        consistent prefix of what the writer committed.

        Example:
            >>> import tempfile
            >>> from neuralscope.track import Run
            >>> d = tempfile.mkdtemp()
            >>> with Run(d) as run:
            ...     for i in range(5): run.log({"loss": float(i)}, step=i)
            >>> t = RunReader(d).scalars_since("loss", 3)
            >>> t.steps.tolist(), t.values.tolist(), t.start, t.position
            ([3, 4], [3.0, 4.0], 3, 5)
        """
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or position < 0:
            raise ReadPositionError(f"position must be a whole number of points >= 0, not {position!r}.")
        position = int(position)
        sid = self._sid(name, "scalar")
        # one statement: the series' total and the chunk rows holding points past the position
        # (every row when the series is shorter than the position); one row of NULLs when none
        rows = self.conn.execute(
            "WITH c AS (SELECT seq, n, sum(n) OVER (ORDER BY seq) AS upto FROM scalar_chunks WHERE series_id = ?), "
            "t AS (SELECT coalesce(max(upto), 0) AS total FROM c) "
            "SELECT t.total, c.upto - c.n, k.steps, k.vals, k.walls FROM t "
            "LEFT JOIN c ON c.upto > (CASE WHEN t.total < ? THEN 0 ELSE ? END) "
            "LEFT JOIN scalar_chunks k ON k.series_id = ? AND k.seq = c.seq ORDER BY c.seq",
            (sid, position, position, sid)).fetchall()
        total = int(rows[0][0])
        start = position if total >= position else 0
        rows = [r for r in rows if r[2] is not None]
        first = int(rows[0][1]) if rows else start
        arrays = []
        for j, d in enumerate(_DTYPES):
            a = np.concatenate([np.frombuffer(r[2 + j], d) for r in rows]) if rows else np.empty(0, d)
            arrays.append(a[start - first:])
        return ScalarTail(*arrays, start, start + len(arrays[0]))

    @_db_errors
    def last_values(self) -> dict[str, float]:
        """The last logged value of every scalar series (for run tables)."""
        out = {}
        for name, blob, n in self.conn.execute(
                "SELECT s.name, c.vals, c.n FROM series s JOIN scalar_chunks c ON c.series_id = s.id "
                "WHERE c.seq = (SELECT max(seq) FROM scalar_chunks WHERE series_id = s.id)"):
            out[name] = float(np.frombuffer(blob, "<f8")[n - 1])
        return out

    # histograms
    @_db_errors
    def histogram_rows(self, name: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT step, wall, num, min, max, sum, sum_sq, edges, counts FROM histograms "
            "WHERE series_id = ? ORDER BY id", (self._sid(name, "histogram"),)).fetchall()
        return [{"step": r[0], "wall": r[1], "num": r[2], "min": r[3], "max": r[4], "sum": r[5],
                 "sum_sq": r[6], "edges": np.frombuffer(r[7], "<f8"), "counts": np.frombuffer(r[8], "<f8")}
                for r in rows]

    def histograms(self, name: str, max_steps: int | None = None):
        """A :class:`~neuralscope.track.results.HistogramSeries` (every logged step, or
        ``max_steps`` evenly spaced ones)."""
        from .results import HistogramSeries

        rows = self.histogram_rows(name)
        if max_steps is not None and len(rows) > max_steps:
            pick = np.unique(np.linspace(0, len(rows) - 1, max_steps).round().astype(int))
            rows = [rows[i] for i in pick]
        return HistogramSeries(name, rows, run=self.dir.name)

    # artefacts, results, text, notes
    @_db_errors
    def artifacts(self, name: str | None = None, kind: str | None = None) -> list[dict]:
        """Logged images, texts, figures and results: step, kind, absolute file path or text."""
        sql = ("SELECT s.name, a.step, a.wall, a.kind, a.path, a.text, a.meta FROM artifacts a "
               "JOIN series s ON s.id = a.series_id WHERE 1=1")
        args: list[Any] = []
        if name is not None:
            sql += " AND s.name = ?"
            args.append(name)
        if kind is not None:
            sql += " AND a.kind = ?"
            args.append(kind)
        out = []
        for n, step, wall, k, path, text, meta in self.conn.execute(sql + " ORDER BY a.id", args):
            row = {"name": n, "step": step, "wall": wall, "kind": k, "path": None, "text": text,
                   "meta": _json_or_empty(meta)}
            if path:
                try:
                    row["path"] = str(self.artifact_path(path))
                except FileFormatError as exc:
                    row["error"] = str(exc)
            out.append(row)
        return out

    def artifact_path(self, rel: str) -> Path:
        """The file ``rel`` (a path stored in the run's database) inside the run directory;
        :class:`~neuralscope.errors.FileFormatError` when it is absolute, climbs out with
        ``..`` or leads out through a symbolic link: a run received from someone else must
        not make a reader open files elsewhere.

        Example:
            >>> import tempfile
            >>> from neuralscope.track import Run
            >>> d = tempfile.mkdtemp()
            >>> with Run(d) as run:
            ...     run.log({"loss": 1.0}, step=0)
            >>> RunReader(d).artifact_path("../../etc/passwd")
            Traceback (most recent call last):
            ...
            neuralscope.errors.FileFormatError: The run database of ... names the file '../../etc/passwd', which lies outside the run directory; it is not read.
        """
        base = os.path.realpath(self.dir)
        target = base if "\x00" in str(rel) else os.path.realpath(os.path.join(base, str(rel)))
        if os.path.commonpath([base, target]) != base or target == base:
            raise FileFormatError(f"The run database of {str(self.dir)!r} names the file {str(rel)!r}, which lies "
                                  "outside the run directory; it is not read.")
        return Path(target)

    def result_entries(self, name: str | None = None, kind: str | None = None) -> list[dict]:
        """Result objects logged with ``run.log_result``, without reading their files: rows of
        :meth:`artifacts` (``name``, ``step``, ``wall``, ``path``, ``meta``) with the result's
        ``kind`` (``to_dict()["kind"]``) and its ``index`` among the run's results; only those of
        ``kind`` when given. Pass a row to :meth:`read_result` for its data."""
        out = []
        for i, a in enumerate(self.artifacts(name, kind="result")):
            k = a["meta"].get("kind") or a["meta"].get("result_kind")
            if kind is None or k == kind:
                out.append({**a, "kind": k, "index": i})
        return out

    def read_result(self, entry: dict) -> dict:
        """The one parser of logged result files: ``{"name", "step", "wall", "kind", "data"}`` of a
        row of :meth:`result_entries`, where ``data`` is the object's ``to_dict()`` as JSON data.
        A path refused by :meth:`artifact_path`, a missing file or one that is not JSON is one
        sentence (:class:`~neuralscope.errors.FileFormatError`).

        Example:
            >>> import tempfile
            >>> from neuralscope.track import Run, ScalarSeries
            >>> d = tempfile.mkdtemp()
            >>> with Run(d) as run:
            ...     run.log_result(ScalarSeries("x", [0, 1], [2.0, 3.0]), name="curve")
            >>> r = RunReader(d)
            >>> doc = r.read_result(r.result_entries()[0])
            >>> doc["kind"], doc["data"]["values"]
            ('scalar_series', [2.0, 3.0])
        """
        if entry.get("error"):
            raise FileFormatError(entry["error"])
        doc: Any = {}
        if entry.get("path"):
            try:
                doc = json.loads(Path(entry["path"]).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise FileFormatError(f"The logged result file {entry['path']!r} cannot be read "
                                      f"({getattr(exc, 'strerror', None) or exc}).") from None
        if not isinstance(doc, dict):
            doc = {"data": doc}
        return {"name": entry["name"], "step": entry["step"], "wall": entry["wall"],
                "kind": doc.get("kind", entry.get("kind")), "data": doc.get("data")}

    def results(self, name: str | None = None) -> list[dict]:
        """Every result object logged with ``run.log_result`` (``name``: only those logged
        under it), read by :meth:`read_result`."""
        return [self.read_result(e) for e in self.result_entries(name)]

    @_db_errors
    def notes(self) -> list[dict]:
        """What the writer flagged while storing (steps going backwards, NaN/Inf values)."""
        if self.version < 2:
            return []
        return [{"step": s, "wall": w, "level": lv, "series": se, "code": c, "message": m}
                for s, w, lv, se, c, m in self.conn.execute(
                    "SELECT step, wall, level, series, code, message FROM notes ORDER BY id")]

    def diagnostics(self):
        """Problems found in what was logged (see :mod:`neuralscope.track.diagnostics`)."""
        from .diagnostics import diagnose

        return diagnose(self)

    @_db_errors
    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]


def _json_or_empty(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def iter_run_dirs(root: Path, warn=None) -> Iterable[Path]:
    """Run directories at or below ``root`` (a per-rank parent yields its rank runs).

    Each directory is visited once, however many symbolic links lead to it (``runs/latest
    -> .`` cannot make the scan loop); a subdirectory that cannot be listed is skipped with
    a warning (``warn(message)``, default :func:`warnings.warn`) instead of ending the scan.
    """
    import warnings

    warn = warn or (lambda m: warnings.warn(m, stacklevel=3))
    seen: set[tuple[int, int]] = set()
    stack = [Path(root)]
    while stack:
        d = stack.pop()
        try:
            st = d.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        if is_run_dir(d):
            yield d
            continue
        try:
            children = sorted(d.iterdir())
        except NotADirectoryError:
            continue
        except OSError as exc:
            warn(f"Skipping {str(d)!r}: it cannot be listed ({exc.strerror or exc}).")
            continue
        subdirs = []
        for child in children:
            try:
                if child.is_dir():
                    subdirs.append(child)
            except OSError:
                continue
        stack.extend(reversed(subdirs))
