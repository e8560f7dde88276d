"""Numbers over the whole audit, merged shard by shard (bounded memory): per-class mean
maps and score distributions, the worst examples by every score, layer statistics and dead
units, and the per-example table the dashboard sorts and filters."""
from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from .shards import ShardStore

COLUMNS = ("index", "label", "pred", "prob", "loss")
BINS = 20


def score_names(store: ShardStore) -> list[str]:
    done = store.done()
    if not done:
        return []
    with np.load(store.path(done[0])) as z:
        return sorted(k[len("score/"):] for k in z.files if k.startswith("score/"))


def lower_is_worse(score: str) -> bool:
    """Direction of a score: deletion AUC and infidelity are better when low."""
    return not (score.endswith("deletion_auc") or score.endswith("infidelity") or score == "loss")


def table(store: ShardStore, scores: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every per-example column (no thumbnails), concatenated over the committed shards."""
    cols: dict[str, list] = {}
    for z in store.iter(list(COLUMNS) + ["score/*"]):
        for k, v in z.items():
            name = k[len("score/"):] if k.startswith("score/") else k
            if scores is None or name in scores or k in COLUMNS:
                cols.setdefault(name, []).append(v)
    return {k: np.concatenate(v) for k, v in cols.items()}


class _Merger:
    """Accumulates one shard at a time."""

    def __init__(self, worst: int):
        self.worst_k, self.n = worst, 0
        self.classsum: dict[str, np.ndarray] = {}
        self.classcount: np.ndarray | None = None
        self.layers: dict[str, dict[str, np.ndarray]] = {}
        self.heaps: dict[str, list] = {}
        self.values: dict[str, list] = {}  # score -> [(class, value)] arrays, for histograms

    def add(self, z: dict[str, np.ndarray]) -> None:
        self.n += len(z["index"])
        group = np.where(z["label"] >= 0, z["label"], z["pred"])
        for key, v in z.items():
            if key.startswith("classsum/"):
                m = key.split("/", 1)[1]
                self.classsum[m] = self.classsum.get(m, 0) + v
            elif key == "classcount":
                self.classcount = v if self.classcount is None else self.classcount + v
            elif key.startswith("stats/"):
                layer, part = key[len("stats/"):].rsplit("/", 1)
                self._add_stats(layer, part, v)
            elif key.startswith("score/") or key == "loss":
                name = key[len("score/"):] if key.startswith("score/") else key
                self.values.setdefault(name, []).append((group, v))
                self._add_worst(name, z["index"], v)

    def _add_stats(self, layer: str, part: str, v: np.ndarray) -> None:
        d = self.layers.setdefault(layer, {})
        if part != "global" or part not in d:
            d[part] = d.get(part, 0) + v
            return
        old = d[part]  # count, sum, sumsq, min, max, zeros, nonfinite
        d[part] = np.array([old[0] + v[0], old[1] + v[1], old[2] + v[2], np.fmin(old[3], v[3]),
                            np.fmax(old[4], v[4]), old[5] + v[5], old[6] + v[6]])

    def _add_worst(self, name: str, index: np.ndarray, v: np.ndarray) -> None:
        sign = 1.0 if lower_is_worse(name) else -1.0  # keep the k smallest of sign * value
        heap = self.heaps.setdefault(name, [])
        ok = np.isfinite(v)
        keys, ids = sign * v[ok], index[ok]
        first = np.lexsort((ids, keys))[:self.worst_k]  # only a shard's k worst can enter the heap
        for i, val in zip(ids[first].tolist(), keys[first].tolist()):
            item = (-val, -i)
            if len(heap) < self.worst_k:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)

    def summary(self) -> dict[str, Any]:
        counts = self.classcount if self.classcount is not None else np.zeros(0, np.int64)
        mean_maps = {m: s / np.maximum(counts, 1).reshape((-1,) + (1,) * (s.ndim - 1))
                     for m, s in self.classsum.items()}
        worst = {name: [-i for _, i in sorted(heap, reverse=True)] for name, heap in self.heaps.items()}
        return {"n": self.n, "class_counts": counts, "mean_maps": mean_maps, "worst": worst,
                "distributions": {k: _distribution(v, len(counts)) for k, v in self.values.items()},
                "layers": {k: _layer_summary(d) for k, d in self.layers.items()}}


def _distribution(parts: list, k: int) -> dict[str, Any]:
    group = np.concatenate([g for g, _ in parts])
    v = np.concatenate([x for _, x in parts])
    ok = np.isfinite(v)
    lo, hi = (float(v[ok].min()), float(v[ok].max())) if ok.any() else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
    counts = np.stack([np.histogram(v[ok & (group == c)], edges)[0] for c in range(k)]) if k else np.zeros((0, BINS))
    means = np.array([np.nanmean(v[group == c]) if (group == c).any() else np.nan for c in range(k)])
    return {"edges": edges, "counts": counts, "class_means": means, "mean": float(np.nanmean(v)) if ok.any() else np.nan}


def _layer_summary(d: dict[str, np.ndarray]) -> dict[str, Any]:
    n, s, sq, lo, hi, zeros, nonfinite = d["global"]
    mean = s / n if n else np.nan
    out = {"count": int(n), "mean": mean, "std": float(np.sqrt(max(sq / n - mean ** 2, 0))) if n else np.nan,
           "min": lo, "max": hi, "zero_fraction": zeros / n if n else np.nan, "nonfinite": int(nonfinite)}
    if "active" in d:
        active = d["active"] / max(float(d["units"][0]), 1.0)
        out["units"] = int(active.size)
        broken = d["nan"] > 0 if "nan" in d else np.zeros(active.shape, bool)  # NaN: broken, not dead
        out["dead_units"] = np.flatnonzero((active == 0) & ~broken)
        out["active_fraction"] = active
    return out


def merge(store: ShardStore, worst: int = 16) -> dict[str, Any]:
    """The summary over every committed shard, reading one shard at a time (no thumbnails
    or features are held)."""
    m = _Merger(worst)
    for z in store.iter(list(COLUMNS) + ["score/*", "classsum/*", "classcount", "stats/*"]):
        m.add(z)
    return m.summary()
