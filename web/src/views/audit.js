// kind "audit" (neuralscope.audit.result.AuditResult): no view of its own yet; the generic
// inspector draws its to_dict() fields by their shapes.
import { inspector } from "./inspector.js";

export function render(data) {
  return inspector(data, "audit");
}
