"""Demo section: the loss landscape of the trained digits CNN (contour, 3-D surface and an
interactive page), the optimizer's trajectory over the loss of its PCA plane (picture and
animation) with the Hessian's top eigenvalue logged beside the loss, and the sharp-versus-
flat comparison of a small-batch and a large-batch run (Keskar et al. 2017, Li et al. 2018).

Kept short: landscapes over 200 test digits on coarse grids; the trajectory is the demo's
own DigitsCNN read from the weight snapshots of its run (nothing retrained), and the
batch-size pair are narrower CNNs (width 16). When the demo itself trains for only a few epochs
(as the test suite runs it) these runs are shortened too.
"""
from __future__ import annotations

import html

import torch

from .. import DemoContext, Section

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

NAME = "landscape"
EXAMPLES = 200
GRID = 11  # points per side of the 2-D landscapes (the demo keeps them coarse: 121 evaluations each)
SLICE = 21  # points of the 1-D sharp/flat slices


class Figures:
    """The section's pictures, in the order they are made, each with its caption."""

    def __init__(self, ctx: DemoContext):
        self.ctx, self.items = ctx, []

    def path(self, name: str):
        return self.ctx.path(NAME, name)

    def add(self, name: str, caption: str) -> None:
        self.items.append((name, caption))

    def save(self, result, name: str, caption: str, **kw) -> None:
        result.save(self.path(name), **kw)
        self.add(name, caption)


def build(ctx: DemoContext) -> Section:
    from ...landscape import loss_landscape

    x, y = ctx.data.x_test[:EXAMPLES], ctx.data.y_test[:EXAMPLES]
    figs = Figures(ctx)
    save = figs.save

    ls = loss_landscape(ctx.cnn, (x, y), steps=GRID, show_progress=False, verbose=False)
    ctx.log(ls, "landscape/digits_cnn")
    save(ls, "contour.png", f"Loss of the trained DigitsCNN on {EXAMPLES} test digits along two filter-normalised "
         f"random directions (Li et al. 2018): a single basin around the trained weights (+)")
    save(ls, "surface.png", "The same plane as a 3-D surface", kind="surface")
    ls.save(ctx.path(NAME, "landscape.html"))
    _trajectory(ctx, x, y, figs)
    _sharp_flat(ctx, x, y, figs)
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in figs.items)
    body = (f'<p><a href="{NAME}/landscape.html">Interactive landscape</a> (hover to read the loss, drag the '
            f'surface to turn it) &middot; <a href="{NAME}/trajectory.html">trajectory animation</a>. '
            "</p>"
            f'<div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px">'
            f"{grid}</div>")
    return Section("Loss landscape, trajectory and curvature", body)


def _trajectory(ctx: DemoContext, x, y, figs: Figures) -> None:
    """The path of the demo's DigitsCNN from the weight snapshots its run recorded
    (``run.watch(model, snapshots=N)``) over the loss of its PCA plane, and the Hessian's top
    eigenvalue that run logged beside the loss."""
    import matplotlib.pyplot as plt

    from ...landscape import trajectory
    from ...track import open_run
    from ..training import SNAPSHOT_EVERY

    tr = trajectory(ctx.digits_run, ctx.cnn, (x, y), grid=GRID, margin=0.3, show_progress=False, verbose=False)
    ctx.log(tr, "landscape/trajectory")
    epochs = len(ctx.history)
    figs.save(tr, "trajectory.png", f"Adam's path over {epochs} epochs: the {len(tr.steps)} weight snapshots "
              f"run.watch(model, snapshots={SNAPSHOT_EVERY}) recorded, on the loss plane of their two principal "
              f"directions ({tr.explained.sum():.0%} of the path's variance); labels are training steps")
    tr.animation(frames=10).save(figs.path("trajectory.html"))
    reader = open_run(ctx.digits_run)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    reader.scalars("loss").plot(ax=ax, smoothing=0.8, label="training loss (smoothed)")
    ax.set_ylabel("training loss")
    twin = ax.twinx()
    eig = reader.scalars("curvature/top_eigenvalue")
    twin.plot(eig.steps, eig.values, "o-", color="#e8503a", label="top Hessian eigenvalue")
    twin.set_ylabel("top Hessian eigenvalue (128 digits)", color="#e8503a")
    ax.set_title("Curvature logged beside the loss (run 'run' in the dashboard)", fontsize=10)
    fig.legend(loc="upper right", fontsize=8, bbox_to_anchor=(0.85, 0.85))
    fig.savefig(figs.path("curvature_over_training.png"), dpi=110)
    plt.close(fig)
    reader.close()
    figs.add("curvature_over_training.png", f"The top Hessian eigenvalue (Lanczos, 128 training digits) logged into "
             f"the run {len(eig.steps)} times beside the loss")


def _full(ctx: DemoContext) -> bool:
    """Whether the demo runs at full length (the test suite runs it fast, with 3 epochs)."""
    return not ctx.fast and len(ctx.history) >= 10


def _sharp_flat(ctx: DemoContext, x, y, figs: Figures) -> None:
    """The same narrow CNN trained with batch 16 and with batch 512, compared on 1-D
    filter-normalised slices and by the top Hessian eigenvalue."""
    import matplotlib.pyplot as plt

    from ...landscape import hessian_eigenvalues, loss_landscape
    from ...train import train_digits
    from ...zoo import DigitsCNN

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    notes = []
    runs = ((16, 3, "#1f77b4"), (512, 40, "#d62728")) if _full(ctx) else ((16, 1, "#1f77b4"), (512, 10, "#d62728"))
    for batch, epochs, color in runs:
        torch.manual_seed(0)
        result = train_digits(DigitsCNN(width=16), epochs=epochs, batch_size=batch, data=ctx.data, show_progress=False)
        curve = loss_landscape(result.model, (x, y), dims=1, steps=SLICE, span=1.0, show_progress=False, verbose=False)
        top = hessian_eigenvalues(result.model, (x, y), tol=1e-2, max_iter=30, show_progress=False)[0]
        label = f"batch {batch} (\u03bb_max {top:.3g}, test acc. {result.test_accuracy:.1%})"
        curve.plot(ax=ax, label=label, color=color, title="Sharp vs flat minima: small and large batch\n"
                   f"(loss and accuracy on {EXAMPLES} test digits along one filter-normalised direction)")
        notes.append(f"batch {batch}: top Hessian eigenvalue {top:.3g}")
    fig.savefig(figs.path("sharp_vs_flat.png"), dpi=110)
    plt.close(fig)
    figs.add("sharp_vs_flat.png", f"Small batch (16, {runs[0][1]} epochs) vs large batch (512, {runs[1][1]} epochs), "
             "Adam: " + "; ".join(notes) + " (\u03bb_max: the Hessian's top eigenvalue on the same digits). "
             "Filter normalisation makes the two curves comparable (Li et al. 2018, Sec. 5).")
