// Bar charts with labelled axes: one bar per category (units, inputs), a histogram over bin
// edges, and grouped horizontal bars per named row (layers, parameter tensors) with a note
// at the end of each row. Category labels are thinned or turned upright so none overlap.
import { h, fmt } from "../dom.js";
import { svgEl } from "../views/parts.js";
import { range } from "../views/parts.js";
import { areaPoint, chartFrame, drawAxes, hoverTip, legend, scale, textWidth, thinned, valueTicks } from "./axes.js";

const BLUE = "#4c72b0";

/** One bar per value, labelled by `labels` (default the index), coloured by `colours` (one
 * per bar, default blue for >= 0 and red below), from zero.
 *
 * Example: columnBars({ values: [0.5, -1, 2], labels: ["a", "b", "c"], xLabel: "unit", yLabel: "activation" })
 */
export function columnBars({ values, labels, colours, xLabel, yLabel, title, width, height = 260, tip, cls = "" }) {
  const n = values.length, names = (labels || values.map((_, i) => i)).map(String);
  const W = width || Math.min(900, Math.max(320, 70 + 14 * n));
  const longest = textWidth(names);
  const band0 = (W - 70) / Math.max(1, n), upright = longest > band0 - 2 && n > 1;
  const f = chartFrame({ width: W, height: height + (upright ? Math.min(90, longest) : 0), title, cls: `bar-chart ${cls}`.trim(),
    margin: { b: upright ? 30 + Math.min(90, longest) : 40 } });
  const band = f.area.w / Math.max(1, n);
  let [lo, hi] = range(values);
  lo = Math.min(0, lo); hi = Math.max(0, hi); if (lo === hi) hi = 1;
  const Y = scale(lo, hi, f.area.h, true);
  const shown = thinned(n, f.area.w, upright ? 11 : longest);
  drawAxes(f, { x: { label: xLabel, upright, ticks: shown.map((i) => [(i + 0.5) * band, names[i]]) },
    y: { label: yLabel, ticks: valueTicks(lo, hi, Y, f.area.h, 40) } });
  const g = svgEl("g", { transform: `translate(${f.area.l},${f.area.t})`, class: "bars" }, null, f.svg);
  values.forEach((v, i) => {
    const ok = Number.isFinite(v), y0 = Y(0), y1 = ok ? Y(v) : y0;
    const colour = !ok ? "#00d000" : colours ? colours[i] : v >= 0 ? BLUE : "#c44e52";
    svgEl("rect", { x: i * band + band * 0.08, width: Math.max(0.5, band * 0.84), y: Math.min(y0, y1), height: Math.max(ok ? 0.5 : 3, Math.abs(y1 - y0)),
      fill: colour, class: "bar", "data-index": i, "data-value": String(v) }, null, g);
  });
  if (lo < 0) svgEl("line", { x1: 0, x2: f.area.w, y1: Y(0), y2: Y(0), stroke: "#6e7781", "stroke-width": 0.7 }, null, g);
  return hoverTip(f.svg, (e) => {
    const [px] = areaPoint(f, e), i = Math.floor(px / band);
    return i >= 0 && i < n ? (tip ? tip(i) : `${names[i]}: ${fmt(values[i], 4)}`) : null;
  });
}

/** A histogram: `counts[i]` between `edges[i]` and `edges[i + 1]`, with a dotted line at zero
 * when the range holds it; `compact` draws a small panel (no y ticks) for small multiples,
 * `yMax` puts several panels on one count scale, `xRange` = [lo, hi] on another chart's value
 * axis (with that chart's `margin` {l, r}), `colour` fills the bars.
 *
 * Example: histogramBars({ counts: [1, 3], edges: [0, 1, 2], xLabel: "value" })
 */
