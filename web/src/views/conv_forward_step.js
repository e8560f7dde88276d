// kind "conv_forward_step" (neuralscope.plot.conv_forward._ConvStep): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "conv_forward_step");
}
