// kind "forward_pass_step" (neuralscope.plot.animation._Step): one frame of a ForwardPass's
// animation, the network lit up to layer `step` (draw/network.js, as the pass's own view
// draws it). Its to_dict() must carry the pass (`pass`); a frame logged without it can only
// be named.
import { h } from "../dom.js";
import { forwardPassFigure } from "../draw/network.js";
import { section } from "./parts.js";

export function render(data) {
  const fp = data.pass;
  if (!fp || !Array.isArray(fp.layers)) {
    return h("p", { class: "muted frame-only" }, `Frame ${data.step} of a forward pass; this frame was stored without its pass, so only its number is known (log the ForwardPass itself to see the network).`);
  }
  return section("network", `lit up to layer ${data.step}: ${fp.layers[data.step]?.name ?? ""}`, forwardPassFigure(fp, data.step));
}
