// kind "activation_functions" (neuralscope.inspect.functions.ActivationFunctions): every
// function f(x) and its derivative f'(x) on the grid x, side by side with a shared legend,
// zero lines and labelled axes, as ActivationFunctions.plot() draws them.
import { h } from "../dom.js";
import { lineChart } from "../draw/lines.js";
import { section } from "./parts.js";

function panel(data, key, label) {
  const series = data.functions.map((f) => ({ name: f.name, values: f[key] }));
  return lineChart({ x: data.x, series, xLabel: "x", yLabel: label, title: label, cls: `af-${key}` });
}

export function render(data) {
  const fns = Array.isArray(data.functions) ? data.functions : [];
  if (!fns.length || !Array.isArray(data.x)) return h("p", { class: "muted" }, "This result holds no activation functions to draw.");
  return section("activation functions", `${fns.length} function(s) on ${data.x.length} points`,
    h("div", { class: "nd-grid" }, panel(data, "y", "f(x)"), panel(data, "dy", "f′(x) (autograd)")));
}
