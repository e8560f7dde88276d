// kind "curvature" (neuralscope.landscape.results.Curvature): the top Hessian eigenvalues as a
// spectrum, the eigenvalue density (when computed) and the per-layer table (top eigenvalue,
// trace), as the library's plot_curvature draws them.
import { h, fmt } from "../dom.js";
import { section, svgEl } from "./parts.js";
import { inspector } from "./inspector.js";
import { recordTable } from "../draw/table.js";

function spectrum(values) {
  const W = 420, H = 180, P = 44, n = values.length, lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const svg = svgEl("svg", { width: W, height: H, class: "line-svg curv-spectrum" });
  const X = (i) => P + (n > 1 ? i / (n - 1) : 0.5) * (W - P - 16), Y = (v) => H - 24 - ((v - lo) / ((hi - lo) || 1)) * (H - 40);
  svgEl("line", { x1: P, x2: W - 10, y1: Y(0), y2: Y(0), stroke: "#888" }, null, svg);
  values.forEach((v, i) => {
    svgEl("line", { x1: X(i), x2: X(i), y1: Y(0), y2: Y(v), stroke: v >= 0 ? "#1f77b4" : "#d62728", "stroke-width": 2 }, null, svg);
    svgEl("circle", { cx: X(i), cy: Y(v), r: 3, fill: v >= 0 ? "#1f77b4" : "#d62728", "data-value": String(v) }, null, svg);
  });
  svgEl("text", { x: 2, y: Y(hi) + 4, "font-size": 10, fill: "#57606a" }, fmt(hi, 3), svg);
  svgEl("text", { x: 2, y: Y(lo) + 4, "font-size": 10, fill: "#57606a" }, fmt(lo, 3), svg);
  svgEl("text", { x: W / 2, y: H - 4, "font-size": 11, "text-anchor": "middle", fill: "#1f2328" }, "eigenvalue rank (largest first)", svg);
  return svg;
}

function density(d) {
  const W = 420, H = 180, P = 44, g = d.grid, y = d.density, n = g.length;
  const hi = Math.max(...y.filter(Number.isFinite)) || 1;
  const svg = svgEl("svg", { width: W, height: H, class: "line-svg curv-density" });
  const X = (v) => P + ((v - g[0]) / ((g[n - 1] - g[0]) || 1)) * (W - P - 16), Y = (v) => H - 24 - (v / hi) * (H - 40);
  svgEl("path", { d: g.map((v, i) => `${i ? "L" : "M"}${X(v).toFixed(1)},${Y(y[i]).toFixed(1)}`).join(""), fill: "none", stroke: "#1f77b4", "stroke-width": 1.5 }, null, svg);
  for (const v of [g[0], g[n - 1]]) svgEl("text", { x: X(v), y: H - 10, "font-size": 10, "text-anchor": "middle", fill: "#57606a" }, fmt(v, 3), svg);
  svgEl("text", { x: W / 2, y: H - 1, "font-size": 11, "text-anchor": "middle", fill: "#1f2328" }, "eigenvalue (density, SLQ)", svg);
  return svg;
}

function layers(data) {
  const whole = { name: "whole model", top: data.eigenvalues[0], trace: data.trace };
  const rows = Object.entries(data.layers || {}).map(([name, d]) => ({ name, layer: name,
    top: d.eigenvalues && d.eigenvalues.length ? d.eigenvalues[0] : null, trace: d.trace }));
  return recordTable([
    { label: "parameters", value: (r) => r.name },
    { label: "top eigenvalue", num: true, value: (r) => r.top },
    { label: "trace", num: true, value: (r) => r.trace },
  ], [whole, ...rows], { cls: "curv-layers", rowAttrs: (r) => (r.layer ? { dataset: { layer: r.layer } } : null) });
}

export function render(data) {
  const ev = Array.isArray(data.eigenvalues) ? data.eigenvalues : [];
  if (!ev.length) return inspector(data, "curvature");
  return h("div", null,
    section("spectrum", `top ${ev.length} eigenvalue(s) of ${data.n_params} parameters`, spectrum(ev)),
    data.density ? section("density", null, density(data.density)) : null,
    section("layers", `${Object.keys(data.layers || {}).length} layer(s)`, layers(data)),
    inspector(data, "curvature", { skip: ["eigenvalues", "density", "layers"] }));
}
