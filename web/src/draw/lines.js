// Line charts with labelled axes, zero lines and a legend: several named series over one x
// (activation functions and their derivatives, chosen units across examples, one unit's
// activations sorted). NaN/Inf points break a line instead of bending it.
import { h, fmt } from "../dom.js";
import { PALETTE } from "../state.js";
import { svgEl } from "../views/parts.js";
import { range } from "../views/parts.js";
import { areaPoint, chartFrame, drawAxes, hoverTip, legend, scale, valueTicks } from "./axes.js";

function pathOf(xs, ys, X, Y) {
  let d = "", pen = false;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || !Number.isFinite(v)) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${X(xs[i]).toFixed(1)},${Y(v).toFixed(1)}`; pen = true;
  }
  return d;
}

/** `series` = [{name, values}] over `x` (default 0..n-1) with labelled axes; `markers` draws
 * a dot per point (short series). Returns a figure with the chart and its legend.
 *
 * Example: lineChart({ x: [0, 1, 2], series: [{ name: "a", values: [1, 4, 9] }], xLabel: "x", yLabel: "y" })
 */
export function lineChart({ x, series, xLabel, yLabel, title, width = 460, height = 260, markers = false, zero = true, cls = "" }) {
  const n = series.length ? series[0].values.length : 0;
  const xs = x || Array.from({ length: n }, (_, i) => i);
  const [xlo, xhi] = range(xs);
  let [ylo, yhi] = range(series.flatMap((s) => s.values));
  if (ylo === yhi) { ylo -= 1; yhi += 1; }
  const pad = (yhi - ylo) * 0.04; ylo -= pad; yhi += pad;
  const f = chartFrame({ width, height, title, cls: `line-chart ${cls}`.trim() });
  const X = scale(xlo, xhi, f.area.w), Y = scale(ylo, yhi, f.area.h, true);
  drawAxes(f, { x: { label: xLabel, ticks: valueTicks(xlo, xhi, X, f.area.w, 70) }, y: { label: yLabel, ticks: valueTicks(ylo, yhi, Y, f.area.h, 40) } });
  const g = svgEl("g", { transform: `translate(${f.area.l},${f.area.t})` }, null, f.svg);
  if (zero && ylo < 0 && yhi > 0) svgEl("line", { x1: 0, x2: f.area.w, y1: Y(0), y2: Y(0), stroke: "#8c959f", "stroke-width": 0.7, class: "zero-line" }, null, g);
  if (zero && xlo < 0 && xhi > 0) svgEl("line", { x1: X(0), x2: X(0), y1: 0, y2: f.area.h, stroke: "#8c959f", "stroke-width": 0.7, class: "zero-line" }, null, g);
  series.forEach((s, k) => {
    const colour = s.colour || PALETTE[k % PALETTE.length];
    svgEl("path", { d: pathOf(xs, s.values, X, Y), fill: "none", stroke: colour, "stroke-width": 1.7, class: "series", "data-name": s.name }, null, g);
    if (markers) s.values.forEach((v, i) => { if (Number.isFinite(v)) svgEl("circle", { cx: X(xs[i]), cy: Y(v), r: 2.5, fill: colour }, null, g); });
  });
  const wrap = hoverTip(f.svg, (e) => {
    const [px] = areaPoint(f, e);
    if (px < 0 || px > f.area.w || !n) return null;
    const xv = xlo + (px / f.area.w) * (xhi - xlo);
    let i = 0; for (let j = 1; j < n; j++) if (Math.abs(xs[j] - xv) < Math.abs(xs[i] - xv)) i = j;
    return `${xLabel || "x"} = ${fmt(xs[i], 4)}: ` + series.map((s) => `${s.name} ${fmt(s.values[i], 4)}`).join(", ");
  });
  const named = series.filter((s) => s.name);
  return h("figure", { class: "ns-line-fig" }, wrap, named.length ? legend(named.map((s, k) => [s.name, s.colour || PALETTE[k % PALETTE.length]])) : null);
}
