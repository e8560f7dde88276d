"""Localisation scores: does an attribution map point at the pixels that really decide the
class? They need a ground-truth mask per example (e.g. :func:`neuralscope.data.make_scenes`).

* :func:`pointing_game` (Zhang et al. 2016, "Top-down neural attention by excitation
  backprop", ECCV): 1 when the map's maximum lies on the object, else 0.
* :func:`relevance_mass_accuracy` (Arras, Osman and Samek 2022, "CLEVR-XAI", Information
  Fusion 81): the share of the map's positive relevance that falls on the object.
* :func:`relevance_rank_accuracy` (same paper): with ``K`` object pixels, the share of the
  map's ``K`` highest-ranked pixels that lie on the object.

Maps are channel-summed 2-D maps (``Attribution.maps()``); only positive relevance counts,
as in CLEVR-XAI. A map equal to the mask scores 1 everywhere, a map off the object 0, and a
uniform map the object's area fraction: ties at the maximum (pointing game) or at the K-th
rank (rank accuracy) are shared in proportion, the expected score of breaking them at random.
Quantus's ``PointingGame`` counts any tied maximum on the object as a hit (a uniform map
scores 1) — the one deliberate difference; on maps without ties the scores are the same.
An example whose mask is empty, or whose map has no positive value, scores NaN.

Everything is vectorised over the batch (no loop over examples).

Example:
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 4), bool); mask[0, :2, :2] = True
    >>> scores = localization(mask.astype(float), mask)
    >>> {k: float(v[0]) for k, v in scores.items()}
    {'pointing_game': 1.0, 'mass_accuracy': 1.0, 'rank_accuracy': 1.0}
    >>> float(relevance_mass_accuracy(np.ones((1, 4, 4)), mask)[0])
    0.25
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputShapeError

SCORES = ("pointing_game", "mass_accuracy", "rank_accuracy")


def _prepare(maps: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(N, P)`` positive relevance and ``(N, P)`` bool masks, checked against each other."""
    from .result import Attribution

    a = maps.maps() if isinstance(maps, Attribution) else maps
    a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float64)
    m = np.asarray(masks.detach().cpu() if hasattr(masks, "detach") else masks)
    if a.ndim == m.ndim + 1 and a.shape[1] in (1, 3) and a.shape[2:] == m.shape[1:]:
        a = a.sum(1)  # (N, C, H, W) input-shaped maps: sum the channels
    if a.shape != m.shape:
        raise InputShapeError(f"Attribution maps of shape {a.shape} do not match masks of shape {m.shape}; "
                              "give one (H, W) mask per example, the size of the map.")
    n = a.shape[0]
    return np.clip(a.reshape(n, -1), 0, None), m.reshape(n, -1).astype(bool)


def _undefined(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    return (m.sum(1) == 0) | (a.max(1) <= 0)


def pointing_game(maps: Any, masks: Any) -> np.ndarray:
    """``(N,)``: 1 when the map's maximum is on the object, 0 when it is off; ties at the
    maximum count in proportion (see the module docstring)."""
    a, m = _prepare(maps, masks)
    top = a == a.max(1, keepdims=True)
    score = (top & m).sum(1) / top.sum(1)
    return np.where(_undefined(a, m), np.nan, score)


def relevance_mass_accuracy(maps: Any, masks: Any) -> np.ndarray:
    """``(N,)``: positive relevance on the object divided by all positive relevance."""
    a, m = _prepare(maps, masks)
    total = a.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (a * m).sum(1) / total
    return np.where(_undefined(a, m), np.nan, score)


def relevance_rank_accuracy(maps: Any, masks: Any) -> np.ndarray:
    """``(N,)``: the share of the ``K`` top-ranked pixels on the object (``K`` = object size)."""
    a, m = _prepare(maps, masks)
    k = m.sum(1)
    ordered = -np.sort(-a, axis=1)
    kth = ordered[np.arange(len(a)), np.clip(k - 1, 0, a.shape[1] - 1)][:, None]
    above, tied = a > kth, a == kth
    n_above = above.sum(1)
    # the slots left after the pixels above the K-th value go to the tied ones in proportion
    hits = (above & m).sum(1) + (k - n_above) * (tied & m).sum(1) / np.maximum(tied.sum(1), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = hits / k
    return np.where(_undefined(a, m), np.nan, score)


def localization(maps: Any, masks: Any) -> dict[str, np.ndarray]:
    """All three scores per example: ``{"pointing_game", "mass_accuracy", "rank_accuracy"}``.

    ``maps``: an :class:`~neuralscope.attribution.Attribution`, or ``(N, H, W)`` /
    ``(N, C, H, W)`` arrays or tensors; ``masks``: ``(N, H, W)`` bools.
    """
    return {"pointing_game": pointing_game(maps, masks), "mass_accuracy": relevance_mass_accuracy(maps, masks),
            "rank_accuracy": relevance_rank_accuracy(maps, masks)}


def random_map_scores(masks: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """The scores of uniformly random maps on the same masks: the chance level to beat."""
    m = np.asarray(masks.detach().cpu() if hasattr(masks, "detach") else masks)
    return localization(np.random.default_rng(seed).random(m.shape), m)


__all__ = [
    "SCORES",
    "localization",
    "pointing_game",
    "random_map_scores",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
]
