"""Demo section: training tracked with Run and watch() — loss curves, gradient norms per
layer, weight/gradient distributions over steps, diagnostics, and a TensorBoard export.

The run is the demo's own DigitsCNN training (``run``, written by
:func:`neuralscope.demo.training.train_watched_digits`): nothing is trained again here but
the short broken run."""
from __future__ import annotations

import shutil

import torch
from torch import nn

from .. import DemoContext, Section
from ..training import SNAPSHOT_EVERY
from ..training import WATCH_EVERY as EVERY

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

NAME = "tracking"


def build(ctx: DemoContext) -> Section:
    import matplotlib.pyplot as plt

    from ...track import open_run
    from ...track.tensorboard import export_tensorboard

    run_dir = ctx.digits_run  # the demo's DigitsCNN trained there, watched (demo.training)
    data = ctx.data
    epochs = len(ctx.history)
    reader = open_run(run_dir)
    diag = reader.diagnostics()
    scalars = reader.names("scalar")

    # 1. loss curves
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    reader.scalars("loss").plot(ax=ax, smoothing=0.8, label="training loss (smoothed)")
    reader.scalars("val/loss").plot(ax=ax, label="validation loss", color="#d62728")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"Loss of the demo's DigitsCNN over {epochs} epochs", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(ctx.path(NAME, "loss.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)

    # 2. gradient norm per layer and update-to-weight ratio per parameter
    layers = [n[len("gradients/norm/"):] for n in scalars
              if n.startswith("gradients/norm/") and not n.endswith((".weight", ".bias"))]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    cmap = plt.get_cmap("viridis")
    for i, layer in enumerate(layers):
        reader.scalars(f"gradients/norm/{layer}").plot(ax=a1, label=layer, color=cmap(i / max(len(layers) - 1, 1)),
                                                       logy=True)
    a1.set_ylabel("gradient norm (all parameters of the layer)")
    a1.set_title(f"Gradient norm per layer (every {EVERY} steps)", fontsize=10)
    a1.legend(fontsize=7, ncol=2)
    weights = [n for n in scalars if n.startswith("updates/ratio/") and n.endswith(".weight")]
    for i, name in enumerate(weights):
        reader.scalars(name).plot(ax=a2, label=name.split("/")[-1], color=cmap(i / max(len(weights) - 1, 1)), logy=True)
    a2.axhline(1e-3, color="#888", ls="--", lw=1)
    a2.set_ylabel("||update|| / ||weight||")
    a2.set_title("Update-to-weight ratio per step (dashed: the usual 1e-3)", fontsize=10)
    a2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(ctx.path(NAME, "gradients.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)

    # 3. distributions over steps
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
    for ax, name in zip(axes, ("weights/features.3.weight", "gradients/classifier.weight", "activations/features.9")):
        reader.histograms(name).plot(ax=ax)
    fig.tight_layout()
    fig.savefig(ctx.path(NAME, "histograms.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)

    # 4. dead units
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for name in [n for n in scalars if n.startswith("activations/dead/")]:
        reader.scalars(name).plot(ax=ax, label=name.split("/")[-1])
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction of dead units")
    ax.set_title("ReLU channels that are <= 0 for every example of the batch", fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(ctx.path(NAME, "dead_units.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)

    broken = _broken_run(ctx.out / "run_lr10", data)

    tb = export_tensorboard(run_dir, ctx.out / NAME / "tensorboard")
    info = reader.info()
    n_points = sum(len(reader.scalars(n)) for n in scalars)
    n_hist = sum(len(reader.histogram_rows(n)) for n in reader.names("histogram"))
    reader.close()
    body = (
        f"<p>The demo's <code>DigitsCNN</code> (the model of every digits section) trained for {epochs} epochs "
        f"({ctx.digits_seconds:.1f} s) with <code>Run(\"run\")</code> and <code>run.watch(model, every={EVERY}, "
        f"snapshots={SNAPSHOT_EVERY})</code>: "
        f"{len(scalars)} scalar series ({n_points:,} points) and {n_hist:,} histograms in "
        f"<code>run/run.sqlite</code>; status <b>{info['status']}</b>; its weight snapshots draw the trajectory "
        f"of the loss-landscape section. Exported for TensorBoard: "
        f"<code>{tb.relative_to(ctx.out)}</code> (<code>tensorboard --logdir {tb.parent.relative_to(ctx.out)}</code>).</p>"
        f'<img src="{NAME}/loss.png" alt="loss curves">'
        f'<img src="{NAME}/gradients.png" alt="gradient norms and update ratios">'
        f'<img src="{NAME}/histograms.png" alt="distributions over steps">'
        f'<img src="{NAME}/dead_units.png" alt="dead units">'
        f"<h3>Diagnostics</h3>{diag.html_table()}"
        f"<h3>The same model with SGD at a learning rate of 10</h3>"
        f"<p>A second run (<code>run_lr10</code>, 80 steps, <code>watch(every=5)</code>) to show what the "
        f"diagnostics say when training goes wrong:</p>{broken.html_table()}"
    )
    return Section("Training tracking", body)


def _broken_run(path, data):
    """80 SGD steps at lr=10 on a fresh DigitsCNN, watched; returns its diagnostics."""
    from ...track import Run
    from ...zoo import DigitsCNN

    shutil.rmtree(path, ignore_errors=True)
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.SGD(model.parameters(), lr=10.0)
    g = torch.Generator().manual_seed(0)
    with Run(path, config={"model": "DigitsCNN", "optimizer": "SGD", "lr": 10.0}, tags=["demo", "broken"]) as run:
        run.watch(model, every=5)
        for step in range(80):
            idx = torch.randint(0, len(data.x_train), (64,), generator=g)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
            run.log({"loss": loss}, step=step)
    return run.diagnostics()
