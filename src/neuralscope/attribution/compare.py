"""Several attribution methods on the same inputs, side by side: :func:`compare` runs them
through :func:`~neuralscope.attribution.explain.explain` and scores every map (deletion and
insertion AUC, Integrated Gradients' completeness error, and with ground-truth masks the
localisation scores); :class:`Comparison` holds the maps and the table of scores."""
from __future__ import annotations

import html as _html
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..result import Result, standalone_page
from .explain import evaluation_mode, explain, in_training_mode
from .result import Attribution


class Comparison(Result):
    """Several methods on the same inputs: a grid of maps (rows = examples, columns =
    methods) and a table of faithfulness scores per method (deletion AUC, lower is better;
    insertion AUC, higher is better; IG completeness error where applicable).

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> c = compare(net, net.example_input(2), methods=["saliency", "grad_cam"], steps=8)
        >>> sorted(c.scores["saliency"])
        ['deletion_auc', 'insertion_auc']
    """

    kind = "attribution_comparison"
    #: ``results``: each method's :class:`Attribution` document; ``scores``: method -> score ->
    #: one value per example
    schema = {"kind": "str", "methods": "str[*]", "results": {"*": Attribution.schema},
              "scores": {"*": {"*": "float[b]"}}, "seconds": {"*": "float"}}

    def __init__(self, results: dict[str, Attribution], scores: dict[str, dict[str, np.ndarray]],
                 seconds: dict[str, float] | None = None):
        self.results, self.scores, self.seconds = results, scores, dict(seconds or {})

    @property
    def methods(self) -> list[str]:
        return list(self.results)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "methods": self.methods,
                "results": {k: r.to_dict() for k, r in self.results.items()},
                "scores": self.scores, "seconds": self.seconds}

    def table(self) -> list[dict]:
        """One row per method: mean of each score over the examples."""
        rows = []
        for m in self.methods:
            row = {"method": m}
            for k, v in self.scores.get(m, {}).items():
                row[k] = float(np.nanmean(np.asarray(v, dtype=float)))
            if m in self.seconds:
                row["seconds"] = self.seconds[m]
            rows.append(row)
        return rows

    def plot(self, ax=None, max_examples: int = 16, alpha: float = 0.9, methods_as_rows: bool | None = None,
             **kwargs):
        """A grid of maps: methods as columns and examples as rows, or (many methods, the
        default above 8) methods as rows; each method's maps share one colour scale, shown by
        its colorbar. Every example is drawn up to ``max_examples``; the title says how many
        were left out beyond that."""
        import matplotlib.pyplot as plt

        first = next(iter(self.results.values()))
        n = min(len(first), max_examples)
        k = len(self.results)
        as_rows = k > 8 if methods_as_rows is None else methods_as_rows
        shape = (k, n) if as_rows else (n, k)
        cell = 1.35 if as_rows else 1.9
        fig, axes = plt.subplots(*shape, figsize=(cell * shape[1] + (2.9 if as_rows else 0.6),
                                                  cell * shape[0] + (0.7 if as_rows else 1.3)), squeeze=False,
                                 layout="constrained")
        for j, (name, res) in enumerate(self.results.items()):
            norm = res.norm(res.maps()[:n]) if res.modality == "image" else None
            sc = self.scores.get(name, {})
            label = name.replace("_", " ") + "".join(
                f"\n{s.split('_')[0][:3]} {np.nanmean(sc[s]):.2f}" for s in ("deletion_auc", "insertion_auc", "mass_accuracy") if s in sc)
            for i in range(n):
                a = axes[j, i] if as_rows else axes[i, j]
                if res.modality == "image":
                    res._draw_image(a, i, alpha=alpha, norm=norm)
                    a.set_title("")
                else:
                    res._draw_one(a, i, colorbar=False)
                if as_rows:
                    if j == 0:
                        a.set_title(res._label(i), fontsize=8)
                    if i == 0:
                        a.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
                else:
                    if i == 0:
                        a.set_title(label, fontsize=8)
                    if j == 0:
                        a.set_ylabel(res._label(i), fontsize=7)
            if norm is not None:
                _method_colorbar(fig, axes[j, :] if as_rows else axes[:, j], res, norm, as_rows)
        left_out = len(first) - n
        keys = [("deletion_auc", "del = deletion AUC, lower is better"),
                ("insertion_auc", "ins = insertion AUC, higher is better"),
                ("mass_accuracy", "mas = relevance mass on the object")]
        legend = "; ".join(text for key, text in keys if any(key in sc for sc in self.scores.values()))
        fig.suptitle("Attribution methods side by side" + (f" ({legend})" if legend else "")
                     + (f"\nshowing the first {n} of {len(first)} examples; "
                        f"plot(max_examples={len(first)}) draws all" if left_out else ""), fontsize=9)
        return axes

    def _html_fragment(self) -> str:
        rows = self.table()
        keys = sorted({k for r in rows for k in r} - {"method"})
        head = "<tr><th>method</th>" + "".join(f"<th>{_html.escape(k)}</th>" for k in keys) + "</tr>"
        body = "".join("<tr><td>" + _html.escape(r["method"]) + "</td>" + "".join(
            f"<td>{r[k]:.4g}</td>" if k in r else "<td></td>" for k in keys) + "</tr>" for r in rows)
        return super()._html_fragment() + f"<table>{head}{body}</table>"

    def to_html(self) -> str:
        return standalone_page("Attribution comparison", self._html_fragment())


