"""The shards of an audit on disk: ``<run>/audit/<name>/``.

* ``spec.json`` — what was asked (methods, layers, shard size...). Reopening with a
  different spec is refused, so a resumed audit never mixes two configurations.
* ``shards/00012.npz`` — one file per finished shard, holding every per-example array
  (indices, labels, predictions, scores, thumbnails, features) and the shard's mergeable
  sums (per-class map sums, layer statistics).

A shard is committed atomically: written and fsynced under a temporary name, then
published with ``os.link``, which fails if the shard exists — a shard is never written
twice, and a process killed at any moment leaves either no shard or a complete one
(temporary files of dead writers are removed on open). Resuming lists the published
shards and computes the others.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import NeuralscopeError

__all__ = ["ShardStore", "AuditSpecError", "ShardExistsError", "audit_dirs"]

_SHARD = re.compile(r"^(\d{5,})\.npz$")


class AuditSpecError(NeuralscopeError, ValueError):
    """An audit resumed with different settings than the shards already written."""


class ShardExistsError(NeuralscopeError, FileExistsError):
    """A shard that was already committed (shards are written once)."""


class ShardStore:
    """Shard files of one audit (see the module docstring)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.shard_dir = self.dir / "shards"

    def open(self, spec: dict) -> "ShardStore":
        """Create the audit directory, or check that ``spec`` matches the one found."""
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "spec.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != spec:
                diff = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
                raise AuditSpecError(
                    f"The audit in {str(self.dir)!r} was started with other settings ({', '.join(diff)}); "
                    "resume it with the same settings or give the new audit another name=.")
        else:
            _write_atomic(path, json.dumps(spec, indent=1).encode())
        for tmp in self.shard_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)  # a writer killed before publishing
        return self

    def spec(self) -> dict:
        return json.loads((self.dir / "spec.json").read_text())

    def done(self) -> list[int]:
        """Indices of the committed shards, in order."""
        if not self.shard_dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in os.listdir(self.shard_dir) if (m := _SHARD.match(p)))

    def path(self, index: int) -> Path:
        return self.shard_dir / f"{index:05d}.npz"

    def commit(self, index: int, arrays: dict[str, np.ndarray]) -> Path:
        """Write shard ``index`` once, atomically; :class:`ShardExistsError` if it exists."""
        final = self.path(index)
        tmp = self.shard_dir / f".{index:05d}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise ShardExistsError(f"Shard {index} of {str(self.dir)!r} is already committed; "
                                   "shards are written once.") from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.shard_dir)
        return final

    def load(self, index: int, keys: Any = None) -> dict[str, np.ndarray]:
        """The arrays of one shard (only ``keys`` when given: an npz loads lazily)."""
        with np.load(self.path(index)) as z:
            names = z.files if keys is None else [k for k in z.files if _wanted(k, keys)]
            return {k: z[k] for k in names}

    def iter(self, keys: Any = None) -> Iterator[dict[str, np.ndarray]]:
        for i in self.done():
            yield self.load(i, keys)


def _wanted(name: str, keys) -> bool:
    return any(name == k or (k.endswith("*") and name.startswith(k[:-1])) for k in keys)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def audit_dirs(run_dir: str | Path) -> list[Path]:
    """The audits of a run directory (those with a spec)."""
    root = Path(run_dir) / "audit"
    return sorted(p.parent for p in root.glob("*/spec.json")) if root.is_dir() else []
