// A convolutional network's forward pass as ConvForwardPass.plot draws it: a strip of the
// stages (type and shape; the current one dark, the ones before it light) above the current
// stage: the input image (or signal), the feature maps of a convolution or pooling stage
// (most active channels first, one colour scale), a dense layer's units (row by row) or the
// predicted probabilities (the best class red).
import { h, fmt } from "../dom.js";
import { colormap } from "../colors.js";
import { grayCanvas, imageCanvas, range, flat } from "../views/parts.js";
import { tileGrid } from "./tiles.js";
import { matrixHeatmap } from "./matrix.js";
import { columnBars } from "./bars.js";
import { lineChart } from "./lines.js";

const shapeText = (s) => (s.shape || []).join("×");

/** The strip of stages, `step` highlighted; `onPick(k)` is called when a stage is clicked. */
export function stageStrip(stages, step, onPick) {
  return h("div", { class: "cfp-strip", style: { display: "flex", gap: "4px", alignItems: "center", overflowX: "auto", padding: "4px 0 8px" } },
    stages.flatMap((s, k) => {
      const face = k === step ? "#1f77b4" : k < step ? "#aec7e8" : "#eeeeee";
      const box = h("button", { type: "button", class: "cfp-stage" + (k === step ? " current" : ""), dataset: { stage: String(k) }, title: s.name,
        onclick: onPick ? () => onPick(k) : null,
        style: { background: face, color: k === step ? "#fff" : "#222", border: "1px solid #555", borderRadius: "6px", padding: "3px 8px",
          fontSize: "11px", lineHeight: "1.3", minWidth: "74px", flex: "none", cursor: onPick ? "pointer" : "default" } },
      s.type, h("br"), shapeText(s));
      return k < stages.length - 1 ? [box, h("span", { style: { color: "#555", flex: "none" } }, "→")] : [box];
    }));
}

function imagePanel(s) {
  if (s.signal) {
    return lineChart({ series: s.values.map((row, c) => ({ name: `channel ${c}`, values: row })), xLabel: "position", yLabel: "value",
      title: `input signal (${shapeText(s)})`, width: 620 });
  }
  const v = s.values, rgbImage = Array.isArray(v[0][0]);
  const canvas = rgbImage ? imageCanvas(v, "hwc", 255, 260) : grayCanvas(v, 0, 1, 260);
  return h("figure", { class: "cfp-input" }, h("figcaption", null, `input image (${shapeText(s)})`), canvas);
}

function mapsPanel(s, maxMaps) {
  const order = s.order.slice(0, maxMaps), total = s.values.length;
  const shown = order.length < total ? `${order.length} of ${total} channels, most active first` : `all ${total} channels, most active first`;
  const picked = order.map((c) => s.values[c]);
  const [lo, hi] = range(flat(picked));
  const lim = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const cmap = lo < 0 ? colormap(-lim, lim) : colormap(0, lim);
  if (!Array.isArray(picked[0][0])) { // 1-D maps: one row per channel, positions across
    return matrixHeatmap(picked, { cmap, yLabels: order.map(String), yLabel: `channel (${shown})`, xLabel: "position", valueLabel: "activation", cls: "cfp-rows" });
  }
  return h("div", null, h("div", { class: "muted", style: { fontSize: "12px", marginBottom: "4px" } }, `activation (${shown})`),
    tileGrid(picked, { labels: order.map((c) => `ch ${c}`), cmap, valueLabel: "activation", cls: "cfp-maps", tilePx: picked.length > 16 ? 64 : 96 }));
}

function vectorPanel(s) {
  const v = s.values, width = Math.ceil(Math.sqrt(v.length * 4)), rows = Math.ceil(v.length / width);
  const grid = Array.from({ length: rows }, (_, r) => Array.from({ length: width }, (_, c) => v[r * width + c]));
  const [lo, hi] = range(v), lim = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  return matrixHeatmap(grid, { cmap: lo < 0 ? colormap(-lim, lim) : colormap(0, lim), title: `${v.length} units (row by row)`, valueLabel: "activation",
    xLabel: "unit mod " + width, yLabel: "row", tip: (i, j) => (i * width + j < v.length ? `unit ${i * width + j}: ${fmt(v[i * width + j], 4)}` : null), cls: "cfp-vector" });
}

function probsPanel(s, classNames) {
  const p = s.values, names = p.map((_, i) => String(classNames && classNames[i] !== undefined ? classNames[i] : i));
  const finite = p.map((v) => (Number.isFinite(v) ? v : -Infinity)), best = finite.indexOf(Math.max(...finite));
  return columnBars({ values: p, labels: names, colours: p.map((_, i) => (i === best ? "#d62728" : "#7f7f7f")), xLabel: "class",
    yLabel: s.softmax ? "probability" : "output", title: `prediction: ${names[best]} (${fmt(p[best], 2)})`, width: Math.max(420, Math.min(900, 70 + 22 * p.length)), cls: "cfp-probs" });
}

/** Stage `step` of `cfp` (a ConvForwardPass's to_dict()) under the strip of all stages. */
export function convStageFigure(cfp, step = cfp.stages.length - 1, onPick = null) {
  const s = cfp.stages[step];
  const panel = s.kind === "image" ? imagePanel(s) : s.kind === "maps" ? mapsPanel(s, cfp.max_maps || 16)
    : s.kind === "vector" ? vectorPanel(s) : probsPanel(s, cfp.class_names);
  return h("figure", { class: "cfp-figure", dataset: { step: String(step), stageKind: s.kind } },
    h("figcaption", null, `${cfp.title || "Forward pass"} — stage ${step + 1}/${cfp.stages.length}: ${s.name}`),
    stageStrip(cfp.stages, step, onPick), panel);
}
