// kind "weight_histograms" (neuralscope.inspect.weights.WeightHistograms): one histogram per
// parameter tensor as small multiples (the 48 largest tensors), one enlarged on click
// (draw/histograms.js, shared with activation_histograms), as WeightHistograms.plot() draws them.
import { h } from "../dom.js";
import { histogramPanels } from "../draw/histograms.js";
import { section } from "./parts.js";

export function render(data) {
  const layers = Array.isArray(data.layers) ? data.layers : [];
  if (!layers.length) return h("p", { class: "muted" }, "This result holds no weight histograms.");
  return section("weight distributions per parameter tensor", `${layers.length} tensor(s)`, histogramPanels(layers, { valueLabel: "weight value" }));
}
