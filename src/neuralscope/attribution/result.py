"""The :class:`Attribution` result: per-example maps plus everything needed to read them
(method, targets, options, model outputs, metrics), drawn as an overlay on images,
coloured tokens for text or a bar chart for tabular features."""
from __future__ import annotations

import html as _html
from typing import Any, Sequence

import numpy as np

from ..result import Result, new_axes, standalone_page

SIGNED_CMAP = "RdBu_r"
UNSIGNED_CMAP = "inferno"


def symmetric_limit(values: np.ndarray, q: float = 99.5) -> float:
    """A robust symmetric colour limit: the ``q``-th percentile of ``|values|`` (never 0)."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    lim = float(np.percentile(v, q))
    if lim <= 0:
        lim = float(v.max())
    return lim if lim > 0 else 1.0


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


#: the ``to_dict()`` of an attribution of one input (:class:`Attribution`'s ``schema``):
#: ``b`` examples; maps and inputs keep their own layout (images, tokens, tabular columns)
ONE_INPUT_SCHEMA = {"kind": "str", "method": "str", "paper": "str", "modality": "str", "signed": "bool",
                    "targets": "int[b]?", "attributions": "float[b, ...]", "inputs": "number[b, ...]?",
                    "outputs": "float[b, ...]?", "options": "dict", "metrics": "dict", "tokens": "str[b, *]?",
                    "feature_names": "str[*]?", "layer": "str?", "extras": "dict", "layout?": "str"}


class Attribution(Result):
    """Attributions of a batch of inputs for one method.

    Attributes: ``attributions`` (numpy, input-shaped or ``(B, H, W)`` for CAM maps),
    ``inputs``, ``method``, ``targets`` (class index per example or ``None`` for a callable
    target), ``outputs`` (the model's output on the inputs), ``options``, ``metrics`` (e.g.
    IG's ``completeness_error`` and ``steps``), ``signed``, ``tokens`` (text),
    ``feature_names`` (tabular), ``layer`` (layer/CAM methods), ``extras``.

    Example:
        >>> import torch
        >>> from neuralscope.zoo import DigitsCNN
        >>> from neuralscope.attribution import explain
        >>> net = DigitsCNN().eval()
        >>> r = explain(net, net.example_input(2), method="saliency")
        >>> r.maps().shape
        (2, 8, 8)
    """

    kind = "attribution"
    #: one input's document; several inputs add ``input_names`` and ``parts`` (one one-input
    #: document each); ``layout`` is written for channels-last inputs only
    schema = {**ONE_INPUT_SCHEMA, "input_names?": "str[*]", "parts?": [ONE_INPUT_SCHEMA]}

    def __init__(self, attributions: np.ndarray, inputs: np.ndarray | None, method: str, *,
                 targets: list | None = None, outputs: np.ndarray | None = None, options: dict | None = None,
                 metrics: dict | None = None, signed: bool = True, extras: dict | None = None, paper: str = "",
                 tokens: list[list[str]] | None = None, feature_names: list[str] | None = None,
                 layer: str | None = None):
        several = isinstance(attributions, (tuple, list))
        self.attributions = tuple(map(np.asarray, attributions)) if several else np.asarray(attributions)
        self.inputs = None if inputs is None else (tuple(map(np.asarray, inputs)) if several else np.asarray(inputs))
        self.method, self.targets, self.outputs = method, targets, outputs
        self.options, self.metrics = dict(options or {}), dict(metrics or {})
        self.signed, self.extras, self.paper = bool(signed), dict(extras or {}), paper
        self.tokens, self.feature_names, self.layer = tokens, feature_names, layer
        #: for a model with several inputs: their names; ``attributions`` and ``inputs`` are
        #: then tuples with one array per input (as Captum returns for a tuple of inputs)
        self.input_names: list[str] | None = [f"input {i}" for i in range(len(self.attributions))] if several else None
        #: ``"channels_first"`` or ``"channels_last"`` (Keras images): the layout of
        #: input-shaped ``attributions`` and ``inputs``, the user's own
        self.layout = "channels_first"

    # -- several inputs ----------------------------------------------------------------------
    @property
    def several_inputs(self) -> bool:
        return self.input_names is not None

    def split_inputs(self, packing) -> "Attribution":
        """This result of a packed model (:mod:`neuralscope.adapters.packing`) with input-shaped
        maps split into one map per input; maps of a hidden layer (CAM) stay as they are."""
        a = self.attributions
        if a.ndim != 2 or a.shape[1] != sum(packing.sizes) or self.inputs is None:
            self.inputs = None  # a layer map: it belongs to no single input
            return self
        self.attributions = tuple(packing.unpack(a))
        self.inputs = tuple(packing.unpack(self.inputs))
        if "baseline" in self.extras and np.ndim(self.extras["baseline"]) == 2:
            self.extras["baseline"] = tuple(packing.unpack(np.asarray(self.extras["baseline"])))
        self.input_names = packing.labels
        return self

    def parts(self) -> list["Attribution"]:
        """One single-input :class:`Attribution` per input (the result itself for one input);
        targets, outputs and metrics are shared, the maps are each input's own."""
        if not self.several_inputs:
            return [self]
        out = []
        for name, a, x in zip(self.input_names, self.attributions, self.inputs):
            extras = {k: v for k, v in self.extras.items() if k != "baseline"}
            part = Attribution(a, x, self.method, targets=self.targets, outputs=self.outputs, options=self.options,
                               metrics=self.metrics, signed=self.signed, extras=extras, paper=self.paper,
                               layer=self.layer)
            part.layout, part.input_name = self.layout, name
            out.append(part)
        return out

    def __getitem__(self, name: str | int) -> "Attribution":
        """The part of one input, by name (dict inputs) or position."""
        parts = self.parts()
        if isinstance(name, int):
            return parts[name]
        names = self.input_names or []
        if name not in names:
            raise KeyError(f"No input named {name!r}; the inputs are {', '.join(map(repr, names))}.")
        return parts[names.index(name)]

    # -- views of the data ---------------------------------------------------------------
    def __len__(self) -> int:
        first = self.attributions[0] if self.several_inputs else self.attributions
        return int(np.asarray(first).shape[0])

    @property
    def modality(self) -> str:
        """``"text"``, ``"image"``, ``"signal"``, ``"tabular"`` or ``"array"``: how it is drawn."""
        if self.tokens is not None:
            return "text"
        if self.several_inputs:
            return "several"
        if (self.inputs is not None and self.inputs.ndim == 3 and self.attributions.ndim in (2, 3)
                and self.attributions.shape[-1] == self.inputs.shape[-1]):
            return "signal"  # (batch, channels, length), maps per channel or one CAM per signal
        if self.inputs is not None and self.inputs.ndim == 4 and self.attributions.ndim in (3, 4):
            return "image"
        if self.attributions.ndim == 2:
            return "tabular"
        return "array"

    def maps(self) -> np.ndarray:
        """One 2-D map per example for images (channels summed), the attributions otherwise."""
        if self.several_inputs:
            return tuple(p.maps() for p in self.parts())
        a = self.attributions
        if self.modality == "image" and a.ndim == 4:
            return a.sum(-1 if self.layout == "channels_last" else 1)
        return a

    def token_scores(self) -> np.ndarray:
        """One score per token ``(B, T)`` for text (embedding dimensions summed)."""
        a = self.attributions
        return a.sum(-1) if a.ndim == 3 else a

    def probabilities(self) -> np.ndarray | None:
        if self.outputs is None or np.asarray(self.outputs).ndim != 2:
            return None
        return softmax(np.asarray(self.outputs, dtype=float))

    def to_dict(self) -> dict:
        """The dashboard schema. Several inputs: the first input's fields as for one input (so
        readers of one-input results keep working), plus ``input_names`` and ``parts`` (one
        one-input dict per input)."""
        if self.several_inputs:
            parts = [p.to_dict() for p in self.parts()]
            return {**parts[0], "modality": "several", "input_names": list(self.input_names), "parts": parts}
        d = self._one_dict()
        if self.layout != "channels_first":
            d["layout"] = self.layout
        return d

    def _one_dict(self) -> dict:
        return {"kind": self.kind, "method": self.method, "paper": self.paper, "modality": self.modality,
                "signed": self.signed, "targets": self.targets, "attributions": self.attributions,
                "inputs": self.inputs, "outputs": self.outputs, "options": self.options,
                "metrics": self.metrics, "tokens": self.tokens, "feature_names": self.feature_names,
                "layer": self.layer, "extras": self.extras}

    def _title(self) -> str:
        return f"Attribution: {self.method}" + (f" at {self.layer}" if self.layer else "")

    def _label(self, i: int) -> str:
        p = self.probabilities()
        if self.targets is not None:
            t = self.targets[i]
            return f"#{i} target {t}" + (f" (p={p[i, t]:.2f})" if p is not None else "")
        return f"#{i}"

    # -- drawing -----------------------------------------------------------------------------
    def norm(self, values: np.ndarray | None = None):
        """The colour normalisation: symmetric around 0 for signed maps, [0, max] otherwise."""
        from matplotlib.colors import Normalize

        values = self.maps() if values is None else values
        lim = symmetric_limit(values)
        return Normalize(-lim, lim) if self.signed else Normalize(0, lim)

    @property
    def cmap(self) -> str:
        return SIGNED_CMAP if self.signed else UNSIGNED_CMAP

    def plot(self, ax=None, index: int | Sequence[int] | None = None, alpha: float = 0.9, max_examples: int = 8,
             colorbar: bool = True, **kwargs):
        """Draw the attributions. Images: the input with the map overlaid (opacity grows with
        |value|, ``alpha`` at the colour limit), one panel per example and a colorbar;
        text: coloured tokens; tabular: a bar chart of the largest features.

        With ``ax`` one example (``index``, default 0) is drawn into it; otherwise a figure
        with up to ``max_examples`` examples is made and its axes are returned.
        """
        import matplotlib.pyplot as plt

        mod = self.modality
        if mod == "several":
            return self._plot_several(ax, index, alpha=alpha, max_examples=max_examples, colorbar=colorbar)
        if mod in ("tabular", "signal") and not (mod == "signal" and ax is not None):
            return self._plot_rows(ax, index, max_examples, **kwargs)
        if ax is not None or isinstance(index, int):
            i = 0 if index is None else int(index)
            ax = ax or new_axes((4, 4) if mod == "image" else (8, 3))
            self._draw_one(ax, i, alpha=alpha, colorbar=colorbar, **kwargs)
            return ax
        idx = list(range(min(len(self), max_examples))) if index is None else list(index)
        if mod == "image":
            fig, axes = plt.subplots(1, len(idx), figsize=(2.6 * len(idx) + 0.8, 3.0), squeeze=False)
            norm = self.norm(self.maps()[idx])
            for a, i in zip(axes[0], idx):
                self._draw_image(a, i, alpha=alpha, norm=norm)
            if colorbar:
                self._colorbar(fig, axes[0].tolist(), norm)
            fig.suptitle(self._title(), fontsize=11)
            return axes[0]
        fig, axes = plt.subplots(len(idx), 1, figsize=(9, 0.6 + 0.75 * len(idx) if mod == "text" else 2.6 * len(idx)),
                                 squeeze=False)
        for a, i in zip(axes[:, 0], idx):
            self._draw_one(a, i, alpha=alpha, colorbar=colorbar)
        fig.suptitle(self._title(), fontsize=11)
        fig.tight_layout()
        return axes[:, 0]

    def _plot_several(self, ax=None, index=None, alpha=0.9, max_examples=8, colorbar=True):
        """One row per input, one column per example (one example when ``ax`` is given:
        the inputs side by side in it is not possible, so each input gets its own inset)."""
        import matplotlib.pyplot as plt

        parts = self.parts()
        idx = ([0 if index is None else int(index)] if ax is not None or isinstance(index, int)
               else list(range(min(len(self), max_examples))) if index is None else list(index))
        fig, axes = plt.subplots(len(parts), len(idx), figsize=(2.8 * len(idx) + 1.2, 2.7 * len(parts)),
                                 squeeze=False, layout="constrained")
        for r, part in enumerate(parts):
            if part.modality == "image":  # one colour scale per input, one colorbar at the row's end
                norm = part.norm(part.maps()[idx])
                for c, i in enumerate(idx):
                    part._draw_image(axes[r, c], i, alpha=alpha, norm=norm)
                if colorbar:
                    part._colorbar(fig, list(axes[r]), norm)
            else:
                for c, i in enumerate(idx):
                    part._draw_one(axes[r, c], i, alpha=alpha, colorbar=colorbar and c == len(idx) - 1)
            axes[r, 0].set_ylabel(part.input_name, fontsize=9)
        fig.suptitle(self._title() + " — one row per input", fontsize=11)
        return axes

    def _colorbar(self, fig, axes, norm):
        import matplotlib.cm as cm

        sm = cm.ScalarMappable(norm=norm, cmap=self.cmap)
        cb = fig.colorbar(sm, ax=axes, fraction=0.046 if len(axes) == 1 else 0.02, pad=0.03)
        cb.set_label("attribution" + (" (signed)" if self.signed else ""))
        return cb

    def _plot_rows(self, ax, index, max_examples: int, **kwargs):
        """Tabular: the beeswarm summary of every row, or one row's waterfall (``index`` or
        ``ax`` given); signals: each channel with its attribution band beneath, for example
        ``index`` or the first ``max_examples`` (:mod:`neuralscope.plot.tabular`, :mod:`neuralscope.plot.signal`)."""
        from ..plot import signal, tabular

        if self.modality == "tabular":
            if ax is not None or isinstance(index, int):
                return tabular.waterfall(self, index or 0, ax=ax, **kwargs)
            return tabular.summary(self, **kwargs)
        if isinstance(index, int):
            return signal.plot_signal(self, index, **kwargs)
        return signal.plot_signals(self, max_examples=min(max_examples, 3), **kwargs)

    def _draw_one(self, ax, i, alpha=0.75, colorbar=True, **kwargs):
        mod = self.modality
        if mod == "image":
            norm = self.norm(self.maps()[i])
            self._draw_image(ax, i, alpha=alpha, norm=norm)
            if colorbar:
                self._colorbar(ax.figure, [ax], norm)
        elif mod == "text":
            self._draw_tokens(ax, i)
        elif mod == "tabular":
            self._draw_bars(ax, i, **kwargs)
        elif mod == "signal":
            from ..plot.signal import draw_compact

            draw_compact(self, ax, i, colorbar=colorbar)
        else:
            a = np.asarray(self.attributions[i])
            a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a[None]
            norm = self.norm(a)
            im = ax.imshow(a.T if a.shape[0] > a.shape[1] else a, cmap=self.cmap, norm=norm, aspect="auto",
                           interpolation="nearest")
            ax.set_xlabel("position")
            ax.set_ylabel("feature")
            ax.set_title(self._label(i), fontsize=9)
            if colorbar:
                ax.figure.colorbar(im, ax=ax, label="attribution")
        return ax

    def _input_image(self, i):
        if self.inputs is None:
            return None
        x = np.asarray(self.inputs[i], dtype=float)
        if x.ndim == 3 and self.layout == "channels_last":
            x = x[..., 0] if x.shape[-1] == 1 else x[..., :3]
        elif x.ndim == 3:
            x = x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1)
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if lo < 0 or hi > 1:
            x = (x - lo) / (hi - lo if hi > lo else 1.0)
        return x

    def _draw_image(self, ax, i, alpha, norm):
        import matplotlib

        m = self.maps()[i]
        img = self._input_image(i)
        h, w = m.shape
        interp = "nearest" if max(h, w) <= 32 else "bilinear"
        if img is not None:
            # the input is drawn dimmed and low-contrast so that the colours of the map stand out
            if img.ndim == 2:
                ax.imshow(img, cmap="gray", vmin=-0.5, vmax=1.9, interpolation=interp)
            else:
                ax.imshow(0.15 + 0.6 * np.clip(img, 0, 1), interpolation=interp)
        rgba = matplotlib.colormaps[self.cmap](norm(m))
        strength = np.clip(np.abs(m) / max(abs(norm.vmax), 1e-12), 0, 1) if self.signed else np.clip(norm(m), 0, 1)
        rgba[..., 3] = alpha * strength ** 0.7 if img is not None else 1.0
        ax.imshow(rgba, interpolation=interp, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(self._label(i), fontsize=9)

    def _draw_tokens(self, ax, i):
        import matplotlib
        import matplotlib.cm as cm

        scores = self.token_scores()[i]
        toks = self.tokens[i] if self.tokens and i < len(self.tokens) else [str(k) for k in range(len(scores))]
        norm = self.norm(scores)
        cmap = matplotlib.colormaps[self.cmap]
        ax.set_axis_off()
        fig = ax.figure
        renderer = fig.canvas.get_renderer()
        x, y, line_h = 0.0, 0.78, 0.3
        bbox_ax = ax.get_window_extent(renderer)
        for tok, s in zip(toks, scores):
            r, g, b, _ = cmap(norm(s))
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55
            t = ax.text(x, y, tok, transform=ax.transAxes, fontsize=10, family="monospace",
                        color="black" if light else "white", va="center",
                        bbox=dict(boxstyle="round,pad=0.25", fc=(r, g, b), ec="none"))
            width = t.get_window_extent(renderer).width / max(bbox_ax.width, 1)
            if x + width > 1.0 and x > 0:
                x, y = 0.0, y - line_h
                t.set_position((x, y))
            x += width + 0.012
        ax.set_title(self._label(i), fontsize=9, loc="left")
        sm = cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, orientation="vertical", fraction=0.03, pad=0.01, label="attribution")

    def _draw_bars(self, ax, i, top: int = 20):
        a = np.asarray(self.attributions[i], dtype=float).ravel()
        names = self.feature_names or [f"x{k}" for k in range(a.size)]
        order = np.argsort(-np.abs(a))[:top][::-1]
        colors = ["#b2182b" if a[k] > 0 else "#2166ac" for k in order]
        ax.barh(range(len(order)), a[order], color=colors)
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([names[k] for k in order], fontsize=8)
        ax.axvline(0, color="#444", lw=0.8)
        ax.set_xlabel("attribution")
        ax.set_title(self._label(i) + (f" — top {len(order)} of {a.size} features" if a.size > top else ""), fontsize=9)

    # -- html ------------------------------------------------------------------------------
    def to_html(self) -> str:
        return standalone_page(self._title(), self._html_fragment())

    def _html_fragment(self) -> str:
        meta = (f"<p><b>{_html.escape(self.method)}</b>" + (f" — {_html.escape(self.paper)}" if self.paper else "")
                + "</p>")
        if self.modality == "text":
            return meta + self.tokens_html()
        return meta + super()._html_fragment() + self._metrics_html()

    def _metrics_html(self) -> str:
        rows = []
        for k, v in self.metrics.items():
            arr = np.atleast_1d(np.asarray(v, dtype=float)) if _numeric(v) else None
            if arr is None:
                continue
            rows.append(f"<tr><td>{_html.escape(k)}</td>" + "".join(f"<td>{x:.4g}</td>" for x in arr[:16]) + "</tr>")
        return f"<table>{''.join(rows)}</table>" if rows else ""

    def tokens_html(self) -> str:
        """Coloured tokens as HTML spans (one line per example), with a value on hover."""
        import matplotlib

        scores = self.token_scores()
        norm = self.norm(scores)
        cmap = matplotlib.colormaps[self.cmap]
        lines = []
        for i, row in enumerate(scores):
            toks = self.tokens[i] if self.tokens else [str(k) for k in range(len(row))]
            spans = []
            for tok, s in zip(toks, row):
                r, g, b, _ = cmap(norm(s))
                fg = "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "#fff"
                spans.append(f'<span title="{s:.4g}" style="background:rgb({int(r*255)},{int(g*255)},{int(b*255)});'
                             f'color:{fg};padding:1px 3px;margin:1px;border-radius:3px;font-family:monospace">'
                             f"{_html.escape(tok)}</span>")
            lines.append(f"<div style='margin:6px 0'><small>{_html.escape(self._label(i))}</small><br>{''.join(spans)}</div>")
        return "".join(lines)


def _numeric(v: Any) -> bool:
    try:
        np.asarray(v, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


__all__ = ["Attribution", "symmetric_limit", "SIGNED_CMAP", "UNSIGNED_CMAP"]
