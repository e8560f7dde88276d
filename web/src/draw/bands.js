// Lines over named steps, each with a shaded band (mean ± spread): the similarity of the
// randomized models' maps to the original in a sanity check. The step names are the x axis's
// labels, thinned or turned upright so none overlap (draw/axes.js).
import { h, fmt } from "../dom.js";
import { svgEl } from "../views/parts.js";
import { areaPoint, chartFrame, drawAxes, hoverTip, legend, scale, textWidth, thinned, valueTicks } from "./axes.js";

let clips = 0; // ids of the clip paths that keep bands inside their plot area

/**
 * `steps`: names along x; `series`: [{name, colour, mean, spread}] (one value per step);
 * `yRange`: [lo, hi] (default from the data); `rule`: a y value drawn as a grey line.
 *
 * Example: bandChart({ steps: ["a", "b"], series: [{ name: "r", colour: "#2166ac", mean: [1, 0.5], spread: [0, 0.1] }] })
 */
export function bandChart({ steps, series, xLabel, yLabel, title, yRange, rule = null, width = 620, height = 300, cls = "" }) {
  const n = steps.length, names = steps.map(String);
  const band0 = (width - 70) / Math.max(1, n), upright = textWidth(names) > band0 - 2 && n > 1;
  const extra = upright ? Math.min(110, textWidth(names)) : 0;
  const f = chartFrame({ width, height: height + extra, title, cls: `band-chart ${cls}`.trim(), margin: { b: 40 + extra } });
  const all = series.flatMap((s) => s.mean.flatMap((m, i) => [m - (s.spread?.[i] || 0), m + (s.spread?.[i] || 0)])).filter(Number.isFinite);
  const [lo, hi] = yRange || [Math.min(...all), Math.max(...all)];
  const band = f.area.w / Math.max(1, n), X = (i) => (i + 0.5) * band, Y = scale(lo, hi, f.area.h, true);
  drawAxes(f, { x: { label: xLabel, upright, ticks: thinned(n, f.area.w, upright ? 11 : textWidth(names)).map((i) => [X(i), names[i]]) },
    y: { label: yLabel, ticks: valueTicks(lo, hi, Y, f.area.h, 40) } });
  const clip = `band-clip-${++clips}`;
  svgEl("rect", { x: 0, y: 0, width: f.area.w, height: f.area.h }, null, svgEl("clipPath", { id: clip }, null, svgEl("defs", {}, null, f.svg)));
  const g = svgEl("g", { transform: `translate(${f.area.l},${f.area.t})`, "clip-path": `url(#${clip})` }, null, f.svg);
  if (rule !== null) svgEl("line", { x1: 0, x2: f.area.w, y1: Y(rule), y2: Y(rule), stroke: "#888", "stroke-width": 0.7, class: "rule" }, null, g);
  for (const s of series) {
    const ok = s.mean.map((m, i) => Number.isFinite(m) && Number.isFinite(s.spread?.[i] ?? 0));
    const up = s.mean.map((m, i) => [X(i), Y(m + (s.spread?.[i] || 0))]).filter((_, i) => ok[i]);
    const down = s.mean.map((m, i) => [X(i), Y(m - (s.spread?.[i] || 0))]).filter((_, i) => ok[i]).reverse();
    if (up.length) svgEl("path", { d: `M${[...up, ...down].map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join("L")}Z`, fill: s.colour, opacity: 0.15, class: "band" }, null, g);
    const pts = s.mean.map((m, i) => [X(i), Y(m)]).filter((_, i) => ok[i]);
    svgEl("path", { d: pts.map(([a, b], k) => `${k ? "L" : "M"}${a.toFixed(1)},${b.toFixed(1)}`).join(""), fill: "none", stroke: s.colour, "stroke-width": 1.8, class: "series", "data-name": s.name }, null, g);
    pts.forEach(([a, b]) => svgEl("circle", { cx: a, cy: b, r: 3, fill: s.colour, class: "dot" }, null, g));
  }
  const wrap = hoverTip(f.svg, (e) => {
    const [px] = areaPoint(f, e), i = Math.floor(px / band);
    if (i < 0 || i >= n) return null;
    return `${names[i]}: ` + series.map((s) => `${s.name} ${fmt(s.mean[i], 3)} ± ${fmt(s.spread?.[i] || 0, 2)}`).join(", ");
  });
  return h("figure", { class: "ns-band-fig" }, wrap, legend(series.map((s) => [s.name, s.colour])));
}
