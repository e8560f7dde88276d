"""Demo section: attributions with known answers. The scene CNN's maps scored against the
objects' exact masks (pointing game, relevance mass and rank accuracy, Arras et al. 2022)
beside deletion/insertion, infidelity and the randomization sanity check; then the Clever
Hans CNN, whose maps show whether each method reveals the corner mark it relies on."""
from __future__ import annotations

import html

import numpy as np

from .. import DemoContext, Section

NAME = "localization"
LAYER = "features"
METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "guided_backprop", "grad_cam",
           "grad_cam_plus_plus", "layer_cam", "score_cam", "occlusion", "feature_ablation")
FAST_METHODS = ("saliency", "integrated_gradients", "grad_cam", "feature_ablation")
HANS_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "guided_backprop", "grad_cam", "occlusion",
                "feature_ablation")
HANS_FAST = ("integrated_gradients", "grad_cam", "occlusion")
OPTIONS = {"occlusion": {"window": 8, "stride": 4}, "integrated_gradients": {"steps": 32}}
EXAMPLES = 6  # test scenes in the comparison grids (each method's maps and scores)
SANITY = ("saliency", "grad_cam")  # model-randomization checks (each explains once per layer)
COLUMNS = (("pointing_game", "pointing game ↑"), ("mass_accuracy", "mass accuracy ↑"),
           ("rank_accuracy", "rank accuracy ↑"), ("deletion_auc", "deletion AUC ↓"),
           ("insertion_auc", "insertion AUC ↑"), ("infidelity", "infidelity ↓"),
           ("randomized_spearman", "rank corr. after randomization ↓"), ("seconds", "seconds"))


def _options(methods) -> dict:
    opts = {m: dict(OPTIONS.get(m, {})) for m in methods}
    for m in methods:
        if "cam" in m:
            opts[m]["layer"] = LAYER
    return opts


def build(ctx: DemoContext) -> Section:
    import torch

    from ...attribution import compare
    from ...attribution.explain import explain
    from ...attribution.localization import localization, random_map_scores
    from ...attribution.metrics import infidelity, model_randomization

    torch.manual_seed(0)
    s = ctx.scenes
    methods = FAST_METHODS if ctx.fast else METHODS
    test = s.data.test[:EXAMPLES]
    comp = compare(s.cnn, test.images, methods=methods, options=_options(methods), steps=16, masks=test.masks)
    for m in methods:
        res = comp.results[m]
        if res.attributions.shape == tuple(test.images.shape):  # infidelity needs input-shaped maps (not CAM)
            comp.scores[m]["infidelity"] = infidelity(s.cnn, test.images, res, n_perturb=16)
    for m in (("grad_cam",) if ctx.fast else SANITY):
        sanity = model_randomization(s.cnn, test.images[:4], method=m, **_options([m])[m])
        comp.scores[m]["randomized_spearman"] = sanity.spearman[-1]
        sanity.save(ctx.path(NAME, f"sanity_{m}.png"))
        ctx.log(sanity, f"attribution/scenes_sanity_{m}")
    ctx.log(comp, "attribution/scenes_compare")
    comp.save(ctx.path(NAME, "scenes_methods.png"), dpi=100)

    # Grad-CAM's pointing game over many test scenes against random maps on the same masks
    many = s.data.test[:64 if ctx.fast else 160]
    gc = localization(explain(s.cnn, many.images, method="grad_cam", layer=LAYER), many.masks)
    chance = random_map_scores(many.masks)
    area = float(many.area_fraction.mean())
    fig_path = _plot_chance(gc, chance, area, len(many), ctx.path(NAME, "grad_cam_vs_random.png"))

    hans_html = _clever_hans(ctx, compare)
    rows = sorted(comp.table(), key=lambda r: -np.nan_to_num(r.get("mass_accuracy", 0.0)))
    chance_row = {"method": "random map (chance)", **{k: float(np.nanmean(v)) for k, v in
                                                       random_map_scores(test.masks).items()}}
    body = (
        f"<p>The scene CNN ({s.accuracy['scene_cnn']:.1%} test accuracy) explained on {len(test)} test scenes by "
        f"{len(methods)} methods, for the predicted class. Each scene's object mask is known exactly, so each map "
        f"is scored by where its positive relevance falls: pointing game (is the maximum on the object?), "
        f"relevance mass accuracy (share of the relevance on the object) and relevance rank accuracy (share of "
        f"the top-K pixels on the object, K = object size) — Arras, Osman and Samek 2022 (CLEVR-XAI) — beside "
        f"deletion/insertion AUC (Petsiuk et al. 2018), infidelity (Yeh et al. 2019) and the rank correlation "
        f"with the map of a fully randomized model (Adebayo et al. 2018; low means the map depends on what the "
        f"model learned). The objects cover {float(test.area_fraction.mean()):.1%} of the pixels: that is "
        f"what a uniform map scores.</p>"
        f'<img src="{NAME}/scenes_methods.png" alt="every method on the test scenes" style="max-width:100%">'
        f"<h3>Scores (sorted by mass accuracy)</h3>{_table(rows + [chance_row])}"
        f"<h3>Grad-CAM points at the object</h3><p>Over {len(many)} test scenes Grad-CAM's maximum lies on "
        f"the object in <b>{np.nanmean(gc['pointing_game']):.0%}</b> of them; a random map's does in "
        f"{np.nanmean(chance['pointing_game']):.0%} (the objects' mean area fraction, {area:.1%}). "
        f"Mass accuracy {np.nanmean(gc['mass_accuracy']):.2f} against {np.nanmean(chance['mass_accuracy']):.2f} "
        f"for random maps.</p><img src=\"{NAME}/{fig_path.name}\" alt=\"grad-cam against random maps\">"
        + "".join(f'<img src="{NAME}/sanity_{m}.png" alt="sanity {m}" style="max-width:420px">'
                  for m in (("grad_cam",) if ctx.fast else SANITY))
        + hans_html)
    return Section("Attribution with known answers (scenes)", body)


