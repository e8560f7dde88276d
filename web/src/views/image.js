// kind "image": a picture logged with run.log_image(...) (a PNG file in the run), shown as is.
import { h } from "../dom.js";
import { fileUrl } from "../api.js";

export function render(item, { run }) {
  return h("img", { src: fileUrl(run, item.file), class: "logged-img", alt: `${item.name} at step ${item.step}` });
}
