"""The interactive head view: tokens in two columns, a line from each query token to each key
token whose opacity is the attention weight, a layer and head selector, and hover to show
one token's lines. One self-contained HTML file (inline JS and CSS, no network).

Long sequences (``>= LONG_SEQUENCE`` tokens, or ``top_k`` given) keep only each query's
``top_k`` strongest keys and the token columns scroll.
"""
from __future__ import annotations

import html

import numpy as np

from ..result import script_json, standalone_page

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

_JS = r"""
(function(){
const D = JSON.parse(document.getElementById('hv-data').textContent);
const n = D.tokens.length, ROW = D.row, W = D.width, XL = D.colw, XR = W - D.colw;
const svg = document.getElementById('hv-svg'), lines = document.getElementById('hv-lines');
const layerSel = document.getElementById('hv-layer'), headSel = document.getElementById('hv-head');
const NS = 'http://www.w3.org/2000/svg';
let focus = null;
svg.setAttribute('width', W); svg.setAttribute('height', n * ROW + 10);
function y(i){ return i * ROW + ROW * 0.5 + 5; }
function label(i, side){
  const t = document.createElementNS(NS, 'text');
  t.textContent = D.tokens[i];
  t.setAttribute('y', y(i) + 4);
  if (side === 'q'){ t.setAttribute('x', XL - 8); t.setAttribute('text-anchor', 'end'); }
  else { t.setAttribute('x', XR + 8); t.setAttribute('text-anchor', 'start'); }
  t.dataset.side = side; t.dataset.index = i;
  t.addEventListener('mouseenter', () => { focus = {side: side, index: i}; draw(); });
  t.addEventListener('mouseleave', () => { focus = null; draw(); });
  svg.appendChild(t);
}
for (let i = 0; i < n; i++){ label(i, 'q'); label(i, 'k'); }
// entries of one head as [q, k, w] triples
function entries(l, h){
  const src = D.data[l][h], out = [];
  if (D.sparse){ for (let i = 0; i < src.length; i += 3) out.push([src[i], src[i+1], src[i+2] / D.scale]); }
  else { for (let q = 0; q < n; q++) for (let k = 0; k < n; k++){ const v = src[q * n + k]; if (v > 0) out.push([q, k, v / D.scale]); } }
  return out;
}
function draw(){
  const l = +layerSel.value, hv = headSel.value;
  while (lines.firstChild) lines.removeChild(lines.firstChild);
  const heads = hv === 'all' ? [...Array(D.heads).keys()] : [+hv];
  let drawn = 0;
  // long sequences spread weight thin: opacity is relative to the strongest drawn weight
  let wmax = 1;
  if (D.sparse){ wmax = 1e-9; for (const h of heads) for (const e of entries(l, h)) wmax = Math.max(wmax, e[2]); }
  for (const h of heads){
    const color = D.colors[h % D.colors.length];
    for (const [q, k, w] of entries(l, h)){
      if (w < D.min_weight) continue;
      if (focus && ((focus.side === 'q' && focus.index !== q) || (focus.side === 'k' && focus.index !== k))) continue;
      const ln = document.createElementNS(NS, 'line');
      ln.setAttribute('x1', XL); ln.setAttribute('y1', y(q)); ln.setAttribute('x2', XR); ln.setAttribute('y2', y(k));
      ln.setAttribute('stroke', color); ln.setAttribute('stroke-width', 2);
      ln.setAttribute('stroke-opacity', (hv === 'all' ? w / wmax / Math.sqrt(D.heads) : w / wmax).toFixed(3));
      ln.dataset.q = q; ln.dataset.k = k; ln.dataset.w = w.toFixed(4); ln.dataset.head = h;
      lines.appendChild(ln); drawn++;
    }
  }
  for (const t of svg.querySelectorAll('text')){
    const on = focus && t.dataset.side === focus.side && +t.dataset.index === focus.index;
    t.classList.toggle('hv-on', !!on);
  }
  document.getElementById('hv-count').textContent = drawn + ' lines';
  svg.dataset.layer = l; svg.dataset.head = hv;
}
layerSel.addEventListener('change', draw); headSel.addEventListener('change', draw);
draw();
})();
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
    payload = script_json(d, separators=(",", ":"))
    body = (f'<div class="hv-controls"><label>Layer <select id="hv-layer">{layer_opts}</select></label>'
            f'<label>Head <select id="hv-head">{head_opts}</select></label>'
            f'<span id="hv-count" class="hv-note"></span></div>'
            f'<p class="hv-note">{html.escape(note)} Left: queries (attending), right: keys (attended to).</p>'
            f'<div class="hv-scroll"><svg id="hv-svg" xmlns="http://www.w3.org/2000/svg">'
            f'<g id="hv-lines"></g></svg></div>'
            f'<script type="application/json" id="hv-data">{payload}</script><script>{_JS}</script>')
    title = f"Head view: {len(d['layers'])} layers x {d['heads']} heads"
    return standalone_page(title, body, head=f"<style>{_CSS}</style>")
