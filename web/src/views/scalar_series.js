// kind "scalar_series" (neuralscope.track.results.ScalarSeries): value over step as
// ScalarSeries.plot draws it (draw/lines.js): a log value axis when the values are positive
// and span more than 100-fold, a smoothing slider (TensorBoard's debiased moving average,
// the raw series faint beneath), NaN/Inf steps listed in red, the downsampling noted.
import { h } from "../dom.js";
import { tint } from "../colors.js";
import { smooth } from "../chart.js";
import { lineChart } from "../draw/lines.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

const finite = (v) => v !== null && Number.isFinite(v);

/** Whether ScalarSeries.plot would use a log axis for `values`. */
export function wantsLog(values) {
  const v = values.filter(finite);
  if (v.length < 2) return false;
  const lo = Math.min(...v), hi = Math.max(...v);
  return lo > 0 && hi / lo > 100;
}

/** The series of one scalar chart: the raw values (faint when smoothed) and the smoothed ones. */
export function scalarSeries(name, values, weight, colour = "#1f77b4", log = false) {
  const tr = (a) => (log ? a.map((v) => (finite(v) && v > 0 ? Math.log10(v) : null)) : a);
  if (!(weight > 0)) return [{ name, values: tr(values), colour }];
  return [{ name: "", values: tr(values), colour: tint(colour, 0.7) }, { name: `${name} (smoothed ${weight})`, values: tr(smooth(values, weight)), colour }];
}

function chartOf(data, weight, log) {
  const label = data.run ? `${data.run}: ${data.name}` : data.name;
  return lineChart({ x: data.steps, series: scalarSeries(label, data.values, weight, "#1f77b4", log), xLabel: "step",
    yLabel: log ? `log10 ${data.name}` : data.name, title: label, width: 640, height: 300, zero: !log, cls: "scalar-chart" });
}

export function render(data) {
  if (!Array.isArray(data.steps) || !Array.isArray(data.values)) return cannotDraw("scalar_series", "it has no steps or values");
  const log = wantsLog(data.values);
  const bad = data.steps.filter((_, i) => !finite(data.values[i]));
  const holder = h("div", { class: "scalar-holder" }, chartOf(data, 0, log));
  const out = h("span", { class: "muted" }, "0");
  const slider = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, class: "smoothing",
    oninput: () => { out.textContent = slider.value; holder.replaceChildren(chartOf(data, +slider.value, log)); } });
  const notes = [
    data.downsampled ? `${data.steps.length} of ${data.total} points drawn (${data.downsampled})` : `${data.steps.length} points`,
    log ? "log value axis (the values span more than 100-fold)" : null].filter(Boolean).join("; ");
  return h("div", null, section("series", notes,
    h("div", null, h("label", { class: "nd-slider" }, "smoothing ", slider, out), holder,
      bad.length ? h("div", { class: "nonfinite-note", style: { color: "#d62728", fontSize: "12px" } },
        `${bad.length} NaN/Inf value(s), at step${bad.length > 1 ? "s" : ""} ${bad.slice(0, 12).join(", ")}${bad.length > 12 ? ", …" : ""}`) : null)));
}
