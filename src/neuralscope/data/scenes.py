"""Procedurally generated scenes with known answers: one object per image on a cluttered,
textured background, with the exact pixel mask of the object that decides the class.

Nothing is read from disk or downloaded: every image is drawn from a seed, vectorised over
the batch (a few thousand 64x64 images per second on one CPU core). Each class is a shape
with its own texture (a striped disc, a checkered square, a dotted triangle, a solid
cross), drawn in one of four colours at random, so colour alone never tells the class; the background is smooth colour noise with small blobs and line segments of
clutter, never drawn over the object.

The *spurious-cue* variant plants a small coloured mark in the top-left corner. In the
training split the mark's colour matches the class; in the test split it is shuffled (the
colour of a random class). A model that learns the mark instead of the object — the
"Clever Hans" case of Lapuschkin et al. 2019 (Nature Communications 10:1096) — scores
well in training and poorly on the test split, and its attribution maps put their mass
on the corner; ``cue_masks`` says exactly where the mark is.

Example:
    >>> s = make_scenes(8, size=32, seed=1)
    >>> tuple(s.images.shape), tuple(s.masks.shape), s.classes[int(s.labels[0])] in SCENE_CLASSES
    ((8, 3, 32, 32), (8, 32, 32), True)
    >>> bool((s.masks.sum((1, 2)) > 0).all())
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputShapeError

#: class name -> (shape, texture); the colour does not decide the class
SCENE_CLASSES: dict[str, tuple[str, str]] = {
    "striped disc": ("disc", "stripes"),
    "checkered square": ("square", "checker"),
    "dotted triangle": ("triangle", "dots"),
    "solid cross": ("cross", "solid"),
}
#: light tones of the objects, one drawn at random per image
OBJECT_COLOURS = ((0.92, 0.22, 0.16), (0.18, 0.78, 0.25), (0.20, 0.42, 0.95), (0.98, 0.85, 0.15))
#: colour of the spurious corner mark of each class (unlike any object colour)
MARK_COLOURS = ((1.0, 0.1, 1.0), (0.1, 1.0, 1.0), (1.0, 0.55, 0.0), (1.0, 1.0, 1.0))
_CHUNK = 256


@dataclass
class Scenes:
    """A batch of generated scenes.

    ``images``: ``(N, 3, H, W)`` floats in ``[0, 1]``; ``labels``: ``(N,)`` longs;
    ``masks``: ``(N, H, W)`` bools, the object's pixels; ``cue_masks``: ``(N, H, W)`` bools,
    the spurious mark's pixels (all False without one); ``cue_labels``: ``(N,)`` the class
    whose mark is shown (``-1``: none).
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    cue_masks: torch.Tensor
    cue_labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> Scenes:
        return Scenes(self.images[index], self.labels[index], self.masks[index], self.cue_masks[index],
                      self.cue_labels[index], self.classes)

    @property
    def area_fraction(self) -> np.ndarray:
        """Fraction of each image covered by its object (what a uniform map scores)."""
        return self.masks.flatten(1).float().mean(1).numpy()


@dataclass
class SceneData:
    """Train and test splits of :func:`make_scenes` (``x_train``... as the trainers expect)."""

    train: Scenes
    test: Scenes

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    x_train = property(lambda self: self.train.images)
    y_train = property(lambda self: self.train.labels)
    x_test = property(lambda self: self.test.images)
    y_test = property(lambda self: self.test.labels)


def load_scenes(n_train: int = 2000, n_test: int = 500, *, size: int = 64, seed: int = 0,
                spurious: bool = False) -> SceneData:
    """Train and test scenes from independent seeds. With ``spurious=True`` the training
    marks match the class and the test marks are shuffled (the Clever Hans split).

    Example:
        >>> d = load_scenes(40, 10, size=32, spurious=True)
        >>> bool((d.train.cue_labels == d.train.labels).all()), tuple(d.x_test.shape)
        (True, (10, 3, 32, 32))
    """
    train = make_scenes(n_train, size=size, seed=seed, cue="class" if spurious else None)
    test = make_scenes(n_test, size=size, seed=seed + 10_007, cue="shuffled" if spurious else None)
    return SceneData(train, test)


