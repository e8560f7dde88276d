"""Aggregations of attention maps: head averaging, attention rollout, attention flow, and
per-head statistics.

Rollout and flow follow Abnar & Zuidema, "Quantifying Attention Flow in Transformers"
(ACL 2020, arXiv:2005.00928): each layer's head-averaged attention ``A`` is mixed with the
residual connection, ``Â = 0.5·A + 0.5·I`` (rows renormalised); rollout multiplies the
``Â`` of the layers (``Â_L ⋯ Â_1``); flow treats the layers as a graph whose edge capacities
are the ``Â`` weights and reports the maximum flow from each output token down to each
input token.

All functions here are pure numpy on arrays of shape ``(layers, heads, queries, keys)``
(or ``(layers, queries, keys)`` when heads are already fused).
"""
from __future__ import annotations

import numpy as np

SPECIAL_TOKENS = {"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "<cls>", "<sep>", "<|endoftext|>",
                  "<bos>", "<eos>", "[BOS]", "[EOS]"}


def head_average(weights: np.ndarray, fusion: str = "mean") -> np.ndarray:
    """Fuse the heads of ``(layers, heads, q, k)`` into ``(layers, q, k)``.

    ``fusion`` is ``"mean"`` (Abnar & Zuidema), ``"max"`` or ``"min"``.

    Example:
        >>> head_average(np.ones((2, 3, 4, 4)) / 4).shape
        (2, 4, 4)
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"head_average needs (layers, heads, q, k) weights, got shape {weights.shape}.")
    if fusion == "mean":
        return weights.mean(axis=1)
    if fusion == "max":
        return weights.max(axis=1)
    if fusion == "min":
        return weights.min(axis=1)
    raise ValueError(f"fusion must be 'mean', 'max' or 'min', not {fusion!r}.")


def _fused(weights: np.ndarray, fusion: str) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 4:
        weights = head_average(weights, fusion)
    if weights.ndim != 3 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError("rollout and flow need square self-attention maps of shape (layers, [heads,] n, n), "
                         f"got {weights.shape}.")
    return weights


def residual_attention(weights: np.ndarray, fusion: str = "mean", residual: float = 0.5) -> np.ndarray:
    """``Â = (1 - residual)·A + residual·I`` per layer, rows renormalised to sum to 1."""
    a = _fused(weights, fusion)
    n = a.shape[-1]
    a = (1.0 - residual) * a + residual * np.eye(n)[None]
    s = a.sum(-1, keepdims=True)
    return a / np.where(s == 0, 1.0, s)


def rollout(weights: np.ndarray, fusion: str = "mean", residual: float = 0.5,
            cumulative: bool = False) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): ``Â_L · … · Â_1``.

    Returns ``(n, n)``: row ``i`` says how much output token ``i`` of the last layer draws on
    each input token. ``cumulative=True`` returns ``(layers, n, n)``, the rollout up to each
    layer.

    Example:
        >>> w = np.full((2, 1, 3, 3), 1 / 3)
        >>> rollout(w).sum(-1).round(6).tolist()
        [1.0, 1.0, 1.0]
    """
    a = residual_attention(weights, fusion, residual)
    out = np.empty_like(a)
    acc = np.eye(a.shape[-1])
    for i in range(a.shape[0]):
        acc = a[i] @ acc
        out[i] = acc
    return out if cumulative else out[-1]


