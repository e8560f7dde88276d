"""Views of what a network's units compute on real inputs: feature maps, a unit's
activations and its top-k inputs, activation heatmaps and histograms, dead and saturated
units, and RNN hidden states over time.

Every function runs the model in evaluation mode (``eval=True``, the default) without
gradients, in batches, and leaves the model exactly as it found it.

Example:
    >>> from neuralscope.zoo import DigitsCNN
    >>> from neuralscope.inspect.activations import feature_maps
    >>> net = DigitsCNN()
    >>> feature_maps(net, net.example_input(2), "features.2").maps.shape
    (32, 8, 8)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import plot as P
from ..adapters import for_model
from ..capture import LayerNotRunError
from ..errors import InputShapeError, LayerNotFoundError, check_batch
from ..histogram import histogram
from ..nonlinearities import Nonlinearity, dead_mask, nonlinearity, saturated_mask
from ..result import Result
from .weights import WeightHistograms

#: the rule for a layer chosen by name that applies no nonlinearity of the table: its units
#: are judged as ReLU units are (dead when never above the threshold)
_CHOSEN = Nonlinearity(("chosen layer",), dies=True)


# -- running the model -----------------------------------------------------------------------

def run_capture(model: Any, inputs: Any, layers: Any, *, batch_size: int = 256, eval: bool = True,
                output_index: int | None = None, desc: str = "activations") -> dict[str, list[torch.Tensor]]:
    """Run ``model`` over ``inputs`` in batches and return every output of ``layers``
    (``{name: [one tensor per call, batches concatenated]}`` on the CPU), through the model's
    adapter (:meth:`~neuralscope.adapters.base.Adapter.activations`): PyTorch modules'
    outputs as they are, other frameworks' (Keras) in the canonical layout ``(batch,
    channel or unit, *positions)``, so every view below reads them alike. Raises
    :class:`~neuralscope.capture.LayerNotRunError` for a chosen layer that never ran."""
    a = for_model(model)
    check_batch(inputs)  # at least one example, finite values: the check explain() makes too
    with a.preserved():
        acts = a.activations(inputs, layers, batch_size=batch_size, desc=desc, eval=eval, output_index=output_index)
    return {n: [_as_torch(t) for t in calls] for n, calls in acts.items()}


def _as_torch(t: Any) -> torch.Tensor:
    return t if torch.is_tensor(t) else torch.from_numpy(np.ascontiguousarray(t))


def _layer(model: Any, layer: Any) -> tuple[str, Any]:
    """``(qualified name, layer object)`` through the model's adapter."""
    return for_model(model).layer(layer)


def _input_batch(model: Any, inputs: Any) -> torch.Tensor | None:
    """The first input tensor in the canonical layout (channels first), for drawing inputs."""
    a = for_model(model)
    x = a.normalize_inputs(inputs)
    first = next(iter(_leaves((x.args, x.kwargs))), None)
    if first is None or not hasattr(first, "shape"):
        return None
    return _as_torch(a.to_canonical(a.to_numpy(first)))


def _leaves(obj: Any):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def layer_activations(model: nn.Module, inputs: Any, layer: Any, *, batch_size: int = 256,
                      eval: bool = True, output_index: int | None = None) -> torch.Tensor:
    """The output of one layer for all ``inputs`` (batched; CPU tensor, calls concatenated).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> tuple(layer_activations(net, net.example_input(5), "body.1").shape)
        (5, 128)
    """
    name, module = _layer(model, layer)
    outs = run_capture(model, inputs, module, batch_size=batch_size, eval=eval, output_index=output_index)[name]
    return torch.cat(outs, 0)


def _per_unit(a: torch.Tensor) -> np.ndarray:
    """``(N, units)``: conv maps averaged over space, sequences over time, dense as is."""
    a = a.float()
    if a.dim() == 2:
        return a.numpy()
    if a.dim() > 2:
        return a.flatten(2).mean(2).numpy()
    return a[:, None].numpy()


# -- feature maps -----------------------------------------------------------------------------

