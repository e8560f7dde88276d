// kind "trajectory" (neuralscope.landscape.results.Trajectory): the optimizer's path over the
// loss contour of the plane of its two principal directions (draw/landscape.js), or, without
// a computed plane, the path's coordinates.
import { h } from "../dom.js";
import { drawLandscape } from "../draw/landscape.js";
import { section } from "./parts.js";
import { inspector } from "./inspector.js";

export function render(data) {
  const ls = data.landscape;
  if (!ls || ls.dims !== 2 || !Array.isArray(data.coords)) return inspector(data, "trajectory");
  const share = Array.isArray(data.explained) ? data.explained.slice(0, 2).reduce((a, b) => a + b, 0) : null;
  const note = `${data.coords.length} checkpoints${share !== null ? `; the plane holds ${(100 * share).toFixed(0)}% of the path's variance` : ""}`;
  return h("div", null, section("path", note, drawLandscape(h("div"), { ...ls, path: data.coords })),
    inspector(data, "trajectory", { skip: ["landscape", "coords"] }));
}
