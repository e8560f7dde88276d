// kind "forward_pass" (neuralscope.plot.animation.ForwardPass): the MLP's nodes and weighted
// edges (draw/network.js), played layer by layer as the saved animation plays it; it opens
// on the last layer, as ForwardPass.plot() draws it.
import { h } from "../dom.js";
import { forwardPassFigure } from "../draw/network.js";
import { framePlayer } from "../draw/player.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

export function render(data) {
  if (!Array.isArray(data.layers) || !data.layers.length || !Array.isArray(data.weights)) return cannotDraw("forward_pass", "it has no layers or weights");
  const n = data.layers.length;
  const player = framePlayer({ count: n, labels: data.layers.map((l, k) => `layer ${k}: ${l.name}`), start: n - 1, fps: 1.5,
    show: (k) => forwardPassFigure(data, k) });
  return h("div", null, section("network", `${n} layers, lit layer by layer`, player));
}
