// kind "sanity_check" (neuralscope.attribution.metrics.SanityCheck): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "sanity_check");
}
