// kind "activation_heatmap" (neuralscope.inspect.activations.ActivationHeatmap): the units x
// examples heatmap (diverging and centred at zero for signed activations, examples grouped by
// label) or, switched, the 8 units that vary most as lines across the examples; one example
// is drawn as sorted, labelled bars of its 40 largest |activations|, as ActivationHeatmap.plot()
// does in its "heatmap", "lines" and "bar" styles.
import { h } from "../dom.js";
import { blockMean, blockTicks, matrixHeatmap } from "../draw/matrix.js";
import { columnBars } from "../draw/bars.js";
import { lineChart } from "../draw/lines.js";
import { section, svgEl } from "./parts.js";

const TOP_BARS = 40, TOP_LINES = 8;

// the units of one example: the TOP_BARS largest |values|, sorted by value
function unitBars(values, layer) {
  const keep = values.map((v, i) => i).sort((a, b) => Math.abs(values[b] ?? 0) - Math.abs(values[a] ?? 0)).slice(0, TOP_BARS);
  keep.sort((a, b) => (values[b] ?? -Infinity) - (values[a] ?? -Infinity));
  const left = values.length - keep.length;
  return columnBars({ values: keep.map((i) => values[i]), labels: keep.map(String), xLabel: "unit (sorted by activation)", yLabel: "activation",
    title: `${layer}: units on one example` + (left ? ` (the ${keep.length} largest |values| of ${values.length} units)` : ""), cls: "ah-bars" });
}

// where the label changes along the (label-sorted) examples: [start, end, label] groups
function labelGroups(labels) {
  const out = [];
  labels.forEach((l, i) => { if (!out.length || out[out.length - 1][2] !== l) out.push([i, i + 1, l]); else out[out.length - 1][1] = i + 1; });
  return out;
}

// at most 256 units x 1,000 examples are drawn, each cell the mean of a block (ActivationHeatmap.max_shape)
const MAX_SHAPE = [256, 1000];

function heat(data) {
  const v = data.values, [u, n] = [v.length, v[0].length];
  const { mat, block: [rb, cb] } = blockMean(v, ...MAX_SHAPE);
  const labels = Array.isArray(data.labels) && data.labels.length === n ? data.labels.map(String) : null;
  const groups = labels ? labelGroups(labels) : null;
  const shrunk = rb > 1 || cb > 1, span = (i, b) => (b === 1 ? `${i}` : `${i * b}–${i * b + b - 1}`);
  return matrixHeatmap(mat, {
    xLabel: "example" + (labels ? " (sorted by label)" : ""), yLabel: "unit", valueLabel: "activation", cls: "ah-heat", maxW: 1000,
    title: `${data.layer}: activations of ${u} units on ${n} examples` + (shrunk ? ` (each cell = mean of ${rb} units × ${cb} examples)` : ""),
    xTicks: groups && groups.length <= 40 ? groups.map(([a, b, l]) => [(a + b) / 2 / cb, l]) : shrunk ? blockTicks(mat[0].length, cb, 1000, 60) : undefined,
    yTicks: shrunk ? blockTicks(mat.length, rb, 420, 40) : undefined,
    overlay: groups ? (g, X, Y) => groups.slice(1).forEach(([a]) => svgEl("line", { x1: X(a / cb), x2: X(a / cb), y1: Y(0), y2: Y(mat.length), stroke: "white", "stroke-width": 1, class: "label-sep" }, null, g)) : undefined,
    tip: (i, j) => `unit ${span(i, rb)}, example ${span(j, cb)}${labels && cb === 1 ? ` (label ${labels[j]})` : ""}: ${mat[i][j]}`,
  });
}

function variance(row) {
  const ok = row.filter(Number.isFinite), m = ok.reduce((a, b) => a + b, 0) / (ok.length || 1);
  return ok.reduce((a, b) => a + (b - m) ** 2, 0) / (ok.length || 1);
}

function lines(data) {
  const v = data.values, n = v[0].length;
  const units = v.map((row, i) => [variance(row), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, TOP_LINES).map(([, i]) => i);
  return lineChart({ series: units.map((i) => ({ name: `unit ${i}`, values: v[i] })), xLabel: "example", yLabel: "activation", markers: n <= 30,
    title: `${data.layer}: the ${units.length} units that vary most, across ${n} examples`, width: 640, cls: "ah-lines" });
}

export function render(data) {
  const v = data.values;
  if (!Array.isArray(v) || !v.length || !Array.isArray(v[0]) || !v[0].length) return h("p", { class: "muted" }, "This activation heatmap holds no values.");
  if (v[0].length === 1) return section("activations", `${v.length} units of ${data.layer} on one example`, unitBars(v.map((r) => r[0]), data.layer));
  const view = h("div", { class: "ah-view" }, heat(data));
  const style = h("select", { class: "ah-style", onchange: () => view.replaceChildren(style.value === "lines" ? lines(data) : heat(data)) },
    h("option", { value: "heatmap" }, "heatmap (units × examples)"), h("option", { value: "lines" }, `lines (${TOP_LINES} units that vary most)`));
  return section("activations", `${v.length} units × ${v[0].length} examples of ${data.layer}`, h("div", null, h("label", { class: "nd-slider" }, "style ", style), view));
}
