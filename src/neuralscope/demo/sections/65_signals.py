"""Demo section: a small 1-D CNN on the synthetic signal set, whose class is decided by a
burst inside a known time window: Grad-CAM upsampled to the signal's length, Integrated
Gradients, occlusion and KernelSHAP over time windows, each scored by the share of its
positive attribution inside the true window, and the feature maps and filters of the
Conv1d layers."""
from __future__ import annotations

import html

import numpy as np

from .. import DemoContext, Section

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

NAME = "signals"
METHODS = {"grad_cam": {}, "integrated_gradients": {"steps": 32}, "occlusion": {"window": 8, "stride": 4},
           "kernel_shap": {"mask": ("windows", 8), "n_samples": 256}}


def build(ctx: DemoContext) -> Section:
    import torch

    from ...attribution import explain
    from ...data import make_signals
    from ...inspect import conv_filters, feature_maps
    from ...train import train_digits
    from ...zoo import SignalCNN

    data = make_signals(n=400 if ctx.fast else 600)
    torch.manual_seed(0)
    trained = train_digits(SignalCNN(), data=data, epochs=3 if ctx.fast else 6, batch_size=16, lr=1e-2,
                           show_progress=False)
    net = trained.model
    sel = (data.y_test == 1).numpy()
    x, windows = data.x_test[sel][:6], data.windows_test[sel][:6]
    opts = {"sampling_rate": data.sampling_rate, "feature_names": data.channel_names}
    figs: list[tuple[str, str]] = []
    rows = []
    for method, o in METHODS.items():
        res = explain(net, x, target=1, method=method, **o, **opts)
        ctx.log(res, f"signals/{method}")
        res.save(ctx.path(NAME, f"{method}.png"), dpi=100)
        share = window_share(res, windows)
        rows.append((method, share))
        figs.append((f"{method}.png", f"{method}: share of positive attribution inside the burst's window "
                                      f"{share:.0%} (a random map: {_random_share(res, windows):.0%})"))
    feature_maps(net, x, "features.2").save(ctx.path(NAME, "feature_maps.png"), dpi=100)
    conv_filters(net, "features.3").save(ctx.path(NAME, "conv_filters.png"), dpi=100)
    figs += [("feature_maps.png", "Feature maps of the first Conv1d block for signal 0"),
             ("conv_filters.png", "Filters of the second Conv1d layer (taps per input channel)")]
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in figs)
    intro = (f"<p>SignalCNN on the synthetic signal set (class 1: a burst on channel 0 inside samples "
             f"{int(windows.min())}-{int(windows.max())}): test accuracy {trained.test_accuracy:.1%}. Share of each "
             "method's positive attribution inside the true window, over 6 test signals: "
             + ", ".join(f"{m} {s:.0%}" for m, s in rows) + ".</p>")
    return Section("Signals (1-D models)", intro + f'<div style="display:grid;gap:18px">{grid}</div>')


def window_share(res, windows) -> float:
    """Mean share of positive attribution inside each signal's window."""
    a = np.clip(res.attributions if res.attributions.ndim == 2 else res.attributions.sum(1), 0, None)
    inside = np.zeros_like(a, dtype=bool)
    for i, (lo, hi) in enumerate(windows):
        inside[i, lo:hi] = True
    return float(((a * inside).sum(1) / np.maximum(a.sum(1), 1e-12)).mean())


def _random_share(res, windows) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((len(windows), res.inputs.shape[-1]))
    inside = np.zeros_like(a, dtype=bool)
    for i, (lo, hi) in enumerate(windows):
        inside[i, lo:hi] = True
    return float(((a * inside).sum(1) / a.sum(1)).mean())
