// kind "feature_maps" (neuralscope.inspect.activations.FeatureMaps): the feature maps of one
// input at one layer as a grid of tiles numbered by channel, in the result's order (by mean
// activation), on one shared scale (diverging and centred at zero when signed); the maps of a
// 1-D layer as rows of a heatmap, as FeatureMaps.plot() draws them.
import { h } from "../dom.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { tileGrid } from "../draw/tiles.js";
import { section } from "./parts.js";

export function render(data) {
  const maps = data.maps, shape = data.shape || [];
  if (!Array.isArray(maps) || !maps.length) return h("p", { class: "muted" }, "This result holds no feature maps.");
  const shown = (data.order || []).slice(0, maps.length).map(String);
  const nonfinite = data.nonfinite ? h("div", { class: "nonfinite-note", style: { color: "#b00000" } }, `${data.nonfinite} NaN/Inf values (bright green)`) : null;
  if (!Array.isArray(maps[0][0])) {  // (C, L): a 1-D layer
    return section("feature maps", `${data.layer}: ${maps.length} of ${shape[0]} maps over ${shape[1]} positions, input #${data.index}`,
      h("div", null, matrixHeatmap(maps, { xLabel: "position in the layer's output", yLabel: "channel (by mean activation)", yLabels: shown, valueLabel: "activation", cls: "fm-rows" }), nonfinite));
  }
  const [c, hh, w] = shape;
  return section("feature maps", `input #${data.index}`, h("div", null,
    h("div", { class: "muted" }, `${data.layer}: ${maps.length} of ${c} feature maps (${hh}×${w}), ordered by mean activation; number = channel`),
    tileGrid(maps, { labels: shown, valueLabel: "activation", tileName: (k) => `channel ${shown[k]}`, cls: "fm-tiles" }), nonfinite));
}
