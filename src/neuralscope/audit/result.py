"""The result of an audit: what :func:`~neuralscope.audit.audit` returns, and what the
dashboard reads back from a run directory (:meth:`AuditResult.load`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..result import Result, jsonable
from . import aggregate
from .shards import ShardStore


class AuditResult(Result):
    """A whole-data-set audit. ``summary`` holds the merged numbers (``n``,
    ``class_counts``, ``mean_maps`` per method, ``distributions`` per score, ``worst``
    example indices per score, ``layers`` with statistics and dead units); :meth:`table`
    the per-example columns; :meth:`thumbnails` the small images; ``projection`` the 2-D
    coordinates of the embedded layer (``None`` without one). ``computed`` lists the shards
    this call computed (the others were found finished)."""

    kind = "audit"
    #: ``k`` classes; ``worst``, ``mean_maps`` and ``distributions`` are keyed by score or
    #: method, ``layers`` by layer name
    schema = {"kind": "str", "name": "str", "directory": "str", "n": "int", "spec": "dict", "engine": "str",
              "seconds": "float", "computed": "int[*]", "class_counts": "int[k]", "worst": {"*": "int[*]"},
              "mean_maps": {"*": "float[k, ...]"},
              "distributions": {"*": {"edges": "float[*]", "counts": "float[k, *]", "class_means": "float[k]",
                                      "mean": "float"}},
              "layers": {"*": {"count": "int", "mean": "float", "std": "float", "min": "float", "max": "float",
                               "zero_fraction": "float", "nonfinite": "int", "units?": "int", "dead_units?": "int[*]"}},
              "has_projection": "bool"}

    def __init__(self, directory: str | Path, summary: dict[str, Any], *, projection: np.ndarray | None = None,
                 computed: list[int] | None = None, engine: str = "local", seconds: float = 0.0):
        self.store = ShardStore(directory)
        self.directory = Path(directory)
        self.summary, self.projection = summary, projection
        self.computed, self.engine, self.seconds = list(computed or []), engine, seconds

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def spec(self) -> dict:
        return self.store.spec()

    @property
    def n(self) -> int:
        return int(self.summary["n"])

    def table(self) -> dict[str, np.ndarray]:
        """Per-example columns (``index``, ``label``, ``pred``, ``prob``, ``loss``, one per
        score), in shard order, read from the shard files."""
        return aggregate.table(self.store)

    def thumbnails(self, key: str = "input", indices: Any = None) -> np.ndarray:
        """uint8 thumbnails (``key`` = ``"input"`` or a method) of ``indices`` (all by default)."""
        size = self.spec["shard_size"]
        idx = np.arange(self.n) if indices is None else np.asarray(indices, dtype=np.int64)
        out = None
        for shard in np.unique(idx // size):
            z = self.store.load(int(shard), [f"thumb/{key}"])[f"thumb/{key}"]
            sel = idx // size == shard
            out = np.zeros((len(idx),) + z.shape[1:], np.uint8) if out is None else out
            out[sel] = z[idx[sel] - shard * size]
        return out if out is not None else np.zeros((0,), np.uint8)

    def to_dict(self) -> dict:
        s = self.summary
        return {"kind": self.kind, "name": self.name, "directory": str(self.directory), "n": self.n,
                "spec": self.spec, "engine": self.engine, "seconds": self.seconds, "computed": self.computed,
                "class_counts": s["class_counts"], "worst": s["worst"], "mean_maps": s["mean_maps"],
                "distributions": s["distributions"],
                "layers": {k: {kk: vv for kk, vv in v.items() if kk != "active_fraction"}
                           for k, v in s["layers"].items()},
                "has_projection": self.projection is not None}

    def save_summary(self) -> None:
        doc = json.dumps(jsonable(self.to_dict()))
        tmp = self.directory / ".summary.json.tmp"
        tmp.write_text(doc)
        tmp.replace(self.directory / "summary.json")
        if self.projection is not None:
            np.save(self.directory / "projection.npy", self.projection.astype(np.float32))

    @classmethod
    def load(cls, directory: str | Path) -> "AuditResult":
        """Re-read a finished audit (merged again from its shards)."""
        d = Path(directory)
        proj = np.load(d / "projection.npy") if (d / "projection.npy").exists() else None
        return cls(d, aggregate.merge(ShardStore(d)), projection=proj)

    def _title(self) -> str:
        return f"Audit {self.name!r}: {self.n} examples"

    def plot(self, ax=None, score: str | None = None, **kwargs):
        """Per-class distributions of ``score`` (the first score by default) as box plots."""
        import matplotlib.pyplot as plt

        from ..result import new_axes

        dist = self.summary["distributions"]
        score = score or next(iter(k for k in dist if k != "loss"), "loss")
        t = self.table()
        group = np.where(t["label"] >= 0, t["label"], t["pred"])
        classes = np.unique(group)
        ax = ax or new_axes((7, 3.6))
        ax.boxplot([t[score][group == c] for c in classes], tick_labels=[str(c) for c in classes],
                   showfliers=False)
        ax.set_xlabel("class")
        ax.set_ylabel(score)
        ax.set_title(f"{score} per class ({self.n} examples)", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        plt.setp(ax.get_xticklabels(), fontsize=8)
        return ax
