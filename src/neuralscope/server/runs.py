"""The server's view of a runs directory: which runs exist, their readers, what changed.

The dashboard reads runs only through the store's public reader
(:class:`neuralscope.track.store.RunReader`). A run whose database cannot be opened is
listed as *damaged* with the reason; the other runs are still served.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import FileFormatError, NeuralscopeError


class ServerError(NeuralscopeError, OSError):
    """The dashboard cannot start: a missing or unreadable runs directory, a port in use,
    a public address without a token."""


class UnknownRunError(NeuralscopeError, KeyError):
    """A run id that is not part of the served directory."""

    def __str__(self) -> str:
        return str(self.args[0])


#: readers (SQLite connections, up to 3 file descriptors each) kept open at once; the
#: others are opened again when asked for, so thousands of runs fit the usual limit of
#: 1,024 open files
MAX_OPEN_READERS = 64


class ReaderPool:
    """Opens run readers on demand and closes the least recently used beyond ``max_open``."""

    def __init__(self, max_open: int = MAX_OPEN_READERS):
        from collections import OrderedDict

        self.max_open = max_open
        self._open: OrderedDict = OrderedDict()  # id(entry) -> entry
        self._lock = threading.Lock()

    def touch(self, entry: "RunEntry") -> None:
        """Mark ``entry``'s reader as just used; close others beyond the limit (skipping
        readers busy in another thread, which are closed on a later touch)."""
        with self._lock:
            self._open[id(entry)] = entry
            self._open.move_to_end(id(entry))
            for key in list(self._open)[:-1]:
                if len(self._open) <= self.max_open:
                    break
                victim = self._open[key]
                if victim.lock.acquire(blocking=False):
                    try:
                        victim.close_reader()
                    finally:
                        victim.lock.release()
                    del self._open[key]

    def forget(self, entry: "RunEntry") -> None:
        with self._lock:
            self._open.pop(id(entry), None)


@dataclass
class RunEntry:
    """One run directory under the root; its reader is opened on demand (``damaged`` holds
    the reason when the run cannot be read)."""

    id: str
    path: Path
    damaged: str | None = None
    pool: ReaderPool | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    version: tuple = ()
    cache: dict = field(default_factory=dict)
    _reader: Any = None

    @property
    def readable(self) -> bool:
        return self.damaged is None

    def cached(self, key: Any, fn: Callable[[Any], Any], max_age: float = 0.0) -> Any:
        """``fn(reader)``, reused while the run's files are unchanged (or, with ``max_age``,
        for that many seconds while a writer keeps committing): many clients polling the
        same series cost one read, and a run written continuously is re-read at most
        ``1 / max_age`` times a second (live points reach clients through the event stream)."""
        stamp = _stamp(self.path)
        hit = self.cache.get(key)
        now = time.monotonic()
        if hit is not None and (hit[0] == stamp or now - hit[2] < max_age):
            return hit[1]
        value = self.call(fn)
        if len(self.cache) > 256:
            self.cache.clear()
        self.cache[key] = (stamp, value, now)
        return value

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(reader)`` holding the entry's lock (one SQLite connection per run)."""
        if self.damaged is not None:
            raise FileFormatError(f"The run {self.id!r} is damaged: {self.damaged}")
        with self.lock:
            if self._reader is None:
                self._reader = open_reader(self.path)
            if self.pool is not None:
                self.pool.touch(self)
            return fn(self._reader)

    def close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged reader must not stop the others
                pass


class TooManyOpenFilesError(ServerError):
    """The process reached its limit of open files."""


def open_reader(path: Path):
    """A :class:`~neuralscope.track.store.RunReader` for ``path``; when the process is out of
    file descriptors, :class:`TooManyOpenFilesError` says so (SQLite itself only reports
    "unable to open database file")."""
    import errno

    from ..track.store import RunReader

    try:
        return RunReader(path)
    except (FileFormatError, OSError) as exc:
        try:
            os.close(os.open(os.devnull, os.O_RDONLY))
        except OSError as probe:
            if probe.errno == errno.EMFILE:
                import resource

                soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                raise TooManyOpenFilesError(
                    f"The dashboard reached this process's limit of {soft} open files while opening "
                    f"{str(path)!r}; raise it (ulimit -n) or serve fewer runs at once.") from None
        raise exc