class FeatureMaps(Result):
    """The feature maps ``(C, H, W)`` (or ``(C, L)`` of a 1-D layer) of one input at one
    layer, and the order to draw them."""

    kind = "feature_maps"
    schema = {"kind": "str", "layer": "str", "index": "int", "shape": "int[3]", "order": "int[c]",
              "maps": "float[*, h, w]", "channel_means": "float[c]", "nonfinite": "int"}
    needs_figure = True  # draws the input beside the maps when given no axes

    def __init__(self, layer: str, maps: np.ndarray, order: np.ndarray, index: int, image: np.ndarray | None,
                 max_maps: int):
        self.layer, self.maps, self.order, self.index, self.image, self.max_maps = (
            layer, maps, order, index, image, max_maps)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layer": self.layer, "index": self.index, "shape": list(self.maps.shape),
                "order": self.order, "maps": self.maps[self.order[: self.max_maps]],
                "channel_means": np.array([m[np.isfinite(m)].mean() if np.isfinite(m).any() else np.nan
                                           for m in self.maps.reshape(len(self.maps), -1)]),
                "nonfinite": int((~np.isfinite(self.maps)).sum())}

    def plot(self, ax=None, vmax: float | None = None):
        import matplotlib.pyplot as plt

        if self.maps.ndim == 2:  # a 1-D layer (C, L): rows of a heatmap under the signal
            from ..plot.signal import draw_feature_maps_1d

            return draw_feature_maps_1d(self, ax, vmax)
        shown = self.order[: self.max_maps]
        maps = self.maps[shown]
        fin = maps[np.isfinite(maps)]
        signed = bool(fin.size and fin.min() < 0)
        if ax is None:
            if self.image is not None:
                fig, (ax0, ax) = plt.subplots(1, 2, figsize=(10, 6), width_ratios=[1, 4], layout="constrained")
                _show_input(ax0, self.image)
                ax0.set_title(f"input #{self.index}", fontsize=9)
            else:
                ax = P.new_axes((8, 7))
        P.image_grid(ax, maps, labels=[str(c) for c in shown], signed=signed, colorbar_label="activation",
                     vmax=vmax)
        c, h, w = self.maps.shape
        ax.set_title(f"{self.layer}: {len(shown)} of {c} feature maps ({h}\u00d7{w}), "
                     f"ordered by mean activation; number = channel", fontsize=10)
        return ax


def _show_input(ax, image: np.ndarray):
    img = np.asarray(image, dtype=float)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        ax.imshow(np.clip(img, 0, 1))
    else:
        ax.imshow(img, cmap="gray_r" if img.min() >= 0 else "gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def feature_maps(model: nn.Module, inputs: Any, layer: Any, *, index: int = 0, order: Any = "mean",
                 max_maps: int = 64, eval: bool = True) -> FeatureMaps:
    """The feature maps of ``layer`` for input ``index`` of ``inputs``, as a grid.

    ``order``: ``"mean"`` (decreasing mean activation), ``"index"``, or a list of channels
    to show. At most ``max_maps`` maps are drawn (say ``max_maps=512`` for all of a large
    layer; tiles stay one mosaic).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> fm = feature_maps(DigitsCNN(), DigitsCNN().example_input(1), "features.0", order=[3, 1])
        >>> fm.order.tolist()
        [3, 1]
    """
    name, _ = _layer(model, layer)
    acts = layer_activations(model, inputs, layer, eval=eval)
    if acts.dim() not in (3, 4):
        raise InputShapeError(f"Layer {name!r} outputs shape {tuple(acts.shape)}; feature maps need (N, C, H, W) "
                              "or (N, C, L). Use activation_heatmap for dense layers.")
    if not 0 <= index < len(acts):
        raise InputShapeError(f"index {index} is out of range for {len(acts)} inputs.")
    maps = acts[index].numpy()
    c = len(maps)
    if isinstance(order, str):
        if order == "mean":
            idx = np.argsort(-np.nan_to_num(maps.reshape(c, -1).mean(1), nan=-np.inf), kind="stable")
        elif order == "index":
            idx = np.arange(c)
        else:
            raise ValueError(f"order must be 'mean', 'index' or a list of channels, not {order!r}.")
    else:
        idx = np.asarray(list(order), dtype=int)
        if idx.size and (idx.min() < 0 or idx.max() >= c):
            raise InputShapeError(f"channels {idx.tolist()} out of range for {c} channels in {name!r}.")
        max_maps = max(max_maps, len(idx))
    x = _input_batch(model, inputs)
    image = x[index].detach().float().cpu().numpy() if x is not None and x.dim() in (3, 4) else None
    return FeatureMaps(name, maps, idx, index, image, max_maps)


