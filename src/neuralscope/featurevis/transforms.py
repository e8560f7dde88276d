"""Random transformations applied to the image at every optimization step, so the
visualization must work under small shifts, zooms and rotations (Mordvintsev et al.,
"Inceptionism", 2015; Olah et al., Distill 2017). Each factory returns a function
``(batch, generator) -> batch``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _choice(values: Sequence, g: torch.Generator):
    return values[int(torch.randint(len(values), (1,), generator=g))]


def pad(width: int, mode: str = "constant", value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels (``mode`` as in ``F.pad``).

    Example:
        >>> pad(2)(torch.zeros(1, 3, 4, 4), torch.Generator()).shape
        torch.Size([1, 3, 8, 8])
    """
    def fn(x, g):
        return F.pad(x, (width,) * 4, mode=mode, value=value) if mode == "constant" else \
            F.pad(x, (width,) * 4, mode=mode)
    return fn


def jitter(d: int) -> Transform:
    """Shift by up to ``d`` pixels in each direction (a random crop of ``d`` pixels less)."""
    def fn(x, g):
        if d <= 0:
            return x
        dx, dy = (int(v) for v in torch.randint(0, d + 1, (2,), generator=g))
        h, w = x.shape[-2:]
        return x[..., dy:h - d + dy, dx:w - d + dx]
    return fn


def random_scale(scales: Sequence[float]) -> Transform:
    """Zoom by a factor chosen from ``scales`` (bilinear)."""
    def fn(x, g):
        s = float(_choice(list(scales), g))
        if s == 1.0:
            return x
        h, w = x.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return fn


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by an angle chosen from ``degrees`` (bilinear, border fill)."""
    def fn(x, g):
        a = math.radians(float(_choice(list(degrees), g)))
        if a == 0.0:
            return x
        theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]],
                             dtype=x.dtype, device=x.device).expand(x.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return fn


def resize(size: Sequence[int]) -> Transform:
    """Bilinear resize back to ``size`` ``(H, W)``: the last transform for models that accept
    one input size only (a Keras model built for ``(H, W, C)``)."""
    size = tuple(int(v) for v in size)

    def fn(x, g):
        if tuple(x.shape[-2:]) == size:
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return fn


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order."""
    def fn(x, g):
        for t in transforms:
            x = t(x, g)
        return x
    return fn


def standard_transforms(size: int) -> list[Transform]:
    """Lucid's default robustness transforms, with pixel amounts scaled to the image size
    (the defaults are for 128-224 px images: pad 12, jitter 8, scale ±5 %, rotate ±10°).
    Images under 16 px (8 x 8 digits) get none: one pixel of jitter is already an eighth of
    the image, and measured on the digits CNN it lowers the activation reached.

    Example:
        >>> len(standard_transforms(128))
        5
    """
    if size < 16:
        return []
    k = size / 128.0
    p, j1, j2 = max(1, round(12 * k)), max(1, round(8 * k)), max(1, round(4 * k))
    return [pad(p), jitter(j1), random_scale([1 + (i - 5) / 50 for i in range(11)]),
            random_rotate(list(range(-10, 11)) + 5 * [0]), jitter(j2)]


def strong_transforms(size: int) -> list[Transform]:
    """More robustness than :func:`standard_transforms`, for texture detectors of small models:
    pad 6, jitter 6, scale 0.75-1.3, rotate +-30 degrees, jitter 3 (pixel amounts for a 48 px
    image, scaled to the size). A texture detector must keep firing when its pattern moves,
    grows or turns, which keeps the optimizer from painting pixel-exact superstimuli: on the
    demo's scene CNN (second block, 48 px) the standard set gave saturated black-and-white
    blobs, this set calmer textures at the patterns' own spacing. None under 16 px, as there.

    Example:
        >>> len(strong_transforms(48)), strong_transforms(8)
        (5, [])
    """
    if size < 16:
        return []
    k = size / 48.0
    p, j1, j2 = max(1, round(6 * k)), max(1, round(6 * k)), max(1, round(3 * k))
    return [pad(p), jitter(j1), random_scale([0.75, 0.85, 1.0, 1.15, 1.3]), random_rotate(list(range(-30, 31, 5))),
            jitter(j2)]


#: the named sets ``feature_vis(transforms=...)`` accepts
TRANSFORM_SETS = {"standard": standard_transforms, "strong": strong_transforms}
