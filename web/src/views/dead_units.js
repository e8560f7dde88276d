// kind "dead_units" (neuralscope.inspect.activations.DeadUnits): per layer, the fraction of
// dead (never above the threshold) and saturated units as paired horizontal bars with their
// counts, as DeadUnits.plot() draws them; below, one chosen layer's units by the fraction of
// outputs on which each was active (dead units in red).
import { h, fmt } from "../dom.js";
import { columnBars, rowBars } from "../draw/bars.js";
import { section } from "./parts.js";

const DEAD = "#d62728", SATURATED = "#ff7f0e";

function overview(data) {
  const L = data.layers;
  return rowBars({
    rows: L.map((d) => `${d.name} (${d.type}, ${d.units} units)`),
    series: [{ name: "dead (never > threshold)", colour: DEAD, values: L.map((d) => d.dead_fraction) },
      { name: `saturated (≥ ${fmt(100 * data.saturated_fraction, 3)}% of outputs)`, colour: SATURATED, values: L.map((d) => d.saturated_fraction) }],
    notes: L.map((d) => `${d.dead} dead, ${d.saturated} sat.` + (d.nonfinite ? `, ${d.nonfinite} NaN/Inf` : "")),
    noteColours: L.map((d) => (d.nonfinite ? "#b00000" : "#57606a")),
    xLabel: "fraction of units", xMax: 1, title: `Dead and saturated units over ${data.n_inputs} inputs`, cls: "du-overview",
  });
}

function unitsOf(d) {
  const dead = new Set(d.dead_units || []), sat = new Set(d.saturated_units || []);
  const v = d.active_fraction_per_unit || [];
  return columnBars({ values: v, colours: v.map((_, i) => (dead.has(i) ? DEAD : sat.has(i) ? SATURATED : "#4c72b0")),
    xLabel: "unit (red: dead, orange: saturated)", yLabel: "fraction of outputs > threshold", title: `${d.name}: ${d.units} units`, cls: "du-units",
    tip: (i) => `unit ${i}: active on ${fmt(100 * v[i], 4)}% of outputs${dead.has(i) ? " (dead)" : ""}${sat.has(i) ? `, saturated on ${fmt(100 * d.saturated_fraction_per_unit[i], 4)}%` : ""}` });
}

export function render(data) {
  const L = Array.isArray(data.layers) ? data.layers : [];
  if (!L.length) return h("p", { class: "muted" }, "No layer was checked for dead units.");
  const detail = h("div", null, unitsOf(L[0]));
  const pick = h("select", { class: "du-layer", onchange: () => detail.replaceChildren(unitsOf(L[+pick.value])) },
    L.map((d, i) => h("option", { value: i }, d.name)));
  return h("div", null,
    section("dead and saturated units", `threshold ${data.threshold}, saturation within ${data.saturation_eps} of a bound`, overview(data)),
    section("units of one layer", null, h("div", null, h("label", { class: "nd-slider" }, "layer ", pick), detail)));
}