def make_scenes(n: int, *, size: int = 64, seed: int = 0, cue: str | None = None, clutter: int = 10,
                classes: int | None = None) -> Scenes:
    """``n`` scenes of ``size x size`` pixels, classes balanced in random order.

    ``cue``: ``None`` (no mark), ``"class"`` (the mark of the image's class) or
    ``"shuffled"`` (the mark of a random class). ``clutter``: blobs and line segments per
    background. ``classes``: use the first few of :data:`SCENE_CLASSES` (default all).
    """
    k = len(SCENE_CLASSES) if classes is None else int(classes)
    if n < 1 or not 2 <= k <= len(SCENE_CLASSES):
        raise InputShapeError(f"make_scenes needs n >= 1 and 2 <= classes <= {len(SCENE_CLASSES)}; "
                              f"got n={n}, classes={classes}.")
    if size < 16:
        raise InputShapeError(f"Scenes need size >= 16 pixels to draw an object and a mark; got {size}.")
    if cue not in (None, "class", "shuffled"):
        raise InputShapeError(f"cue must be None, 'class' or 'shuffled', not {cue!r}.")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % k)
    cue_labels = np.full(n, -1) if cue is None else labels.copy() if cue == "class" else rng.integers(0, k, n)
    params = _sample_params(rng, n, size)
    parts = [_draw(labels[i:i + _CHUNK], cue_labels[i:i + _CHUNK], {p: v[i:i + _CHUNK] for p, v in params.items()},
                   size, clutter, rng) for i in range(0, n, _CHUNK)]
    images, masks, cue_masks = (torch.cat(t) for t in zip(*parts))
    return Scenes(images, torch.from_numpy(labels).long(), masks, cue_masks, torch.from_numpy(cue_labels).long(),
                  list(SCENE_CLASSES)[:k])


