// kind "attention_head_stats" (neuralscope.attention.maps.HeadStats): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "attention_head_stats");
}
