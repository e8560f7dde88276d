// kind "sanity_check" (neuralscope.attribution.metrics.SanityCheck): the similarity of the
// randomized maps to the original (Spearman rank and SSIM, mean ± std over the examples) at
// every randomization step, as SanityCheck.plot draws it (draw/bands.js); below it the first
// example's map at every step, on one colour scale (draw/tiles.js).
import { h } from "../dom.js";
import { colormap } from "../colors.js";
import { bandChart } from "../draw/bands.js";
import { tileGrid } from "../draw/tiles.js";
import { flat, range, section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

const meanStd = (rows) => {
  const mean = rows.map((r) => r.reduce((a, v) => a + v, 0) / r.length);
  return { mean, spread: rows.map((r, i) => Math.sqrt(r.reduce((a, v) => a + (v - mean[i]) ** 2, 0) / r.length)) };
};

export function render(data) {
  if (!Array.isArray(data.steps) || !Array.isArray(data.spearman)) return cannotDraw("sanity_check", "it has no steps or similarities");
  const series = [{ name: "Spearman rank (|map|)", colour: "#2166ac", ...meanStd(data.spearman) },
    { name: "SSIM (|map|)", colour: "#b2182b", ...meanStd(data.ssim) }];
  const chart = bandChart({ steps: data.steps, series, yRange: [-0.2, 1.05], rule: 0, yLabel: "similarity to the original map",
    xLabel: data.check === "model" ? "randomized up to layer (cascading, output first)" : "model",
    title: `${data.check}-randomization sanity check: ${data.method}`, cls: "sanity-chart" });
  const maps = Array.isArray(data.maps) && Array.isArray(data.maps[0]?.[0]) && !Array.isArray(data.maps[0][0][0]) ? data.maps : null;
  return h("div", null,
    section("similarity", `${data.steps.length} step(s), ${data.spearman[0]?.length ?? 0} example(s)`, chart),
    maps ? section("maps", "the first example's |map| after each step", tileGrid(maps, { labels: data.steps, valueLabel: "|attribution|", cmap: colormap(0, range(flat(maps))[1] || 1), cls: "sanity-maps", tilePx: 96 })) : null);
}
