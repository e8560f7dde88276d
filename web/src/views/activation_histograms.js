// kind "activation_histograms" (neuralscope.inspect.activations.ActivationHistograms): one
// histogram of activation values per layer as small multiples, one enlarged on click
// (draw/histograms.js, shared with weight_histograms), as ActivationHistograms.plot() draws them.
import { h } from "../dom.js";
import { histogramPanels } from "../draw/histograms.js";
import { section } from "./parts.js";

export function render(data) {
  const layers = Array.isArray(data.layers) ? data.layers : [];
  if (!layers.length) return h("p", { class: "muted" }, "This result holds no activation histograms.");
  return section("activation distributions per layer", `${layers.length} layer(s)`, histogramPanels(layers, { valueLabel: "activation" }));
}
