"""The demo's models. The digits CNN trains once, watched into the run ``run`` with weight
snapshots: the tracking section reads its statistics, the inside section animates its
snapshots and the landscape section draws its trajectory and curvature from the same run.
The scene models: the scene CNN (watched, so the default run's graph carries
per-layer statistics and its loss curves), the scene ViT, and the Clever Hans CNN trained on
the spurious-cue split. Sizes and epochs shrink in ``fast`` mode (the tests).

Kept cheap on two CPU cores: the ViT is a hybrid (Dosovitskiy et al. 2021, Sec. 3.1) whose
convolutional patch embedding is the trained scene CNN's first two blocks, copied and frozen,
so only its transformer trains, on patch features computed once; the Clever Hans CNN trains
on the CNN's own training scenes with the class's mark painted on (no second data set)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn


WATCH_EVERY = 5  # watched statistics every 5 training steps
SNAPSHOT_EVERY = 15  # weight snapshots for the trajectory and the animations
CURVATURE_POINTS = 5  # the Hessian's top eigenvalue this many times over training


def train_watched_digits(run_dir, *, epochs: int, data=None, show_progress: bool | None = None):
    """Train the demo's :class:`~neuralscope.zoo.DigitsCNN` in a fresh run at ``run_dir``:
    watched every :data:`WATCH_EVERY` steps with a weight snapshot every
    :data:`SNAPSHOT_EVERY` (from step 0, the initial weights), its graph, the training loss
    every step, validation loss and accuracy every epoch and the Hessian's top eigenvalue
    (128 training digits) :data:`CURVATURE_POINTS` times. Returns the ``TrainResult``."""
    import shutil

    from ..data import load_digits
    from ..graph.api import graph
    from ..landscape import curvature
    from ..track import Run
    from ..train import train_digits
    from ..zoo import DigitsCNN

    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time the demo is built
    data = data if data is not None else load_digits()
    steps_per_epoch = (len(data.x_train) + 63) // 64
    curvature_every = steps_per_epoch * max(1, epochs // CURVATURE_POINTS)
    probe = (data.x_train[:128], data.y_train[:128])
    torch.manual_seed(0)
    model = DigitsCNN()
    with Run(run_dir, config={"model": "DigitsCNN", "optimizer": "Adam", "lr": 3e-3, "batch_size": 64,
                              "epochs": epochs, "watch_every": WATCH_EVERY, "snapshots": SNAPSHOT_EVERY},
             tags=["demo"]) as run:
        run.log_result(graph(model, data.x_test[:1]), name="graph", step=0)  # the Graph page overlays the stats
        run.watch(model, every=WATCH_EVERY, snapshots=SNAPSHOT_EVERY)

        def on_step(step: int, metrics: dict) -> None:
            run.log(metrics, step=step)
            if step % steps_per_epoch == 0:
                run.log(_validation(model, data), step=step)
            if step % curvature_every == 0 or step == 1:
                curvature(model, probe, trace=False, tol=1e-2, max_iter=15, show_progress=False).log_to(run, step)

        result = train_digits(model, epochs=epochs, data=data, on_step=on_step, show_progress=show_progress)
        run.log_text("summary", f"DigitsCNN, {epochs} epochs: test accuracy {result.test_accuracy:.1%}")
    return result


@torch.no_grad()
def _validation(model: nn.Module, data) -> dict:
    """Loss and accuracy on the test digits (the model's train/eval mode is restored)."""
    was = model.training
    model.eval()
    out = model(data.x_test)
    model.train(was)
    return {"val/loss": nn.functional.cross_entropy(out, data.y_test).item(),
            "val/accuracy": (out.argmax(1) == data.y_test).float().mean().item()}


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
    """How many scenes and epochs: ``fast`` keeps the demo test short (the models still learn)."""
    if fast:
        return {"n_train": 1000, "n_test": 200, "cnn": 4, "vit": 4, "hans": 3}
    return {"n_train": 2000, "n_test": 500, "cnn": 5, "vit": 6, "hans": 3}


def train_scene_models(results, *, fast: bool = False, show_progress: bool | None = None) -> SceneModels:
    """Train the three scene models; the scene CNN is watched and logged to ``results``."""
    from ..data.scenes import SceneData, load_scenes, with_marks
    from ..train import train_scenes
    from ..zoo import SceneCNN

    n = sizes(fast)
    data = load_scenes(n["n_train"], n["n_test"], seed=0)
    hans_data = SceneData(with_marks(data.train, "class"), with_marks(data.test, "shuffled", seed=1))
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
    vit, acc["scene_vit"] = train_hybrid_vit(r.model, data, epochs=n["vit"], show_progress=show_progress)
    secs["scene_vit"] = time.perf_counter() - t
    t = time.perf_counter()
    hans = train_scenes(data=hans_data, epochs=n["hans"], show_progress=show_progress)
    secs["clever_hans_cnn"], acc["clever_hans_cnn"] = time.perf_counter() - t, hans.test_accuracy
    return SceneModels(data, hans_data, r.model, vit, hans.model, acc, secs)


class _Transformer(nn.Module):
    """The part of a :class:`~neuralscope.zoo.SceneViT` after its patch embedding (shares its
    parameters): trained on patch features computed once."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.vit = vit

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        v = self.vit
        tokens = features.flatten(2).transpose(1, 2)
        h = torch.cat([v.cls_token.expand(len(features), -1, -1), tokens], 1) + v.pos
        return v.head(v.norm(v.encoder(h))[:, 0])


def train_hybrid_vit(cnn: nn.Module, data, *, epochs: int, show_progress: bool | None = None,
                     lr: float = 3e-3) -> tuple[nn.Module, float]:
    """A :class:`~neuralscope.zoo.SceneViT` whose patch embedding is ``cnn``'s first two conv
    blocks (copied; the same layers at the same indices), trained with that embedding frozen;
    returns the ViT (eval mode) and its test accuracy on the images."""
    from ..train import accuracy, train_digits
    from ..zoo import SceneViT

    torch.manual_seed(0)
    stem = cnn.features[:8]
    vit = SceneViT(num_classes=cnn.classifier.out_features, size=cnn.input_shape[-1], dim=stem[4].out_channels)
    vit.patch_embed.load_state_dict(stem.state_dict())
    vit.patch_embed.requires_grad_(False)
    vit.eval()
    with torch.no_grad():
        feats = SimpleNamespace(x_train=vit.patch_embed(data.x_train), y_train=data.y_train,
                                x_test=vit.patch_embed(data.x_test), y_test=data.y_test)
    head = _Transformer(vit)
    train_digits(head, epochs=epochs, lr=lr, data=feats, show_progress=show_progress)
    vit.requires_grad_(True)
    vit.eval()
    return vit, accuracy(vit, data.x_test, data.y_test)