def attention_flow(weights: np.ndarray, fusion: str = "mean", residual: float = 0.5,
                   queries=None, max_tokens: int = 128, resolution: float = 1e-7) -> np.ndarray:
    """Attention flow (Abnar & Zuidema 2020) as a maximum flow through the layer graph.

    Node ``(l, i)`` is token ``i`` after layer ``l`` (``l = 0`` the input); the edge
    ``(l, i) -> (l-1, j)`` has capacity ``Â_l[i, j]``. Entry ``[i, j]`` of the result is the
    maximum flow from token ``i`` of the last layer to input token ``j``. Capacities are
    quantised to ``resolution`` for scipy's integer max-flow solver (push-relabel in C).

    ``queries`` limits the rows computed (an int or list of ints; other rows are NaN);
    sequences longer than ``max_tokens`` need it, since all rows cost ``n²`` max-flows.

    Example:
        >>> w = np.full((2, 1, 3, 3), 1 / 3)
        >>> attention_flow(w).shape
        (3, 3)
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    a = residual_attention(weights, fusion, residual)
    L, n, _ = a.shape
    if queries is None:
        if n > max_tokens:
            raise ValueError(f"attention_flow over all {n} tokens needs {n * n} max-flow solves; pass "
                             f"queries=[...] (e.g. queries=0 for the class token) or raise max_tokens.")
        rows = list(range(n))
    else:
        rows = [int(queries)] if np.isscalar(queries) else [int(q) for q in queries]
        bad = [q for q in rows if not -n <= q < n]
        if bad:
            raise ValueError(f"queries {bad} are out of range for {n} tokens.")
        rows = [q % n for q in rows]
    # node id of (layer l, token i) = l * n + i; edges go from layer l to layer l - 1
    cap = np.round(a / resolution).astype(np.int64)
    src, dst, val = [], [], []
    for l in range(1, L + 1):
        ii, jj = np.nonzero(cap[l - 1])
        src.append(l * n + ii)
        dst.append((l - 1) * n + jj)
        val.append(cap[l - 1][ii, jj])
    src, dst, val = np.concatenate(src), np.concatenate(dst), np.concatenate(val)
    if val.max(initial=0) > np.iinfo(np.int32).max:
        raise ValueError("resolution is too fine for scipy's int32 capacities; use resolution >= 1e-9.")
    graph = csr_matrix((val.astype(np.int32), (src, dst)), shape=((L + 1) * n, (L + 1) * n))
    out = np.full((n, n), np.nan)
    for i in rows:
        for j in range(n):
            out[i, j] = maximum_flow(graph, L * n + i, j).flow_value * resolution
    return out


def special_positions(tokens: list[str] | None, n: int) -> np.ndarray:
    """Indices of special tokens ([CLS], [SEP], <s>, ...); the first token when unnamed."""
    if tokens is None:
        return np.array([0])
    idx = [i for i, t in enumerate(tokens[:n]) if t in SPECIAL_TOKENS]
    return np.array(idx, dtype=int)


def head_statistics(weights: np.ndarray, special: np.ndarray | list[int] = (0,)) -> dict[str, np.ndarray]:
    """Per-head statistics of ``(layers, heads, n, n)`` maps (one example, no padding).

    - ``entropy``: mean over queries of the row entropy in nats (low: focused heads);
    - ``entropy_ratio``: the same divided by ``log(n)`` (1 = uniform attention);
    - ``diagonal_distance``: mean over queries of ``Σ_k a_qk |q - k|`` in tokens (0: each token
      attends to itself; about 1: to a neighbour);
    - ``previous_token``: mean weight on the key just before the query;
    - ``special``: mean attention mass on the ``special`` positions;
    - ``max_weight``: mean over queries of the largest weight.

    Example:
        >>> s = head_statistics(np.tile(np.eye(4), (1, 2, 1, 1)))
        >>> s["entropy"].tolist(), s["diagonal_distance"].tolist()
        ([[0.0, 0.0]], [[0.0, 0.0]])
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"head_statistics needs (layers, heads, q, k) weights, got shape {w.shape}.")
    q, k = w.shape[-2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log(w), 0.0)
    entropy = np.abs(-plogp.sum(-1).mean(-1))  # abs: no "-0.0" for one-hot rows
    dist = np.abs(np.arange(q)[:, None] - np.arange(k)[None, :])
    diag = (w * dist).sum(-1).mean(-1)
    prev = np.zeros(w.shape[:2])
    if q > 1 and k >= q:
        prev = w[..., np.arange(1, q), np.arange(0, q - 1)].mean(-1)
    special = np.asarray(list(special), dtype=int)
    spec = w[..., special].sum(-1).mean(-1) if special.size else np.zeros(w.shape[:2])
    return {
        "entropy": entropy,
        "entropy_ratio": entropy / np.log(k) if k > 1 else np.zeros_like(entropy),
        "diagonal_distance": diag,
        "previous_token": prev,
        "special": spec,
        "max_weight": w.max(-1).mean(-1),
    }
