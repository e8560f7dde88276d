"""Demo section: inside the trained digits CNN and the row-by-row LSTM — weights,
activations, dead units, embeddings of the penultimate layer, and animations."""
from __future__ import annotations

import html

import torch

from .. import DemoContext, Section

NAME = "inside"
ANIMATION_FRAMES = 6  # about this many of the run's weight snapshots are animated


def build(ctx: DemoContext) -> Section:
    from ...inspect import (activation_functions, activation_heatmap, activation_histograms, conv_filters,
                            dead_units, embed, embed_layer, feature_maps, hidden_states, unit_activations,
                            weight_heatmap, weight_histograms, weight_stats)
    from ...plot.animation import animate_forward, embeddings_over_training, weights_over_training
    from ...track.snapshots import read_snapshots
    from ...train import train_digits
    from ...zoo import MLP, DigitsCNN

    cnn, x, y = ctx.cnn, ctx.data.x_test, ctx.data.y_test
    figs: list[tuple[str, str, str]] = []  # (group, file, caption)

    def fig(group: str, result, name: str, caption: str, log_as: str | None = None, **kw) -> None:
        result.save(ctx.path(NAME, name), **kw)
        figs.append((group, name, caption))
        if group != "Animations" and name != "activation_functions.png":  # the dashboard's Inside page
            ctx.log(result, log_as or f"inside/digits_cnn/{name.rsplit('.', 1)[0]}")

    def page(result, name: str) -> str:
        result.save(ctx.path(NAME, name))
        return f'<a href="{NAME}/{name}">{html.escape(name)}</a>'

    if ctx.scenes is not None:
        _scenes(ctx, fig)
    # weights
    fig("Weights", conv_filters(cnn, "features.0"), "filters_first.png", "First-layer 3x3 filters, by norm")
    fig("Weights", conv_filters(cnn, "features.7"), "filters_norms.png", "Kernel norms of the 64x32 conv")
    fig("Weights", weight_heatmap(cnn, "classifier"), "classifier_weights.png", "Linear head weights")
    fig("Weights", weight_histograms(cnn), "weight_histograms.png", "Every parameter tensor's distribution")
    stats = weight_stats(cnn)
    fig("Weights", stats, "weight_stats.png", "Norms, std and near-zero fraction")
    # activations
    fig("Activations", feature_maps(cnn, x, "features.5", index=0), "feature_maps.png",
        f"Feature maps after the 2nd conv block for test digit 0 (label {int(y[0])})")
    fig("Activations", unit_activations(cnn, x, "features.8", unit=0, k=8, labels=y), "unit_top_k.png",
        "Channel 0 of the last conv block over the test set, and its top-8 digits")
    fig("Activations", activation_heatmap(cnn, x, "pool", labels=y), "activation_heatmap.png",
        "Pooled features x test digits, grouped by label")
    fig("Activations", activation_histograms(cnn, x, [torch.nn.ReLU, "classifier"]), "activation_histograms.png",
        "Activation distributions")
    fig("Activations", dead_units(cnn, x), "dead_units.png", "Dead / saturated units on the test set")
    fig("Activations", activation_functions(), "activation_functions.png", "Activation functions and derivatives")
    if ctx.lstm is not None:
        fig("Activations", hidden_states(ctx.lstm, x, index=0), "lstm_hidden_states.png",
            f"LSTM hidden state while reading test digit 0 (label {int(y[0])}) row by row")
    # embeddings: the learned features against the raw pixels (UMAP is left to the gallery: its numba
    # compilation and umap-learn's TensorFlow import cost the demo about a quarter of a minute)
    pca2 = embed_layer(cnn, x, "pool", method="pca", labels=y)
    tsne = embed_layer(cnn, x, "pool", method="tsne", labels=y)
    pixels = embed(x.flatten(1).numpy(), "tsne", labels=y.numpy(), images=x.numpy(), title="t-SNE of the raw pixels")
    pca3 = embed_layer(cnn, x, "pool", method="pca", labels=y, dims=3)
    fig("Embeddings", pca2, "embed_pca.png", f"PCA of pooled features ({pca2.seconds:.2f} s)")
    fig("Embeddings", tsne, "embed_tsne.png", f"t-SNE of pooled features ({tsne.seconds:.1f} s)")
    fig("Embeddings", pixels, "embed_tsne_pixels.png", f"t-SNE of the raw pixels, before the network "
        f"({pixels.seconds:.1f} s): the same digits, less cleanly apart than in the learned features")
    links = [page(pca2, "embed_pca.html"), page(tsne, "embed_tsne.html"), page(pixels, "embed_tsne_pixels.html"),
             page(pca3, "embed_pca_3d.html")]
    # animations: the weight snapshots the demo's run recorded while the CNN trained (evenly thinned)
    steps, ckpts = read_snapshots(ctx.digits_run)
    stride = max(1, len(steps) // ANIMATION_FRAMES)
    steps, ckpts = steps[::stride], ckpts[::stride]
    wanim = weights_over_training(ckpts, "features.0.weight", steps=steps)
    fig("Animations", wanim, "anim_first_layer.gif", "First-layer weights during training (the run's weight snapshots)")
    eanim = embeddings_over_training(DigitsCNN(), ckpts, x, "pool", labels=y, steps=steps)
    fig("Animations", eanim, "anim_embedding.gif", "PCA of pooled features during training (aligned)")
    mlp = train_digits(MLP(hidden=(16, 12)), epochs=6, data=ctx.data, show_progress=False).model
    fp = animate_forward(mlp, x[:1], class_names=[str(i) for i in range(10)])
    fig("Animations", fp, "forward_pass.gif", f"A small MLP's forward pass on test digit 0 (label {int(y[0])})")
    links += [page(wanim, "anim_first_layer.html"), page(eanim, "anim_embedding.html"),
              page(fp, "forward_pass.html")]

    parts = [f"<p>Interactive pages: {' · '.join(links)}.</p>"]
    for group in dict.fromkeys(g for g, _, _ in figs):
        parts.append(f"<h3>{group}</h3><div style=\"display:flex;flex-wrap:wrap;gap:16px\">")
        for g, name, caption in figs:
            if g == group:
                parts.append(f'<figure style="margin:0;max-width:560px"><a href="{NAME}/{name}">'
                             f'<img src="{NAME}/{name}" style="max-width:560px" alt="{html.escape(caption)}"></a>'
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</div>")
    parts.append("<h3>Weight statistics</h3>" + stats._html_fragment())
    return Section("Inside the network", "\n".join(parts))


def _scenes(ctx: DemoContext, fig) -> None:
    """The scene CNN: its RGB first-layer filters, feature maps of one scene, dead units and
    the t-SNE projector of its pooled features with scene thumbnails."""
    from ...inspect import conv_filters, dead_units, embed_layer, feature_maps

    s = ctx.scenes
    test = s.data.test
    x = test.images[:200 if ctx.fast else 300]
    fig("Scenes", conv_filters(s.cnn, "features.0"), "scene_filters.png",
        "Scene CNN: the 16 RGB 5x5 filters of the first layer (colour and edge detectors)",
        log_as="inside/cnn_scenes/filters_first_layer")
    fig("Scenes", feature_maps(s.cnn, test.images, "features.6", index=0), "scene_feature_maps.png",
        f"Scene CNN: feature maps after the 2nd conv block for a test scene ({s.data.classes[int(test.labels[0])]})",
        log_as="inside/cnn_scenes/feature_maps")
    fig("Scenes", dead_units(s.cnn, x), "scene_dead_units.png", "Scene CNN: dead / saturated units on test scenes",
        log_as="inside/cnn_scenes/units_dead")
    emb = embed_layer(s.cnn, x, "pool", method="tsne", labels=test.labels[:len(x)],
                      texts=[s.data.classes[int(c)] for c in test.labels[:len(x)]])
    fig("Scenes", emb, "scene_embedding_tsne.png",
        f"Scene CNN: t-SNE of the pooled features of {len(x)} test scenes, one colour per class "
        "(hover a point on the dashboard's Inside page to see its scene)", log_as="inside/cnn_scenes/embedding_tsne")
