"""The interactive head view: tokens in two columns, a line from each query token to each key
token whose opacity is the attention weight, a layer and head selector, and hover to show
one token's lines. One self-contained HTML file (CSS and the built browser bundle inline, no
network); the drawing is ``web/src/standalone/headview.js``.

Long sequences (``>= LONG_SEQUENCE`` tokens, or ``top_k`` given) keep only each query's
``top_k`` strongest keys and the token columns scroll.
"""
from __future__ import annotations

import html

import numpy as np

from ..result import standalone_page
from ..webbundle import mount

HEAD_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d"]

_CSS = """
.hv-controls{display:flex;gap:16px;align-items:center;margin:8px 0 12px;font-size:14px}
.hv-controls select{font-size:14px;padding:2px 4px}
.hv-scroll{max-height:80vh;overflow:auto;border:1px solid #d0d7de;border-radius:6px;display:inline-block}
#hv-svg text{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;cursor:pointer;fill:#1f2328}
#hv-svg text.hv-dim{fill:#aaa} #hv-svg text.hv-on{font-weight:bold}
#hv-svg rect.hv-bg{fill:transparent}
.hv-note{color:#57606a;font-size:13px}
"""


def head_view_data(maps, example: int = 0, top_k: int | None = None, min_weight: float = 0.01) -> dict:
    """The data behind the head view (also useful to a dashboard): tokens, layer names and,
    per layer and head, the weights scaled to integers (full matrix or top-k triples)."""
    from .maps import LONG_SEQUENCE

    ex = maps.example(example)
    L, H, n, _ = ex.shape
    sparse = top_k is not None or n >= LONG_SEQUENCE
    scale = 1000
    data = []
    for l in range(L):
        per_head = []
        for h in range(H):
            w = ex[l, h]
            if sparse:
                k = int(top_k or 8)
                idx = np.argsort(-w, axis=1)[:, :k]
                rows = np.repeat(np.arange(n), idx.shape[1])
                cols = idx.ravel()
                vals = np.round(w[rows, cols] * scale).astype(int)
                keep = vals > 0
                trip = np.stack([rows[keep], cols[keep], vals[keep]], axis=1).ravel()
                per_head.append(trip.tolist())
            else:
                per_head.append(np.round(w * scale).astype(int).ravel().tolist())
        data.append(per_head)
    return {"tokens": maps.labels(example), "layers": maps.layer_names, "heads": H, "sparse": sparse,
            "top_k": int(top_k or 8) if sparse else None, "scale": scale, "data": data,
            "min_weight": min_weight}


def head_view_page(maps, example: int = 0, top_k: int | None = None) -> str:
    d = head_view_data(maps, example, top_k)
    n = len(d["tokens"])
    longest = max((len(t) for t in d["tokens"]), default=1)
    colw = int(min(max(longest * 8 + 20, 60), 220))
    d.update(row=18 if n < 200 else 14, width=2 * colw + 260, colw=colw, colors=HEAD_COLORS)
    layer_opts = "".join(f'<option value="{i}"{" selected" if i == 0 else ""}>{i}: {html.escape(name)}</option>'
                         for i, name in enumerate(d["layers"]))
    head_opts = '<option value="all">all (colour = head)</option>' + "".join(
        f'<option value="{h}">{h}</option>' for h in range(d["heads"]))
    note = (f"{n} tokens: showing each query's top {d['top_k']} keys, opacity relative to the strongest weight; "
            "scroll to see all tokens; hover a token to show only its lines."
            if d["sparse"] else f"{n} tokens. Line opacity = attention weight; hover a token to show only its lines.")
    body = (f'<div id="hv-root"><div class="hv-controls"><label>Layer <select id="hv-layer">{layer_opts}</select></label>'
            f'<label>Head <select id="hv-head">{head_opts}</select></label>'
            f'<span id="hv-count" class="hv-note"></span></div>'
            f'<p class="hv-note">{html.escape(note)} Left: queries (attending), right: keys (attended to).</p>'
            f'<div class="hv-scroll"><svg id="hv-svg" xmlns="http://www.w3.org/2000/svg">'
            f'<g id="hv-lines"></g></svg></div></div>' + mount("head-view", "hv-root", d))
    title = f"Head view: {len(d['layers'])} layers x {d['heads']} heads"
    return standalone_page(title, body, head=f"<style>{_CSS}</style>")
