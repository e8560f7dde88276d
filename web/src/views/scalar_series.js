// kind "scalar_series" (neuralscope.track.results.ScalarSeries): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "scalar_series");
}
