// kind "conv_forward_pass" (neuralscope.plot.conv_forward.ConvForwardPass): the stage strip
// and one stage at a time (draw/stages.js: input, feature maps, dense units, prediction),
// played stage by stage as the saved animation plays it; a click on the strip jumps to a
// stage. It opens on the last stage (the prediction), as ConvForwardPass.plot() draws it.
import { h } from "../dom.js";
import { convStageFigure } from "../draw/stages.js";
import { framePlayer } from "../draw/player.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

export function render(data) {
  if (!Array.isArray(data.stages) || !data.stages.length) return cannotDraw("conv_forward_pass", "it has no stages");
  const n = data.stages.length;
  let player = null;
  player = framePlayer({ count: n, labels: data.stages.map((s) => s.name), start: n - 1, fps: 1.2,
    show: (k) => convStageFigure(data, k, (j) => player.go(j)) });
  return h("div", null, section("stages", `${n} stages from the input to the prediction`, player));
}
