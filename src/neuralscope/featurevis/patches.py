"""Where a convolutional unit looks, and the pieces of real inputs that excite a channel most.

A channel of a convolutional layer is one detector applied at every position; a whole top
input says little about *what* it detected when the detector sees a 15-pixel window of a
64-pixel scene. :func:`top_patches` finds, for each channel, the inputs where it peaks
highest (its spatial maximum) and crops each around that position to the unit's receptive
field: the patch the unit actually saw (Zeiler & Fergus 2014, Sec. 4; Olah et al.,
"Feature Visualization", Distill 2017, "dataset examples"). :func:`receptive_field` measures
that field from gradients (the input pixels the centre unit's gradient reaches), so it
follows whatever the layers are; :func:`selective_channels` ranks channels by how
selectively they fire over a dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..adapters.torch import TorchAdapter, model_device, preserve_model_state
from ..errors import InputShapeError
from .objectives import ObjectiveError


@dataclass(frozen=True)
class ReceptiveField:
    """The input window of a layer's units: unit ``(y, x)`` sees rows
    ``offset[0] + stride[0] * y`` up to (not including) that plus ``size[0]``, and the same for
    columns.

    Example:
        >>> ReceptiveField(size=(15, 15), stride=(4, 4), offset=(-6, -6)).box(2, 3)
        (2, 6, 17, 21)
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` of unit ``(y, x)``'s window, in input pixels (it may
        reach past the image's border, where the layer saw padding)."""
        top, left = self.offset[0] + self.stride[0] * y, self.offset[1] + self.stride[1] * x
        return top, left, top + self.size[0], left + self.size[1]


def _layer_output(model: nn.Module, layer: str, x: torch.Tensor, grad: bool) -> torch.Tensor:
    """The output of ``layer`` for ``x`` (the forward pass runs to the end)."""
    name = TorchAdapter(model).layer(layer)[0]
    with TorchAdapter(model).recording([name], keep="live") as rec, torch.set_grad_enabled(grad):
        model(x)
        kept = rec.kept()[name]
    if not kept:
        raise ObjectiveError(f"Layer {layer!r} did not run in the model's forward pass.")
    out = kept[-1]
    if not torch.is_tensor(out) or out.dim() != 4:
        raise ObjectiveError(f"Layer {layer!r} gives {tuple(getattr(out, 'shape', ()))}; patches need a "
                             "convolutional layer's (batch, channels, height, width) output.")
    return out


def receptive_field(model: nn.Module, layer: str, input_shape: Sequence[int], *, probes: int = 4,
                    seed: int = 0) -> ReceptiveField:
    """The receptive field of ``layer``'s units for inputs of ``input_shape`` ``(C, H, W)``:
    the bounding box of the input pixels that the gradient of the centre unit (all channels
    summed) reaches, over ``probes`` random inputs (one input can leave parts of the field
    unreached behind a ReLU or a max-pool), and the layer's stride (input size over its grid's
    size). A field larger than the input is measured as far as the input reaches. The model
    is left as found (run in eval mode inside).

    Example:
        >>> from neuralscope.zoo import SceneCNN
        >>> receptive_field(SceneCNN(), "features.6", (3, 64, 64))
        ReceptiveField(size=(15, 15), stride=(4, 4), offset=(-6, -6))
    """
    c, h, w = (int(v) for v in input_shape)
    gen = torch.Generator().manual_seed(seed)
    reached = torch.zeros(h, w, dtype=torch.bool)
    with preserve_model_state(model):
        model.eval()
        dev = model_device(model)
        x = torch.rand((probes, c, h, w), generator=gen).to(dev).requires_grad_(True)
        out = _layer_output(model, layer, x, grad=True)
        gh, gw = out.shape[-2:]
        cy, cx = gh // 2, gw // 2
        (grad,) = torch.autograd.grad(out[:, :, cy, cx].sum(), x)
        reached |= (grad.abs().sum((0, 1)) > 0).cpu()
    rows, cols = torch.nonzero(reached.any(1)).flatten(), torch.nonzero(reached.any(0)).flatten()
    if len(rows) == 0:
        raise ObjectiveError(f"No input pixel reaches layer {layer!r}'s centre unit through its gradient; "
                             "its receptive field cannot be measured.")
    stride = (max(1, h // gh), max(1, w // gw))
    top, left = int(rows[0]), int(cols[0])
    size = (int(rows[-1]) - top + 1, int(cols[-1]) - left + 1)
    return ReceptiveField(size=size, stride=stride, offset=(top - stride[0] * cy, left - stride[1] * cx))


def _batches(dataset: Any, batch_size: int):
    if torch.is_tensor(dataset):
        for i in range(0, dataset.shape[0], batch_size):
            yield dataset[i:i + batch_size]
        return
    for item in dataset:
        yield item[0] if isinstance(item, (tuple, list)) else item


def channel_peaks(model: nn.Module, layer: str, channels: Sequence[int], dataset: Any, *,
                  preprocess=None, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """For every input and channel, the channel's highest value over the positions and where:
    ``(peaks (N, U), positions (N, U) as flat indices, (grid height, grid width))``.

    Example:
        >>> from neuralscope.zoo import SceneCNN
        >>> peaks, where, grid = channel_peaks(SceneCNN(), "features.6", [0, 5], torch.rand(3, 3, 64, 64))
        >>> tuple(peaks.shape), grid
        ((3, 2), (16, 16))
    """
    dev = model_device(model)
    peaks, where, grid = [], [], None
    with preserve_model_state(model), torch.no_grad():
        model.eval()
        for xb in _batches(dataset, batch_size):
            xb = xb.to(dev)
            out = _layer_output(model, layer, xb if preprocess is None else preprocess(xb), grad=False)
            if grid is None:
                grid = tuple(out.shape[-2:])
                bad = [c for c in channels if not -out.shape[1] <= c < out.shape[1]]
                if bad:
                    raise ObjectiveError(f"channel {bad[0]} is out of range for layer {layer!r} with "
                                         f"{out.shape[1]} channels (valid: 0..{out.shape[1] - 1}).")
            v, i = out[:, list(channels)].flatten(2).max(-1)
            peaks.append(v.float().cpu())
            where.append(i.cpu())
    if grid is None:
        raise InputShapeError("The dataset given for patches is empty.")
    return torch.cat(peaks), torch.cat(where), grid


def crop(image: torch.Tensor, box: tuple[int, int, int, int], fill: float = 0.5) -> torch.Tensor:
    """``image[:, top:bottom, left:right]``, padded with ``fill`` where the box leaves the image.

    Example:
        >>> crop(torch.ones(1, 4, 4), (-1, 2, 2, 5))[0]
        tensor([[0.5000, 0.5000, 0.5000],
                [1.0000, 1.0000, 0.5000],
                [1.0000, 1.0000, 0.5000]])
    """
    top, left, bottom, right = box
    h, w = image.shape[-2:]
    pads = (max(0, -left), max(0, right - w), max(0, -top), max(0, bottom - h))
    padded = F.pad(image, pads, value=fill)
    return padded[..., top + pads[2]:bottom + pads[2], left + pads[0]:right + pads[0]]


@dataclass
class TopPatches:
    """Per channel, the ``k`` inputs where it peaks highest, cropped to its receptive field.

    ``patches (U, k, C, h, w)``, ``values (U, k)`` (the peak), ``indices (U, k)`` (into the
    dataset), ``boxes (U, k, 4)`` (``top, left, bottom, right`` in the input),
    ``quantiles (U, q)`` (of each channel's peak over the dataset at ``levels``).
    """

    patches: np.ndarray
    values: np.ndarray
    indices: np.ndarray
    boxes: np.ndarray
    quantiles: np.ndarray
    field: ReceptiveField


def top_patches(model: nn.Module, layer: str, channels: Sequence[int], dataset: Any, *, k: int = 4,
                preprocess=None, levels: Sequence[float] = (0.5, 0.9, 0.99, 1.0), fill: float = 0.5) -> TopPatches:
    """The ``k`` dataset inputs on which each channel of ``layer`` peaks highest, each cropped
    to the receptive field of the position where it peaks (one patch per input). ``dataset``
    is a tensor ``(N, C, H, W)`` or batches; ``preprocess`` is applied before the model, the
    patches are cut from the inputs as given. The model is left as found.

    Example:
        >>> from neuralscope.zoo import SceneCNN
        >>> tp = top_patches(SceneCNN(), "features.6", [0, 1], torch.rand(6, 3, 64, 64), k=2)
        >>> tp.patches.shape
        (2, 2, 3, 15, 15)
    """
    data = dataset if torch.is_tensor(dataset) else torch.cat(list(_batches(dataset, 256)))
    peaks, where, (gh, gw) = channel_peaks(model, layer, channels, data, preprocess=preprocess)
    field = receptive_field(model, layer, data.shape[1:])
    k = min(k, len(data))
    top = torch.topk(peaks, k, dim=0)  # (k, U)
    indices = top.indices.T  # (U, k)
    patches, boxes = [], []
    for u in range(len(channels)):
        row_p, row_b = [], []
        for i in indices[u].tolist():
            y, x = divmod(int(where[i, u]), gw)
            box = field.box(y, x)
            row_p.append(crop(data[i].float().cpu(), box, fill))
            row_b.append(box)
        patches.append(torch.stack(row_p))
        boxes.append(row_b)
    return TopPatches(torch.stack(patches).numpy(), top.values.T.numpy(), indices.numpy(),
                      np.asarray(boxes, dtype=np.int64), np.quantile(peaks.numpy(), list(levels), axis=0).T, field)


def selective_channels(model: nn.Module, layer: str, dataset: Any, n: int, *, top: int = 10,
                       preprocess=None) -> list[int]:
    """The ``n`` channels of ``layer`` that fire most selectively over ``dataset``: ranked by
    the mean of their ``top`` highest peaks over the mean of all their peaks (a detector
    that fires strongly on few inputs ranks above one that fires a little on all, or never).

    Example:
        >>> from neuralscope.zoo import SceneCNN
        >>> len(selective_channels(SceneCNN(), "features.6", torch.rand(12, 3, 64, 64), 4))
        4
    """
    data = dataset if torch.is_tensor(dataset) else torch.cat(list(_batches(dataset, 256)))
    width = _layer_width(model, layer, data[:1], preprocess)
    peaks, _, _ = channel_peaks(model, layer, range(width), data, preprocess=preprocess)
    best = torch.topk(peaks, min(top, len(peaks)), dim=0).values.mean(0)
    ratio = best / peaks.mean(0).clamp_min(1e-6)
    ratio[best <= 0] = -1.0  # a channel that never fires is not a detector
    return torch.argsort(ratio, descending=True)[:n].tolist()


def _layer_width(model: nn.Module, layer: str, x: torch.Tensor, preprocess) -> int:
    with preserve_model_state(model), torch.no_grad():
        model.eval()
        x = x.to(model_device(model))
        return int(_layer_output(model, layer, x if preprocess is None else preprocess(x), grad=False).shape[1])