export function histogramBars({ counts, edges, xLabel, yLabel = "count", title, note, compact = false, width, height, colour = BLUE, yMax, xRange, margin = {}, cls = "" }) {
  const W = width || (compact ? 200 : 460), H = height || (compact ? 130 : 260);
  const f = chartFrame({ width: W, height: H, title, titlePx: compact ? 10 : 12, cls: `hist-chart${compact ? " compact" : ""} ${cls}`.trim(),
    margin: compact ? { l: 8, r: 8, b: xLabel ? 34 : 22, t: title ? 16 : 6, ...margin } : margin });
  const [lo, hi] = xRange || [edges[0], edges[edges.length - 1]];
  const top = yMax || Math.max(1e-12, ...counts.filter(Number.isFinite));
  const X = scale(lo, hi, f.area.w), Y = scale(0, top, f.area.h, true);
  drawAxes(f, { x: { label: xLabel, ticks: valueTicks(lo, hi, X, f.area.w, compact ? 45 : 70) },
    y: compact ? null : { label: yLabel, ticks: valueTicks(0, top, Y, f.area.h, 40) } });
  const g = svgEl("g", { transform: `translate(${f.area.l},${f.area.t})`, class: "bars" }, null, f.svg);
  counts.forEach((c, i) => {
    const x0 = X(edges[i]), x1 = X(edges[i + 1]);
    svgEl("rect", { x: x0, width: Math.max(0.6, x1 - x0 - (x1 - x0 > 4 ? 0.5 : 0)), y: Y(c), height: f.area.h - Y(c), fill: colour, class: "bar" }, null, g);
  });
  if (lo <= 0 && hi >= 0) svgEl("line", { x1: X(0), x2: X(0), y1: 0, y2: f.area.h, stroke: "#57606a", "stroke-dasharray": "2,2", class: "zero-line" }, null, g);
  if (note) svgEl("text", { x: f.area.w - 3, y: 11, "text-anchor": "end", "font-size": 10, fill: "#b00000", class: "nonfinite-note" }, note, g);
  return hoverTip(f.svg, (e) => {
    const [px] = areaPoint(f, e), v = lo + (px / f.area.w) * (hi - lo);
    const i = edges.findIndex((b, k) => k < counts.length && v >= b && v <= edges[k + 1]);
    return i < 0 ? null : `[${fmt(edges[i], 4)}, ${fmt(edges[i + 1], 4)}): ${fmt(counts[i], 6)}`;
  });
}

/** Horizontal bars, one group per row: `series` = [{name, colour, values}] (one value per
 * row), `rows` the row labels, `notes` a text after each row's bars (`noteColours` optional).
 *
 * Example: rowBars({ rows: ["a", "b"], series: [{ name: "dead", colour: "#d62728", values: [0.1, 0] }], xLabel: "fraction" })
 */
export function rowBars({ rows, series, notes, noteColours, xLabel, title, xMax, width = 720, rowPx, cls = "" }) {
  const n = rows.length, k = series.length;
  const step = rowPx || (n > 30 ? 14 : Math.max(20, 11 * k + 6));
  const labelW = Math.min(300, textWidth(rows) + 10), noteW = notes ? Math.min(230, textWidth(notes) + 12) : 0;
  const f = chartFrame({ width: Math.max(width, labelW + noteW + 260), height: 24 + (title ? 14 : 0) + 40 + n * step, title, cls: `row-bars ${cls}`.trim(),
    margin: { l: labelW, r: noteW + 10 } });
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const hi = xMax || Math.max(1e-12, ...all);
  const X = scale(0, hi, f.area.w);
  const fontPx = Math.min(11, step - 2);
  drawAxes(f, { x: { label: xLabel, ticks: valueTicks(0, hi, X, f.area.w, 70) }, y: { ticks: [] } });
  const g = svgEl("g", { transform: `translate(${f.area.l},${f.area.t})`, class: "bars" }, null, f.svg);
  const bh = Math.max(2, (step - 4) / k);
  rows.forEach((name, i) => {
    svgEl("text", { x: -6, y: i * step + step / 2 + 3.5, "text-anchor": "end", "font-size": fontPx, fill: "#1f2328", class: "row-label" }, name, g);
    let end = 0;
    series.forEach((s, j) => {
      const v = s.values[i], ok = Number.isFinite(v), w = ok ? Math.max(v > 0 ? 1 : 0, X(Math.min(v, hi))) : 3;
      end = Math.max(end, w);
      svgEl("rect", { x: 0, y: i * step + 2 + j * bh, width: w, height: bh - 0.5, fill: ok ? s.colour : "#00d000", class: "bar", "data-series": s.name, "data-value": String(v) }, null, g);
    });
    if (notes && notes[i]) svgEl("text", { x: end + 4, y: i * step + step / 2 + 3.5, "font-size": Math.min(10, fontPx), fill: noteColours ? noteColours[i] : "#57606a", class: "row-note" }, notes[i], g);
  });
  const fig = h("figure", { class: "ns-rowbars-fig" }, hoverTip(f.svg, (e) => {
    const [, py] = areaPoint(f, e), i = Math.floor(py / step);
    return i >= 0 && i < n ? `${rows[i]}: ` + series.map((s) => `${s.name} ${fmt(s.values[i], 4)}`).join(", ") : null;
  }), k > 1 ? legend(series.map((s) => [s.name, s.colour])) : null);
  return fig;
}