# -- one unit across a data set ------------------------------------------------------------------

class UnitActivations(Result):
    """One unit's activation on every input (``values``; conv channels averaged over space)
    and the ``top`` inputs that activate it most."""

    kind = "unit_activations"
    schema = {"kind": "str", "layer": "str", "unit": "int", "values": "float[n]", "top": "int[k]",
              "top_values": "float[k]", "labels?": ["str"]}

    def __init__(self, layer, unit, values, top, images, labels):
        self.layer, self.unit, self.values, self.top, self.images, self.labels = (
            layer, unit, values, top, images, labels)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "layer": self.layer, "unit": self.unit, "values": self.values,
             "top": self.top, "top_values": self.values[self.top]}
        if self.labels is not None:
            d["labels"] = [str(v) for v in self.labels]
        return d

    def plot(self, ax=None, style: str = "auto"):
        """``style``: ``"bar"`` (one bar per input), ``"line"`` (all inputs sorted), or
        ``"auto"`` (bars up to 120 inputs). The top-k inputs are drawn below when available."""
        import matplotlib.pyplot as plt

        n = len(self.values)
        style = ("bar" if n <= 120 else "line") if style == "auto" else style
        k = len(self.top)
        if ax is None:
            fig = plt.figure(figsize=(9, 5.2 if self.images is not None else 3.6), layout="constrained")
            gs = fig.add_gridspec(2 if self.images is not None else 1, max(k, 1),
                                  height_ratios=[2.2, 1] if self.images is not None else [1])
            ax = fig.add_subplot(gs[0, :])
            if self.images is not None:
                for j, i in enumerate(self.top):
                    a = fig.add_subplot(gs[1, j])
                    _show_input(a, self.images[i])
                    lab = f" ({self.labels[i]})" if self.labels is not None else ""
                    a.set_title(f"#{i}{lab}\n{self.values[i]:.3g}", fontsize=7)
        v = self.values
        bad = ~np.isfinite(v)
        if style == "bar":
            x = np.arange(n)
            ax.bar(x, np.where(bad, 0, v), color=np.where(np.isin(x, self.top), "#d62728", "#4c72b0"), width=0.85)
            if bad.any():
                ax.scatter(x[bad], np.zeros(bad.sum()), marker="x", color=P.NONFINITE_COLOR, zorder=3,
                           label="NaN/Inf")
                ax.legend(fontsize=8)
            ax.set_xlabel("input index (red: top-k)")
        else:
            order = np.argsort(-np.where(bad, -np.inf, v), kind="stable")
            ax.plot(np.arange(n), v[order], color="#4c72b0")
            ax.set_xlabel("inputs sorted by activation")
            if bad.any():
                P.note_nonfinite(ax, int(bad.sum()), n, "left out")
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_ylabel("activation")
        ax.set_title(f"{self.layer} unit {self.unit} over {n} inputs (top {k} below)"
                     if self.images is not None else f"{self.layer} unit {self.unit} over {n} inputs", fontsize=10)
        return ax


