// kind "unit_activations" (neuralscope.inspect.activations.UnitActivations): one unit's
// activation on every input, as bars (the top-k in red) up to 120 inputs and as a sorted
// curve beyond, with a zero line, as UnitActivations.plot() draws it; the top-k inputs listed.
import { h, fmt } from "../dom.js";
import { columnBars } from "../draw/bars.js";
import { lineChart } from "../draw/lines.js";
import { recordTable } from "../draw/table.js";
import { section } from "./parts.js";

const MAX_BARS = 120;

function chart(data) {
  const v = data.values, n = v.length, top = new Set(data.top || []);
  const lab = (i) => (Array.isArray(data.labels) ? ` (label ${data.labels[i]})` : "");
  const title = `${data.layer} unit ${data.unit} over ${n} inputs`;
  if (n <= MAX_BARS) {
    const bad = v.filter((x) => !Number.isFinite(x)).length;
    return h("div", null, columnBars({ values: v, colours: v.map((_, i) => (top.has(i) ? "#d62728" : "#4c72b0")), xLabel: "input index (red: top-k)", yLabel: "activation",
      title, cls: "ua-bars", tip: (i) => `input #${i}${lab(i)}: ${fmt(v[i], 4)}${top.has(i) ? " (top-k)" : ""}` }),
    bad ? h("div", { class: "nonfinite-note", style: { color: "#b00000" } }, `${bad} of ${n} values are NaN/Inf (green marks at zero)`) : null);
  }
  const sorted = v.filter(Number.isFinite).sort((a, b) => b - a), left = n - sorted.length;
  return h("div", null, lineChart({ series: [{ name: `unit ${data.unit}`, values: sorted }], xLabel: "inputs sorted by activation", yLabel: "activation", title, width: 640, cls: "ua-sorted" }),
    left ? h("div", { class: "nonfinite-note", style: { color: "#b00000" } }, `${left} of ${n} values are NaN/Inf (left out)`) : null);
}

function topTable(data) {
  const labels = Array.isArray(data.labels) ? data.labels : null;
  return recordTable([
    { label: "rank", num: true, value: (t) => String(t.rank) },
    { label: "input", num: true, value: (t) => `#${t.input}` },
    labels ? { label: "label", value: (t) => labels[t.input] } : null,
    { label: "activation", num: true, value: (t) => fmt(data.values[t.input], 5) },
  ].filter(Boolean), (data.top || []).map((input, r) => ({ rank: r + 1, input })), { cls: "ua-top" });
}

export function render(data) {
  if (!Array.isArray(data.values) || !data.values.length) return h("p", { class: "muted" }, "This result holds no activations.");
  return h("div", null, section("activations", null, chart(data)), section("top inputs", `the ${(data.top || []).length} inputs that activate the unit most`, topTable(data)));
}
