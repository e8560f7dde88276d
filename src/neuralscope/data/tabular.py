"""scikit-learn's bundled tabular data sets (breast cancer, wine, diabetes) as standardised
tensors with their feature names, split with a fixed seed (no downloads)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

#: name -> (sklearn loader, task)
_SETS = {"breast_cancer": ("load_breast_cancer", "classification"),
         "wine": ("load_wine", "classification"),
         "diabetes": ("load_diabetes", "regression")}


@dataclass
class TabularSet:
    """A standardised tabular data set split into train and test parts.

    ``x_*`` are ``(N, F)`` float32 (zero mean, unit variance on the training part);
    ``y_*`` are longs for classification and float32 for regression. ``mean``/``std``
    undo the standardisation (``raw = x * std + mean``).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_names: list[str]
    task: str
    classes: list[str] = field(default_factory=list)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def load_tabular(name: str = "breast_cancer", seed: int = 0, test_fraction: float = 0.25) -> TabularSet:
    """One of scikit-learn's bundled tabular sets: ``"breast_cancer"`` (569 x 30, 2 classes),
    ``"wine"`` (178 x 13, 3 classes) or ``"diabetes"`` (442 x 10, regression).

    Example:
        >>> d = load_tabular("breast_cancer")
        >>> tuple(d.x_train.shape), d.feature_names[0], d.classes
        ((426, 30), 'mean radius', ['malignant', 'benign'])
    """
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    from ..errors import InputShapeError

    if name not in _SETS:
        raise InputShapeError(f"Unknown tabular data set {name!r}; choose from {', '.join(_SETS)}.")
    loader, task = _SETS[name]
    bunch = getattr(sklearn.datasets, loader)()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    strat = y if task == "classification" else None
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=strat)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-12
    ydt = torch.long if task == "classification" else torch.float32
    classes = [str(c) for c in getattr(bunch, "target_names", [])] if task == "classification" else []
    as_x = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32))
    return TabularSet(name, as_x(xtr), torch.as_tensor(ytr, dtype=ydt), as_x(xte), torch.as_tensor(yte, dtype=ydt),
                      [str(f) for f in bunch.feature_names], task, classes, mean, std)


__all__ = ["TabularSet", "load_tabular"]