def _stamp(path: Path) -> tuple:
    """A cheap change stamp of a run: size and mtime of its database and WAL files."""
    out = []
    for name in ("run.sqlite", "run.sqlite-wal", "run.lock"):
        try:
            st = os.stat(path / name)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class RunIndex:
    """Runs found at or below ``root``; rescanned at most every ``rescan`` seconds. At most
    ``max_open`` runs hold an open reader at a time.

    Example:
        >>> import tempfile
        >>> RunIndex(tempfile.mkdtemp()).entries()
        []
    """

    def __init__(self, root: str | Path, rescan: float = 1.0, max_open: int = MAX_OPEN_READERS):
        from ..track.store import DB_NAME  # noqa: F401 - fail early if the store is missing

        self.root = Path(root)
        check_runs_dir(self.root)
        self.rescan = rescan
        self.pool = ReaderPool(max_open)
        self.skipped: dict[str, str] = {}  # directories that could not be listed -> why
        self._entries: dict[str, RunEntry] = {}
        self._scanned = 0.0
        self._lock = threading.Lock()

    def _scan(self) -> None:
        from ..track.store import iter_run_dirs

        found, skipped = {}, {}

        def warn(message: str) -> None:
            skipped[message] = message

        for d in iter_run_dirs(self.root, warn=warn):
            rel = d.relative_to(self.root).as_posix()
            found["." if rel == "" else rel] = d
        for message in set(skipped) - set(self.skipped):
            import warnings

            warnings.warn(message, stacklevel=2)
        self.skipped = skipped
        for rid in list(self._entries):
            if rid not in found:
                self._drop(rid)
        for rid, d in found.items():
            entry = self._entries.get(rid)
            if entry is None or (entry.damaged is not None and _stamp(d) != entry.version):
                if entry is not None:
                    self._drop(rid)
                self._entries[rid] = self._open(rid, d)
        self._scanned = time.monotonic()

    def _drop(self, rid: str) -> None:
        entry = self._entries.pop(rid)
        self.pool.forget(entry)
        with entry.lock:
            entry.close_reader()

    def _open(self, rid: str, d: Path) -> RunEntry:
        entry = RunEntry(rid, d, version=_stamp(d), pool=self.pool)
        try:
            entry.call(lambda r: r.meta())  # touches the database: a corrupt file fails here
        except TooManyOpenFilesError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure marks the run damaged
            entry.close_reader()
            entry.damaged = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return entry

    def entries(self, force: bool = False) -> list[RunEntry]:
        """Every run, sorted by id (rescans the directory when due)."""
        with self._lock:
            if force or time.monotonic() - self._scanned > self.rescan:
                self._scan()
            return [self._entries[k] for k in sorted(self._entries)]

    def get(self, run_id: str) -> RunEntry:
        """The run called ``run_id`` (its path relative to the root)."""
        with self._lock:
            entry = self._entries.get(run_id)
        if entry is None:
            self.entries(force=True)
            with self._lock:
                entry = self._entries.get(run_id)
        if entry is None:
            raise UnknownRunError(f"No run named {run_id!r} under {str(self.root)!r}.")
        return entry

    def close(self) -> None:
        with self._lock:
            for rid in list(self._entries):
                self._drop(rid)


class SeriesCache:
    """Scalar series kept in memory and extended with the newly committed points only, so a
    series being written is never re-read whole (least recently used series are dropped
    beyond ``max_points``)."""

    def __init__(self, max_points: int = 8_000_000):
        from collections import OrderedDict

        self.max_points = max_points
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def arrays(self, entry: RunEntry, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, values, walls)`` of every point of ``tag`` in ``entry``."""
        key = (entry.id, tag)
        stamp = _stamp(entry.path)
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
                if hit["stamp"] == stamp:
                    return hit["arrays"]

        def read(reader):
            # the store's incremental reader: only the points appended since the cached ones
            if hit is not None:
                t = reader.scalars_since(tag, hit["n"])
                if t.start == hit["n"]:
                    if not len(t.steps):
                        return t.position, hit["arrays"]
                    return t.position, tuple(np.concatenate([a, b]) for a, b in zip(hit["arrays"], t[:3]))
            # first read, or the run was replaced: read the series whole
            steps, vals, walls = reader.scalar_arrays(tag)  # raises for an unknown series
            return len(steps), (steps, vals, walls)

        n, arrays = entry.call(read)
        with self._lock:
            self._d[key] = {"stamp": stamp, "n": n, "arrays": arrays}
            total = sum(len(v["arrays"][0]) for v in self._d.values())
            while total > self.max_points and len(self._d) > 1:
                _, old = self._d.popitem(last=False)
                total -= len(old["arrays"][0])
        return arrays


def check_runs_dir(root: Path) -> None:
    """Raise :class:`ServerError` when ``root`` cannot be served."""
    if not root.exists():
        raise ServerError(f"The runs directory {str(root)!r} does not exist; create it or log a run "
                          "there with neuralscope.Run first.")
    if not root.is_dir():
        raise ServerError(f"{str(root)!r} is not a directory of runs (nor a model file neuralscope reads).")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ServerError(f"The runs directory {str(root)!r} is not readable by this user.")
