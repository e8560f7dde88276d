// The head view of AttentionMaps.to_html(): tokens in two columns, a line from each query token
// to each key token whose opacity is the attention weight, a layer and head selector, and
// hover on a token to show only its lines. The page's markup (selectors, svg) and data come
// from neuralscope.attention.headview; `root` holds them.

// one head's entries as [query, key, weight] triples (dense matrix or top-k triples)
function entries(D, l, h) {
  const src = D.data[l][h], n = D.tokens.length, out = [];
  if (D.sparse) { for (let i = 0; i < src.length; i += 3) out.push([src[i], src[i + 1], src[i + 2] / D.scale]); }
  else for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) { const v = src[q * n + k]; if (v > 0) out.push([q, k, v / D.scale]); }
  return out;
}

function tokenLabels(svg, D, y, XL, XR, onFocus) {
  const NS = svg.namespaceURI;
  for (let i = 0; i < D.tokens.length; i++) {
    for (const side of ["q", "k"]) {
      const t = document.createElementNS(NS, "text");
      t.textContent = D.tokens[i];
      t.setAttribute("y", y(i) + 4);
      t.setAttribute("x", side === "q" ? XL - 8 : XR + 8);
      t.setAttribute("text-anchor", side === "q" ? "end" : "start");
      t.dataset.side = side; t.dataset.index = i;
      t.addEventListener("mouseenter", () => onFocus({ side, index: i }));
      t.addEventListener("mouseleave", () => onFocus(null));
      svg.appendChild(t);
    }
  }
}

export function headView(root, D) {
  const n = D.tokens.length, ROW = D.row, W = D.width, XL = D.colw, XR = W - D.colw;
  const svg = root.querySelector("#hv-svg"), lines = root.querySelector("#hv-lines");
  const layerSel = root.querySelector("#hv-layer"), headSel = root.querySelector("#hv-head");
  let focus = null;
  svg.setAttribute("width", W); svg.setAttribute("height", n * ROW + 10);
  const y = (i) => i * ROW + ROW * 0.5 + 5;
  const hidden = (q, k) => focus && ((focus.side === "q" && focus.index !== q) || (focus.side === "k" && focus.index !== k));
  function draw() {
    const l = +layerSel.value, hv = headSel.value;
    lines.replaceChildren();
    const heads = hv === "all" ? [...Array(D.heads).keys()] : [+hv];
    let drawn = 0, wmax = 1;
    // long sequences spread weight thin: opacity is relative to the strongest drawn weight
    if (D.sparse) { wmax = 1e-9; for (const h of heads) for (const e of entries(D, l, h)) wmax = Math.max(wmax, e[2]); }
    for (const h of heads) {
      const color = D.colors[h % D.colors.length];
      for (const [q, k, w] of entries(D, l, h)) {
        if (w < D.min_weight || hidden(q, k)) continue;
        const ln = document.createElementNS(svg.namespaceURI, "line");
        ln.setAttribute("x1", XL); ln.setAttribute("y1", y(q)); ln.setAttribute("x2", XR); ln.setAttribute("y2", y(k));
        ln.setAttribute("stroke", color); ln.setAttribute("stroke-width", 2);
        ln.setAttribute("stroke-opacity", (hv === "all" ? w / wmax / Math.sqrt(D.heads) : w / wmax).toFixed(3));
        ln.dataset.q = q; ln.dataset.k = k; ln.dataset.w = w.toFixed(4); ln.dataset.head = h;
        lines.appendChild(ln); drawn++;
      }
    }
    for (const t of svg.querySelectorAll("text")) t.classList.toggle("hv-on", !!(focus && t.dataset.side === focus.side && +t.dataset.index === focus.index));
    root.querySelector("#hv-count").textContent = `${drawn} lines`;
    svg.dataset.layer = l; svg.dataset.head = hv;
  }
  tokenLabels(svg, D, y, XL, XR, (f) => { focus = f; draw(); });
  layerSel.addEventListener("change", draw); headSel.addEventListener("change", draw);
  draw();
}
