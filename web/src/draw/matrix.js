// A matrix as a heatmap with labelled axes, a colour bar and hover values: units x examples,
// hidden units x time steps, weight matrices, kernel norms, histograms over steps. Cells are
// painted on a canvas (one pixel per cell, scaled without smoothing) under SVG axes, so
// thousands of rows stay fast; NaN/Inf cells are bright green and counted under the map.
import { h, fmt } from "../dom.js";
import { colorbar, colormap } from "../colors.js";
import { range, svgEl } from "../views/parts.js";
import { areaPoint, chartFrame, drawAxes, hoverTip, indexTicks, niceTicks, textWidth, thinned } from "./axes.js";

const NONFINITE = [0, 208, 0];

/** Ticks for the `n` cells of an axis `px` long: thinned `labels` when given, else indices. */
export function cellTicks(n, px, labels, upright = false) {
  const cell = px / n;
  if (labels) {
    const idx = thinned(n, px, upright ? 11 : textWidth(labels));
    return idx.map((i) => [(i + 0.5) * cell, String(labels[i])]);
  }
  return indexTicks(n, px, 30).map((i) => [(i + 0.5) * cell, String(i)]);
}

/** Ticks for `n` cells that each stand for `block` rows (or columns) of a larger matrix: round
 * indices of the large matrix, at their cells' positions (for `xTicks`/`yTicks`). */
export function blockTicks(n, block, px, gap = 50) {
  return niceTicks(0, n * block, Math.max(2, Math.floor(px / gap))).filter((v) => v < n * block).map((v) => [v / block, String(v)]);
}

/** `mat` shrunk to at most `maxRows` x `maxCols` cells, each the mean of a block of whole
 * rows and columns (the last block may be smaller); a block holding NaN/Inf is NaN, as the
 * library's plot.block_reduce(how="mean") draws it. Returns {mat, block: [rows, cols] per cell}.
 *
 * Example: blockMean([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]], 2, 3) -> {mat: [[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]], block: [2, 1]}
 */
export function blockMean(mat, maxRows, maxCols) {
  const rows = mat.length, cols = mat[0].length;
  const rb = Math.max(1, Math.ceil(rows / Math.max(1, Math.min(rows, maxRows)))), cb = Math.max(1, Math.ceil(cols / Math.max(1, Math.min(cols, maxCols))));
  if (rb === 1 && cb === 1) return { mat, block: [1, 1] };
  const out = [];
  for (let i0 = 0; i0 < rows; i0 += rb) {
    const line = [];
    for (let j0 = 0; j0 < cols; j0 += cb) {
      let sum = 0, n = 0, bad = false;
      for (let i = i0; i < Math.min(rows, i0 + rb); i++) for (let j = j0; j < Math.min(cols, j0 + cb); j++) {
        const v = mat[i][j];
        if (v === null || !Number.isFinite(v)) bad = true; else { sum += v; n++; }
      }
      line.push(bad || !n ? NaN : sum / n);
    }
    out.push(line);
  }
  return { mat: out, block: [rb, cb] };
}

function paint(mat, cmap) {
  const rows = mat.length, cols = mat[0].length;
  const c = document.createElement("canvas"); c.width = cols; c.height = rows;
  const ctx = c.getContext("2d"), img = ctx.createImageData(cols, rows);
  let bad = 0;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const v = mat[i][j], ok = v !== null && Number.isFinite(v);
    if (!ok && v !== undefined) bad++;
    const col = ok ? cmap.fn(v) : v === undefined ? [255, 255, 255] : NONFINITE, k = (i * cols + j) * 4;
    img.data[k] = col[0]; img.data[k + 1] = col[1]; img.data[k + 2] = col[2]; img.data[k + 3] = v === undefined ? 0 : 255;
  }
  ctx.putImageData(img, 0, 0);
  return { canvas: c, bad };
}

