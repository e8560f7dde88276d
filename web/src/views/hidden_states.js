// kind "hidden_states" (neuralscope.inspect.activations.HiddenStates): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "hidden_states");
}
