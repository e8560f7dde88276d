"""The generated scene data set: masks are exactly the drawn object (checked against an
independent polygon/circle test from matplotlib), the image is the object inside the mask
and the background outside, generation is seeded and fast, and the spurious-cue split
plants the class's mark in training and a shuffled one at test."""
import numpy as np
import pytest
import torch
from matplotlib.path import Path

from neuralscope.data import scenes
from neuralscope.data.scenes import (
    MARK_COLOURS,
    SCENE_CLASSES,
    load_scenes,
    make_scenes,
    mark_box,
    with_marks,
)
from neuralscope.errors import InputShapeError


def _outline(shape, cx, cy, r, angle):
    """The shape's outline in pixel coordinates, from its definition in the docstrings."""
    if shape == "square":
        pts = [(0.7, 0.7), (-0.7, 0.7), (-0.7, -0.7), (0.7, -0.7)]
    elif shape == "triangle":  # vertices of the equilateral triangle inscribed in the unit circle
        pts = [(np.cos(t), np.sin(t)) for t in (np.pi / 2, 7 * np.pi / 6, 11 * np.pi / 6)]
    elif shape == "cross":
        a, b = 0.3, 0.95
        pts = [(a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a), (-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a)]
    else:
        return None
    # object coordinates (u, v) = R(angle) (x - c) / r, so x = c + r R(-angle) (u, v)
    ca, sa = np.cos(angle), np.sin(angle)
    return Path([(cx + r * (ca * u - sa * v), cy + r * (sa * u + ca * v)) for u, v in pts])


def test_masks_are_exactly_the_drawn_shapes_by_an_independent_inside_test():
    n, size = 40, 48
    rng = np.random.default_rng(3)
    labels = rng.permutation(np.arange(n) % 4)
    params = scenes._sample_params(rng, n, size)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    centres = np.stack([xx.ravel(), yy.ravel()], 1)
    for label in range(4):
        rows = np.flatnonzero(labels == label)
        p = {k: v[rows] for k, v in params.items()}
        mask, _ = scenes._objects(label, p, size)
        shape = SCENE_CLASSES[list(SCENE_CLASSES)[label]][0]
        for j in range(len(rows)):
            path = _outline(shape, p["cx"][j], p["cy"][j], p["radius"][j], p["angle"][j])
            if path is None:  # disc
                ref = (xx - p["cx"][j]) ** 2 + (yy - p["cy"][j]) ** 2 <= p["radius"][j] ** 2
            else:
                ref = path.contains_points(centres).reshape(size, size)
            assert np.array_equal(mask[j], ref), (shape, j, int((mask[j] != ref).sum()))


def test_image_is_the_object_inside_the_mask_and_the_background_outside(monkeypatch):
    seen = {}
    real = scenes._background

    def keep(rng, n, size, clutter):
        seen["bg"] = real(rng, n, size, clutter)
        return seen["bg"].copy()

    monkeypatch.setattr(scenes, "_background", keep)
    s = make_scenes(24, size=32, seed=5)
    bg = torch.from_numpy(np.clip(seen["bg"], 0, 1))
    outside = ~s.masks[:, None].expand_as(s.images)
    assert torch.equal(s.images[outside], bg[outside])
    # inside: the object's two tones differ from the background almost everywhere
    assert (s.images - bg).abs().sum(1)[s.masks].gt(1e-3).float().mean() > 0.95
    assert s.cue_masks.sum() == 0 and (s.cue_labels == -1).all()


def test_same_seed_same_scenes_and_balanced_classes():
    a, b = make_scenes(64, size=32, seed=7), make_scenes(64, size=32, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, make_scenes(64, size=32, seed=8).images)
    assert torch.bincount(a.labels).tolist() == [16] * 4
    assert a.images.dtype == torch.float32 and 0 <= float(a.images.min()) and float(a.images.max()) <= 1


def test_objects_lie_inside_the_frame_and_off_the_corner_mark():
    s = make_scenes(200, size=40, seed=2, cue="class")
    assert not (s.masks & s.cue_masks).any()
    frame = s.masks.clone()
    frame[:, 1:-1, 1:-1] = False
    assert not frame.any()
    frac = s.area_fraction
    assert 0.03 < frac.min() and frac.max() < 0.25


def test_spurious_split_marks_the_class_in_training_and_a_shuffled_class_at_test():
    d = load_scenes(80, 80, size=32, seed=1, spurious=True)
    assert torch.equal(d.train.cue_labels, d.train.labels)
    agree = (d.test.cue_labels == d.test.labels).float().mean()
    assert agree < 0.5  # shuffled: about one in four by chance
    a, b = mark_box(32)
    assert d.train.cue_masks[:, a:b, a:b].all() and d.train.cue_masks.sum() == 80 * (b - a) ** 2
    colours = torch.tensor(MARK_COLOURS)[d.test.cue_labels]
    assert torch.allclose(d.test.images[:, :, a, a], colours)


def test_size_is_configurable():
    s = make_scenes(8, size=96, seed=0)
    assert s.images.shape == (8, 3, 96, 96) and s.masks.shape == (8, 96, 96)


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 4, "size": 8}, {"n": 4, "cue": "corner"}, {"n": 4, "classes": 9}])
def test_bad_arguments_raise_one_clear_error(kwargs):
    n = kwargs.pop("n")
    with pytest.raises(InputShapeError):
        make_scenes(n, **kwargs)


def test_marks_painted_on_plain_scenes_equal_the_spurious_split_drawn_from_the_same_seed():
    plain = make_scenes(40, size=32, seed=5)
    drawn = make_scenes(40, size=32, seed=5, cue="class")
    painted = with_marks(plain, "class")
    for name in ("images", "labels", "masks", "cue_masks", "cue_labels"):
        assert torch.equal(getattr(painted, name), getattr(drawn, name)), name
    shuffled = with_marks(plain, "shuffled", seed=3)
    assert torch.equal(shuffled.masks, plain.masks) and not torch.equal(shuffled.cue_labels, plain.labels)
    outside = ~shuffled.cue_masks[:, None].expand_as(plain.images)
    assert torch.equal(shuffled.images[outside], plain.images[outside])  # only the mark is painted
