// kind "weight_stats" (neuralscope.inspect.weights.WeightStats): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "weight_stats");
}