def _clever_hans(ctx: DemoContext, compare) -> str:
    """The Clever Hans CNN on test scenes (marks shuffled): which methods put their mass on the mark."""
    import torch

    from ...data.scenes import mark_box

    s = ctx.scenes
    methods = HANS_FAST if ctx.fast else HANS_METHODS
    side = mark_box(s.hans_data.test.images.shape[-1])[1]
    opts = _options(methods)
    opts["occlusion"] = {"window": side, "stride": max(1, side // 3), "baseline": "blur"}
    opts["feature_ablation"] = {"mask": ("grid", max(1, side // 3)), "baseline": "blur"}
    all_test = s.hans_data.test
    with torch.no_grad():
        pred = s.hans(all_test.images).argmax(1)
    # Clever Hans decisions: the prediction follows the mark against the object
    fooled = ((pred == all_test.cue_labels) & (pred != all_test.labels)).nonzero()[:, 0]
    test = all_test[fooled[:EXAMPLES]] if len(fooled) else all_test[:EXAMPLES]
    comp = compare(s.hans, test.images, methods=methods, options={m: opts[m] for m in methods}, steps=16,
                   masks={"object": test.masks, "mark": test.cue_masks})
    ctx.log(comp, "attribution/clever_hans")
    comp.save(ctx.path(NAME, "clever_hans_methods.png"), dpi=100)
    mark = {m: float(np.nanmean(comp.scores[m]["mark_mass_accuracy"])) for m in methods}
    obj = {m: float(np.nanmean(comp.scores[m]["object_mass_accuracy"])) for m in methods}
    reveal = [m for m in methods if mark[m] > 0.5]
    hide = [m for m in methods if mark[m] <= obj[m]]
    follows = float(np.mean(pred.numpy() == all_test.cue_labels.numpy()))
    mark_area = float(test.cue_masks.flatten(1).float().mean())
    words = (f"{_names(reveal)} put{'s' if len(reveal) == 1 else ''} most of {'its' if len(reveal) == 1 else 'their'} "
             f"positive relevance on the corner mark (up to {max(mark[m] for m in reveal):.0%} on "
             f"{mark_area:.1%} of the pixels): {'it reveals' if len(reveal) == 1 else 'they reveal'} the Clever Hans."
             if reveal else "No method puts most of its relevance on the mark.")
    if hide:
        words += f" {_names(hide)} put{'s' if len(hide) == 1 else ''} at least as much on the object as on the mark and hide it."
    rows = "".join(f"<tr><td>{html.escape(m)}</td><td>{mark[m]:.3f}</td><td>{obj[m]:.3f}</td></tr>" for m in
                   sorted(methods, key=lambda m: -mark[m]))
    return (f"<h3>Clever Hans: a CNN that learned the corner mark</h3>"
            f"<p>A second scene CNN was trained on scenes whose top-left mark has the colour of the class "
            f"(Lapuschkin et al. 2019): {s.hans_train_accuracy:.1%} on training scenes, "
            f"{s.accuracy['clever_hans_cnn']:.1%} on test scenes whose marks are shuffled, where its prediction "
            f"is the mark's class {follows:.0%} of the time ({len(fooled)} of {len(all_test)} test scenes are "
            f"Clever Hans decisions: the mark's class against the object's). Explained below: {len(test)} of "
            f"those decisions, for the predicted class; occlusion uses a window the size of the mark and a "
            f"blurred baseline. <b>{html.escape(words)}</b></p>"
            f'<img src="{NAME}/clever_hans_methods.png" alt="methods on the clever hans model" style="max-width:100%">'
            f"<table><tr><th>method</th><th>mass on the mark</th><th>mass on the object</th></tr>{rows}</table>")


def _names(methods) -> str:
    names = [m.replace("_", " ") for m in methods]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _table(rows) -> str:
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS) + "</tr>"

    def cell(r, k):
        v = r.get(k)
        return "" if v is None or not np.isfinite(v) else f"{v:.3f}"

    return "<table>" + head + "".join(
        f"<tr><td>{html.escape(r['method'])}</td>" + "".join(f"<td>{cell(r, k)}</td>" for k, _ in COLUMNS) + "</tr>"
        for r in rows) + "</table>"


def _plot_chance(gc, chance, area, n, path):
    import matplotlib.pyplot as plt

    names = ("pointing_game", "mass_accuracy", "rank_accuracy")
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [np.nanmean(gc[k]) for k in names], 0.4, label="Grad-CAM", color="#b2182b")
    ax.bar(xs + 0.2, [np.nanmean(chance[k]) for k in names], 0.4, label="random map", color="#999999")
    ax.axhline(area, color="#2166ac", ls="--", lw=1, label=f"object area fraction ({area:.1%})")
    ax.set_xticks(xs)
    ax.set_xticklabels([k.replace("_", " ") for k in names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"mean over {n} test scenes")
    ax.set_title("Scene CNN: Grad-CAM against random maps on the same masks", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
