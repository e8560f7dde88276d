// kind "forward_pass" (neuralscope.plot.animation.ForwardPass): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "forward_pass");
}