def _method_colorbar(fig, axes, res: Attribution, norm, as_rows: bool) -> None:
    """One colorbar for a method's row or column of maps (they share one scale)."""
    import matplotlib
    import matplotlib.pyplot as plt

    sm = plt.cm.ScalarMappable(norm=norm, cmap=matplotlib.colormaps[res.cmap])
    cb = fig.colorbar(sm, ax=list(axes), orientation="vertical" if as_rows else "horizontal",
                      fraction=0.05 if as_rows else 0.035, pad=0.02, shrink=0.9)
    cb.ax.tick_params(labelsize=7)
    cb.locator = matplotlib.ticker.MaxNLocator(3, symmetric=bool(res.signed))
    cb.update_ticks()
    cb.set_label("attribution" + (" (signed)" if res.signed else ""), fontsize=7)


DEFAULT_COMPARE = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop",
                   "grad_cam", "grad_cam_plus_plus", "score_cam", "occlusion", "kernel_shap")


def compare(model: nn.Module, inputs: torch.Tensor, methods: Sequence[str] = DEFAULT_COMPARE, target: Any = None, *,
            options: dict[str, dict] | None = None, metrics: bool = True, steps: int = 20,
            masks: Any = None, train_mode: bool = False) -> Comparison:
    """Run several methods on the same inputs and score each map's faithfulness with
    deletion/insertion AUC (``steps`` perturbation steps); ``options`` maps a method name to
    its keyword options. ``masks``: ground-truth ``(N, H, W)`` masks add the localisation
    scores (:mod:`~neuralscope.attribution.localization`: ``pointing_game``,
    ``mass_accuracy``, ``rank_accuracy``); a dict of masks (``{"object": m, "mark": c}``)
    adds them per mask, named ``object_mass_accuracy``, ``mark_mass_accuracy``...
    As in :func:`explain`, a model in training mode is evaluated in eval mode unless
    ``train_mode=True``.

    Example:
        >>> from neuralscope.zoo import DigitsCNN
        >>> net = DigitsCNN().eval()
        >>> compare(net, net.example_input(2), methods=["saliency", "occlusion"], steps=4).methods
        ['saliency', 'occlusion']
    """
    import time

    from .metrics import deletion_insertion

    if not train_mode and isinstance(model, nn.Module) and in_training_mode(model):
        with evaluation_mode(model):
            return compare(model, inputs, methods, target, options=options, metrics=metrics, steps=steps,
                           masks=masks, train_mode=True)
    options = dict(options or {})
    results, scores, seconds = {}, {}, {}
    targets = target
    for m in methods:
        t0 = time.perf_counter()
        res = explain(model, inputs, target=targets, method=m, **options.get(m, {}))
        seconds[m] = time.perf_counter() - t0
        if targets is None and res.targets is not None:
            targets = res.targets  # every method explains the same classes
        results[m] = res
        sc: dict[str, np.ndarray] = {}
        if metrics and res.modality == "image":
            curves = deletion_insertion(model, inputs, res, targets, steps=steps)
            sc["deletion_auc"] = curves.deletion_auc
            sc["insertion_auc"] = curves.insertion_auc
        if masks is not None and res.modality == "image":
            sc.update(_localization_scores(res, masks))
        if "completeness_error" in res.metrics:
            sc["completeness_error"] = np.asarray(res.metrics["completeness_error"])
        scores[m] = sc
    return Comparison(results, scores, seconds)


def _localization_scores(res: Attribution, masks: Any) -> dict[str, np.ndarray]:
    from .localization import localization

    named = masks if isinstance(masks, dict) else {"": masks}
    return {f"{k}_{s}" if k else s: v for k, m in named.items() for s, v in localization(res, m).items()}


__all__ = ["compare", "Comparison", "DEFAULT_COMPARE"]
