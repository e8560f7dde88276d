"""Data sets that ship with installed packages (no downloads)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Digits:
    """scikit-learn's 1,797 handwritten 8x8 digits as tensors, split 75/25 with a fixed seed.

    Images are ``(N, 1, 8, 8)`` floats in ``[0, 1]``; labels are ``(N,)`` longs.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    classes = [str(i) for i in range(10)]


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Digits:
    """The digits data set from ``sklearn.datasets.load_digits`` as tensors.

    Example:
        >>> d = load_digits()
        >>> tuple(d.x_train.shape), tuple(d.x_test.shape)
        ((1347, 1, 8, 8), (450, 1, 8, 8))
    """
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    bunch = _load()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Digits(torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte), torch.from_numpy(yte))


def load_sample_photos(size: int = 224) -> torch.Tensor:
    """scikit-learn's two sample photos (china, flower), centre-cropped and resized to
    ``(2, 3, size, size)`` floats in ``[0, 1]``."""
    from sklearn.datasets import load_sample_images

    imgs = load_sample_images().images
    out = []
    for img in imgs:
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        h, w = t.shape[1:]
        s = min(h, w)
        t = t[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(torch.nn.functional.interpolate(t[None], size=(size, size), mode="bilinear",
                                                   align_corners=False, antialias=True)[0])
    return torch.stack(out)


from .signals import SignalSet, make_signals  # noqa: E402
from .tabular import TabularSet, load_tabular  # noqa: E402
from .scenes import SceneData, Scenes, load_scenes, make_scenes, with_marks  # noqa: E402

__all__ = ["Digits", "load_digits", "load_sample_photos", "SignalSet", "make_signals", "TabularSet", "load_tabular",
           "SceneData", "Scenes", "load_scenes", "make_scenes", "with_marks"]
