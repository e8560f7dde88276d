// A small MLP's forward pass as the library's ForwardPass.plot draws it: one column of nodes
// per layer (coloured by activation on a diverging map centred at zero), edges between shown
// units coloured by weight and as wide as |weight|, everything after layer `step` greyed.
// NaN/Inf nodes and edges are bright green. Two colour bars (activation, weight) below.
import { h, fmt } from "../dom.js";
import { colorbar, colormap, rgb } from "../colors.js";
import { svgEl } from "../views/parts.js";

const NONFINITE = "#00d000", OFF_NODE = "#eeeeee", OFF_EDGE = "#bfbfbf";

function absmax(values) {
  let m = 0;
  for (const v of values) if (v !== null && Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m || 1;
}

function geometry(layers, W, H) {
  const top = 64, bottom = H - 16, left = 60, right = W - 150;
  const xs = layers.map((_, k) => left + (layers.length > 1 ? k / (layers.length - 1) : 0.5) * (right - left));
  const ys = layers.map((lay) => {
    const n = lay.units.length;
    return lay.units.map((_, i) => (n > 1 ? top + (i / (n - 1)) * (bottom - top) : (top + bottom) / 2));
  });
  return { xs, ys };
}

function drawEdges(g, weights, geo, step, wmap, wmax) {
  weights.forEach((w, k) => {
    const lit = k + 1 <= step, edges = [];
    w.forEach((row, j) => row.forEach((v, i) => edges.push([Math.abs(Number.isFinite(v) ? v : Infinity), j, i, v])));
    edges.sort((a, b) => a[0] - b[0]); // strongest last, on top
    for (const [, j, i, v] of edges) {
      const ok = v !== null && Number.isFinite(v);
      svgEl("line", { x1: geo.xs[k], y1: geo.ys[k][i], x2: geo.xs[k + 1], y2: geo.ys[k + 1][j], class: "edge",
        stroke: !ok ? NONFINITE : lit ? rgb(wmap.fn(v)) : OFF_EDGE, "stroke-opacity": ok ? (lit ? 0.85 : 0.35) : 1,
        "stroke-width": ok ? 0.2 + 2.8 * Math.abs(v) / wmax : 2 }, null, g);
    }
  });
}

function drawNodes(g, layers, geo, step, amap) {
  layers.forEach((lay, k) => {
    const lit = k <= step, r = lay.units.length <= 12 ? 9 : lay.units.length <= 24 ? 6.5 : 4;
    lay.values.forEach((v, i) => {
      const ok = v !== null && Number.isFinite(v);
      const c = svgEl("circle", { cx: geo.xs[k], cy: geo.ys[k][i], r, stroke: "#333", "stroke-width": 0.8, class: "node", "data-layer": k,
        fill: !lit ? OFF_NODE : ok ? rgb(amap.fn(v)) : NONFINITE }, null, g);
      svgEl("title", {}, `${lay.name} unit ${lay.units[i]}: ${fmt(v, 4)}`, c);
    });
    const hidden = lay.size - lay.units.length;
    const head = [lay.name, `${lay.size} units`, hidden ? `(showing ${lay.units.length} largest |a|)` : null].filter(Boolean);
    head.forEach((t, i) => svgEl("text", { x: geo.xs[k], y: 14 + i * 13, "font-size": i ? 10 : 11, "text-anchor": "middle",
      fill: i ? "#57606a" : "#1f2328", class: "layer-head" }, t, g));
  });
}

function outputLabels(g, lay, x, ys, lit, classNames) {
  const finite = lay.values.map((v) => (v !== null && Number.isFinite(v) ? v : -Infinity));
  const best = lit ? finite.indexOf(Math.max(...finite)) : -1;
  const every = Math.max(1, Math.ceil(12 / Math.max(1, ys.length > 1 ? ys[1] - ys[0] : 12)));
  lay.units.forEach((u, j) => {
    if (j !== best && (j % every || Math.abs(j - best) < every)) return; // no label crowds the best class's
    const name = classNames && classNames[u] !== undefined ? classNames[u] : String(u);
    svgEl("text", { x: x + 14, y: ys[j] + 3.5, "font-size": 11, "font-weight": j === best ? "bold" : "normal", fill: "#1f2328", class: "output-label" },
      lit ? `${name}  ${fmt(lay.values[j], 2)}` : name, g);
  });
}

/**
 * `fp` (a ForwardPass's to_dict()) drawn lit up to layer `step` (default: all). Returns a
 * <figure> with the network and its two colour bars.
 *
 * Example: `forwardPassFigure(data, 1)`
 */
export function forwardPassFigure(fp, step = fp.layers.length - 1, { width = 820 } = {}) {
  const most = Math.max(...fp.layers.map((l) => l.units.length));
  const H = Math.max(300, Math.min(760, 90 + most * 26));
  const geo = geometry(fp.layers, width, H);
  const wmax = Math.max(1e-12, ...fp.weights.map((w) => absmax(w.flat())));
  const amax = Math.max(1e-12, ...fp.layers.map((l) => absmax(l.values)));
  const wmap = colormap(-wmax, wmax), amap = colormap(-amax, amax);
  const svg = svgEl("svg", { width, height: H, class: "fp-network", viewBox: `0 0 ${width} ${H}` });
  drawEdges(svgEl("g", { class: "edges" }, null, svg), fp.weights, geo, step, wmap, wmax);
  const nodes = svgEl("g", { class: "nodes" }, null, svg);
  drawNodes(nodes, fp.layers, geo, step, amap);
  const last = fp.layers.length - 1;
  outputLabels(nodes, fp.layers[last], geo.xs[last], geo.ys[last], last <= step, fp.class_names);
  return h("figure", { class: "fp-figure", dataset: { step: String(step) } },
    fp.title ? h("figcaption", null, fp.title) : null, svg,
    colorbar(amap, " activation (node colour, 0 = white)"), colorbar(wmap, " weight (edge colour; width = |weight|)"));
}