def mark_box(size: int) -> tuple[int, int]:
    """``(start, end)`` pixel rows and columns of the corner mark: the top-left square of
    side ``3 * size // 16`` (12 pixels at 64, 3.5% of the image)."""
    return 0, max(4, size * 3 // 16)


def with_marks(scenes: Scenes, cue: str = "class", seed: int = 0) -> Scenes:
    """The same scenes with the spurious corner mark painted on: ``"class"`` (each image's
    own class, as in a spurious training split) or ``"shuffled"`` (a random class, seeded).
    ``with_marks(make_scenes(n, seed=s), "class")`` equals ``make_scenes(n, seed=s, cue="class")``:
    the plain scenes and their Clever Hans copy share every object and background.

    Example:
        >>> s = with_marks(make_scenes(4, size=32, seed=2), "shuffled", seed=1)
        >>> bool(s.cue_masks[:, 0, 0].all()), int(s.cue_masks[0].sum())
        (True, 36)
    """
    if cue not in ("class", "shuffled"):
        raise InputShapeError(f"cue must be 'class' or 'shuffled', not {cue!r}.")
    n, size = len(scenes), scenes.images.shape[-1]
    k = len(scenes.classes)
    labels = scenes.labels.numpy()
    cue_labels = labels.copy() if cue == "class" else np.random.default_rng(seed).integers(0, k, n)
    a, b = mark_box(size)
    images, cue_masks = scenes.images.clone(), torch.zeros_like(scenes.masks)
    cue_masks[:, a:b, a:b] = True
    images[:, :, a:b, a:b] = torch.as_tensor(MARK_COLOURS, dtype=images.dtype)[cue_labels][:, :, None, None]
    return Scenes(images, scenes.labels, scenes.masks, cue_masks, torch.from_numpy(cue_labels).long(), scenes.classes)


def _sample_params(rng: np.random.Generator, n: int, size: int) -> dict[str, np.ndarray]:
    """Object radius, centre, shape rotation, texture rotation and colour jitter per image."""
    radius = rng.uniform(0.17, 0.25, n) * size
    lo, hi = radius + 1, size - radius - 1
    cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
    clear = mark_box(size)[1] + 1  # keep the object off the corner mark
    both = (cx - radius < clear) & (cy - radius < clear)
    cx = np.where(both, np.maximum(cx, clear + radius), cx)
    return {"radius": radius, "cx": cx, "cy": cy, "angle": rng.uniform(0, 2 * np.pi, n),
            "tex_angle": rng.uniform(0, np.pi, n), "tex_phase": rng.uniform(0, 1, (n, 2)),
            "colour": rng.integers(0, len(OBJECT_COLOURS), n), "jitter": rng.uniform(-0.08, 0.08, (n, 3)), "shade": rng.uniform(0.25, 0.45, n)}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    return c[None, None, :], c[None, :, None]  # x (columns), y (rows), broadcast over (N, H, W)


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of a unit-size shape in its own coordinates (``u, v`` divided by the radius)."""
    if shape == "disc":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.7  # corners on the unit circle
    if shape == "triangle":  # equilateral, inscribed in the unit circle, apex at angle 90 degrees
        inside = np.ones(np.broadcast_shapes(u.shape, v.shape), dtype=bool)
        for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):
            inside &= u * np.float32(math.cos(a)) + v * np.float32(math.sin(a)) <= 0.5
        return inside
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    raise InputShapeError(f"Unknown scene shape {shape!r}; choose disc, square, triangle or cross.")


def _texture(texture: str, s: np.ndarray, t: np.ndarray, period: float) -> np.ndarray:
    if texture == "stripes":
        return np.remainder(s, period) < period / 2
    if texture == "checker":
        return (np.floor(s / (period * 0.8)) + np.floor(t / (period * 0.8))) % 2 == 0
    if texture == "dots":
        ds, dt = np.remainder(s, period) - period / 2, np.remainder(t, period) - period / 2
        return ds * ds + dt * dt >= (0.3 * period) ** 2
    return np.ones(s.shape, dtype=bool)


def _col(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)[:, None, None]


def _objects(label: int, p: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(n, H, W)`` and RGB ``(n, 3, H, W)`` of objects of one class (rows of ``p``)."""
    shape, texture = SCENE_CLASSES[list(SCENE_CLASSES)[label]]
    x, y = _grid(size)
    dx, dy = x - _col(p["cx"]), y - _col(p["cy"])
    ca, sa, r = _col(np.cos(p["angle"])), _col(np.sin(p["angle"])), _col(p["radius"])
    mask = shape_mask(shape, (ca * dx + sa * dy) / r, (-sa * dx + ca * dy) / r)
    ct, st = _col(np.cos(p["tex_angle"])), _col(np.sin(p["tex_angle"]))
    period = size / 12.0
    s = ct * dx + st * dy + _col(p["tex_phase"][:, 0]) * period
    t = -st * dx + ct * dy + _col(p["tex_phase"][:, 1]) * period
    light = np.clip(np.asarray(OBJECT_COLOURS)[p["colour"]] + p["jitter"], 0, 1).astype(np.float32)[:, :, None, None]
    rgb = np.where(_texture(texture, s, t, period)[:, None], light, light * _col(p["shade"])[:, None])
    return mask, rgb


def _background(rng: np.random.Generator, n: int, size: int, clutter: int) -> np.ndarray:
    """Smooth low-saturation colour noise, fine grain, and blobs and line segments of clutter."""
    coarse = torch.from_numpy(rng.uniform(0.15, 0.75, (n, 3, 4, 4)).astype(np.float32))
    bg = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).numpy()
    bg = 0.45 * bg + 0.55 * bg.mean(1, keepdims=True)
    bg = bg + rng.normal(0, 0.03, (n, 1, size, size)).astype(np.float32)
    x, y = _grid(size)
    for _ in range(clutter):
        cx, cy = _col(rng.uniform(0, size, n)), _col(rng.uniform(0, size, n))
        grey = rng.uniform(0.05, 0.95, (n, 1))
        col = (0.6 * grey + 0.4 * rng.uniform(0, 1, (n, 3))).astype(np.float32)[:, :, None, None]
        if rng.random() < 0.5:  # a blob
            r = _col(rng.uniform(1.0, 2.8, n) * size / 64)
            hit = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        else:  # a line segment, about one pixel wide
            a = rng.uniform(0, np.pi, n)
            c, s = _col(np.cos(a)), _col(np.sin(a))
            half = _col(rng.uniform(0.08, 0.2, n) * size)
            along, across = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
            hit = (np.abs(along) <= half) & (np.abs(across) <= 0.5 * max(1.0, size / 64))
        bg = np.where(hit[:, None], col, bg)
    return bg


def _draw(labels, cue_labels, p, size, clutter, rng):
    """Images, object masks and mark masks of one chunk (vectorised per class)."""
    n = len(labels)
    img = _background(rng, n, size, clutter)
    masks = np.zeros((n, size, size), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        mask, rgb = _objects(int(label), {k: v[rows] for k, v in p.items()}, size)
        masks[rows] = mask
        img[rows] = np.where(mask[:, None], rgb, img[rows])
    cue_masks = np.zeros_like(masks)
    a, b = mark_box(size)
    marked = cue_labels >= 0
    cue_masks[marked, a:b, a:b] = True
    if marked.any():
        img[marked, :, a:b, a:b] = np.asarray(MARK_COLOURS, dtype=np.float32)[cue_labels[marked]][:, :, None, None]
    return torch.from_numpy(np.clip(img, 0, 1)), torch.from_numpy(masks), torch.from_numpy(cue_masks)


__all__ = [
    "MARK_COLOURS",
    "OBJECT_COLOURS",
    "SCENE_CLASSES",
    "SceneData",
    "Scenes",
    "load_scenes",
    "make_scenes",
    "mark_box",
    "shape_mask",
    "with_marks",
]
