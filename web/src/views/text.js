// kind "text": a text logged with run.log_text(...), shown as written.
import { h } from "../dom.js";

export function render(item) {
  return h("pre", { class: "text" }, item.text || "");
}
