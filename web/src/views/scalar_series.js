// kind "scalar_series" (neuralscope.track.results.ScalarSeries): value over step, drawn by the
// Scalars page's own chart (chart.js, uPlot: zoom, hover read-out, CSV and PNG) with settings
// of its own: a log value axis when the values are positive and span more than 100-fold (as
// ScalarSeries.plot chooses), a smoothing slider (TensorBoard's debiased moving average, the
// raw series faint beneath), NaN/Inf steps listed in red, the downsampling noted.
import { h } from "../dom.js";
import { ScalarChart } from "../chart.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

const finite = (v) => v !== null && Number.isFinite(v);

/** Whether ScalarSeries.plot would use a log axis for `values`.
 *
 * Example: wantsLog([1, 1000]) -> true; wantsLog([-1, 1000]) -> false
 */
export function wantsLog(values) {
  const v = values.filter(finite);
  if (v.length < 2) return false;
  const lo = Math.min(...v), hi = Math.max(...v);
  return lo > 0 && hi / lo > 100;
}

let shown = 0; // each view's chart gets its own key in the chart registry

function smoothingSlider(chart) {
  const out = h("span", { class: "muted" }, "0");
  const slider = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, class: "smoothing",
    oninput: () => { out.textContent = slider.value; chart.settings.smoothing = +slider.value; chart.draw(); } });
  return h("label", { class: "nd-slider" }, "smoothing ", slider, out);
}

function nonFiniteNote(data) {
  const bad = data.steps.filter((_, i) => !finite(data.values[i]));
  if (!bad.length) return null;
  return h("div", { class: "nonfinite-note", style: { color: "#d62728", fontSize: "12px" } },
    `${bad.length} NaN/Inf value(s), at step${bad.length > 1 ? "s" : ""} ${bad.slice(0, 12).join(", ")}${bad.length > 12 ? ", …" : ""}`);
}

export function render(data) {
  if (!Array.isArray(data.steps) || !Array.isArray(data.values)) return cannotDraw("scalar_series", "it has no steps or values");
  const log = wantsLog(data.values);
  const label = data.run ? `${data.run}: ${data.name}` : data.name;
  const chart = new ScalarChart(label, { settings: { smoothing: 0, logy: log, xaxis: "step" }, key: `result:${++shown}` });
  chart.el.classList.add("scalar-chart");
  chart.el.dataset.key = chart.key;
  const notes = [
    data.downsampled ? `${data.steps.length} of ${data.total} points drawn (${data.downsampled})` : `${data.steps.length} points`,
    log ? "log value axis (the values span more than 100-fold)" : null].filter(Boolean).join("; ");
  const out = h("div", null, section("series", notes, h("div", null, smoothingSlider(chart), chart.el, nonFiniteNote(data))));
  chart.show(data.run || data.name, data);
  return out;
}