def unit_activations(model: nn.Module, inputs: Any, layer: Any, unit: int, *, k: int = 8, labels=None,
                     batch_size: int = 256, eval: bool = True) -> UnitActivations:
    """A unit's activation on every input (spatial/temporal mean for conv/sequence
    layers) and the ``k`` inputs that activate it most.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> u = unit_activations(net, net.example_input(20), "body.1", unit=5, k=3)
        >>> len(u.values), len(u.top)
        (20, 3)
    """
    name, _ = _layer(model, layer)
    acts = _per_unit(layer_activations(model, inputs, layer, batch_size=batch_size, eval=eval))
    if not 0 <= unit < acts.shape[1]:
        raise InputShapeError(f"unit {unit} is out of range: layer {name!r} has {acts.shape[1]} units.")
    v = acts[:, unit].astype(float)
    top = np.argsort(-np.where(np.isfinite(v), v, -np.inf), kind="stable")[: min(k, len(v))]
    x = _input_batch(model, inputs)
    images = x.detach().float().cpu().numpy() if x is not None and x.dim() == 4 else None
    lab = None if labels is None else (labels.tolist() if torch.is_tensor(labels) else list(labels))
    return UnitActivations(name, unit, v, top, images, lab)


# -- units x examples heatmap ------------------------------------------------------------------

class ActivationHeatmap(Result):
    """``values`` ``(units, examples)`` of one layer (conv channels averaged over space)."""

    kind = "activation_heatmap"
    schema = {"kind": "str", "layer": "str", "values": "float[units, n]", "labels?": ["str"]}

    def __init__(self, layer, values, labels=None, max_shape=(256, 1000)):
        self.layer, self.values, self.labels, self.max_shape = layer, values, labels, max_shape

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "layer": self.layer, "values": self.values}
        if self.labels is not None:
            d["labels"] = [str(v) for v in self.labels]
        return d

    def plot(self, ax=None, style: str = "auto", units: Sequence[int] | None = None):
        """``style``: ``"heatmap"`` (units x examples), ``"bar"`` (the units of the first
        example, sorted and labelled), ``"lines"`` (``units``, default the 8 that vary most,
        as lines across the examples or steps) or ``"auto"`` (bars for one example, else the
        heatmap)."""
        v = self.values
        style = ("bar" if v.shape[1] == 1 else "heatmap") if style == "auto" else style
        if style == "bar":
            from ..plot.units import unit_bars

            return unit_bars(v[:, 0], ax, title=f"{self.layer}: units on one example")
        if style == "lines":
            from ..plot.units import unit_lines

            return unit_lines(v, ax, units=units, title=f"{self.layer}: units across {v.shape[1]} examples")
        if style != "heatmap":
            raise ValueError(f"style must be 'auto', 'heatmap', 'bar' or 'lines', not {style!r}.")
        ax = ax or P.new_axes((9, 5.5))
        u, n = v.shape
        disp, block, badm = P.block_reduce(v, self.max_shape, "mean")
        disp = np.where(badm, np.nan, disp)
        fin = v[np.isfinite(v)]
        signed = bool(fin.size and fin.min() < 0)
        extent = (-0.5, n - 0.5, u - 0.5, -0.5)
        nbad = int((~np.isfinite(v)).sum())
        if signed:
            P.signed_heatmap(ax, disp, label="activation", nonfinite=(nbad, v.size), extent=extent)
        else:
            im = ax.imshow(np.ma.masked_invalid(disp), cmap=P.cmap_with_bad("viridis"), aspect="auto",
                           interpolation="nearest", extent=extent)
            P.colorbar(im, ax, "activation")
            P.note_nonfinite(ax, nbad, v.size)
        ax.set_ylabel("unit")
        ax.set_xlabel("example" + (" (sorted by label)" if self.labels is not None else ""))
        if self.labels is not None and n <= 2000:
            lab = np.asarray([str(x) for x in self.labels])
            change = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
            for c in change[1:]:
                ax.axvline(c - 0.5, color="white", lw=0.8)
            ax.set_xticks([(a + b - 1) / 2 for a, b in zip(change, np.r_[change[1:], n])], lab[change])
        note = "" if block == (1.0, 1.0) else f"\neach cell = mean of {block[0]:.3g} units \u00d7 {block[1]:.3g} examples"
        ax.set_title(f"{self.layer}: activations of {u} units on {n} examples{note}", fontsize=10)
        return ax


