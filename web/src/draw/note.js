// The one sentence a view shows instead of a drawing when its data lacks what the drawing
// needs (a document written by another version, or cut short): which kind, and what is missing.
import { h } from "../dom.js";

/** A note that `kind`'s data cannot be drawn because of `why`.
 *
 * Example: cannotDraw("forward_pass", "it has no layers")
 */
export function cannotDraw(kind, why) {
  return h("p", { class: "view-note muted" }, `This ${kind.replace(/_/g, " ")} result cannot be drawn: ${why}.`);
}
