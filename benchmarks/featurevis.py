"""Feature visualization speed: neuralscope vs Lucent (torch-lucent) side by side.

Same model, same objective (one channel each), same image size, same FFT parameterization
and step count. Lucent optimizes one channel per ``render_vis`` call; neuralscope optimizes
all channels together as one batch and stops the forward pass at the layer the objective
reads. Prints channel-steps per second and the ratio. Not a test.

    .venv/bin/python benchmarks/featurevis.py
"""
from __future__ import annotations

import copy
import sys
import time

import torch

from neuralscope.featurevis import feature_vis, unit_activations


def bench(name, model, layer, lucent_layer, channels, size, steps, in_ch, lucent_transforms, ours_transforms):
    from lucent.optvis import param, render

    decorrelate = in_ch == 3
    torch.manual_seed(0)
    t = time.perf_counter()
    ours = feature_vis(model, f"{layer}:0-{channels - 1}", size=size, channels=in_ch, steps=steps,
                       transforms=ours_transforms, decorrelate=decorrelate, show_progress=False)
    t_ours = time.perf_counter() - t
    lucent_model = copy.deepcopy(model)  # render_vis calls .eval() and .to() on the model it gets
    torch.manual_seed(0)
    t = time.perf_counter()
    imgs = []
    for c in range(channels):
        out = render.render_vis(lucent_model, f"{lucent_layer}:{c}",
                                param_f=lambda: param.image(size, channels=in_ch, decorrelate=decorrelate),
                                transforms=lucent_transforms, thresholds=(steps,), show_image=False,
                                progress=False, preprocess=False, fixed_image_size=size)
        imgs.append(torch.from_numpy(out[-1]).permute(0, 3, 1, 2))
    t_lucent = time.perf_counter() - t
    lucent_vals = unit_activations(model, f"{layer}:0-{channels - 1}", torch.cat(imgs)).diagonal()
    rate_ours = channels * steps / t_ours
    rate_lucent = channels * steps / t_lucent
    print(f"{name:34s} neuralscope {rate_ours:8.1f} ch-steps/s   lucent {rate_lucent:8.1f} ch-steps/s   "
          f"ratio {rate_ours / rate_lucent:5.2f}x   mean activation reached: ours {ours.values.mean():.3g}, "
          f"lucent {float(lucent_vals.mean()):.3g}")


def _kornia_compat():
    """torch-lucent 0.1.8 calls kornia's pre-0.5 top-level names (it pins kornia<=0.4.1, which
    does not install beside torch 2.14); point them at their current homes."""
    import kornia
    from kornia.geometry import transform as kt

    for name in ("get_rotation_matrix2d", "warp_affine"):
        if not hasattr(kornia, name):
            setattr(kornia, name, getattr(kt, name))


def main():
    import torchvision
    from lucent.optvis import transform

    _kornia_compat()
    from neuralscope.featurevis import standard_transforms
    from neuralscope.train import train_digits
    from neuralscope.zoo import DigitsCNN

    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}")
    if "--resnet-only" not in sys.argv:
        cnn = train_digits(DigitsCNN(), epochs=2, show_progress=False).model.eval()
        bench("digits CNN features.8, 8x8, 64 st", cnn, "features.8", "features_8", 16, 8, 64, 1, [], None)
    resnet = torchvision.models.resnet18().eval()
    bench("resnet18 layer2, 64x64, 24 st", resnet, "layer2", "layer2", 8, 64, 24, 3,
          transform.standard_transforms, standard_transforms(64))


if __name__ == "__main__":
    main()