def activation_heatmap(model: nn.Module, inputs: Any, layer: Any, *, labels=None, sort_by_label: bool = True,
                       batch_size: int = 256, eval: bool = True) -> ActivationHeatmap:
    """A units x examples heatmap of a layer's activations (spatial mean for conv maps);
    with ``labels``, examples are grouped by label.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> activation_heatmap(net, net.example_input(6), "body.3").values.shape
        (64, 6)
    """
    name, _ = _layer(model, layer)
    acts = _per_unit(layer_activations(model, inputs, layer, batch_size=batch_size, eval=eval))
    lab = None
    if labels is not None:
        lab = np.asarray(labels.cpu().numpy() if torch.is_tensor(labels) else labels)
        if sort_by_label:
            o = np.argsort(lab, kind="stable")
            acts, lab = acts[o], lab[o]
    return ActivationHeatmap(name, acts.T.copy(), lab)


# -- histograms per layer ---------------------------------------------------------------------------

class ActivationHistograms(WeightHistograms):
    """One histogram of activation values per layer (same layout as weight histograms)."""

    kind = "activation_histograms"

    def plot(self, ax=None, name: str | None = None, max_panels: int = 48):
        drawn = super().plot(ax=ax, name=name, max_panels=max_panels)
        if name is None:
            drawn.suptitle("Activation distributions per layer (x: activation, bars: count)", fontsize=9)
        else:
            drawn.set_xlabel("activation")
        return drawn


def activation_histograms(model: nn.Module, inputs: Any, layers: Any = None, *, bins: int | None = 50,
                          batch_size: int = 256, eval: bool = True) -> ActivationHistograms:
    """Histograms of every value each layer outputs over ``inputs`` (default layers: all
    leaf modules). NaN/Inf outputs are counted, not binned.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> h = activation_histograms(net, net.example_input(10), "body.*")
        >>> int(h.counts[1].sum()) + h.nonfinite[1]  # body.1: 10 inputs x 128 units
        1280
    """
    if layers is None:
        layers = [n for n, _ in for_model(model).default_layers()]
    outs = run_capture(model, inputs, layers, batch_size=batch_size, eval=eval)
    names, counts, edges, nonfinite, shapes, stats = [], [], [], [], [], []
    for n, ts in outs.items():
        if len({tuple(t.shape[1:]) for t in ts}) > 1:
            flat = np.concatenate([t.float().reshape(-1).numpy() for t in ts])
            shape = ("calls", len(ts))
        else:
            a = torch.cat(ts).float().numpy()
            flat, shape = a.reshape(-1), a.shape
        h = histogram(flat, bins)
        c, e, nf = h.counts, h.edges, h.nonfinite
        fin = flat[np.isfinite(flat)]
        names.append(n), counts.append(c), edges.append(e), nonfinite.append(nf), shapes.append(shape)
        stats.append({"mean": float(fin.mean()) if fin.size else math.nan,
                      "std": float(fin.std()) if fin.size else math.nan})
    return ActivationHistograms(names, counts, edges, nonfinite, shapes, stats)


# -- dead and saturated units -------------------------------------------------------------------------

