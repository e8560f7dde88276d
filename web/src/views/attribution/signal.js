// Attributions of 1-D signals (modality "signal": inputs (examples, channels, length), maps per
// channel or one map per signal), as the library's figures (neuralscope.plot.signal) draw them:
// each channel's signal as a line with its attribution beneath as a coloured band (signed:
// red raises the output, blue lowers it, white is zero; unsigned: inferno from zero), one
// colour limit for every example.
import { h, fmt } from "../../dom.js";
import { attributionColormap, colorbar } from "../../colors.js";
import { section, svgEl } from "../parts.js";
import { symmetricLimit } from "../attribution.js";

const W = 640, LINE = 64, BAND = 16, MAX_CHANNELS = 8;

function line(values, name) {
  const svg = svgEl("svg", { width: W + 60, height: LINE, class: "line-svg sig-line" });
  const ok = values.filter(Number.isFinite), lo = Math.min(...ok), hi = Math.max(...ok);
  const X = (i) => 56 + (i / Math.max(1, values.length - 1)) * W, Y = (v) => LINE - 6 - ((v - lo) / ((hi - lo) || 1)) * (LINE - 12);
  let d = "";
  values.forEach((v, i) => { if (Number.isFinite(v)) d += `${d ? "L" : "M"}${X(i).toFixed(1)},${Y(v).toFixed(1)}`; });
  svgEl("path", { d, fill: "none", stroke: "#1f2328", "stroke-width": 1.2 }, null, svg);
  svgEl("text", { x: 2, y: LINE / 2 + 4, "font-size": 11, fill: "#1f2328" }, name, svg);
  svgEl("text", { x: 2, y: 10, "font-size": 9, fill: "#57606a" }, fmt(hi, 3), svg);
  svgEl("text", { x: 2, y: LINE - 2, "font-size": 9, fill: "#57606a" }, fmt(lo, 3), svg);
  return svg;
}

function band(values, cmap, label) {
  const c = h("canvas", { width: values.length, height: 1, class: "sig-band", dataset: { channel: label } });
  const ctx = c.getContext("2d"), img = ctx.createImageData(values.length, 1);
  values.forEach((v, i) => { const col = cmap.fn(v ?? 0); img.data.set([col[0], col[1], col[2], 255], 4 * i); });
  ctx.putImageData(img, 0, 0);
  Object.assign(c.style, { width: `${W}px`, height: `${BAND}px`, marginLeft: "56px", imageRendering: "pixelated", display: "block" });
  return c;
}

function example(d, i, cmap) {
  const x = d.inputs[i], a = d.attributions[i], shared = !Array.isArray(a[0]);
  const C = Math.min(x.length, MAX_CHANNELS), out = [];
  for (let c = 0; c < C; c++) {
    out.push(line(x[c], `ch ${c}`));
    if (!shared) out.push(band(a[c], cmap, String(c)));
  }
  if (shared) out.push(band(a, cmap, "all"));
  const t = Array.isArray(d.targets) ? d.targets[i] : null;
  return h("figure", { class: "sig-example", dataset: { example: String(i) } },
    h("figcaption", null, `example ${i}${t !== null && t !== undefined ? `, target ${t}` : ""}${x.length > C ? ` (first ${C} of ${x.length} channels)` : ""}`), out);
}

export function signalView(d) {
  const maps = d.attributions.map((a) => (Array.isArray(a[0]) ? a : [a]));
  const cmap = attributionColormap(!!d.signed, symmetricLimit(maps));
  const B = d.inputs.length;
  const pick = h("input", { type: "range", min: 0, max: B - 1, value: 0, id: "sig-example", disabled: B < 2 });
  const body = h("div", null, example(d, 0, cmap));
  pick.addEventListener("input", () => body.replaceChildren(example(d, +pick.value, cmap)));
  return section("signal", `${B} example(s), ${d.inputs[0].length} channel(s) of ${d.inputs[0][0].length} samples`,
    h("div", { class: "sig-view" }, h("label", { class: "nd-slider" }, "example ", pick),
      colorbar(cmap, cmap.diverging ? " attribution (0 = white: no effect)" : " attribution"), body));
}
