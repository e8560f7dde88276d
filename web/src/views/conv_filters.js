// kind "conv_filters" (neuralscope.inspect.weights.ConvFilters): the kernels of a convolution
// as ConvFilters.plot() draws them in its four modes: "rgb" filters as colour images (grey =
// 0), "channels" as tiles (a numbered grid for one input channel, else rows = filters x
// columns = input channels, diverging and centred at zero), "norm" as a heatmap of every
// kernel's L2 norm, "taps" (Conv1d) as rows of taps per input channel.
import { h } from "../dom.js";
import { colormap } from "../colors.js";
import { blockMean, blockTicks, matrixHeatmap } from "../draw/matrix.js";
import { tileGrid } from "../draw/tiles.js";
import { flat, range, section, svgEl } from "./parts.js";

const absmax = (v) => { const [lo, hi] = range(flat(v)); return Math.max(Math.abs(lo), Math.abs(hi)) || 1; };

function rgbFilters(data, shown) {
  const s = absmax(data.weight);
  const tiles = data.weight.map((k) => k[0].map((row, y) => row.map((_, x) => [0, 1, 2].map((c) => 0.5 + 0.5 * k[c][y][x] / s))));
  return h("div", null, h("div", { class: "muted" }, `${data.name}: ${tiles.length} of ${data.shape[0]} filters as RGB (grey = 0, shared scale)`),
    tileGrid(tiles, { rgb: true, labels: shown, tileName: (k) => `filter ${shown[k]}`, cls: "cf-rgb" }));
}

function channelTiles(data, shown) {
  const w = data.weight, [o, i, kh, kw] = data.shape, lim = absmax(w), cmap = colormap(-lim, lim);
  if (i === 1) {
    return h("div", null, h("div", { class: "muted" }, `${data.name}: ${w.length} of ${o} filters (${kh}×${kw}, by decreasing norm; number = filter)`),
      tileGrid(w.map((k) => k[0]), { labels: shown, cmap, valueLabel: "weight", tileName: (k) => `filter ${shown[k]}`, cls: "cf-channels" }));
  }
  return h("div", null, h("div", { class: "muted" }, `${data.name}: ${w.length} of ${o} filters × ${i} input channels (rows: filters by decreasing norm)`),
    tileGrid(w.flat(1), { ncols: i, rowLabels: shown, colLabels: Array.from({ length: i }, (_, c) => `in ${c}`), cmap, valueLabel: "weight",
      tileName: (k) => `filter ${shown[Math.floor(k / i)]}, input channel ${k % i}`, cls: "cf-channels" }));
}

// every kernel's norm, filters ranked by norm; over 256 x 256 kernels, block means (as ConvFilters.plot)
function norms(data) {
  const [o, i, kh, kw] = data.shape, full = data.order.map((r) => data.norms[r]);
  const { mat: m, block: [rb, cb] } = blockMean(full, 256, 256), shrunk = rb > 1 || cb > 1;
  return matrixHeatmap(m, { xLabel: "input channel", yLabel: "output channels ranked by filter norm (rank)", valueLabel: "L2 norm of the kernel",
    cmap: colormap(...range(flat(m))), cls: "cf-norm", maxH: 520,
    title: `${data.name}: ${o}×${i} kernels of ${kh}×${kw}` + (shrunk ? ` (each cell = mean of ${rb}×${cb} kernel norms)` : ""),
    xTicks: cb > 1 ? blockTicks(m[0].length, cb, 640, 60) : undefined, yTicks: rb > 1 ? blockTicks(m.length, rb, 520, 40) : undefined,
    tip: (r, c) => (shrunk ? `ranks ${r * rb}–${r * rb + rb - 1}, input channels ${c * cb}–${c * cb + cb - 1}: mean norm ${m[r][c]}`
      : `filter ${data.order[r]} (rank ${r}), input channel ${c}: norm ${m[r][c]}`) });
}

function taps(data, shown) {
  const w = data.weight, [o, i, k] = data.shape, lim = absmax(w);
  return matrixHeatmap(w.map((f) => f.flat()), { xLabel: `input channel (${k} taps each)`, yLabel: "filter (by decreasing norm)", yLabels: shown, valueLabel: "weight",
    cmap: colormap(-lim, lim), xTicks: Array.from({ length: i }, (_, c) => [c * k + k / 2, `in ${c}`]), cls: "cf-taps",
    title: `${data.name}: ${w.length} of ${o} filters of ${k} taps × ${i} input channels`,
    overlay: (g, X, Y) => { for (let c = 1; c < i; c++) svgEl("line", { x1: X(c * k), x2: X(c * k), y1: Y(0), y2: Y(w.length), stroke: "white", "stroke-width": 2 }, null, g); } });
}

const MODES = { rgb: rgbFilters, channels: channelTiles, norm: norms, taps };

export function render(data) {
  const draw = MODES[data.mode];
  if (!draw || !Array.isArray(data.shape) || !(data.weight || data.norms)) return h("p", { class: "muted" }, `Filters drawn in mode ${JSON.stringify(data.mode)} are not known to this view.`);
  const shown = (data.order || []).slice(0, data.weight ? data.weight.length : 0).map(String);
  const note = data.nonfinite ? h("div", { class: "nonfinite-note", style: { color: "#b00000" } }, `${data.nonfinite} NaN/Inf weights (bright green)`) : null;
  return section("filters", `${data.name} ${data.shape.join("×")}, mode ${data.mode}`, h("div", null, draw(data, shown), note));
}
