// kind "attention_head_stats" (neuralscope.attention.maps.HeadStats): every statistic as a
// layer × head map with its own colour bar (draw/matrix.js), as HeadStats.plot draws them,
// titled by what it measures (a statistic it does not know by its field name); hovering
// names the layer, the head and the value.
import { h } from "../dom.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

// HeadStats.LABELS, in the order HeadStats.plot draws its default three first
export const STATS = [
  ["entropy_ratio", "entropy / log n"], ["diagonal_distance", "mean distance to diagonal (tokens)"],
  ["special", "mass on special tokens"], ["entropy", "entropy (nats)"], ["previous_token", "weight on previous token"],
  ["max_weight", "mean max weight"],
];

export function render(data) {
  // the known statistics in plot order, then any other (layers, heads) array under its own name
  const known = new Map(STATS);
  const present = [...STATS.map(([k]) => k), ...Object.keys(data).filter((k) => !known.has(k))]
    .filter((k) => k !== "layer_names" && Array.isArray(data[k]) && Array.isArray(data[k][0])).map((k) => [k, known.get(k) || k]);
  if (!present.length) return cannotDraw("attention_head_stats", "it has no (layers, heads) statistics");
  const [L, H] = [data[present[0][0]].length, data[present[0][0]][0].length];
  const names = Array.isArray(data.layer_names) && data.layer_names.length === L ? data.layer_names : null;
  const heads = Array.from({ length: H }, (_, i) => String(i));
  const rowPx = Math.min(28, 300 / L), every = Math.ceil(12 / rowPx);
  const yTicks = Array.from({ length: L }, (_, i) => i).filter((i) => i % every === 0).map((i) => [i + 0.5, names ? names[i] : String(i)]);
  const maps = present.map(([k, label]) => h("div", { class: "head-stat", dataset: { stat: k } },
    matrixHeatmap(data[k], { title: label, xLabel: "head", yLabel: "layer", xLabels: heads, yLabels: names || undefined, yTicks,
      valueLabel: label, maxW: 360, maxH: 300, cls: "head-stat-map",
      tip: (i, j) => `${names ? names[i] : `layer ${i}`}, head ${j}: ${data[k][i][j]}` })));
  return h("div", null,
    section("heads", `${L} layer(s) × ${H} head(s), ${present.length} statistics`, h("div", { class: "nd-grid" }, maps)));
}