/** `mat` (rows x cols, `undefined` = empty cell) as a heatmap. Options: `cmap` (default:
 * diverging centred at zero for signed values, else sequential), `xLabel`, `yLabel`,
 * `xTicks`/`yTicks` ([[cell position, text]], default from `xLabels`/`yLabels` or indices),
 * `valueLabel` (the colour bar's name), `maxW`/`maxH` px, `left` (the margin for y ticks, to line up stacked maps), `overlay(g, X, Y)` to draw on top
 * (X, Y map cell coordinates, 0 = the first cell's edge, to px), `tip(i, j)`.
 *
 * Example: matrixHeatmap([[1, -2], [0.5, 3]], { xLabel: "input unit", yLabel: "output unit", valueLabel: "weight" })
 */
export function matrixHeatmap(mat, opt = {}) {
  const rows = mat.length, cols = mat[0].length;
  const [lo, hi] = range(mat.flat());
  const cmap = opt.cmap || colormap(lo, hi);
  const cellW = Math.max(1, Math.min(opt.maxCell || 28, (opt.maxW || 640) / cols)), cellH = Math.max(1, Math.min(opt.maxCell || 28, (opt.maxH || 420) / rows));
  const pw = Math.max(opt.minW || 200, Math.min(opt.maxW || 640, cols) * cellW), ph = Math.max(opt.minH || 60, Math.min(opt.maxH || 420, rows) * cellH);
  const upright = !!opt.xLabels && textWidth(opt.xLabels) > pw / cols - 2;
  const xTicks = opt.xTicks || cellTicks(cols, pw, opt.xLabels, upright), yTicks = opt.yTicks || cellTicks(rows, ph, opt.yLabels);
  const left = opt.left || Math.max(44, textWidth(yTicks.map((t) => t[1])) + 30);
  const bottom = upright ? 32 + Math.min(100, textWidth(opt.xLabels)) : 40;
  const f = chartFrame({ width: left + pw + 14, height: ph + bottom + (opt.title ? 24 : 8), title: opt.title, cls: `matrix-chart ${opt.cls || ""}`.trim(), margin: { l: left, b: bottom, r: 14 } });
  f.area.w = pw; f.area.h = ph;
  const { canvas, bad } = paint(mat, cmap);
  svgEl("image", { x: f.area.l, y: f.area.t, width: pw, height: ph, href: canvas.toDataURL(), preserveAspectRatio: "none", style: "image-rendering: pixelated", class: "cells", "data-rows": rows, "data-cols": cols }, null, f.svg);
  drawAxes(f, { x: { label: opt.xLabel, upright, ticks: opt.xTicks ? opt.xTicks.map(([p, t]) => [p * pw / cols, t]) : xTicks },
    y: { label: opt.yLabel, ticks: opt.yTicks ? opt.yTicks.map(([p, t]) => [p * ph / rows, t]) : yTicks } });
  if (opt.overlay) opt.overlay(svgEl("g", { transform: `translate(${f.area.l},${f.area.t})`, class: "overlay" }, null, f.svg), (j) => j * pw / cols, (i) => i * ph / rows);
  const wrap = hoverTip(f.svg, (e) => {
    const [px, py] = areaPoint(f, e), j = Math.floor(px / (pw / cols)), i = Math.floor(py / (ph / rows));
    if (i < 0 || j < 0 || i >= rows || j >= cols) return null;
    return opt.tip ? opt.tip(i, j) : `${opt.yLabel || "row"} ${opt.yLabels ? opt.yLabels[i] : i}, ${opt.xLabel || "column"} ${opt.xLabels ? opt.xLabels[j] : j}: ${fmt(mat[i][j], 4)}`;
  });
  const note = bad ? h("div", { class: "nonfinite-note", style: { color: "#b00000", fontSize: "12px" } }, `${bad} of ${rows * cols} cells are NaN/Inf (bright green)`) : null;
  return h("figure", { class: "ns-matrix-fig" }, wrap, opt.colorbar === false ? null : colorbar(cmap, ` ${opt.valueLabel || "value"}${cmap.diverging ? " (0 = white)" : ""}`), note);
}
