"""Animations: a sequence of result objects drawn frame by frame, saved as GIF (Pillow),
MP4 (when an ``ffmpeg`` binary is on the PATH) or a self-contained HTML player with a
slider; plus the forward pass of a small MLP drawn as neurons and connections.

Example:
    >>> import torch
    >>> from neuralscope.plot.animation import weights_over_training
    >>> ckpts = [{"w": torch.randn(4, 3) * s} for s in (0.1, 0.5, 1.0)]
    >>> anim = weights_over_training(ckpts, "w")
    >>> len(anim.frames), anim.labels
    (3, ['checkpoint 0', 'checkpoint 1', 'checkpoint 2'])
"""
from __future__ import annotations

import base64
import copy
import html
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters import for_model
from ..adapters.torch import TorchAdapter, forward_with_context, preserve_model_state
from ..errors import FileFormatError, InputShapeError, LayerNotFoundError
from ..progress import progress
from ..result import Result, standalone_page
from ..webbundle import mount


def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` binary is on the PATH (MP4 export needs it)."""
    return shutil.which("ffmpeg") is not None


class Animation(Result):
    """Frames (result objects) with a label each, drawn with shared ``plot_kwargs`` (e.g. one
    colour scale for all frames).

    ``save("x.gif")`` (Pillow), ``save("x.mp4")`` (ffmpeg), ``save("x.html")`` (player with
    a slider and a play button), ``save("x.png")`` (the last frame).
    """

    kind = "animation"
    #: each frame is the ``to_dict()`` of its own kind (checked by that kind's schema); frames that
    #: are steps of one forward pass are ``{"kind", "step"}`` and the pass is written once, as ``pass``
    schema = {"kind": "str", "title": "str", "labels": ["str"], "fps": "float", "frames": ["dict"], "pass?": "dict"}

    def __init__(self, frames: Sequence[Result], labels: Sequence[str] | None = None, *, title: str = "",
                 fps: float = 3.0, plot_kwargs: dict | None = None, figsize=(7, 5.5)):
        if not frames:
            raise InputShapeError("An animation needs at least one frame.")
        self.frames = list(frames)
        self.labels = list(labels) if labels is not None else [f"frame {i}" for i in range(len(frames))]
        if len(self.labels) != len(self.frames):
            raise InputShapeError(f"{len(self.labels)} labels for {len(self.frames)} frames.")
        self.title, self.fps, self.plot_kwargs, self.figsize = title, fps, dict(plot_kwargs or {}), figsize

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "title": self.title, "labels": self.labels, "fps": self.fps}
        source = _one_pass(self.frames)
        if source is None:
            return {**out, "frames": [f.to_dict() for f in self.frames]}
        # steps of one forward pass: the pass once, not once per frame (the view joins them)
        return {**out, "frames": [{"kind": f.kind, "step": f.step} for f in self.frames], "pass": source.to_dict()}

    def plot(self, ax=None, frame: int = -1):
        """Draw one frame (the last by default) with its label in the title."""
        import matplotlib.pyplot as plt

        f = self.frames[frame]
        if ax is None and getattr(f, "needs_figure", False):
            drawn = f.plot(**self.plot_kwargs)
        else:
            if ax is None:
                fig = plt.figure(figsize=self.figsize, layout="constrained")
                ax = fig.add_subplot(projection="3d" if getattr(f, "dims", 2) == 3 else None)
            drawn = f.plot(ax=ax, **self.plot_kwargs)
        from ..result import figure_of

        fig = figure_of(drawn)
        label = self.labels[frame]
        fig.suptitle(f"{self.title} \u2014 {label}" if self.title else label, fontsize=11)
        return drawn

    def render(self, dpi: int = 90) -> list:
        """Every frame as a PIL image, all of the same size. Drawn once per ``dpi`` while the
        frames, labels and drawing options stay the same: a GIF and an HTML player of one
        animation share the drawing (the second drawing was a fifth of the demo inside section's time)."""
        key = (dpi, tuple(map(id, self.frames)), tuple(map(str, self.labels)), self.title, repr(self.plot_kwargs),
               self.figsize)
        drawn = getattr(self, "_rendered", None)
        if drawn is not None and drawn[0] == key:
            return list(drawn[1])
        images = self._draw_frames(dpi)
        self._rendered = (key, images)
        return list(images)

    def _draw_frames(self, dpi: int) -> list:
        import matplotlib.pyplot as plt
        from PIL import Image

        from ..result import figure_of

        images = []
        for i in progress(range(len(self.frames)), desc="frames", total=len(self.frames)):
            fig = figure_of(self.plot(frame=i))
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            plt.close(fig)
            img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
            if images and img.size != images[0].size:
                img = img.resize(images[0].size)
            images.append(img)
        return images

    def _save_native(self, path: Path) -> bool:
        suffix = path.suffix.lower()
        if suffix == ".gif":
            imgs = self.render()
            imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / self.fps), loop=0,
                         optimize=False)
            return True
        if suffix == ".mp4":
            self.save_mp4(path)
            return True
        return False

    def save_mp4(self, path: str | Path, dpi: int = 90) -> Path:
        """Write an H.264 MP4 by piping frames to ``ffmpeg``; a clear error when it is missing."""
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise FileFormatError("Saving MP4 needs the ffmpeg program on the PATH (apt-get install ffmpeg); "
                                  "save as .gif or .html instead.")
        imgs = self.render(dpi)
        w, h = imgs[0].size
        w2, h2 = w - w % 2, h - h % 2
        cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w2}x{h2}",
               "-r", str(self.fps), "-i", "-", "-pix_fmt", "yuv420p", "-vcodec", "libx264", str(path)]
        proc = subprocess.run(cmd, input=b"".join(np.asarray(i)[:h2, :w2].tobytes() for i in imgs),
                              capture_output=True)
        if proc.returncode:
            raise FileFormatError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace')[:300]}")
        return Path(path)

    def save_formats(self) -> set[str]:
        return super().save_formats() | {".gif", ".mp4"}

    def to_html(self) -> str:
        return standalone_page(self.title or "Animation", self._player())

    def _repr_html_(self) -> str:
        return self._player()

    def _player(self) -> str:
        frames = []
        for img in self.render():
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            frames.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        uid = f"nsanim{id(self) & 0xffffff:x}"
        data = {"frames": frames, "labels": [str(x) for x in self.labels], "fps": self.fps}
        return (f'<div id="{uid}" class="ns-anim" style="font:13px system-ui,sans-serif">'
                f'<div style="display:flex;gap:8px;align-items:center;margin-bottom:6px">'
                f'<button type="button" class="ns-play">\u25b6 play</button>'
                f'<input type="range" class="ns-slider" min="0" max="{len(frames) - 1}" value="0" style="width:420px">'
                f'<span class="ns-label"></span></div><img class="ns-frame" alt="{html.escape(self.title)}" '
                f'style="max-width:100%"></div>' + mount("animation", uid, data))


def _one_pass(frames: Sequence[Result]) -> Result | None:
    """The forward pass that every frame is a step of, else None."""
    first = getattr(frames[0], "fp", None)
    return first if first is not None and all(getattr(f, "fp", None) is first for f in frames) else None


def animate(frames: Sequence[Result], labels: Sequence[str] | None = None, **kwargs) -> Animation:
    """An :class:`Animation` of any result objects (one per step/checkpoint).

    Example:
        >>> import numpy as np
        >>> from neuralscope.inspect.weights import weight_heatmap
        >>> a = animate([weight_heatmap(np.eye(3) * s) for s in (1, 2)], ["a", "b"])
        >>> a.labels
        ['a', 'b']
    """
    return Animation(frames, labels, **kwargs)


# -- training evolution ----------------------------------------------------------------------

def _state(ckpt: Any) -> dict[str, torch.Tensor]:
    from ..adapters.keras import is_keras_model

    if is_keras_model(ckpt):  # a Keras model as a checkpoint: its weights by Keras path, canonical layout
        from ..adapters import for_model

        return {p.name: torch.from_numpy(p.array) for p in for_model(ckpt).parameters()}
    if isinstance(ckpt, nn.Module):
        return ckpt.state_dict()
    if isinstance(ckpt, (str, Path)):
        try:
            ckpt = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FileFormatError(f"Could not read checkpoint {str(ckpt)!r}: {exc}") from exc
    if isinstance(ckpt, dict) and "state_dict" in ckpt and isinstance(ckpt["state_dict"], dict):
        ckpt = ckpt["state_dict"]
    if not isinstance(ckpt, dict):
        raise FileFormatError(f"A checkpoint must be a state_dict, a module or a file path, not {type(ckpt).__name__}.")
    return ckpt


def _labels(n: int, steps) -> list[str]:
    if steps is None:
        return [f"checkpoint {i}" for i in range(n)]
    if len(steps) != n:
        raise InputShapeError(f"{len(steps)} steps for {n} checkpoints.")
    return [s if isinstance(s, str) else f"step {s}" for s in steps]


def weights_over_training(checkpoints: Sequence[Any], param: str, *, steps=None, fps: float = 3.0,
                          **heatmap_kwargs) -> Animation:
    """How one weight tensor (``param``, e.g. ``"features.0.weight"``) changes across
    checkpoints (state_dicts, modules or ``torch.save`` files; Keras models, whose weights are
    named by Keras path such as ``"conv/kernel"``, in the canonical layout), as an animated
    heatmap with one colour scale shared by all frames.

    Example:
        >>> import torch
        >>> a = weights_over_training([{"w": torch.zeros(2, 2)}, {"w": torch.ones(2, 2)}], "w", steps=[0, 10])
        >>> a.labels
        ['step 0', 'step 10']
    """
    from ..inspect.weights import weight_heatmap

    frames = []
    for ck in checkpoints:
        sd = _state(ck)
        if param not in sd:
            raise LayerNotFoundError(param, list(sd), what="parameter in the checkpoint")
        w = sd[param]
        frame = weight_heatmap(w.detach().float().cpu(), **heatmap_kwargs)
        frame.name = param
        frames.append(frame)
    vmax = max(_absmax(f.matrix) for f in frames)
    return Animation(frames, _labels(len(frames), steps), title=f"{param} during training", fps=fps,
                     plot_kwargs={"vmax": vmax})


def _absmax(a) -> float:
    from . import finite_absmax

    return finite_absmax(a)


def _loaded_keras(model: Any, ckpt: Any) -> Any:
    """A clone of a Keras ``model`` holding a checkpoint: a Keras model of the same
    architecture, a ``model.get_weights()`` list, or a ``.weights.h5`` file."""
    import keras

    m = keras.models.clone_model(model)
    try:
        if isinstance(ckpt, (str, Path)):
            m.load_weights(str(ckpt))
        else:
            m.set_weights(ckpt.get_weights() if hasattr(ckpt, "get_weights") else list(ckpt))
    except (ValueError, OSError, TypeError) as exc:
        raise FileFormatError(f"A checkpoint does not fit the Keras model {model.name!r}: "
                              f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}") from exc
    return m


def _loaded(model: nn.Module, ckpt: Any) -> nn.Module:
    from ..adapters.keras import is_keras_model

    if is_keras_model(model):
        return _loaded_keras(model, ckpt)
    m = copy.deepcopy(model)  # the user's model is never loaded into
    try:
        m.load_state_dict(_state(ckpt))
    except RuntimeError as exc:
        raise FileFormatError(f"A checkpoint does not fit {type(model).__name__}: {str(exc).splitlines()[0]}") from exc
    return m


def feature_maps_over_training(model: nn.Module, checkpoints: Sequence[Any], inputs, layer, *, index: int = 0,
                               steps=None, max_maps: int = 32, fps: float = 3.0) -> Animation:
    """The feature maps of ``layer`` for one input, computed with each checkpoint loaded into
    a copy of ``model`` (the model itself is not touched), with a shared colour scale. For a
    Keras model a checkpoint is a Keras model, a ``get_weights()`` list or a ``.weights.h5`` file."""
    from ..inspect.activations import feature_maps

    frames, order = [], None
    with for_model(model).preserved():
        for ck in checkpoints:
            fm = feature_maps(_loaded(model, ck), inputs, layer, index=index, max_maps=max_maps,
                              order="mean" if order is None else order)
            order = fm.order[:max_maps] if order is None else order  # keep channels fixed across frames
            frames.append(fm)
    vmax = max(_absmax(f.maps) for f in frames)
    return Animation(frames, _labels(len(frames), steps), title=f"{frames[0].layer} feature maps during training",
                     fps=fps, plot_kwargs={"vmax": vmax}, figsize=(8, 7))


def embeddings_over_training(model: nn.Module, checkpoints: Sequence[Any], inputs, layer, *, labels=None,
                             method: str = "pca", steps=None, fps: float = 3.0, **embed_kwargs) -> Animation:
    """The embedding of ``layer``'s activations over ``inputs`` at each checkpoint. Frames
    are aligned to the last one by orthogonal Procrustes (rotation/reflection and scale), so
    points move only as much as the representation does; axis limits are shared."""
    from ..inspect.embedding import embed_layer

    with for_model(model).preserved():
        frames = [embed_layer(_loaded(model, ck), inputs, layer, method=method, labels=labels, **embed_kwargs)
                  for ck in checkpoints]
    ref = frames[-1].coords
    ok = np.isfinite(ref).all(1)
    for f in frames:
        c = f.coords
        good = ok & np.isfinite(c).all(1)
        a = c[good] - c[good].mean(0)
        b = ref[good] - ref[good].mean(0)
        u, s, vt = np.linalg.svd(a.T @ b)
        r = u @ vt
        scale = s.sum() / max((a ** 2).sum(), 1e-12)
        f.coords = ((c - c[good].mean(0)) @ r * scale + ref[good].mean(0)).astype(np.float32)
        f.title = ""
    allc = np.concatenate([f.coords for f in frames])
    allc = allc[np.isfinite(allc).all(1)]
    lo, hi = allc.min(0), allc.max(0)
    pad = (hi - lo) * 0.05
    lims = list(zip(lo - pad, hi + pad))
    return Animation(frames, _labels(len(frames), steps), title=f"{method.upper()} of {layer!r} during training",
                     fps=fps, plot_kwargs={"limits": lims})


# -- the forward pass of a small MLP --------------------------------------------------------------

class ForwardPass(Result):
    """A small MLP's forward pass for one input: per layer the (shown) units and their
    activations, and the weights between shown units.

    ``layers[k]`` = ``{"name", "units" (shown indices), "size", "values" (activations of
    the shown units)}``; ``weights[k]`` connects layer ``k`` to ``k + 1`` (``(out, in)`` of
    the shown units). ``plot(step=k)`` lights the network up to layer ``k``; saving as
    ``.gif``/``.mp4``/``.html`` animates it layer by layer.
    """

    kind = "forward_pass"
    schema = {"kind": "str", "layers": [{"name": "str", "units": "int[*]", "size": "int", "values": "float[*]"}],
              "weights": "any", "title": "str"}

    def __init__(self, layers: list[dict], weights: list[np.ndarray], class_names=None, title: str = ""):
        self.layers, self.weights, self.class_names, self.title = layers, weights, class_names, title

    @property
    def steps(self) -> int:
        return len(self.layers)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layers": self.layers, "weights": self.weights, "title": self.title}

    def plot(self, ax=None, step: int | None = None):
        import matplotlib
        import matplotlib.pyplot as plt
        from matplotlib.collections import LineCollection

        from . import colorbar, finite_absmax

        step = self.steps - 1 if step is None else step
        if ax is None:
            fig, ax = plt.subplots(figsize=(10, 6.2), layout="constrained")
        L = len(self.layers)
        xs = np.linspace(0, 1, L)
        ys = []
        for lay in self.layers:
            n = len(lay["units"])
            ys.append(np.linspace(0.95, 0.05, n) if n > 1 else np.array([0.5]))
        wmax = max(finite_absmax(w) for w in self.weights) if self.weights else 1.0
        wnorm = matplotlib.colors.Normalize(-wmax, wmax)
        wcmap = matplotlib.colormaps["RdBu_r"]
        for k, w in enumerate(self.weights):
            lit = k + 1 <= step
            segs, cols, widths = [], [], []
            order = np.argsort(np.abs(np.nan_to_num(w)).ravel())  # strongest drawn last, on top
            for flat in order:
                j, i = divmod(int(flat), w.shape[1])
                segs.append([(xs[k], ys[k][i]), (xs[k + 1], ys[k + 1][j])])
                v = w[j, i]
                if not np.isfinite(v):
                    cols.append((0, 0.82, 0, 1))
                    widths.append(2.0)
                    continue
                c = wcmap(wnorm(v)) if lit else (0.75, 0.75, 0.75, 1)
                cols.append((*c[:3], 0.85 if lit else 0.35))
                widths.append(0.2 + 2.8 * abs(v) / wmax)
            ax.add_collection(LineCollection(segs, colors=cols, linewidths=widths, zorder=1))
        amax = max(finite_absmax(np.asarray(lay["values"])) for lay in self.layers)
        acmap = matplotlib.colormaps["RdBu_r"].copy()
        anorm = matplotlib.colors.Normalize(-amax, amax)
        for k, lay in enumerate(self.layers):
            vals = np.asarray(lay["values"], dtype=float)
            lit = k <= step
            face = [((0, 0.82, 0, 1) if not np.isfinite(v) else acmap(anorm(v))) if lit else (0.93, 0.93, 0.93, 1)
                    for v in vals]
            size = 260 if len(vals) <= 12 else 140
            ax.scatter(np.full(len(vals), xs[k]), ys[k], s=size, c=face, edgecolors="0.2", linewidths=0.8,
                       zorder=3)
            hidden = lay["size"] - len(lay["units"])
            head = f"{lay['name']}\n{lay['size']} units" + (f"\n(showing {len(vals)} largest |a|)" if hidden else "")
            ax.text(xs[k], 1.02, head, ha="center", va="bottom", fontsize=8)
            if k == L - 1:
                names = self.class_names or [str(u) for u in lay["units"]]
                best = int(np.nanargmax(vals)) if lit and np.isfinite(vals).any() else -1
                for j, u in enumerate(lay["units"]):
                    ax.text(xs[k] + 0.025, ys[k][j], f"{names[u] if u < len(names) else u}  {vals[j]:.2f}"
                            if lit else str(names[u] if u < len(names) else u), va="center", fontsize=8,
                            fontweight="bold" if j == best else "normal")
        ax.set_xlim(-0.05, 1.12)
        ax.set_ylim(0, 1.12)
        ax.axis("off")
        sm = plt.cm.ScalarMappable(norm=anorm, cmap=acmap)
        colorbar(sm, ax, "activation (node colour)", orientation="vertical")
        smw = plt.cm.ScalarMappable(norm=wnorm, cmap=wcmap)
        colorbar(smw, ax, "weight (edge colour; width = |weight|)", orientation="vertical")
        ax.set_title(self.title or "Forward pass", fontsize=10)
        return ax

    def animation(self, fps: float = 1.5) -> Animation:
        """The layer-by-layer animation (one frame per layer reached)."""
        frames = [_Step(self, k) for k in range(self.steps)]
        labels = [f"layer {k}: {lay['name']}" for k, lay in enumerate(self.layers)]
        return Animation(frames, labels, title="", fps=fps, figsize=(10, 6.2))  # each frame has its title

    def _save_native(self, path: Path) -> bool:
        if path.suffix.lower() in (".gif", ".mp4"):
            self.animation().save(path)
            return True
        return False

    def to_html(self) -> str:
        return self.animation().to_html()

    def save_formats(self) -> set[str]:
        return super().save_formats() | {".gif", ".mp4"}


class _Step(Result):
    kind = "forward_pass_step"
    #: ``pass``: the whole ForwardPass's ``to_dict()``, so that a frame logged or animated on its own can be drawn
    schema = {"kind": "str", "step": "int", "pass": "dict"}

    def __init__(self, fp: ForwardPass, step: int):
        self.fp, self.step = fp, step

    def to_dict(self) -> dict:
        return {"kind": self.kind, "step": self.step, "pass": self.fp.to_dict()}

    def plot(self, ax=None):
        return self.fp.plot(ax=ax, step=self.step)


def animate_forward(model: nn.Module, x: torch.Tensor, *, max_units: int = 16, class_names=None,
                    softmax: bool = True) -> ForwardPass:
    """Draw one input's forward pass through a small MLP (a chain of ``nn.Linear`` layers
    with activations between them): nodes coloured by activation, edges coloured and sized by
    weight, lit layer by layer when saved as GIF/MP4/HTML. A network with convolutions is
    drawn as its feature maps instead, stage by stage from the input image
    (:class:`~neuralscope.plot.conv_forward.ConvForwardPass`; ``max_units`` is the number of
    maps shown per stage).

    Layers wider than ``max_units`` show their ``max_units`` units of largest
    ``|activation|`` (the figure says so). The last layer shows the outputs (softmax
    probabilities when ``softmax``).

    Example:
        >>> from neuralscope.zoo import MLP
        >>> net = MLP(hidden=(8,))
        >>> fp = animate_forward(net, net.example_input(1))
        >>> [lay["size"] for lay in fp.layers]
        [64, 8, 10]
    """
    if not torch.is_tensor(x):
        raise InputShapeError(f"animate_forward needs one input tensor, not {type(x).__name__}.")
    if x.dim() >= 2 and x.shape[0] != 1:
        raise InputShapeError(f"animate_forward draws one input; got a batch of {x.shape[0]} (pass x[:1]).")
    from .conv_forward import animate_conv, is_convolutional

    if is_convolutional(model):
        return animate_conv(model, x, max_maps=max_units, class_names=class_names, softmax=softmax)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise LayerNotFoundError("<nn.Linear>", [n for n, _ in model.named_modules() if n],
                                 what="nn.Linear layer (animate_forward draws MLPs)")
    seen: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    acts: dict[int, torch.Tensor] = {}
    with preserve_model_state(model), torch.no_grad():
        model.eval()
        order: list[str] = []

        def make(name):
            def hook(mod, args, out):
                order.append(name)
                seen.append((name, args[0].detach().reshape(-1).float().cpu(), out.detach().reshape(-1).float().cpu()))
            return hook

        act_mods = [m for _, m in model.named_modules() if not isinstance(m, nn.Linear)
                    and not any(True for _ in m.children())]
        keep_act = lambda mod, a, out: (acts.__setitem__(len(seen), out.detach().reshape(-1).float().cpu())
                                        if torch.is_tensor(out) else None)
        names = {n for n, _ in linears}
        x = x.to(next(model.parameters()).device) if any(True for _ in model.parameters()) else x
        with TorchAdapter(model).hooks([m for _, m in linears] + act_mods,
                                       post=lambda name, m: make(name) if name in names else keep_act):
            out = forward_with_context(model, x if x.dim() >= 2 else x[None])  # ModelForwardError names the layer
        mods = dict(linears)
        layers, weights = [], []
        for k, (name, inp, o) in enumerate(seen):
            if k == 0:
                layers.append(_layer("input", inp, max_units))
            w = mods[name].weight.detach().float().cpu().numpy()
            if w.shape[1] != len(inp):
                raise InputShapeError(f"Layer {name!r} was not applied to a single vector; animate_forward needs "
                                      "an MLP run on one input.")
            is_last = k == len(seen) - 1
            # the activation after this Linear (if an activation module ran before the next Linear)
            val = acts.get(k + 1, o) if not is_last else (torch.softmax(o, 0) if softmax else o)
            layers.append(_layer(name + (" (softmax)" if is_last and softmax else ""), val,
                                 len(val) if is_last else max_units))
            weights.append(w[np.ix_(layers[-1]["units"], layers[-2]["units"])])
    title = f"Forward pass of {type(model).__name__}: predicted {int(torch.as_tensor(out).argmax())}"
    if class_names:
        title = f"Forward pass of {type(model).__name__}: predicted {class_names[int(torch.as_tensor(out).argmax())]}"
    return ForwardPass(layers, weights, class_names, title)


def _layer(name: str, values: torch.Tensor, max_units: int) -> dict:
    v = values.numpy()
    if len(v) > max_units:
        units = np.sort(np.argsort(-np.abs(np.nan_to_num(v, nan=np.inf)), kind="stable")[:max_units])
    else:
        units = np.arange(len(v))
    return {"name": name, "units": units, "size": int(len(v)), "values": v[units]}


__all__ = ["Animation", "ForwardPass", "animate", "animate_forward", "embeddings_over_training",
           "feature_maps_over_training", "ffmpeg_available", "weights_over_training"]
