"""The optimization loop: ``feature_vis(model, objective)`` -> :class:`FeatureVis`.

Activation maximization with the regularizers of Olah, Mordvintsev & Schubert, "Feature
Visualization" (Distill 2017): a decorrelated parameterization (:mod:`.param`) and random
transformations every step (:mod:`.transforms`). Many units are optimized together as one
batch (image ``i`` maximizes unit ``i``), and the forward pass stops at the deepest layer the
objective reads.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..adapters.keras_autodiff import keras_models_too
from ..adapters.torch import TorchAdapter, first_tensor, forward_with_context, model_device, preserve_model_state
from ..errors import InputShapeError
from ..progress import progress
from ..result import Result
from . import transforms as T
from .objectives import OUTPUT, Objective, ObjectiveError, as_objective
from .param import ImageParam, make_param


class _Stop(BaseException):
    """Raised by a hook once every layer the objective needs has run (skips the rest)."""


class _Capture:
    """The outputs of the objective's layers, recorded through the model's adapter for as
    long as the optimisation runs (:meth:`remove` ends the recording); with ``stop_early``
    the forward pass stops once every layer the objective reads has run."""

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        self.model = model
        self.needs_output = OUTPUT in layers
        adapter = TorchAdapter(model)
        self.names = {spec: adapter.layer(spec)[0] for spec in layers if spec != OUTPUT}
        self.stop_early = False
        stops = {name: self._stop_when_done for name in self.names.values()}
        self._recording = adapter.recording(list(self.names.values()), keep="live", replace=stops, in_order=False)
        self.rec = self._recording.__enter__()

    def _stop_when_done(self, output: Any) -> None:
        if self.stop_early and not self.needs_output and not self.rec.missing:
            raise _Stop

    def run(self, x: torch.Tensor, checked: bool = False) -> dict[str, torch.Tensor]:
        self.rec.clear()
        acts: dict[str, torch.Tensor] = {}
        try:
            out = forward_with_context(self.model, x) if checked else self.model(x)
            if self.needs_output:
                acts[OUTPUT] = first_tensor(out)
        except _Stop:
            pass
        kept = self.rec.kept()
        acts.update({spec: kept[name][-1] for spec, name in self.names.items() if kept[name]})
        return acts

    def remove(self):
        self._recording.__exit__(None, None, None)


def _input_geometry(model: nn.Module, size, channels) -> tuple[int, int, int]:
    shape = tuple(getattr(model, "input_shape", ()) or ())
    if channels is None:
        channels = shape[0] if len(shape) == 3 else 3
    if size is None:
        size = shape[1:] if len(shape) == 3 else 128
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return int(channels), int(h), int(w)


def _iter_batches(dataset: Any, batch_size: int) -> Iterable[torch.Tensor]:
    if torch.is_tensor(dataset):
        for i in range(0, dataset.shape[0], batch_size):
            yield dataset[i:i + batch_size]
        return
    for item in dataset:
        yield item[0] if isinstance(item, (tuple, list)) else item


def unit_activations(model: nn.Module, objective: Objective | str, inputs: Any, *,
                     preprocess: Callable | None = None, batch_size: int = 256) -> torch.Tensor:
    """``(N, U)``: the value of every unit of ``objective`` for every input (no gradients).

    ``inputs`` is a tensor ``(N, C, H, W)`` or an iterable of batches (or ``(x, y)`` pairs).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> unit_activations(DigitsCNN(), "features.2:0-3", torch.rand(5, 1, 8, 8)).shape
        torch.Size([5, 4])
    """
    objective = as_objective(objective)
    dev = model_device(model)
    chunks = []
    with preserve_model_state(model), torch.no_grad():
        model.eval()
        cap = _Capture(model, objective.layers)
        cap.stop_early = True
        try:
            first = True
            for xb in _iter_batches(inputs, batch_size):
                xb = xb.to(dev)
                if preprocess is not None:
                    xb = preprocess(xb)
                acts = cap.run(xb, checked=first)
                if first:
                    objective.check(acts)
                    first = False
                chunks.append(objective.unit_values(acts).float().cpu())
        finally:
            cap.remove()
    if not chunks:
        raise InputShapeError("The dataset given for dataset examples is empty.")
    return torch.cat(chunks)


@keras_models_too(inputs=False)
def feature_vis(model: nn.Module, objective: Objective | str, *, param: str | ImageParam = "fft",
                size: int | tuple[int, int] | None = None, channels: int | None = None,
                batch: int | None = None, steps: int = 256, lr: float = 0.05,
                transforms: str | Sequence[Callable] | None = "standard", decorrelate: bool = True,
                preprocess: Callable | None = None, thresholds: Sequence[int] = (), seed: int = 0,
                dataset: Any = None, top_k: int = 6, patches: bool = False,
                show_progress: bool | None = None) -> "FeatureVis":
    """Optimize images that maximize ``objective`` (activation maximization).

    Args:
        model: any PyTorch image model, or a Keras model (its gradients come from the Keras
            backend; layer names are Keras names; images are returned channels-first,
            ``(batch, C, H, W)``, for every framework); it is left exactly as found (run in
            eval mode inside).
        objective: an :class:`Objective` (``channel``, ``neuron``, ``layer_total``,
            ``direction``, ``class_logit``, sums, ``diversity``) or ``"layer:channel"`` /
            ``"layer:0-15"`` (one image per channel, optimized together as one batch).
        param: ``"fft"`` (1/f Fourier, default), ``"pixels"``, or an :class:`ImageParam`.
        size, channels: image size and colour channels (default: the zoo model's input shape,
            else 128 x 128 RGB).
        batch: number of images (default: one per unit of the objective).
        steps, lr: Adam steps and learning rate.
        transforms: ``"standard"`` (pad, jitter, scale, rotate, jitter; scaled to the size),
            ``"strong"`` (larger shifts, zooms and turns: :func:`~.transforms.strong_transforms`),
            ``None``, or a list of transforms.
        preprocess: applied to the image after the transforms (e.g. normalization).
        thresholds: steps at which to keep a snapshot of the images.
        seed: seeds the initial image and the random transforms (same seed, same images).
        dataset: inputs ``(N, C, H, W)`` (or batches) to find each unit's top-``top_k``
            activating examples, shown beside the visualizations.
        patches: with ``dataset`` and a channel objective of a convolutional layer, the
            examples are the patches the unit saw: each top input (ranked by the channel's
            peak over positions) cropped to the receptive field where it peaks
            (:func:`~neuralscope.featurevis.patches.top_patches`).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> fv = feature_vis(DigitsCNN(), "features.5:0-3", steps=8)
        >>> fv.images.shape
        (4, 1, 8, 8)
    """
    objective = as_objective(objective)
    units = objective.num_units
    batch = units if batch is None else int(batch)
    if units not in (1, batch):
        raise ObjectiveError(f"The objective has {units} units but batch={batch}; use batch={units} or one unit.")
    C, H, W = _input_geometry(model, size, channels)
    if isinstance(transforms, str) and transforms in T.TRANSFORM_SETS:
        tfs = T.TRANSFORM_SETS[transforms](min(H, W))
    elif transforms is None:
        tfs = []
    elif isinstance(transforms, str):
        raise ValueError(f"transforms must be 'standard', 'strong', None or a list of transforms, not {transforms!r}.")
    else:
        tfs = list(transforms)
    if tfs and getattr(model, "fixed_input_size", None):
        tfs.append(T.resize(model.fixed_input_size))  # the model takes one size only
    transform = T.compose(tfs)
    dev = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    image = make_param(param, batch, C, H, W, decorrelate=decorrelate, device=dev, generator=gen)
    thresholds = sorted({int(t) for t in thresholds if 0 < int(t) <= steps})
    snapshots: dict[int, np.ndarray] = {}
    history = np.zeros((steps, batch), dtype=np.float32)
    t0 = time.perf_counter()
    with preserve_model_state(model):
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        cap = _Capture(model, objective.layers)
        try:
            opt = _adam(image.params(), lr)
            for step in progress(range(1, steps + 1), total=steps, desc="feature vis", enabled=show_progress):
                opt.zero_grad(set_to_none=True)
                x = transform(image(), gen)
                if preprocess is not None:
                    x = preprocess(x)
                acts = cap.run(x, checked=step == 1)
                if step == 1:
                    objective.check(acts)
                    cap.stop_early = True
                vals = objective.batch_values(acts)
                (-vals.sum()).backward()
                opt.step()
                history[step - 1] = vals.detach().float().cpu().numpy()
                if step in thresholds:
                    snapshots[step] = image().detach().float().cpu().numpy()
            with torch.no_grad():
                final = image().detach()
                x = final if preprocess is None else preprocess(final)
                acts = cap.run(x)
                unit_vals = objective.unit_values(acts)
                values = unit_vals.diagonal() if unit_vals.shape[1] == batch else unit_vals[:, 0]
        finally:
            cap.remove()
    seconds = time.perf_counter() - t0
    result = FeatureVis(final.float().cpu().numpy(), objective.unit_labels() if units == batch else
                        [objective.unit_labels()[0]] * batch, values=values.float().cpu().numpy(),
                        history=history, snapshots=snapshots, objective=repr(objective),
                        param=param if isinstance(param, str) else type(param).__name__, seed=seed,
                        seconds=seconds)
    if dataset is not None:
        result.add_dataset_examples(model, objective, dataset, top_k=top_k, preprocess=preprocess, patches=patches)
    return result


class _Adam:
    """Adam (Kingma and Ba 2015) with torch's defaults, written out: used instead of
    ``torch.optim.Adam`` when TensorFlow is loaded and ``torch._dynamo`` is not, because the
    first torch optimizer imports ``torch._dynamo`` and with it Triton, whose import crashes
    a process that has loaded TensorFlow (torch 2.14, TensorFlow 2.21)."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))


