// kind "embedding" (neuralscope.inspect.embedding.Embedding): the projector, drawn by the one
// embedding scatter (draw/scatter.js, also used by the standalone HTML export). Points are
// coloured by label (legend) or by a continuous value (viridis); hover shows the example's
// thumbnail (when the embedding has images), index, label and text.
import { h } from "../dom.js";
import { colormap, hexToRgb } from "../colors.js";
import { PALETTE } from "../state.js";
import { drawScatter } from "../draw/scatter.js";
import { section, shapeOf } from "./parts.js";
import { inspector } from "./inspector.js";

const DRAWN = ["coords", "labels", "texts", "values", "value_label", "thumbnails"];

// The projector's axis names, as the library's figure writes them.
function axisNames(data, d) {
  const m = String(data.method || "");
  const ev = Array.isArray(data.explained_variance) ? data.explained_variance : null;
  return Array.from({ length: d }, (_, i) => (m === "pca" && ev && ev[i] !== undefined && ev[i] !== null
    ? `PC${i + 1} (${(100 * ev[i]).toFixed(1)}% of variance)` : `${m.toUpperCase()} ${i + 1}`));
}

// each dimension scaled to [-1, 1] over the finite points
function normalised(coords, d) {
  const n = coords.length, out = new Float32Array(n * d), ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) ok[i] = coords[i].slice(0, d).every((v) => v !== null && Number.isFinite(v)) ? 1 : 0;
  for (let k = 0; k < d; k++) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) if (ok[i]) { lo = Math.min(lo, coords[i][k]); hi = Math.max(hi, coords[i][k]); }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) out[i * d + k] = ok[i] ? ((coords[i][k] - lo) / span) * 2 - 1 : 0;
  }
  return { coords: out, ok };
}

// per-point colours and the legend: classes in natural order on the palette, else viridis
function colours(data, n) {
  const out = new Uint8Array(n * 3), labels = data.labels || null;
  let legend = [], cmap = null;
  if (labels) {
    const classes = [...new Set(labels)].sort((a, b) => (+a - +b) || String(a).localeCompare(String(b)));
    legend = classes.map((c, j) => [String(c), PALETTE[j % PALETTE.length]]);
    const index = new Map(classes.map((c, j) => [c, j]));
    labels.forEach((l, i) => out.set(hexToRgb(PALETTE[index.get(l) % PALETTE.length]), 3 * i));
  } else if (Array.isArray(data.values)) {
    const finite = data.values.filter((v) => v !== null && Number.isFinite(v));
    cmap = colormap(Math.min(...finite), Math.max(...finite));
    data.values.forEach((v, i) => out.set(cmap.fn(v).map(Math.round), 3 * i));
  } else {
    for (let i = 0; i < n; i++) out.set([31, 119, 180], 3 * i);
  }
  return { rgb: out, legend, cmap };
}

function thumbOf(data) {
  const t = data.thumbnails;
  if (!Array.isArray(t) || t.length !== data.coords.length) return null;
  return (i) => h("img", { class: "ns-thumb", src: t[i], alt: `example ${i}`, dataset: { index: String(i) },
    style: { display: "block", marginTop: "4px", width: "96px", imageRendering: "pixelated" } });
}

export function render(data) {
  const shape = Array.isArray(data.coords) ? shapeOf(data.coords) || [] : [];
  if (shape.length !== 2 || shape[1] < 2) return inspector(data, "embedding");
  const d = Math.min(3, shape[1]), n = shape[0];
  const { coords, ok } = normalised(data.coords, d);
  const { rgb: rgbs, legend, cmap } = colours(data, n);
  const D = { n, dims: d, coords, ok, rgb: rgbs, axes: axisNames(data, d), legend, labels: data.labels || null,
    values: data.values || null, value_label: data.value_label, texts: data.texts || null, thumb: thumbOf(data),
    width: 560, height: 440,
    value_note: cmap ? `colour: ${cmap.diverging ? "blue (low) to red (high), white = 0" : "viridis, low = purple, high = yellow"}` : null };
  const plot = drawScatter(h("div"), D);
  const note = [d === 3 ? "3-D: drag to turn" : "drag to pan", "wheel to zoom", D.thumb ? "hover a point to see its example" : null,
    legend.length ? "click a class to hide it" : null].filter(Boolean).join(" · ");
  return h("div", null,
    section("coords", `${n} points${data.method ? `, ${data.method}` : ""}`, h("div", null, plot, h("p", { class: "muted scatter-axes" }, note))),
    inspector(data, "embedding", { skip: DRAWN }));
}

