"""Demo section: several test digits explained by every attribution method, with the
faithfulness metrics table, deletion/insertion curves, Integrated Gradients' completeness
and the model-randomization sanity check."""
from __future__ import annotations

import html

import numpy as np

from .. import DemoContext, Section

SECOND_PROCESS = True  # needs only the digits models: built in the demo's second process

METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "smoothgrad_sq", "vargrad",
           "guided_backprop", "deconvnet", "cam", "grad_cam", "grad_cam_plus_plus", "xgrad_cam", "layer_cam",
           "score_cam", "ablation_cam", "eigen_cam", "guided_grad_cam", "occlusion", "feature_ablation", "lime",
           "kernel_shap", "gradient_shap")
OPTIONS = {"occlusion": {"window": 2, "stride": 1}, "feature_ablation": {"mask": ("grid", 2)},
           "lime": {"mask": ("grid", 2), "n_samples": 200}, "kernel_shap": {"mask": ("grid", 2), "n_samples": 200},
           "gradient_shap": {"n_samples": 32}}
LAYER = "features"
EXAMPLES = 4  # test digits explained by every method


def build(ctx: DemoContext) -> Section:
    import torch

    from ...attribution import compare
    from ...attribution.metrics import deletion_insertion, infidelity, model_randomization

    torch.manual_seed(0)
    model = ctx.cnn
    x, y = ctx.data.x_test[:EXAMPLES], ctx.data.y_test[:EXAMPLES]
    opts = {m: dict(OPTIONS.get(m, {})) for m in METHODS}
    for m in ("cam", "grad_cam", "grad_cam_plus_plus", "xgrad_cam", "layer_cam", "score_cam", "ablation_cam",
              "eigen_cam", "guided_grad_cam"):
        opts[m]["layer"] = LAYER
    comp = compare(model, x, methods=METHODS, options=opts, steps=10)
    ctx.log(comp, "attribution/compare")
    comp.save(ctx.path("attribution", "all_methods.png"), dpi=110)
    comp.save(ctx.path("attribution", "all_methods.json"))

    rows = []
    for r in comp.table():
        res = comp.results[r["method"]]
        inf = ""
        if res.attributions.shape == tuple(x.shape):
            inf = f"{np.mean(infidelity(model, x, res, n_perturb=16)):.3f}"
        rows.append((r["method"], r.get("deletion_auc"), r.get("insertion_auc"), r.get("completeness_error"), inf,
                     r.get("seconds"), res.paper))
    rows.sort(key=lambda t: (t[2] or 0) - (t[1] or 0), reverse=True)

    ig = comp.results["integrated_gradients"]
    ig.save(ctx.path("attribution", "integrated_gradients.png"))
    comp.results["grad_cam"].save(ctx.path("attribution", "grad_cam.png"))
    deletion_insertion(model, x, ig, steps=16).save(ctx.path("attribution", "ig_curves.png"))
    sanity = model_randomization(model, x[:4], method="grad_cam", layer=LAYER)
    sanity.save(ctx.path("attribution", "sanity_grad_cam.png"))
    sanity_ig = model_randomization(model, x[:4], method="integrated_gradients", steps=16)
    sanity_ig.save(ctx.path("attribution", "sanity_ig.png"))
    ig.save(ctx.path("attribution", "integrated_gradients.html"))

    def cell(v, fmt="{:.3f}"):
        return "" if v is None or v == "" else (fmt.format(v) if not isinstance(v, str) else v)

    table = ("<table><tr><th>method</th><th>deletion AUC ↓</th><th>insertion AUC ↑</th>"
             "<th>IG completeness error</th><th>infidelity ↓</th><th>seconds</th><th>paper</th></tr>"
             + "".join(f"<tr><td>{html.escape(m)}</td><td>{cell(d)}</td><td>{cell(i)}</td><td>{cell(c, '{:.2e}')}</td>"
                       f"<td>{inf}</td><td>{cell(s, '{:.2f}')}</td><td style='text-align:left'>{html.escape(p)}</td></tr>"
                       for m, d, i, c, inf, s, p in rows)
             + "</table>")
    steps = ig.metrics["steps"]
    body = (
        f"<p>{len(x)} test digits (labels {', '.join(str(int(v)) for v in y)}) explained by {len(METHODS)} methods for "
        f"the predicted class. Signed maps use a diverging colour map centred at zero (red = evidence for the class, "
        f"blue = against); CAM maps are non-negative. Below each method: deletion AUC (lower is better) and "
        f"insertion AUC (higher is better), Petsiuk et al. 2018.</p>"
        f'<img src="attribution/all_methods.png" alt="every method on the test digits">'
        f"<h3>Faithfulness table (sorted by insertion minus deletion AUC)</h3>{table}"
        f"<h3>Integrated Gradients</h3><p>steps=\"auto\": the completeness error "
        f"|Σ attributions − (f(x) − f(0))| / |f(x) − f(0)| is at most "
        f"{float(np.max(ig.metrics['completeness_error'])):.2e} with {', '.join(str(int(s)) for s in steps)} steps per "
        f"example. <a href=\"attribution/integrated_gradients.html\">HTML</a></p>"
        f'<img src="attribution/integrated_gradients.png" alt="integrated gradients">'
        f'<img src="attribution/ig_curves.png" alt="deletion and insertion curves" style="max-width:520px">'
        f"<h3>Grad-CAM</h3><img src=\"attribution/grad_cam.png\" alt=\"grad-cam\">"
        f"<h3>Sanity check: model randomization (Adebayo et al. 2018)</h3>"
        f"<p>Layers of a copy of the model are re-initialised from the output towards the input; a trustworthy "
        f"map loses its similarity to the original. Grad-CAM does; Integrated Gradients with a black baseline keeps a "
        f"high rank correlation because its maps are zero wherever the input is zero (the digit's background), the "
        f"input-dominance effect Adebayo et al. describe for gradient x input-like methods.</p>"
        f'<img src="attribution/sanity_grad_cam.png" alt="sanity grad-cam" style="max-width:480px">'
        f'<img src="attribution/sanity_ig.png" alt="sanity IG" style="max-width:480px">')
    return Section("Attribution: why this digit?", body)
