"""``AttentionMaps``: the attention of every head of every layer, and its views."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..result import Result
from . import rollout as agg

#: sequences this long or longer are drawn sparsely (top-k keys per query) and scroll
LONG_SEQUENCE = 512


class AttentionMaps(Result):
    """Attention weights of shape ``(batch, layers, heads, queries, keys)`` plus labels.

    Attributes:
        weights: float32 numpy array; each valid row sums to 1.
        layer_names: one name per layer (the module that computed it).
        tokens: per example, the token strings (or ``None``).
        mask: ``(batch, keys)`` booleans marking real (non-padding) tokens, or ``None``.
        source: how the maps were captured (``"hf"``, ``"mha"``, ``"sdpa"``, ``"array"``).

    Example:
        >>> w = np.full((1, 2, 3, 4, 4), 0.25, dtype=np.float32)
        >>> maps = AttentionMaps(w, ["l0", "l1"], tokens=[["a", "b", "c", "d"]])
        >>> maps.rollout().shape, maps.num_heads
        ((4, 4), 3)
    """

    kind = "attention"
    schema = {"kind": "str", "source": "str", "weights": "float[b, l, h, q, k]", "layer_names": ["str"],
              "tokens": "any", "mask": "any", "shape": {"batch": "int", "layers": "int", "heads": "int",
                                                        "queries": "int", "keys": "int"}}

    def __init__(self, weights: np.ndarray, layer_names: Sequence[str], tokens: list[list[str]] | None = None,
                 mask: np.ndarray | None = None, source: str = "array"):
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim != 5:
            raise ValueError(f"weights must be (batch, layers, heads, queries, keys), got shape {weights.shape}.")
        self.weights = weights
        self.layer_names = list(layer_names)
        self.tokens = tokens
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.source = source

    # -- shape helpers ------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return self.weights.shape[1]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[2]

    def _example_index(self, example: int) -> int:
        b = self.weights.shape[0]
        if not -b <= example < b:
            raise IndexError(f"example {example} is out of range for a batch of {b}.")
        return example % b

    def valid(self, example: int = 0) -> np.ndarray:
        """Indices of the real (non-padding) tokens of ``example``."""
        e = self._example_index(example)
        if self.mask is None:
            return np.arange(self.weights.shape[-1])
        return np.nonzero(self.mask[e])[0]

    def example(self, example: int = 0) -> np.ndarray:
        """``(layers, heads, n, n)`` for one example, padding removed."""
        e = self._example_index(example)
        idx = self.valid(e)
        w = self.weights[e]
        if w.shape[-2] == w.shape[-1]:
            return w[:, :, idx][:, :, :, idx]
        return w[..., idx]

    def labels(self, example: int = 0) -> list[str]:
        """Token strings of ``example`` (padding removed); positions when none were given."""
        e = self._example_index(example)
        idx = self.valid(e)
        if self.tokens is None:
            return [str(i) for i in idx]
        return [self.tokens[e][i] for i in idx]

    def _layer(self, layer: int) -> int:
        if not -self.num_layers <= layer < self.num_layers:
            raise IndexError(f"layer {layer} is out of range for {self.num_layers} layers.")
        return layer % self.num_layers

    def _head(self, head) -> int | str:
        if head in ("mean", "max"):
            return head
        if not -self.num_heads <= int(head) < self.num_heads:
            raise IndexError(f"head {head} is out of range for {self.num_heads} heads.")
        return int(head) % self.num_heads

    def head_map(self, layer: int = -1, head: int | str = 0, example: int = 0) -> np.ndarray:
        """One ``(n, n)`` map; ``head="mean"`` or ``"max"`` fuses the layer's heads."""
        w = self.example(example)[self._layer(layer)]
        h = self._head(head)
        if h == "mean":
            return w.mean(0)
        if h == "max":
            return w.max(0)
        return w[h]

    # -- aggregations -------------------------------------------------------------------------------
    def head_average(self, example: int = 0, fusion: str = "mean") -> np.ndarray:
        """``(layers, n, n)``: the heads of each layer fused (see :func:`rollout.head_average`)."""
        return agg.head_average(self.example(example), fusion)

    def rollout(self, example: int = 0, fusion: str = "mean", cumulative: bool = False) -> np.ndarray:
        """Attention rollout (Abnar & Zuidema 2020) for one example: ``(n, n)``."""
        return agg.rollout(self.example(example), fusion, cumulative=cumulative)

    def flow(self, example: int = 0, fusion: str = "mean", queries=None, max_tokens: int = 128) -> np.ndarray:
        """Attention flow (Abnar & Zuidema 2020) for one example: ``(n, n)`` max-flow values."""
        return agg.attention_flow(self.example(example), fusion, queries=queries, max_tokens=max_tokens)

    def head_stats(self, example: int = 0, special: Sequence[int] | None = None) -> "HeadStats":
        """Per-head statistics (entropy, distance to diagonal, attention to special tokens)."""
        labels = self.labels(example) if self.tokens is not None else None
        pos = agg.special_positions(labels, len(self.valid(example))) if special is None else special
        return HeadStats(agg.head_statistics(self.example(example), pos), self.layer_names)

    # -- Result interface -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source, "weights": self.weights,
                "layer_names": self.layer_names, "tokens": self.tokens,
                "mask": self.mask, "shape": {"batch": self.weights.shape[0], "layers": self.num_layers,
                                             "heads": self.num_heads, "queries": self.weights.shape[3],
                                             "keys": self.weights.shape[4]}}

    def _title(self) -> str:
        return f"Attention: {self.num_layers} layers x {self.num_heads} heads"

    def plot(self, ax=None, layer: int = -1, head: int | str = 0, example: int = 0,
             top_k: int | None = None, cmap: str = "viridis"):
        """One head as a heatmap (query rows, key columns) with token labels.

        Sequences of :data:`LONG_SEQUENCE` tokens or more (or ``top_k`` given) are drawn
        sparsely: each query's ``top_k`` strongest keys as dots whose opacity is the weight.
        """
        from .views import plot_head

        return plot_head(self, ax=ax, layer=layer, head=head, example=example, top_k=top_k, cmap=cmap)

    def plot_model_view(self, example: int = 0, layers=None, heads=None, thumb: float = 1.3):
        """All heads of all layers as a grid of thumbnails (rows: layers, columns: heads)."""
        from .views import plot_model_view

        return plot_model_view(self, example=example, layers=layers, heads=heads, thumb=thumb)

    def plot_from_token(self, token: int | str, example: int = 0, head: int | str = "mean", ax=None):
        """Attention from one query token to every key, one row per layer, plus the rollout."""
        from .views import plot_from_token

        return plot_from_token(self, token, example=example, head=head, ax=ax)

    def plot_image(self, image, example: int = 0, layer: int | str = "rollout", head: int | str = "mean",
                   query: int = 0, ax=None, alpha: float = 0.55):
        """ViT: the class token's attention on the image patches, overlaid on ``image``."""
        from .views import plot_image

        return plot_image(self, image, example=example, layer=layer, head=head, query=query, ax=ax, alpha=alpha)

    def patch_map(self, example: int = 0, layer: int | str = "rollout", head: int | str = "mean",
                  query: int = 0, prefix_tokens: int = 1) -> np.ndarray:
        """``(g, g)`` grid: attention of token ``query`` on the image patches (ViT layout:
        ``prefix_tokens`` class/register tokens first, then ``g*g`` patches row by row)."""
        if layer == "rollout":
            row = self.rollout(example)[query]
        else:
            row = self.head_map(layer, head, example)[query]
        patches = row[prefix_tokens:]
        g = int(round(np.sqrt(patches.size)))
        if g * g != patches.size:
            raise ValueError(f"{patches.size} keys after {prefix_tokens} prefix token(s) do not form a square "
                             "patch grid; set prefix_tokens.")
        return patches.reshape(g, g)

    def to_html(self, example: int = 0, top_k: int | None = None) -> str:
        """The interactive head view (single self-contained file, no network)."""
        from .headview import head_view_page

        return head_view_page(self, example=example, top_k=top_k)


