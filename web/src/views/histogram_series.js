// kind "histogram_series" (neuralscope.track.results.HistogramSeries): the distribution of a
// logged quantity over training steps as a heatmap (step on x, value on y, colour = fraction
// of the step's values in the bin, log scale) with the 5%, 50% and 95% percentile lines, all
// steps re-binned onto one grid; when the spread changes more than 20-fold the value axis is
// asinh and the colour each step's density relative to its peak, as HistogramSeries.plot() draws it.
import { h, fmt } from "../dom.js";
import { attributionColormap } from "../colors.js";
import { niceTicks } from "../draw/axes.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { section, svgEl } from "./parts.js";

const BINS = 80, QUANTILES = [0.05, 0.5, 0.95], SPREAD_RATIO = 20;
const BIG = Number.MAX_VALUE / 4;

// numpy's interp: piecewise linear through (xp, fp), constant beyond the ends
export function interp(x, xp, fp) {
  if (x <= xp[0]) return fp[0];
  const n = xp.length;
  if (x >= xp[n - 1]) return fp[n - 1];
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xp[mid] <= x) lo = mid; else hi = mid; }
  const span = xp[hi] - xp[lo];
  return span > 0 ? fp[lo] + (fp[hi] - fp[lo]) * (x - xp[lo]) / span : fp[hi];
}

// a row's bin edges clipped to its observed [min, max], made non-decreasing (HistogramSeries._edges)
function edgesOf(row) {
  let e = row.edges.map(Number);
  const { min: lo, max: hi } = row;
  if (Number.isFinite(lo) && Number.isFinite(hi) && hi >= lo) e = e.map((v) => Math.min(hi, Math.max(lo, v)));
  let run = -Infinity;
  return e.map((v) => { const x = Number.isNaN(v) ? 0 : Math.max(-BIG, Math.min(BIG, v)); run = Math.max(run, x); return run; });
}

const cdfOf = (counts) => counts.reduce((acc, c) => { acc.push(acc[acc.length - 1] + (+c || 0)); return acc; }, [0]);

// each step's standard deviation from its logged sums (finite and positive ones only)
function spreads(rows) {
  return rows.map((r) => {
    const n = r.num || 0;
    if (!n || r.sum === null || r.sum === undefined || r.sum_sq === null || r.sum_sq === undefined) return NaN;
    const m = r.sum / n;
    return Math.sqrt(Math.max(r.sum_sq / n - m * m, 0));
  }).filter((s) => Number.isFinite(s) && s > 0);
}

// numpy's default (linear) percentile
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b), k = (s.length - 1) * p / 100, f = Math.floor(k);
  return f + 1 < s.length ? s[f] + (s[f + 1] - s[f]) * (k - f) : s[f];
}

/** The linear width of an asinh value axis when the spread changes more than 20-fold over
 * the steps (the 10th percentile of the spreads), else null (HistogramSeries.linear_width). */
export function linearWidth(rows) {
  const sp = spreads(rows);
  if (sp.length < 2 || Math.max(...sp) / Math.min(...sp) <= SPREAD_RATIO) return null;
  return percentile(sp, 10);
}

/** Every step re-binned onto one grid of `bins` bins (HistogramSeries.regrid): {grid, counts}. */
export function regrid(rows, bins = BINS, width = null) {
  const edges = rows.map(edgesOf);
  const lo = Math.min(...edges.map((e) => e[0]));
  let hi = Math.max(...edges.map((e) => e[e.length - 1]));
  if (!(hi > lo)) hi = lo + 1;
  const t = (v) => (width ? Math.asinh(v / width) : v), back = (u) => (width ? width * Math.sinh(u) : u);
  const grid = Array.from({ length: bins + 1 }, (_, k) => back(t(lo) + (t(hi) - t(lo)) * k / bins));
  const counts = rows.map((r, i) => {
    const cdf = cdfOf(r.counts), at = grid.map((g) => interp(g, edges[i], cdf));
    return at.slice(1).map((v, k) => v - at[k]);
  });
  return { grid, counts, t };
}

/** Each step's `qs` quantiles from its cumulative counts (HistogramSeries.percentiles). */
export function percentiles(rows, qs = QUANTILES) {
  return rows.map((r) => {
    const e = edgesOf(r), cdf = cdfOf(r.counts), total = cdf[cdf.length - 1];
    return qs.map((q) => (total > 0 ? interp(q * total, cdf, e) : NaN));
  });
}

