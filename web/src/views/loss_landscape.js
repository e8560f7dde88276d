// kind "loss_landscape" (neuralscope.landscape.results.LossLandscape): a 2-D landscape as the
// contour map with its loss readout and the 3-D surface (draw/landscape.js, the same drawing
// as LossLandscape.to_html()); a 1-D one as the loss (and accuracy) along the direction.
import { h } from "../dom.js";
import { drawLandscape } from "../draw/landscape.js";
import { section, svgEl } from "./parts.js";
import { inspector } from "./inspector.js";

const DRAWN = ["x", "y", "loss", "accuracy", "axis_labels", "minimum"];

// loss (and accuracy, right axis) over the direction's coefficient
export function curve(d) {
  const W = 520, H = 260, P = 48, xs = d.x, n = xs.length;
  const svg = svgEl("svg", { width: W, height: H, class: "line-svg ls-curve" });
  const X = (v) => P + ((v - xs[0]) / ((xs[n - 1] - xs[0]) || 1)) * (W - 2 * P);
  const series = [[d.loss, "#1f77b4", "loss"], ...(d.accuracy ? [[d.accuracy, "#ff7f0e", "accuracy"]] : [])];
  series.forEach(([ys, colour, name], s) => {
    const ok = ys.filter(Number.isFinite), lo = Math.min(...ok), hi = Math.max(...ok);
    const Y = (v) => H - 30 - ((v - lo) / ((hi - lo) || 1)) * (H - 50);
    let p = "";
    ys.forEach((v, i) => { if (Number.isFinite(v)) p += `${p ? "L" : "M"}${X(xs[i]).toFixed(1)},${Y(v).toFixed(1)}`; });
    svgEl("path", { d: p, fill: "none", stroke: colour, "stroke-width": 1.8 }, null, svg);
    const at = s ? W - P + 4 : 4;
    svgEl("text", { x: at, y: 14, "font-size": 10, fill: colour }, `${name} ${hi.toPrecision(3)}`, svg);
    svgEl("text", { x: at, y: H - 32, "font-size": 10, fill: colour }, lo.toPrecision(3), svg);
  });
  svgEl("line", { x1: P, x2: W - P, y1: H - 28, y2: H - 28, stroke: "#d0d7de" }, null, svg);
  for (const v of [xs[0], 0, xs[n - 1]]) svgEl("text", { x: X(v), y: H - 14, "font-size": 10, "text-anchor": "middle", fill: "#57606a" }, String(+v.toPrecision(3)), svg);
  svgEl("text", { x: W / 2, y: H - 2, "font-size": 11, "text-anchor": "middle", fill: "#1f2328" }, (d.axis_labels || ["coefficient"])[0], svg);
  return svg;
}

export function render(data) {
  const two = data.dims === 2 && Array.isArray(data.y);
  const drawn = two ? drawLandscape(h("div"), data) : curve(data);
  return h("div", null, section("landscape", `${data.dims}-D, ${data.direction}`, drawn), inspector(data, "loss_landscape", { skip: DRAWN }));
}
