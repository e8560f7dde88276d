// kind "attention" (neuralscope.attention.maps.AttentionMaps): every head of the chosen layer
// as a grid; a click enlarges one head with its query/key tokens written along the axes. Both
// are draw/matrix.js heatmaps (the one heatmap of the views).
import { h, fmt } from "../dom.js";
import { colormap } from "../colors.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { section, shapeOf } from "./parts.js";
import { inspector } from "./inspector.js";

// the hover text of one cell: query token -> key token: weight
function tipText(tokens, mat, i, j) {
  return `${tokens ? tokens[i] : i} → ${tokens ? tokens[j] : j}: ${fmt(mat[i][j], 4)}`;
}

function attentionView(data) {
  const [B, L, H] = shapeOf(data.weights);
  const tokensOf = (b) => {
    const t = data.tokens;
    if (!Array.isArray(t) || !t.length) return null;
    return Array.isArray(t[0]) ? t[Math.min(b, t.length - 1)] : t;
  };
  const names = Array.isArray(data.layer_names) ? data.layer_names : [];
  const state_ = { b: 0, l: L - 1, h: 0 };
  const layer = h("select", { id: "attn-layer" }, Array.from({ length: L }, (_, i) => h("option", { value: i, selected: i === L - 1 }, names[i] ? `${i}: ${names[i]}` : `layer ${i}`)));
  const example = h("input", { type: "range", min: 0, max: B - 1, value: 0, id: "attn-example", disabled: B < 2 });
  const grid = h("div", { class: "nd-grid attn-heads" });
  const big = h("div", { class: "attn-big" });
  const redraw = () => {
    const tokens = tokensOf(state_.b);
    grid.replaceChildren();
    for (let hd = 0; hd < H; hd++) {
      const mat = data.weights[state_.b][state_.l][hd];
      const fig = matrixHeatmap(mat, { cmap: colormap(0, 1), title: `head ${hd}`, maxW: 140, maxH: 140, minW: 60, minH: 60,
        colorbar: false, cls: "attn-head", tip: (i, j) => tipText(tokens, mat, i, j) });
      fig.classList.toggle("selected", hd === state_.h);
      fig.dataset.head = String(hd);
      fig.addEventListener("click", () => { state_.h = hd; redraw(); });
      grid.appendChild(fig);
    }
    const mat = data.weights[state_.b][state_.l][state_.h];
    let hi = 0; for (const row of mat) for (const v of row) if (v > hi) hi = v;
    const cmap = colormap(0, hi || 1);
    big.replaceChildren(h("div", { class: "muted" }, `layer ${state_.l}${names[state_.l] ? ` (${names[state_.l]})` : ""}, head ${state_.h}: rows are queries, columns keys`),
      matrixHeatmap(mat, { cmap, xLabels: tokens || undefined, yLabels: tokens || undefined, xLabel: "key", yLabel: "query",
        valueLabel: "attention weight", maxW: 520, maxH: 520, cls: "attn-map", tip: (i, j) => tipText(tokens, mat, i, j) }));
  };
  layer.addEventListener("change", () => { state_.l = +layer.value; redraw(); });
  example.addEventListener("input", () => { state_.b = +example.value; redraw(); });
  redraw();
  return h("div", null, h("div", { class: "nd-sliders" }, h("label", { class: "nd-slider" }, "layer ", layer),
    B > 1 ? h("label", { class: "nd-slider" }, "example ", example) : null), grid, big);
}

export function render(data) {
  const shape = Array.isArray(data.weights) ? shapeOf(data.weights) || [] : [];
  if (shape.length !== 5) return inspector(data, "attention");
  return h("div", null,
    section("weights", `attention ${shape.join("×")} (example × layer × head × query × key)`, attentionView(data)),
    inspector(data, "attention", { skip: ["weights"] }));
}
