// kind "trajectory" (neuralscope.landscape.results.Trajectory): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "trajectory");
}
