// kind "feature_vis" (neuralscope.featurevis.optimize.FeatureVis): each unit's
// visualisation with its objective value, as FeatureVis.plot draws the grid (one-channel
// pictures grey on [0, 1], colour pictures clipped to [0, 1]); the top dataset examples per
// unit when they were added (a mosaic on one scale); the snapshots during the optimisation and the objective's
// curve per unit, as FeatureVis.plot_progress draws them (draw/tiles.js, draw/lines.js).
import { h, fmt } from "../dom.js";
import { tileGrid } from "../draw/tiles.js";
import { lineChart } from "../draw/lines.js";
import { grayCanvas, imageCanvas, section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

const GRAY = { fn: (v) => { const g = Math.max(0, Math.min(255, v * 255)); return [g, g, g]; }, lo: 0, hi: 1, diverging: false };
const MAX_UNITS = 64;

/** Pictures (N x C x H x W) as tiles: grey (N x H x W) for one channel, else RGB (N x H x W x 3). */
export function picturesAsTiles(images) {
  const rgb = images[0].length >= 3;
  const tiles = rgb ? images.map((im) => im[0].map((row, y) => row.map((_, x) => [0, 1, 2].map((c) => im[c][y][x])))) : images.map((im) => im[0]);
  return { tiles, rgb };
}

function pictures(images, opt) {
  const { tiles, rgb } = picturesAsTiles(images);
  return tileGrid(tiles, { ...opt, rgb, cmap: rgb ? undefined : GRAY, valueLabel: "pixel value" });
}

// one figure per unit, its name and objective value as the caption (captions wrap, never overlap)
function unitGrid(images, labels, values, px) {
  const rgb = images[0].length >= 3;
  return h("div", { class: "nd-grid fv-images", dataset: { units: String(images.length) } }, images.map((im, i) => h("figure", { class: "fv-unit", style: { width: `${px}px` } },
    h("figcaption", { style: { overflowWrap: "anywhere" } }, labels[i], Array.isArray(values) ? h("br") : null, Array.isArray(values) ? `= ${fmt(values[i], 3)}` : null),
    rgb ? imageCanvas(im, "chw", 255, px) : grayCanvas(im[0], 0, 1, px))));
}

function examplesGrid(data, n) {
  const k = data.examples[0].length, flatEx = data.examples.slice(0, n).flat();
  const vals = data.example_values ? data.example_values.slice(0, n).flat() : null;
  return pictures(flatEx, { ncols: k, rowLabels: data.labels.slice(0, n), colLabels: Array.from({ length: k }, (_, j) => `#${j + 1}`),
    labels: vals ? vals.map((v) => fmt(v, 3)) : undefined, cls: "fv-examples", tilePx: 64 });
}

function snapshotsGrid(data, n) {
  const steps = Object.keys(data.snapshots).map(Number).sort((a, b) => a - b);
  const rows = Math.min(n, 8), tiles = [];
  for (let u = 0; u < rows; u++) for (const s of steps) tiles.push(data.snapshots[String(s)][u]);
  return pictures(tiles, { ncols: steps.length, rowLabels: data.labels.slice(0, rows), colLabels: steps.map((s) => `step ${s}`), cls: "fv-snapshots", tilePx: 64 });
}

export function render(data) {
  if (!Array.isArray(data.images) || !Array.isArray(data.images[0]?.[0]?.[0])) return cannotDraw("feature_vis", "its images are not (unit, channel, height, width) arrays");
  const n = Math.min(data.labels.length, MAX_UNITS);
  const grid = unitGrid(data.images.slice(0, n), data.labels, data.values, n > 16 ? 96 : 144);
  const hist = Array.isArray(data.history) && data.history.length ? lineChart({ x: data.history.map((_, i) => i + 1),
    series: data.labels.slice(0, 10).map((l, u) => ({ name: l, values: data.history.map((row) => row[u]) })),
    xLabel: "step", yLabel: "objective", title: `objective during ${data.history.length} steps${data.labels.length > 10 ? " (first 10 units)" : ""}`, width: 560, cls: "fv-history" }) : null;
  const snaps = data.snapshots && Object.keys(data.snapshots).length ? snapshotsGrid(data, n) : null;
  return h("div", null,
    section("visualizations", `${data.objective} — ${data.labels.length} unit(s)${data.labels.length > n ? `, first ${n} shown` : ""}, ${data.param} parameterisation, seed ${data.seed}`, grid),
    Array.isArray(data.examples) ? section("dataset examples", "top activating inputs per unit (activation above each)", examplesGrid(data, n)) : null,
    snaps ? section("progress", "snapshots during the optimisation", snaps) : null,
    hist ? section("objective", null, hist) : null);
}
