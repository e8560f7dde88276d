"""The forward pass of a convolutional network, animated stage by stage: the real input image
first, then the feature maps of every convolution (after its activation) and pooling layer,
then the dense layers and the class probabilities.

Example:
    >>> from neuralscope.zoo import DigitsCNN
    >>> net = DigitsCNN().eval()
    >>> fp = animate_conv(net, net.example_input(1))
    >>> [s["name"] for s in fp.stages][:3]
    ['input', 'features.0 → features.2', 'features.3 → features.5']
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..adapters.torch import TorchAdapter, forward_with_context, model_device, preserve_model_state
from ..errors import InputShapeError
from ..result import Result

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
        nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
NORM_OR_ACT = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU,
               nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Hardswish, nn.Mish, nn.Dropout, nn.Dropout2d)


def is_convolutional(model: nn.Module) -> bool:
    """Whether ``model`` has convolution layers (its forward pass is drawn as feature maps)."""
    return any(isinstance(m, CONV) for m in model.modules())


class ConvForwardPass(Result):
    """One input's way through a convolutional network: ``stages[k]`` = ``{"name", "type",
    "kind"}`` with ``"image"`` (the input), ``"maps"`` (``values`` ``(C, H, W)``, ``order`` =
    channels by mean activation), ``"vector"`` (a dense layer's units) or ``"probs"`` (the
    output). ``plot(step=k)`` draws stage ``k`` under a strip that shows where it is in the
    network; saving as ``.gif``/``.mp4``/``.html`` plays the stages in order."""

    kind = "conv_forward_pass"
    #: a stage's fields depend on its kind (convolution maps, dense vector, signal, softmax)
    schema = {"kind": "str", "title": "str", "max_maps": "int", "stages": ["dict"]}
    needs_figure = True

    def __init__(self, stages: list[dict], title: str = "", class_names=None, max_maps: int = 16):
        self.stages, self.title, self.class_names, self.max_maps = stages, title, class_names, max_maps

    @property
    def steps(self) -> int:
        return len(self.stages)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "title": self.title, "max_maps": self.max_maps,
                "stages": [{k: v for k, v in s.items()} for s in self.stages]}

    def plot(self, ax=None, step: int | None = None):
        """Draw stage ``step`` (the last by default). Returns the figure (``ax``, if given,
        is used as the area the figure's panels are placed in)."""
        import matplotlib.pyplot as plt

        step = self.steps - 1 if step is None else step
        if ax is None:
            fig = plt.figure(figsize=(10, 6.4), layout="constrained")
            strip, body = fig.subfigures(2, 1, height_ratios=[1, 6.2])
        else:
            fig = ax.figure
            ax.set_axis_off()
            strip, body = ax.inset_axes([0, 0.86, 1, 0.14]), ax.inset_axes([0, 0, 1, 0.84])
        self._draw_strip(strip, step)
        _DRAW[self.stages[step]["kind"]](self, body, self.stages[step])
        fig.suptitle(f"{self.title} \u2014 stage {step + 1}/{self.steps}: {self.stages[step]['name']}", fontsize=11)
        return fig

    def _draw_strip(self, where, step: int) -> None:
        ax = where.subplots() if hasattr(where, "subplots") else where
        ax.set_axis_off()
        n = self.steps
        for k, s in enumerate(self.stages):
            face = "#1f77b4" if k == step else ("#aec7e8" if k < step else "#eeeeee")
            ax.text((k + 0.5) / n, 0.5, f"{s['type']}\n{_shape(s)}", ha="center", va="center", fontsize=7,
                    color="white" if k == step else "#222222", transform=ax.transAxes,
                    bbox=dict(boxstyle="round,pad=0.3", fc=face, ec="#555555", lw=0.6))
            if k < n - 1:
                ax.annotate("", xy=((k + 1.08) / n, 0.5), xytext=((k + 0.92) / n, 0.5), xycoords="axes fraction",
                            arrowprops=dict(arrowstyle="->", color="#555555", lw=0.8))

    def animation(self, fps: float = 1.2):
        """The stage-by-stage animation (one frame per stage)."""
        from .animation import Animation

        frames = [_ConvStep(self, k) for k in range(self.steps)]
        return Animation(frames, [s["name"] for s in self.stages], title="", fps=fps, figsize=(10, 6.4))

    def _save_native(self, path: Path) -> bool:
        if path.suffix.lower() in (".gif", ".mp4"):
            self.animation().save(path)
            return True
        return False

    def to_html(self) -> str:
        return self.animation().to_html()

    def save_formats(self) -> set[str]:
        return super().save_formats() | {".gif", ".mp4"}


class _ConvStep(Result):
    kind = "conv_forward_step"
    #: ``pass``: the whole ConvForwardPass's ``to_dict()``, so that a frame logged or animated on its own can be drawn
    schema = {"kind": "str", "step": "int", "pass": "dict"}
    needs_figure = True

    def __init__(self, fp: ConvForwardPass, step: int):
        self.fp, self.step = fp, step

    def to_dict(self) -> dict:
        return {"kind": self.kind, "step": self.step, "pass": self.fp.to_dict()}

    def plot(self, ax=None):
        return self.fp.plot(ax=ax, step=self.step)


def _shape(stage: dict) -> str:
    return "\u00d7".join(str(d) for d in stage["shape"])


def _panel(where):
    return where.subplots() if hasattr(where, "subplots") else where


def _draw_image(fp: ConvForwardPass, where, stage: dict) -> None:
    ax = _panel(where)
    img = stage["values"]
    if stage.get("signal"):  # a 1-D input (channels, length): one line per channel
        for c, row in enumerate(img):
            ax.plot(row, lw=1.2, label=f"channel {c}")
        ax.set_xlabel("position")
        ax.set_ylabel("value")
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(f"input signal ({_shape(stage)})", fontsize=9)
        return
    ax.imshow(img, cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
    ax.set_title(f"input image ({_shape(stage)})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_maps(fp: ConvForwardPass, where, stage: dict) -> None:
    import matplotlib.pyplot as plt

    from . import finite_absmax

    maps, order = stage["values"], stage["order"][: fp.max_maps]
    if maps.ndim == 2:  # 1-D feature maps: one row per channel, positions across
        _draw_rows(where, maps, order, finite_absmax(maps[order]))
        return
    cols = int(np.ceil(np.sqrt(len(order) * 1.6)))
    rows = int(np.ceil(len(order) / cols))
    lim = finite_absmax(maps[order]) or 1.0
    signed = bool((maps[order] < 0).any())
    norm = plt.Normalize(-lim if signed else 0.0, lim)
    cmap = "RdBu_r" if signed else "viridis"
    if hasattr(where, "subplots"):
        axes = np.atleast_1d(where.subplots(rows, cols)).ravel()
    else:
        axes = np.array([where.inset_axes([(i % cols) / cols, 1 - (i // cols + 1) / rows, 0.94 / cols, 0.9 / rows])
                         for i in range(rows * cols)])
    for a in axes:
        a.set_axis_off()
    for a, c in zip(axes, order):
        m = maps[c] if maps.ndim == 3 else maps[c][None]
        im = a.imshow(m, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto" if maps.ndim == 2 else "equal")
        a.set_title(f"ch {c}", fontsize=7, pad=2)
    shown = f"{len(order)} of {maps.shape[0]} channels, most active first" if len(order) < maps.shape[0] else \
        f"all {maps.shape[0]} channels, most active first"
    host = where if hasattr(where, "colorbar") else axes[0].figure
    host.colorbar(im, ax=list(axes), shrink=0.85, label=f"activation ({shown})")


def _draw_rows(where, maps: np.ndarray, order: np.ndarray, lim: float) -> None:
    ax = _panel(where)
    signed = bool((maps[order] < 0).any())
    im = ax.imshow(maps[order], cmap="RdBu_r" if signed else "viridis", vmin=-lim if signed else 0.0, vmax=lim,
                   aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(order)), [str(c) for c in order], fontsize=7)
    ax.set_ylabel(f"channel ({len(order)} of {maps.shape[0]}, most active first)")
    ax.set_xlabel("position")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="activation")


def _draw_vector(fp: ConvForwardPass, where, stage: dict) -> None:
    from . import colorbar, finite_absmax

    ax = _panel(where)
    v = np.asarray(stage["values"], dtype=float)
    width = int(np.ceil(np.sqrt(len(v) * 4)))
    grid = np.full(width * int(np.ceil(len(v) / width)), np.nan)
    grid[: len(v)] = v
    lim = finite_absmax(v) or 1.0
    signed = bool((v < 0).any())
    im = ax.imshow(grid.reshape(-1, width), cmap="RdBu_r" if signed else "viridis",
                   vmin=-lim if signed else 0.0, vmax=lim, interpolation="nearest")
    ax.set_title(f"{len(v)} units (row by row)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    colorbar(im, ax, "activation", orientation="vertical")


def _draw_probs(fp: ConvForwardPass, where, stage: dict) -> None:
    ax = _panel(where)
    p = np.asarray(stage["values"], dtype=float)
    names = fp.class_names or [str(i) for i in range(len(p))]
    best = int(np.nanargmax(p))
    colors = ["#d62728" if i == best else "#7f7f7f" for i in range(len(p))]
    ax.bar(range(len(p)), p, color=colors)
    ax.set_xticks(range(len(p)), [str(n) for n in names][: len(p)], fontsize=8,
                  rotation=45 if max(len(str(n)) for n in names) > 3 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("probability" if stage["softmax"] else "output")
    ax.set_title(f"prediction: {names[best]} ({p[best]:.2f})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


_DRAW = {"image": _draw_image, "maps": _draw_maps, "vector": _draw_vector, "probs": _draw_probs}


# -- recording ---------------------------------------------------------------------------------

def animate_conv(model: nn.Module, x: torch.Tensor, *, max_maps: int = 16, class_names=None,
                 softmax: bool = True) -> ConvForwardPass:
    """Record one input's forward pass through a convolutional network (see the module
    docstring); :func:`~neuralscope.plot.animation.animate_forward` calls this for models
    with convolutions."""
    want = max(m.weight.dim() for m in model.modules() if isinstance(m, CONV))  # batch + channels + space
    if x.dim() == want - 1:
        x = x[None]
    if x.dim() != want or x.shape[0] != 1:
        raise InputShapeError(f"animate_forward draws one input of a convolutional network: shape (1, C, ...) "
                              f"with {want - 2} spatial dimension(s), got {tuple(x.shape)} (pass x[:1]).")
    seen: list[tuple[str, nn.Module, torch.Tensor]] = []
    keep = lambda name, m: lambda mod, a, out: seen.append((name, mod, out)) if torch.is_tensor(out) else None
    with preserve_model_state(model), torch.no_grad(), TorchAdapter(model).hooks("leaves", post=keep):
        model.eval()
        out = forward_with_context(model, x.to(model_device(model)))
    out = out if torch.is_tensor(out) else next(t for t in (out.values() if isinstance(out, dict) else out)
                                                if torch.is_tensor(t))
    stages = [_image_stage(x[0])] + _stages(seen)
    probs = torch.softmax(out[0].float(), -1) if softmax else out[0].float()
    stages.append({"name": "output" + (" (softmax)" if softmax else ""), "type": "output", "kind": "probs",
                   "values": probs.cpu().numpy(), "shape": [int(out.shape[-1])], "softmax": softmax})
    title = f"Forward pass of {type(model).__name__}"
    return ConvForwardPass(stages, title, class_names, max_maps)


def _image_stage(x: torch.Tensor) -> dict:
    img = x.detach().float().cpu().numpy()
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return {"name": "input", "type": "input", "kind": "image", "values": img, "shape": list(x.shape),
            "signal": x.dim() == 2}


def _stages(seen: list[tuple[str, nn.Module, torch.Tensor]]) -> list[dict]:
    """One stage per convolution (shown after the norm/activation layers that follow it), per
    pooling layer and per dense layer (after its activation); the last dense layer is the
    output and is drawn as probabilities instead."""
    stages: list[dict] = []
    i = 0
    while i < len(seen):
        name, mod, out = seen[i]
        if isinstance(mod, CONV + POOL + (nn.Linear,)):
            j = i
            while j + 1 < len(seen) and isinstance(seen[j + 1][1], NORM_OR_ACT):
                j += 1
            last = seen[j][2][0].detach().float().cpu()
            label = name if j == i else f"{name} \u2192 {seen[j][0]}"
            if last.dim() >= 2 and last[0].numel() == 1:  # global pooling: one number per channel
                last = last.flatten()
            kind = "maps" if last.dim() >= 2 else "vector"
            stage = {"name": label, "type": type(mod).__name__, "kind": kind, "values": last.numpy(),
                     "shape": list(last.shape)}
            if kind == "maps":
                stage["order"] = np.argsort(-np.nan_to_num(last.flatten(1).mean(1).numpy(), nan=-np.inf), kind="stable")
            stages.append(stage)
            i = j + 1
        else:
            i += 1
    if stages and stages[-1]["kind"] == "vector" and stages[-1]["type"] == "Linear":
        stages.pop()  # the output layer: drawn as the prediction
    return stages


__all__ = ["ConvForwardPass", "animate_conv", "is_convolutional"]
