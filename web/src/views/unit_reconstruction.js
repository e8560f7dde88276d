// kind "unit_reconstruction" (neuralscope.featurevis.reconstruct.Reconstruction): the input
// beside the signed reconstruction of the unit (summed over channels, diverging and centred
// at zero), one example at a time, as Reconstruction.plot() draws them.
import { h, fmt } from "../dom.js";
import { colormap } from "../colors.js";
import { tileGrid } from "../draw/tiles.js";
import { flat, range, section } from "./parts.js";

const SIZE = 200;

// (C, H, W) -> a tile: grey levels for one channel, RGB scaled to [0, 1] for three
function inputTile(img) {
  if (img.length !== 3) {
    const [lo, hi] = range(flat(img[0]));
    const grey = { fn: (v) => { const g = 255 * (v - lo) / ((hi - lo) || 1); return [g, g, g]; }, lo, hi, diverging: false };
    return tileGrid([img[0]], { cmap: grey, tilePx: SIZE, valueLabel: "input", cls: "ur-input" });
  }
  const [lo, hi] = range(flat(img));
  const rgb = img[0].map((row, y) => row.map((_, x) => [0, 1, 2].map((c) => (img[c][y][x] - lo) / ((hi - lo) || 1))));
  return tileGrid([rgb], { rgb: true, tilePx: SIZE, cls: "ur-input" });
}

function summed(map) {
  return map[0].map((row, y) => row.map((_, x) => map.reduce((s, ch) => s + ch[y][x], 0)));
}

function example(data, i) {
  const sig = summed(data.maps[i]), [lo, hi] = range(flat(sig)), lim = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  return h("div", { class: "nd-grid" },
    h("figure", null, h("figcaption", null, `input (activation ${fmt(data.values[i], 3)})`), inputTile(data.inputs[i])),
    h("figure", null, h("figcaption", null, `${data.method} reconstruction of ${data.label}`),
      tileGrid([sig], { cmap: colormap(-lim, lim), tilePx: SIZE, valueLabel: "signed contribution (summed over channels)", cls: "ur-map" })));
}

export function render(data) {
  const n = Array.isArray(data.maps) ? data.maps.length : 0;
  if (!n || !Array.isArray(data.inputs)) return h("p", { class: "muted" }, "This reconstruction holds no maps.");
  const view = h("div", null, example(data, 0));
  const slider = n > 1 ? h("label", { class: "nd-slider" }, "example ", h("input", { type: "range", min: 0, max: n - 1, value: 0, class: "ur-example",
    oninput: (e) => view.replaceChildren(example(data, +e.target.value)) })) : null;
  return section("reconstruction", `${data.method}, unit ${data.label}, ${n} example(s)`, h("div", null, slider, view));
}
