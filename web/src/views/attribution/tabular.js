// Attributions of tabular rows (modality "tabular": SHAP values and the like, (rows, features)),
// drawn as the library's figures (neuralscope.plot.tabular) draw them: global importance
// (mean |value| per feature), the beeswarm summary (one dot per row, coloured by the feature's
// value, low blue to high red) and one row's waterfall from E[f(background)] to f(x). The
// `max` most important features get a row each, the rest are folded into one.
import { h, fmt } from "../../dom.js";
import { colormap, rgb } from "../../colors.js";
import { section, svgEl } from "../parts.js";

const POSITIVE = "#d6204e", NEGATIVE = "#1e88e5", MAX = 12, LABEL = 150, ROW = 22, PLOT = 420;

/** values, data (feature values or null), names, base per row (0 without one) and the order. */
export function table(d) {
  const values = d.attributions, B = values.length, M = values[0].length;
  const fv = (d.extras && d.extras.feature_values) || (Array.isArray(d.inputs) && Array.isArray(d.inputs[0]) && !Array.isArray(d.inputs[0][0]) ? d.inputs : null);
  const names = Array.isArray(d.feature_names) ? d.feature_names.map(String) : Array.from({ length: M }, (_, k) => `x${k}`);
  const ev = d.metrics ? d.metrics.expected_value : null;
  const base = Array.from({ length: B }, (_, i) => (ev === null || ev === undefined ? 0 : Array.isArray(ev) ? +ev[i] : +ev));
  const meanAbs = names.map((_, k) => values.reduce((s, r) => s + Math.abs(r[k] ?? 0), 0) / B);
  const order = names.map((_, k) => k).sort((a, b) => meanAbs[b] - meanAbs[a] || a - b);
  return { values, data: fv, names, base, hasBase: ev !== null && ev !== undefined, meanAbs, order };
}

// the rows drawn: [label, k or null] for the top features, then the folded rest
function rows(t) {
  const shown = t.order.slice(0, MAX).map((k) => [t.names[k], k]);
  const rest = t.order.length - shown.length;
  return rest > 0 ? [...shown, [`${rest} other features`, null]] : shown;
}

function frame(n, xlabel) {
  const H = n * ROW + 40, W = LABEL + PLOT + 70;  // room for the value written after a bar
  const svg = svgEl("svg", { width: W, height: H, class: "line-svg tab-svg" });
  svgEl("text", { x: LABEL + PLOT / 2, y: H - 4, "font-size": 11, "text-anchor": "middle", fill: "#1f2328" }, xlabel, svg);
  return { svg, H, W };
}

function rowLabels(svg, labels) {
  labels.forEach(([name], r) => svgEl("text", { x: LABEL - 6, y: 14 + r * ROW + ROW / 2, "font-size": 11, "text-anchor": "end", fill: "#1f2328" }, name, svg));
}

function xAxis(svg, lo, hi, y) {
  const X = (v) => LABEL + ((v - lo) / ((hi - lo) || 1)) * PLOT;
  svgEl("line", { x1: LABEL, x2: LABEL + PLOT, y1: y, y2: y, stroke: "#d0d7de" }, null, svg);
  for (const v of [lo, (lo + hi) / 2, hi]) svgEl("text", { x: X(v), y: y + 13, "font-size": 10, "text-anchor": "middle", fill: "#57606a" }, fmt(v, 3), svg);
  return X;
}

function importance(t) {
  const labels = rows(t);
  const vals = labels.map(([, k]) => (k === null ? t.order.slice(MAX).reduce((s, j) => s + t.meanAbs[j], 0) : t.meanAbs[k]));
  const { svg, H } = frame(labels.length, "mean |attribution| (average impact on the output)");
  const X = xAxis(svg, 0, Math.max(...vals) || 1, H - 26);
  rowLabels(svg, labels);
  vals.forEach((v, r) => svgEl("rect", { x: LABEL, y: 14 + r * ROW + 4, width: Math.max(0, X(v) - LABEL), height: ROW - 8, fill: POSITIVE, "data-feature": labels[r][0] }, null, svg));
  return svg;
}

// feature values to [0, 1] by their 5th and 95th percentiles (as the library's beeswarm)
function scaled(col) {
  const s = col.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return col.map(() => null);
  const q = (p) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
  let lo = q(0.05), hi = q(0.95);
  if (hi <= lo) { lo = s[0]; hi = s[s.length - 1]; }
  return col.map((v) => (Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / ((hi - lo) || 1))) : null));
}

