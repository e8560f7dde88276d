// kind "conv_forward_step" (neuralscope.plot.conv_forward._ConvStep): one frame of a
// ConvForwardPass's animation, stage `step` under the stage strip (draw/stages.js, as the
// pass's own view draws it). Its to_dict() must carry the pass (`pass`); a frame logged
// without it can only be named.
import { h } from "../dom.js";
import { convStageFigure } from "../draw/stages.js";
import { section } from "./parts.js";

export function render(data) {
  const cfp = data.pass;
  if (!cfp || !Array.isArray(cfp.stages)) {
    return h("p", { class: "muted frame-only" }, `Stage ${data.step} of a convolutional forward pass; this frame was stored without its pass, so only its number is known (log the ConvForwardPass itself to see the stages).`);
  }
  return section("stage", `stage ${data.step + 1} of ${cfp.stages.length}`, convStageFigure(cfp, data.step));
}
