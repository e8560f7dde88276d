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

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neuralscope.data import load_digits, load_sample_photos  # noqa: E402
from neuralscope.inspect import (activation_functions, activation_heatmap, activation_histograms,  # noqa: E402
                                 conv_filters, dead_units, embed, embed_layer, feature_maps, hidden_states,
                                 project_weights, unit_activations, weight_heatmap, weight_histograms, weight_stats)
from neuralscope.plot.animation import (animate_forward, embeddings_over_training,  # noqa: E402
                                        feature_maps_over_training, weights_over_training)
from neuralscope.train import train_digits  # noqa: E402
from neuralscope.zoo import MLP, DigitsCNN, RNNClassifier  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gallery")
    ap.add_argument("--only", default="", help="comma-separated groups: weights,activations,embedding,animation,large")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    want = lambda g: not only or g in only  # noqa: E731
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = load_digits()
    checkpoints, steps = [], []
    cnn_model = DigitsCNN()

    def snap(step, metrics):
        if step % 25 == 0:
            checkpoints.append({k: v.detach().clone() for k, v in cnn_model.state_dict().items()})
            steps.append(step)

    needs_training = any(want(g) for g in ("weights", "activations", "embedding", "animation"))
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
        save(embed_layer(cnn, x, "pool", method="umap", labels=y), "emb_umap_2d.png")
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
    print(f"{len(saved)} files in {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