function beeswarm(t) {
  const labels = rows(t), B = t.values.length, cmap = colormap(-1, 1);
  const cols = labels.map(([, k]) => t.values.map((r) => (k === null ? t.order.slice(MAX).reduce((s, j) => s + r[j], 0) : r[k])));
  const all = cols.flat().filter(Number.isFinite), lim = Math.max(...all.map(Math.abs)) || 1;
  const { svg, H } = frame(labels.length, "attribution (impact on the output): red raises it, blue lowers it");
  const X = xAxis(svg, -lim, lim, H - 26);
  svgEl("line", { x1: X(0), x2: X(0), y1: 10, y2: H - 26, stroke: "#888" }, null, svg);
  rowLabels(svg, labels);
  labels.forEach(([, k], r) => {
    const colour = k !== null && t.data ? scaled(t.data.map((row) => row[k])) : null;
    const seen = new Map();  // dots in the same 2-px bin stack up and down around the row
    cols[r].forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const bin = Math.round(X(v) / 2), n = seen.get(bin) || 0; seen.set(bin, n + 1);
      const dy = (n % 2 ? -1 : 1) * Math.ceil(n / 2) * 2;
      const fill = colour && colour[i] !== null ? rgb(cmap.fn(2 * colour[i] - 1)) : "#999";
      svgEl("circle", { cx: X(v), cy: 14 + r * ROW + ROW / 2 + Math.max(-9, Math.min(9, dy)), r: 2.4, fill, "fill-opacity": 0.85 }, null, svg);
    });
  });
  const note = t.data ? h("p", { class: "muted" }, "dot colour: the feature's value in that row, low (blue) to high (red)") : null;
  return h("div", null, svg, note, B > 2000 ? h("p", { class: "muted" }, `${B} rows`) : null);
}

function waterfall(t, i) {
  const v = t.values[i], labels = rows(t);
  const steps = labels.map(([, k]) => (k === null ? t.order.slice(MAX).reduce((s, j) => s + v[j], 0) : v[k]));
  let x = t.base[i];
  const bars = steps.slice().reverse().map((s) => { const a = x; x += s; return [a, x]; }).reverse();  // least important first from the base
  const ends = bars.flat().concat([t.base[i]]), lo = Math.min(...ends), hi = Math.max(...ends);
  const out = t.base[i] + steps.reduce((a, b) => a + b, 0);
  const word = t.hasBase ? "E[f(background)]" : "0";
  const { svg, H } = frame(labels.length, `output: ${word} = ${fmt(t.base[i], 3)} → f(x) = ${fmt(out, 3)}`);
  const X = xAxis(svg, lo, hi, H - 26);
  svgEl("line", { x1: X(t.base[i]), x2: X(t.base[i]), y1: 10, y2: H - 26, stroke: "#888", "stroke-dasharray": "4 3" }, null, svg);
  rowLabels(svg, labels.map(([name, k]) => [k !== null && t.data ? `${name} = ${fmt(t.data[i][k], 3)}` : name]));
  bars.forEach(([a, b], r) => {
    svgEl("rect", { x: X(Math.min(a, b)), y: 14 + r * ROW + 4, width: Math.max(1, Math.abs(X(b) - X(a))), height: ROW - 8,
      fill: b >= a ? POSITIVE : NEGATIVE, "data-feature": labels[r][0], "data-value": String(b - a) }, null, svg);
    svgEl("text", { x: X(Math.max(a, b)) + 4, y: 14 + r * ROW + ROW / 2 + 4, "font-size": 10, fill: "#57606a" }, `${b >= a ? "+" : ""}${fmt(b - a, 3)}`, svg);
  });
  return svg;
}

export function tabularView(d) {
  const t = table(d), B = t.values.length;
  const pick = h("input", { type: "range", min: 0, max: B - 1, value: 0, id: "tab-row", disabled: B < 2 });
  const label = h("span", { class: "muted" }, `row 0 of ${B}`);
  const fall = h("div", { class: "tab-waterfall" }, waterfall(t, 0));
  pick.addEventListener("input", () => { label.textContent = `row ${pick.value} of ${B}`; fall.replaceChildren(waterfall(t, +pick.value)); });
  return h("div", { class: "tab-view" },
    section("importance", `${t.names.length} features, ${B} rows`, importance(t)),
    section("beeswarm", "one dot per row", beeswarm(t)),
    section("waterfall", "one row, from the expected output to the prediction", h("div", null, h("label", { class: "nd-slider" }, "row ", pick, label), fall)));
}
