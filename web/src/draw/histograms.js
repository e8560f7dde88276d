// Histograms of many tensors (weights per parameter, activations per layer) as small
// multiples, the largest `maxPanels` in model order, with a click enlarging one panel with
// full axes. WeightHistograms.to_dict() layers: [{name, shape, counts, edges, nonfinite, mean, std}].
import { h, fmt } from "../dom.js";
import { histogramBars } from "./bars.js";

const size = (shape) => (shape || []).reduce((a, b) => a * b, 1);

/** The indices of `layers` drawn: all, or the `maxPanels` largest tensors in model order. */
export function panelsShown(layers, maxPanels = 48) {
  const idx = layers.map((_, i) => i);
  if (idx.length <= maxPanels) return idx;
  return idx.sort((a, b) => size(layers[b].shape) - size(layers[a].shape)).slice(0, maxPanels).sort((a, b) => a - b);
}

const nonfiniteNote = (d) => (d.nonfinite ? `${d.nonfinite} NaN/Inf` : null);

/** One tensor's histogram with full axes. */
export function histogramDetail(d, valueLabel) {
  return histogramBars({ counts: d.counts, edges: d.edges, xLabel: valueLabel, yLabel: "count", note: nonfiniteNote(d),
    title: `${d.name}  (${(d.shape || []).join("×")}), mean ${fmt(d.mean, 3)}, std ${fmt(d.std, 3)}` });
}

/** Small multiples of `layers` (x: `valueLabel`, bars: count); a click on a panel draws it
 * large below. */
export function histogramPanels(layers, { valueLabel = "value", maxPanels = 48 } = {}) {
  const shown = panelsShown(layers, maxPanels);
  const detail = h("div", { class: "hist-detail" });
  const open = (i) => { detail.replaceChildren(histogramDetail(layers[i], valueLabel)); grid.querySelectorAll(".hist-panel").forEach((p) => p.classList.toggle("selected", +p.dataset.index === i)); };
  const grid = h("div", { class: "nd-grid hist-panels" }, shown.map((i) => {
    const d = layers[i];
    return h("div", { class: "hist-panel", title: `${d.name} ${(d.shape || []).join("×")}: click to enlarge`, dataset: { index: String(i), name: d.name }, onclick: () => open(i) },
      histogramBars({ counts: d.counts, edges: d.edges, compact: true, note: nonfiniteNote(d), title: `${d.name} ${(d.shape || []).join("×")}` }));
  }));
  const note = shown.length < layers.length ? h("div", { class: "muted" }, `the largest ${shown.length} of ${layers.length} tensors shown`) : null;
  if (shown.length) open(shown[0]);
  return h("div", { class: "hist-multiples" }, h("div", { class: "muted" }, `x: ${valueLabel}, bars: count; click a panel to enlarge it`), note, grid, detail);
}
