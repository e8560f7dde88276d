"""Demo section: feature visualization of the trained scene CNN's channels (colour and
texture detectors) and classes beside their top test scenes; of the digits CNN's channels
beside their top dataset examples, the optimization over steps, FFT vs pixel images, class logits, and
guided-backprop / deconvnet reconstructions of what a unit saw in one digit."""
from __future__ import annotations

import html

import torch

from .. import DemoContext, Section

NAME = "featurevis"


def build(ctx: DemoContext) -> Section:
    from ...featurevis import class_logit, feature_vis, high_frequency_energy, reconstruct

    cnn = ctx.cnn
    data = torch.cat([ctx.data.x_train, ctx.data.x_test])
    figs: list[tuple[str, str]] = []

    def save(result, name: str, caption: str, **kw) -> None:
        path = ctx.path(NAME, name)
        if hasattr(result, "save"):
            result.save(path, **kw)
        else:
            import matplotlib.pyplot as plt

            result.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(result)
        figs.append((name, caption))

    scene_html = _scenes(ctx, save) if ctx.scenes is not None else ""
    fv = feature_vis(cnn, "features.8:0-11", steps=32 if ctx.fast else 128, lr=0.1, dataset=data, top_k=6, thresholds=(4, 16, 64, 128))
    ctx.log(fv, "featurevis/digits_cnn_features.8")
    above = (fv.values > fv.dataset_quantiles[:, 2]).sum()
    save(fv, "channels.png", f"Channels 0-11 of the last conv block (optimized together as one batch): "
         f"visualization (red: its activation) and the 6 digits that activate the channel most; "
         f"{above} of 12 visualizations exceed the channel's 99th percentile over the 1,797 digits")
    save(fv.plot_progress(0), "progress.png", "Channel 0 at steps 4, 16, 64, 128 and the objective curve")
    logits = feature_vis(cnn, class_logit(list(range(10))), steps=128, lr=0.1, dataset=data, top_k=4)
    save(logits, "class_logits.png", "Class logits 0-9: what the network 'wants to see' for each digit")
    big = {p: feature_vis(cnn, "features.8:0-7", param=p, size=32, steps=64) for p in ("fft", "pixels")}
    for p, r in big.items():
        save(r, f"channels_32px_{p}.png", f"{p} parameterization at 32 x 32 (the CNN is fully convolutional): "
             f"high-frequency energy {high_frequency_energy(r.images):.2f}", examples=False)
    x = ctx.data.x_test[:1]
    for method in ("guided", "deconvnet"):
        save(reconstruct(cnn, x, "features.8:0", method=method), f"reconstruct_{method}.png",
             f"{method}: what channel 0 saw in test digit {int(ctx.data.y_test[0])}")
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in figs)
    return Section("Feature visualization", scene_html + f'<div style="display:grid;gap:18px">{grid}</div>')


COLOUR_LAYER = "features.2"  # after the first conv block: colour and stripe-orientation detectors
TEXTURE_LAYER = "features.5"  # the second conv block before its ReLU: 32 channels, a 15-pixel receptive field
TEXTURE_RELU = "features.6"  # the same channels after the ReLU: what "fires" means when ranking them
TEXTURE_CHANNELS = 12  # the most selective of the 32 are shown
TEXTURE_LR = 0.02  # with 0.05 the images saturate to black and white blobs


def _scenes(ctx: DemoContext, save) -> str:
    """The scene CNN's first-block channels (colour and stripe detectors) and its most
    selective second-block channels (texture detectors) beside the real scene patches they
    fire on most, and its four class logits with their top test scenes."""
    from ...featurevis import channel, class_logit, feature_vis
    from ...featurevis.patches import selective_channels

    s = ctx.scenes
    steps = 48 if ctx.fast else 128
    data = s.data.test.images
    colour = feature_vis(s.cnn, f"{COLOUR_LAYER}:0-11", steps=steps, lr=0.05, dataset=data, top_k=4, size=48)
    ctx.log(colour, "featurevis/colour_channels")
    save(colour, "scene_colour_channels.png", f"Scene CNN, channels 0-11 after the first conv block "
         f"({COLOUR_LAYER}): colour detectors (blue, yellow, green/cyan, white) and oriented-stripe detectors, "
         "each beside the 4 test scenes that activate it most")
    chosen = selective_channels(s.cnn, TEXTURE_RELU, data, TEXTURE_CHANNELS)
    # the fast run (the tests, the dashboard screenshots) takes half the steps at twice the rate
    fv = feature_vis(s.cnn, channel(TEXTURE_LAYER, chosen), steps=48 if ctx.fast else 96,
                     lr=2 * TEXTURE_LR if ctx.fast else TEXTURE_LR, size=48,
                     transforms="strong", dataset=data, top_k=5, patches=True)
    ctx.log(fv, "featurevis/colour_and_texture_channels")
    save(fv, "scene_channels.png", f"Scene CNN, the {TEXTURE_CHANNELS} most selective of the 32 channels of the second "
         f"conv block ({TEXTURE_LAYER}, before its ReLU; ranked by the mean of each channel's 10 highest peaks over "
         f"its mean peak on {len(data)} test scenes): each visualization beside the 5 test-scene patches (its "
         "15-pixel receptive field, cut where it peaks) that excite it most: checker and stripe textures of one "
         "orientation, and the edges and corners of solid shapes. Red: the channel's mean over the whole optimized "
         "image; above each patch: the channel's value at that one position")
    logits = feature_vis(s.cnn, class_logit(list(range(len(s.data.classes)))), steps=steps, lr=0.05, dataset=data,
                         top_k=4, size=64)
    ctx.log(logits, "featurevis/scene_classes")
    save(logits, "scene_classes.png", "Scene CNN, class logits " + ", ".join(
        f"{i} = {c}" for i, c in enumerate(s.data.classes)) + ": what the network wants to see for each class, and its 4 top test scenes")
    return ("<p>The scene CNN has learned detectors of the colours and textures that make the scenes: its first "
            "block's channels are colour and stripe-orientation detectors, its second block's respond to the "
            "textures (stripes, checks, dots) and to the edges of the shapes. The second block's channels are "
            "shown with the patches of real scenes they fire on most, cut to what each unit sees. Below: its "
            "channels and classes, then the digits CNN.</p>")
