"""Where the examples of an audit come from, cut into shards of consecutive examples.

A source yields ``(shard, start, x, labels, masks)`` for the shards not yet finished. Data
with random access (tensors, arrays, map-style datasets, :class:`~neuralscope.data.scenes.Scenes`)
loads only the shards it computes; a DataLoader or any iterable of batches is read once in
order and the batches of finished shards are skipped without being computed. Only one
shard's examples are in memory at a time (streamed in).
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import numpy as np
import torch

from ..errors import InputShapeError


class Shard(NamedTuple):
    index: int
    start: int
    x: torch.Tensor
    labels: torch.Tensor | None
    masks: torch.Tensor | None


def _tensor(a: Any) -> torch.Tensor | None:
    if a is None:
        return None
    return a if torch.is_tensor(a) else torch.as_tensor(np.asarray(a))


class _Indexed:
    """Random access: tensors, arrays, Scenes, or a map-style dataset of (x, y[, mask]) items."""

    def __init__(self, get, n: int):
        self._get, self.n = get, n

    def shards(self, size: int, skip: set[int]) -> Iterator[Shard]:
        for k, start in enumerate(range(0, self.n, size)):
            if k not in skip:
                yield Shard(k, start, *self._get(start, min(start + size, self.n)))


class _Stream:
    """An iterable of batches ``x`` or ``(x, y[, masks])``, re-cut into shards."""

    def __init__(self, batches, n: int | None):
        self._batches, self.n = batches, n

    def shards(self, size: int, skip: set[int]) -> Iterator[Shard]:
        parts, have, k, start = [], 0, 0, 0
        for batch in self._batches:
            parts.append(_split_batch(batch))
            have += len(parts[-1][0])
            while have >= size:
                shard, parts = _take(parts, size)
                have -= size
                if k not in skip:
                    yield Shard(k, start, *shard)
                k, start = k + 1, start + size
        if have:
            shard, _ = _take(parts, have)
            if k not in skip:
                yield Shard(k, start, *shard)


def _split_batch(batch: Any) -> tuple:
    if isinstance(batch, dict):
        return tuple(_tensor(batch.get(k)) for k in ("x", "y", "masks")) if "x" in batch else (
            _tensor(batch.get("image", batch.get("images"))), _tensor(batch.get("label", batch.get("labels"))),
            _tensor(batch.get("mask", batch.get("masks"))))
    if isinstance(batch, (tuple, list)):
        parts = [_tensor(b) for b in batch[:3]]
        return tuple(parts + [None] * (3 - len(parts)))
    return _tensor(batch), None, None


def _take(parts: list, size: int) -> tuple[tuple, list]:
    """The first ``size`` examples of the buffered batches, and the rest."""
    out, rest, need = [], [], size
    for p in parts:
        if need <= 0:
            rest.append(p)
            continue
        m = len(p[0])
        if m <= need:
            out.append(p)
        else:
            out.append(tuple(None if t is None else t[:need] for t in p))
            rest.append(tuple(None if t is None else t[need:] for t in p))
        need -= min(m, need)
    cat = tuple(None if out[0][i] is None else torch.cat([o[i] for o in out]) for i in range(3))
    return cat, rest


def _dataset_get(ds):
    from torch.utils.data import default_collate

    def get(lo, hi):
        return _split_batch(default_collate([ds[i] for i in range(lo, hi)]))
    return get


def make_source(data: Any, labels: Any = None, masks: Any = None):
    """A source for tensors/arrays (with ``labels``/``masks``), ``(x, y[, masks])`` tuples,
    Scenes, map-style datasets, DataLoaders or any iterable of batches."""
    from torch.utils.data import DataLoader, Dataset

    if hasattr(data, "images") and hasattr(data, "labels") and hasattr(data, "masks"):  # Scenes
        data, labels, masks = data.images, data.labels, data.masks
    if isinstance(data, (tuple, list)) and data and all(torch.is_tensor(d) or isinstance(d, np.ndarray) for d in data):
        data, labels, masks = (list(data) + [None, None])[:3]
    if torch.is_tensor(data) or isinstance(data, np.ndarray):
        x, y, m = _tensor(data), _tensor(labels), _tensor(masks)
        for what, t in (("labels", y), ("masks", m)):
            if t is not None and len(t) != len(x):
                raise InputShapeError(f"{what} has {len(t)} entries but the data has {len(x)} examples; "
                                      f"give one per example.")
        return _Indexed(lambda lo, hi: (x[lo:hi], None if y is None else y[lo:hi],
                                        None if m is None else m[lo:hi]), len(x))
    if isinstance(data, DataLoader):
        n = len(data.dataset) if hasattr(data.dataset, "__len__") else None
        return _Stream(data, n)
    if isinstance(data, Dataset) and hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return _Indexed(_dataset_get(data), len(data))
    if hasattr(data, "__iter__"):
        return _Stream(data, len(data) if hasattr(data, "__len__") else None)
    raise InputShapeError(f"audit() reads tensors, arrays, (x, y[, masks]) tuples, datasets, DataLoaders or "
                          f"iterables of batches, not a {type(data).__name__}.")