def _adam(params, lr: float):
    import sys

    if "tensorflow" in sys.modules and "torch._dynamo" not in sys.modules:
        return _Adam(params, lr)
    return torch.optim.Adam(params, lr=lr)


class FeatureVis(Result):
    """Optimized images and what they reach.

    Attributes:
        images: ``(B, C, H, W)`` floats in ``[0, 1]``, one per unit (or per batch element).
        labels: the unit of each image (``"features.6:3"``).
        values: the unit's value for the final image (no transforms).
        history: ``(steps, B)`` objective value during optimization (under the transforms).
        snapshots: ``{step: images}`` saved at the ``thresholds``.
        examples, example_values, example_indices: per unit, the dataset inputs that activate
            it most (``(B, k, C, H, W)``), their values and their indices in the dataset.
        dataset_quantiles: per unit, the 50/90/99/100th percentiles over the dataset.
        example_boxes: ``(B, k, 4)`` with patches, where each example was cut from its input
            (``top, left, bottom, right``); ``None`` when the examples are whole inputs.

    Example:
        >>> fv = FeatureVis(np.zeros((2, 1, 4, 4)), ["a:0", "a:1"], values=np.array([1.0, 2.0]))
        >>> fv.to_dict()["labels"]
        ['a:0', 'a:1']
    """

    kind = "feature_vis"
    #: the dataset fields are ``None`` until :meth:`add_dataset_examples`; ``snapshots``: step -> images
    schema = {"kind": "str", "objective": "str", "param": "str", "seed": "int", "labels": "str[b]",
              "images": "float[b, c, h, w]", "values": "float[b]?", "history": "float[*, b]?",
              "snapshots": {"*": "float[b, c, h, w]"}, "examples": "float[b, k, ...]?", "example_values": "float[b, k]?",
              "example_indices": "int[b, k]?", "example_boxes": "int[b, k, 4]?", "dataset_quantiles": "float[b, q]?",
              "quantile_levels": "float[q]", "seconds": "float"}
    QUANTILES = (0.5, 0.9, 0.99, 1.0)

    def __init__(self, images: np.ndarray, labels: Sequence[str], values: np.ndarray | None = None,
                 history: np.ndarray | None = None, snapshots: dict[int, np.ndarray] | None = None,
                 objective: str = "", param: str = "fft", seed: int = 0, seconds: float = 0.0):
        self.images = np.asarray(images, dtype=np.float32)
        self.labels = list(labels)
        self.values = None if values is None else np.asarray(values, dtype=np.float32)
        self.history = history
        self.snapshots = snapshots or {}
        self.objective, self.param, self.seed, self.seconds = objective, param, seed, seconds
        self.examples = self.example_values = self.example_indices = self.example_boxes = None
        self.dataset_quantiles: np.ndarray | None = None

    def add_dataset_examples(self, model: nn.Module, objective: Objective | str, dataset: Any, top_k: int = 6,
                             preprocess: Callable | None = None, patches: bool = False) -> "FeatureVis":
        """Find each unit's top-``top_k`` activating inputs in ``dataset`` (kept on the result);
        ``patches``: the receptive-field patches where each channel peaks instead (see
        :func:`feature_vis`)."""
        objective = as_objective(objective)
        if patches:
            return self._add_patches(model, objective, dataset, top_k, preprocess)
        vals = unit_activations(model, objective, dataset, preprocess=preprocess)  # (N, U)
        data = dataset if torch.is_tensor(dataset) else torch.cat(list(_iter_batches(dataset, 256)))
        if vals.shape[1] == 1 and len(self.labels) > 1:
            vals = vals.expand(-1, len(self.labels))
        k = min(top_k, vals.shape[0])
        top = torch.topk(vals, k, dim=0)  # (k, U)
        idx = top.indices.T.numpy()
        self.example_indices = idx
        self.example_values = top.values.T.numpy()
        self.examples = data[torch.as_tensor(idx)].float().cpu().numpy()
        self.dataset_quantiles = np.quantile(vals.numpy(), self.QUANTILES, axis=0).T
        return self

    def _add_patches(self, model: nn.Module, objective: Objective, dataset: Any, top_k: int,
                     preprocess: Callable | None) -> "FeatureVis":
        from .patches import top_patches

        where = objective.channels()
        if where is None:
            raise ObjectiveError(f"Patches need one channel or neuron objective of a convolutional layer, "
                                 f"not {objective!r}.")
        tp = top_patches(model, where[0], where[1], dataset, k=top_k, preprocess=preprocess, levels=self.QUANTILES)
        self.examples, self.example_values, self.example_indices = tp.patches, tp.values, tp.indices
        self.example_boxes, self.dataset_quantiles = tp.boxes, tp.quantiles
        return self

    def to_dict(self) -> dict:
        return {"kind": self.kind, "objective": self.objective, "param": self.param, "seed": self.seed,
                "labels": self.labels, "images": self.images, "values": self.values, "history": self.history,
                "snapshots": {str(k): v for k, v in self.snapshots.items()}, "examples": self.examples,
                "example_values": self.example_values, "example_indices": self.example_indices,
                "example_boxes": self.example_boxes, "dataset_quantiles": self.dataset_quantiles, "quantile_levels": list(self.QUANTILES),
                "seconds": self.seconds}

    def _title(self) -> str:
        return f"Feature visualization: {self.objective}"

    @staticmethod
    def _show(ax, img: np.ndarray, crisp: bool = False) -> None:
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(np.clip(np.moveaxis(img[:3], 0, -1), 0, 1), interpolation="nearest" if crisp else "bilinear")
        ax.set_xticks([])
        ax.set_yticks([])

    def plot(self, ax=None, examples: bool = True, max_units: int = 64, cell: float = 1.35):
        """A grid: each unit's visualization; with dataset examples, one row per unit
        (visualization, then its top activating inputs, each titled with its value)."""
        import matplotlib.pyplot as plt

        n = min(len(self.labels), max_units)
        with_ex = examples and self.examples is not None
        if with_ex:
            k = self.examples.shape[1]
            fig, axes = plt.subplots(n, k + 1, figsize=(cell * (k + 1) + 0.4, cell * n + 0.8), squeeze=False)
            for i in range(n):
                a = axes[i, 0]
                self._show(a, self.images[i])
                v = "" if self.values is None else f" = {self.values[i]:.3g}"
                a.set_title(f"{self.labels[i]}{v}", fontsize=8, color="#b00020")
                for j in range(k):
                    self._show(axes[i, j + 1], self.examples[i, j], crisp=self.example_boxes is not None)
                    axes[i, j + 1].set_title(f"{self.example_values[i, j]:.3g}", fontsize=7)
            axes[0, 0].annotate("visualization", (0.5, 1.35), xycoords="axes fraction", ha="center",
                                fontsize=9, weight="bold")
            what = "patches (receptive field at the peak; peak" if self.example_boxes is not None else "dataset examples (the"
            axes[0, 1 + k // 2].annotate(f"top {k} {what} activation)", (0.5, 1.35),
                                         xycoords="axes fraction", ha="center", fontsize=9, weight="bold")
            fig.subplots_adjust(wspace=0.08, hspace=0.45)
            return fig
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + 0.4, (cell + 0.35) * rows + 0.6), squeeze=False,
                                 gridspec_kw={"hspace": 0.55, "wspace": 0.1})
        for i, a in enumerate(axes.flat):
            if i >= n:
                a.axis("off")
                continue
            self._show(a, self.images[i])
            v = "" if self.values is None else f"\n{self.values[i]:.3g}"
            a.set_title(f"{self.labels[i]}{v}", fontsize=8)
        fig.suptitle(self.objective if len(self.objective) < 80 else self.objective[:77] + "...", fontsize=9)
        return fig

    def plot_progress(self, unit: int = 0, ax=None):
        """The snapshots at the thresholds for one unit, left to right, plus the objective curve."""
        import matplotlib.pyplot as plt

        steps = sorted(self.snapshots)
        fig, axes = plt.subplots(1, len(steps) + 1, figsize=(1.6 * len(steps) + 3.6, 2.2), squeeze=False,
                                 gridspec_kw={"width_ratios": [1] * len(steps) + [2.2]})
        for a, s in zip(axes[0], steps):
            self._show(a, self.snapshots[s][unit])
            a.set_title(f"step {s}", fontsize=8)
        a = axes[0, -1]
        if self.history is not None:
            a.plot(np.arange(1, len(self.history) + 1), self.history[:, unit])
        a.set_xlabel("step")
        a.set_ylabel("objective")
        a.set_title(self.labels[unit], fontsize=8)
        fig.tight_layout()
        return fig
