// kind "activation_functions" (neuralscope.inspect.functions.ActivationFunctions): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "activation_functions");
}
