"""Demo section: an MLP on scikit-learn's breast cancer set with its 30 named features,
explained the way shap users expect: global importance and the beeswarm summary over the
test patients (KernelSHAP with 50 training rows as background), one patient's waterfall
and force plot, a decision plot, a dependence plot, and the cross-check of KernelSHAP's
values against exact Shapley values on the 10 most important features."""
from __future__ import annotations

import html

import numpy as np

from .. import DemoContext, Section

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

NAME = "tabular"


def build(ctx: DemoContext) -> Section:
    import torch

    from ...attribution import explain
    from ...data import load_tabular
    from ...plot import tabular as pt
    from ...train import train_digits
    from ...zoo import TabularMLP

    data = load_tabular("breast_cancer")
    torch.manual_seed(0)
    trained = train_digits(TabularMLP(), data=data, epochs=10 if ctx.fast else 30, show_progress=False)
    net, names = trained.model, data.feature_names
    rows = data.x_test[:24] if ctx.fast else data.x_test
    bg = data.x_train[:50]
    res = explain(net, rows, target=1, method="kernel_shap", background=bg, n_samples=512 if ctx.fast else 2048,
                  feature_names=names)
    ctx.log(res, "tabular/kernel_shap")
    figs: list[tuple[str, str]] = []

    def save(drawn, name: str, caption: str) -> None:
        import matplotlib.pyplot as plt

        fig = drawn.figure if hasattr(drawn, "figure") else drawn
        fig.savefig(ctx.path(NAME, name), dpi=110, bbox_inches="tight")
        plt.close(fig)
        figs.append((name, caption))

    save(pt.bar(res), "importance.png", "Global importance: mean |SHAP value| per feature (benign class logit)")
    save(pt.beeswarm(res), "beeswarm.png", "Every test patient's SHAP values, coloured by the feature's value")
    top = names[int(np.argmax(np.abs(res.attributions).mean(0)))]
    save(pt.dependence(res, top), "dependence.png", f"Dependence of the output on {top}, coloured by the "
         "feature that interacts with it most")
    save(pt.waterfall(res, 0), "waterfall.png", "Patient 0: from E[f(background)] to the model's output")
    save(pt.force(res, 0), "force.png", "Patient 0 as a force plot")
    save(pt.decision(res), "decision.png", "Decision plot of every test patient")
    check = _exact_check(net, rows[:4], bg[:20], res, names)
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in figs)
    intro = (f"<p>TabularMLP on breast cancer: test accuracy {trained.test_accuracy:.1%}; {len(rows)} test patients "
             f"explained by KernelSHAP ({res.options.get('n_samples')} coalitions, 50 training rows as background). "
             f"Additivity error (|sum of values - (f(x) - E[f(background)])|): at most "
             f"{float(np.max(res.metrics['additivity_error'])):.2g}; convergence estimate (largest change of a value "
             f"between half and all coalitions): median {float(np.median(res.metrics['convergence'])):.3g}.</p>")
    return Section("Tabular models", intro + check + f'<div style="display:grid;gap:18px">{grid}</div>')


def _exact_check(net, x, bg, res, names) -> str:
    """KernelSHAP against exact Shapley values with the 10 most important features as
    players (the other 20 grouped into one): the largest difference."""
    from ...attribution import explain

    order = np.argsort(-np.abs(res.attributions).mean(0))
    rest = [names[k] for k in order[10:]]
    groups = {"20 other features": rest}
    exact = explain(net, x, target=1, method="exact_shapley", background=bg, feature_names=names, groups=groups)
    kernel = explain(net, x, target=1, method="kernel_shap", background=bg, feature_names=names, groups=groups,
                     n_samples=512)
    diff = float(np.abs(exact.attributions - kernel.attributions).max())
    return (f"<p>Cross-check on 4 patients with 11 players (the 10 most important features and the other 20 as one "
            f"group): KernelSHAP with 512 of the 2,046 coalitions differs from the exact Shapley values (all "
            f"2,048 coalitions) by at most {diff:.2g}, for values up to "
            f"{float(np.abs(exact.attributions).max()):.2g}; its own convergence estimate said "
            f"{float(np.max(kernel.metrics['convergence'])):.2g}.</p>")