function colours(rows, width) {
  const { grid, counts, t } = regrid(rows, BINS, width);
  let frac = counts.map((c) => { const s = Math.max(c.reduce((a, b) => a + b, 0), 1e-12); return c.map((v) => v / s); });
  if (width) frac = frac.map((f) => { const d = f.map((v, k) => v / (grid[k + 1] - grid[k])), m = Math.max(...d, 1e-300); return d.map((v) => v / m); });
  const positive = frac.flat().filter((v) => v > 0);
  const vmin = positive.length ? Math.max(Math.min(...positive), 1e-4) : 1e-4, vmax = Math.max(vmin * 10, ...positive);
  return { grid, frac, t, vmin, vmax };
}

/** Ticks of an asinh axis over [lo, hi]: zero, then 1, 5 and 2 times powers of ten (both
 * signs), each kept only when it lands at least 22 px from those kept (`at`: value -> row,
 * `rowPx` px per row). */
export function asinhTicks(lo, hi, width, at, rowPx) {
  const top = Math.max(Math.abs(lo), Math.abs(hi)), k0 = Math.floor(Math.log10(width)) - 1, k1 = Math.ceil(Math.log10(top));
  const candidates = [0];
  for (const m of [1, 5, 2]) for (let k = k0; k <= k1; k++) for (const sign of [1, -1]) candidates.push(+(sign * m * 10 ** k).toPrecision(3));
  const kept = [];
  for (const v of candidates) if (v >= lo && v <= hi && kept.every((u) => Math.abs(at(u) - at(v)) * rowPx >= 22)) kept.push(v);
  return kept.sort((a, b) => a - b);
}

// the library's magma_r look: light for rare values, dark for common ones (inferno, reversed)
function lightToDark(lo, hi) {
  const inferno = attributionColormap(false, 1);
  return { fn: (v) => inferno.fn(1 - (v - lo) / ((hi - lo) || 1)), lo, hi, diverging: false };
}

function chart(data, rows) {
  const width = linearWidth(rows), { grid, frac, t, vmin, vmax } = colours(rows, width);
  const S = rows.length, B = grid.length - 1;
  // rows of the map: bins, the highest value on top; columns: the logged steps
  const mat = Array.from({ length: B }, (_, r) => frac.map((f) => (f[B - 1 - r] > 0 ? Math.log10(Math.max(f[B - 1 - r], vmin)) : undefined)));
  const row = (v) => B - (t(v) - t(grid[0])) / ((t(grid[B]) - t(grid[0])) || 1) * B;
  const tv = width ? asinhTicks(grid[0], grid[B], width, row, 320 / B) : niceTicks(grid[0], grid[B], 6);
  const q = percentiles(rows);
  const label = width ? "log10 density (relative to the step's peak)" : "log10 fraction of values";
  return matrixHeatmap(mat, {
    cmap: lightToDark(Math.log10(vmin), Math.log10(vmax)), valueLabel: label, xLabel: "step (one column per logged step)", yLabel: "value",
    xLabels: rows.map((r) => String(r.step)), yTicks: [...new Set(tv)].map((v) => [row(v), fmt(v, 3)]), maxW: Math.min(820, Math.max(360, 14 * S)), maxH: 320, cls: "hs-dist",
    title: `${data.name}: distribution over steps` + (width ? ` (spread changes > ${SPREAD_RATIO}×: value axis linear within ±${fmt(width, 2)}, logarithmic beyond)` : ""),
    tip: (i, j) => `step ${rows[j].step}, value ${fmt(grid[B - 1 - i], 3)} to ${fmt(grid[B - i], 3)}: ${fmt(frac[j][B - 1 - i], 3)}${width ? " of the peak density" : " of the values"}`,
    overlay: S > 1 ? (g, X, Y) => QUANTILES.forEach((p, k) => {
      const d = q.map((qs, j) => `${j ? "L" : "M"}${X(j + 0.5).toFixed(1)},${Y(row(qs[k])).toFixed(1)}`).join("");
      svgEl("path", { d, fill: "none", stroke: "#2ca9e1", "stroke-width": 1.2, "stroke-dasharray": k === 1 ? "none" : "4,3", class: "percentile", "data-q": p, "data-values": q.map((qs) => qs[k]).join(",") }, null, g);
    }) : undefined,
  });
}

export function render(data) {
  const rows = (Array.isArray(data.histograms) ? data.histograms : []).filter((r) => Array.isArray(r.edges) && r.edges.length > 1);
  if (!rows.length) return h("p", { class: "muted" }, "No histograms were logged for this series.");
  return section("distribution over steps", `${data.name}${data.run ? ` (run ${data.run})` : ""}, ${rows.length} step(s); lines: median, 5% and 95%`, chart(data, rows));
}
