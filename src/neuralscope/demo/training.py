"""The demo's scene models: the scene CNN (watched, so the default run's graph carries
per-layer statistics and its loss curves), the scene ViT, and the Clever Hans CNN trained on
the spurious-cue split. Sizes and epochs shrink in ``fast`` mode (the tests)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SceneModels:
    """The trained scene models, their data and what they scored."""

    data: object               # SceneData: the plain split
    hans_data: object          # SceneData: the spurious-cue split (test marks shuffled)
    cnn: nn.Module
    vit: nn.Module
    hans: nn.Module
    accuracy: dict             # name -> test accuracy
    seconds: dict              # name -> training seconds

    @property
    def hans_train_accuracy(self) -> float:
        from ..train import accuracy

        return accuracy(self.hans, self.hans_data.x_train[:500], self.hans_data.y_train[:500])


def sizes(fast: bool) -> dict:
    """How many scenes and epochs: ``fast`` keeps the demo test short."""
    if fast:
        return {"n_train": 600, "n_test": 200, "cnn": 3, "vit": 3, "hans": 2}
    return {"n_train": 2000, "n_test": 500, "cnn": 6, "vit": 8, "hans": 3}


def train_scene_models(results, *, fast: bool = False, show_progress: bool | None = None) -> SceneModels:
    """Train the three scene models; the scene CNN is watched and logged to ``results``."""
    from ..data.scenes import load_scenes
    from ..train import train_scenes
    from ..zoo import SceneCNN, SceneViT

    n = sizes(fast)
    data = load_scenes(n["n_train"], n["n_test"], seed=0)
    hans_data = load_scenes(n["n_train"], n["n_test"], seed=1, spurious=True)
    acc, secs = {}, {}
    torch.manual_seed(0)
    cnn = SceneCNN()
    results.watch(cnn, every=10, first_step=1)
    t = time.perf_counter()

    def log(step: int, metrics: dict) -> None:
        results.log({f"scene_cnn/{k}": v for k, v in metrics.items()}, step=step)

    r = train_scenes(cnn, data=data, epochs=n["cnn"], on_step=log, show_progress=show_progress)
    results.unwatch(cnn)
    for h in r.history:
        results.log({"scene_cnn/test_accuracy": h["test_accuracy"]}, step=h["step"])
    secs["scene_cnn"], acc["scene_cnn"] = time.perf_counter() - t, r.test_accuracy
    t = time.perf_counter()
    vit = train_scenes(SceneViT(), data=data, epochs=n["vit"], show_progress=show_progress)
    secs["scene_vit"], acc["scene_vit"] = time.perf_counter() - t, vit.test_accuracy
    t = time.perf_counter()
    hans = train_scenes(data=hans_data, epochs=n["hans"], show_progress=show_progress)
    secs["clever_hans_cnn"], acc["clever_hans_cnn"] = time.perf_counter() - t, hans.test_accuracy
    return SceneModels(data, hans_data, r.model, vit.model, hans.model, acc, secs)