class HeadStats(Result):
    """Per-head statistics, each an array of shape ``(layers, heads)``.

    Example:
        >>> s = HeadStats({"entropy": np.zeros((2, 3))}, ["a", "b"])
        >>> s.top("entropy", 1, largest=False)
        [(0, 0, 0.0)]
    """

    kind = "attention_head_stats"
    #: one ``(layers, heads)`` array per statistic of :func:`~neuralscope.attention.rollout.head_statistics`
    schema = {"kind": "str", "layer_names": "str[l]", "entropy?": "float[l, h]", "entropy_ratio?": "float[l, h]",
              "diagonal_distance?": "float[l, h]", "previous_token?": "float[l, h]", "special?": "float[l, h]",
              "max_weight?": "float[l, h]"}
    LABELS = {"entropy": "entropy (nats)", "entropy_ratio": "entropy / log n", "diagonal_distance":
              "mean distance to diagonal (tokens)", "previous_token": "weight on previous token",
              "special": "mass on special tokens", "max_weight": "mean max weight"}

    def __init__(self, stats: dict[str, np.ndarray], layer_names: Sequence[str]):
        self.stats = {k: np.asarray(v, dtype=float) for k, v in stats.items()}
        self.layer_names = list(layer_names)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.stats[name]

    def top(self, name: str, n: int = 5, largest: bool = True) -> list[tuple[int, int, float]]:
        """The ``n`` heads with the largest (or smallest) value: ``(layer, head, value)``."""
        v = self.stats[name]
        order = np.argsort(v, axis=None)
        if largest:
            order = order[::-1]
        out = []
        for flat in order[:n]:
            l, h = np.unravel_index(flat, v.shape)
            out.append((int(l), int(h), float(v[l, h])))
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layer_names": self.layer_names, **self.stats}

    def plot(self, ax=None, names: Sequence[str] = ("entropy_ratio", "diagonal_distance", "special")):
        import matplotlib.pyplot as plt

        names = [n for n in names if n in self.stats]
        if ax is None:
            L, H = next(iter(self.stats.values())).shape
            fig, axes = plt.subplots(1, len(names), figsize=(max(3.0, 0.32 * H + 1.6) * len(names), 0.32 * L + 1.8),
                                     squeeze=False, constrained_layout=True)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
        for a, name in zip(axes, names):
            v = self.stats[name]
            im = a.imshow(v, cmap="magma", aspect="auto")
            a.set_xlabel("head")
            a.set_ylabel("layer")
            a.set_title(self.LABELS.get(name, name), fontsize=10)
            a.set_xticks(range(v.shape[1]))
            a.set_yticks(range(v.shape[0]))
            a.figure.colorbar(im, ax=a, shrink=0.85)
        return axes


def from_array(weights: Any, tokens: list[str] | None = None) -> AttentionMaps:
    """Wrap ``(layers, heads, n, n)`` or ``(batch, layers, heads, n, n)`` weights you computed.

    Example:
        >>> from_array(np.full((1, 1, 2, 2), 0.5)).weights.shape
        (1, 1, 1, 2, 2)
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim == 4:
        w = w[None]
    toks = None if tokens is None else [list(tokens)] * w.shape[0]
    return AttentionMaps(w, [f"layer {i}" for i in range(w.shape[1])], tokens=toks)