class DeadUnits(Result):
    """Per layer: each unit's fraction of outputs that are active (> ``threshold``) and
    saturated, and which units are dead (never active) or saturated (saturated on at least
    ``saturated_fraction`` of outputs)."""

    kind = "dead_units"
    schema = {"kind": "str", "threshold": "float", "saturation_eps": "float", "saturated_fraction": "float",
              "n_inputs": "int", "layers": [{
                  "name": "str", "type": "str", "units": "int", "active_fraction_per_unit": "float[*]",
                  "saturated_fraction_per_unit": "float[*]", "dead": "int", "dead_units": "int[*]",
                  "saturated": "int", "saturated_units": "int[*]", "dead_fraction": "float",
                  "saturated_fraction": "float", "nonfinite": "int"}]}

    def __init__(self, layers: list[dict], threshold: float, eps: float, saturated_fraction: float, n_inputs: int):
        self.layers, self.threshold, self.eps = layers, threshold, eps
        self.saturated_fraction, self.n_inputs = saturated_fraction, n_inputs

    def to_dict(self) -> dict:
        return {"kind": self.kind, "threshold": self.threshold, "saturation_eps": self.eps,
                "saturated_fraction": self.saturated_fraction, "n_inputs": self.n_inputs, "layers": self.layers}

    def fraction(self, layer: str, what: str = "dead") -> float:
        """The fraction of units of ``layer`` that are ``"dead"`` or ``"saturated"``."""
        for d in self.layers:
            if d["name"] == layer:
                return d[f"{what}_fraction"]
        raise LayerNotFoundError(layer, [d["name"] for d in self.layers], what="checked layer")

    def plot(self, ax=None):
        n = len(self.layers)
        ax = ax or P.new_axes((7.5, 0.32 * n + 1.4))
        y = np.arange(n)
        dead = np.array([d["dead_fraction"] for d in self.layers])
        sat = np.array([d["saturated_fraction"] for d in self.layers])
        ax.barh(y - 0.2, dead, height=0.4, color="#d62728", label="dead (never > threshold)")
        ax.barh(y + 0.2, sat, height=0.4, color="#ff7f0e", label=f"saturated (\u2265{self.saturated_fraction:.0%} of outputs)")
        ax.set_yticks(y, [f"{d['name']} ({d['type']}, {d['units']} units)" for d in self.layers],
                      fontsize=8 if n > 20 else 9)
        for i, d in enumerate(self.layers):
            ax.text(max(dead[i], sat[i]) + 0.01, i, f"{d['dead']} dead, {d['saturated']} sat.", va="center",
                    fontsize=7, color="0.25")
            if d.get("nonfinite"):
                ax.text(1.0, i, f"{d['nonfinite']} NaN/Inf", va="center", ha="right", fontsize=7, color="#b00000")
        ax.invert_yaxis()
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("fraction of units")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"Dead and saturated units over {self.n_inputs} inputs", fontsize=10)
        return ax


def dead_units(model: nn.Module, inputs: Any, layers: Any = None, *, threshold: float = 0.0,
               saturation_eps: float = 0.02, saturated_fraction: float = 0.99, batch_size: int = 256,
               eval: bool = True) -> DeadUnits:
    """Find dead units (an output never above ``threshold`` for any input and position:
    ReLU units that never fire) and saturated units (sigmoid/tanh/softplus/hard-* outputs
    within ``saturation_eps`` of their bounds on at least ``saturated_fraction`` of outputs).
    Which nonlinearity can die or saturate, and where, is the one table
    :mod:`neuralscope.nonlinearities` (tracking uses it too); a NaN output is never "at or
    below" the threshold: a unit of NaN is broken (counted in ``nonfinite``), not dead.

    ``layers`` defaults to every activation module of that table (ReLU family, GELU, SiLU,
    softplus, sigmoid, tanh...); a chosen layer outside it is judged by the ReLU rule. A
    unit is dimension 1 of the output (conv channel, linear feature). Activity is
    accumulated batch by batch, so any data set size works.

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP()
        >>> r = dead_units(net, net.example_input(50))
        >>> [d["name"] for d in r.layers]
        ['body.1', 'body.3']
    """
    a = for_model(model)
    check_batch(inputs)
    chosen = a.layers(layers) if layers is not None else a.activation_layers()
    if not chosen:
        raise LayerNotFoundError("<activation layers>", a.layer_names(), what="layer with an activation (pass layers=)")
    kinds = {name: a.activation_of(layer) for name, layer in chosen}
    acc: dict[str, dict] = {}
    with a.preserved():
        for outputs in a.recorded_batches(inputs, [n for n, _ in chosen], batch_size=batch_size, desc="dead units",
                                          eval=eval, to_cpu=False):
            for name, layer in chosen:
                for call, t in enumerate(outputs[name]):
                    key = name if call == 0 else f"{name}#{call}"
                    _accumulate(acc, key, layer, _as_torch(t), threshold, saturation_eps, kind=kinds[name])
    return _dead_rows(acc, threshold, saturation_eps, saturated_fraction, a.batch_size_of(inputs))


def _dead_rows(acc: dict, threshold: float, saturation_eps: float, saturated_fraction: float,
               n_inputs: int) -> DeadUnits:
    rows = []
    for key, a in acc.items():
        total = a["count"]
        active = (a["active"] / total).cpu().numpy()
        satur = (a["sat"] / total).cpu().numpy()
        is_sat = a["saturating"]
        never = a["dead"]
        dead_mask = never.cpu().numpy() if never is not None else np.zeros(active.shape, bool)
        sat_mask = (satur >= saturated_fraction) if is_sat else np.zeros_like(dead_mask)
        units = int(active.size)
        rows.append({"name": key, "type": a["type"], "units": units, "active_fraction_per_unit": active,
                     "saturated_fraction_per_unit": satur, "dead": int(dead_mask.sum()),
                     "dead_units": np.flatnonzero(dead_mask), "saturated": int(sat_mask.sum()),
                     "saturated_units": np.flatnonzero(sat_mask), "dead_fraction": float(dead_mask.mean()),
                     "saturated_fraction": float(sat_mask.mean()), "nonfinite": int(a["nonfinite"])})
    return DeadUnits(rows, threshold, saturation_eps, saturated_fraction, n_inputs)


def _accumulate(acc, key, module, t, threshold, eps, kind=None):
    """Add one batch of a layer's outputs ``t`` to its counts (``kind``: the nonlinearity
    of a layer that is not a PyTorch module, an adapter's ``activation_of``)."""
    t = t.detach().float()
    if t.dim() == 1:
        t = t[:, None]
    rule = nonlinearity(module, kind) or _CHOSEN
    dims = [d for d in range(t.dim()) if d != 1]
    fin = torch.isfinite(t)
    active = ((t > threshold) & fin).sum(dims)
    dead = dead_mask(rule, t, threshold)
    sat = saturated_mask(rule, t, eps)
    satc = ((sat & fin).sum(dims) if sat is not None else torch.zeros_like(active))
    per_unit = t.numel() // t.shape[1]
    a = acc.get(key)
    if a is None or a["active"].shape != active.shape:
        what = type(module).__name__ + (f"({kind})" if kind and kind != type(module).__name__.lower() else "")
        acc[key] = {"active": active, "sat": satc, "count": per_unit, "type": what, "dead": dead,
                    "saturating": sat is not None, "nonfinite": int((~fin).sum())}
    else:
        if dead is not None:
            a["dead"] &= dead
        a["active"] += active
        a["sat"] += satc
        a["count"] += per_unit
        a["nonfinite"] += int((~fin).sum())


# -- RNN hidden states over time ----------------------------------------------------------------------

class HiddenStates(Result):
    """``states`` ``(time, units)`` of a recurrent layer for one input sequence, with the
    input sequence (``inputs`` ``(time, features)``) or ``tokens`` to show on the time axis."""

    kind = "hidden_states"
    schema = {"kind": "str", "layer": "str", "index": "int", "states": "float[t, *]", "inputs?": "float[t, *]",
              "tokens?": ["str"]}

    def __init__(self, layer, states, inputs=None, tokens=None, index=0):
        self.layer, self.states, self.inputs, self.tokens, self.index = layer, states, inputs, tokens, index

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "layer": self.layer, "index": self.index, "states": self.states}
        if self.inputs is not None:
            d["inputs"] = self.inputs
        if self.tokens is not None:
            d["tokens"] = list(self.tokens)
        return d

    def plot(self, ax=None, max_units: int = 256):
        import matplotlib.pyplot as plt

        s = self.states.T  # units x time
        tsteps = s.shape[1]
        show_input = self.inputs is not None and self.tokens is None
        if ax is None:
            w = float(np.clip(3 + 0.35 * tsteps, 6, 16))
            if show_input:
                fig, (ax_in, ax) = plt.subplots(2, 1, figsize=(w, 6.5), height_ratios=[1, 3.2], sharex=True,
                                                layout="constrained")
                inp = np.asarray(self.inputs, dtype=float).T
                im = ax_in.imshow(np.ma.masked_invalid(inp), aspect="auto", cmap="gray_r",
                                  interpolation="nearest", extent=(-0.5, tsteps - 0.5, inp.shape[0] - 0.5, -0.5))
                ax_in.set_ylabel("input\nfeature")
                ax_in.set_title(f"input sequence #{self.index} (one column per time step)", fontsize=9)
                P.colorbar(im, ax_in, "input")
            else:
                ax = P.new_axes((w, 5))
        disp, block, badm = P.block_reduce(s, (max_units, 2000), "mean")
        P.signed_heatmap(ax, np.where(badm, np.nan, disp), label="hidden state",
                         nonfinite=(int((~np.isfinite(s)).sum()), s.size),
                         extent=(-0.5, tsteps - 0.5, s.shape[0] - 0.5, -0.5))
        ax.set_ylabel("hidden unit")
        ax.set_xlabel("time step")
        if self.tokens is not None:
            ax.set_xticks(np.arange(tsteps), [str(t) for t in self.tokens], rotation=90 if tsteps > 12 else 0,
                          fontsize=8 if tsteps > 30 else 9)
        elif tsteps <= 40:
            ax.set_xticks(np.arange(tsteps))
        ax.set_title(f"{self.layer}: {s.shape[0]} hidden units over {tsteps} time steps", fontsize=10)
        return ax


def hidden_states(model: nn.Module, inputs: Any, layer: Any = None, *, index: int = 0,
                  tokens: Sequence[str] | None = None, eval: bool = True) -> HiddenStates:
    """The hidden state of a recurrent layer (``nn.RNN/LSTM/GRU``; default: the first one)
    at every time step for input ``index``, as a units x time heatmap with the input
    sequence (or ``tokens``) along the time axis.

    Example:
        >>> from neuralscope.zoo import RNNClassifier
        >>> net = RNNClassifier("gru")
        >>> hidden_states(net, net.example_input(2)).states.shape
        (8, 64)
    """
    a = for_model(model)
    if layer is None:
        rnns = a.recurrent_layers()
        if not rnns:
            raise LayerNotFoundError("<recurrent layer>", a.layer_names(), what="recurrent (RNN/LSTM/GRU) layer (pass layer=)")
        name, obj = rnns[0]
    else:
        name, obj = a.layer(layer)
    out = run_capture(model, inputs, obj, eval=eval, output_index=0, desc="hidden states")[name][0]
    seq = a.sequence_states(out, obj)
    if seq is None:
        raise InputShapeError(f"Layer {name!r} outputs shape {tuple(out.shape)}, not a sequence of states (batch, "
                              "time, units); a Keras layer needs return_sequences=True to give one.")
    seq = seq[index]
    x = a.to_numpy(next(iter(_leaves(a.normalize_inputs(inputs).args))))
    xi = x[index] if x.ndim >= 2 and np.issubdtype(x.dtype, np.floating) else None
    if xi is not None and xi.ndim == 3 and 1 in (xi.shape[0], xi.shape[-1]):  # a one-channel image read row by row
        xi = xi.reshape(xi.shape[1:]) if xi.shape[0] == 1 else xi[..., 0]
    inp = xi.astype(np.float32) if xi is not None and xi.ndim == 2 and xi.shape[0] == seq.shape[0] else None
    return HiddenStates(name, seq.numpy(), inp, tokens, index)


__all__ = ["FeatureMaps", "UnitActivations", "ActivationHeatmap", "ActivationHistograms", "DeadUnits",
           "HiddenStates", "feature_maps", "unit_activations", "activation_heatmap", "activation_histograms",
           "dead_units", "hidden_states", "layer_activations", "run_capture", "LayerNotRunError"]
