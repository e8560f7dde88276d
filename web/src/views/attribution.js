// kind "attribution" (neuralscope.attribution.result.Attribution), drawn by its modality.
// Images: per example, the map laid over the (dimmed) input image with an
// opacity slider, the map alone with its colour bar (diverging and centred at zero for signed maps,
// one limit shared by every example as the library's figures do), and, next to it, the
// method, the target (with the model's probability for it) and the metric scores. Tabular
// rows, signals and token sequences: attribution/tabular.js, signal.js and text.js.
import { h, fmt } from "../dom.js";
import { attributionColormap, colorbar } from "../colors.js";
import { section } from "./parts.js";
import { factTable } from "../draw/table.js";
import { inspector } from "./inspector.js";
import { tabularView } from "./attribution/tabular.js";
import { signalView } from "./attribution/signal.js";
import { textView } from "./attribution/text.js";

const MAX_EXAMPLES = 32;

function dims(a) {
  const out = [];
  for (let v = a; Array.isArray(v); v = v[0]) out.push(v.length);
  return out;
}

// One 2-D map per example: channels summed for (B, C, H, W) attributions, (B, H, W) as is.
export function mapsOf(data) {
  const a = data.attributions;
  const d = dims(a);
  if (d.length === 3) return a;
  if (d.length !== 4) return null;
  return a.map((ex) => {
    const [C, H, W] = [ex.length, ex[0].length, ex[0][0].length];
    const m = Array.from({ length: H }, () => new Array(W).fill(0));
    for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m[y][x] += ex[c][y][x] ?? 0;
    return m;
  });
}

// numpy's default percentile (linear interpolation) of |values|: the robust colour limit of
// neuralscope.attribution.result.symmetric_limit (99.5th percentile, never 0).
export function symmetricLimit(maps, q = 99.5) {
  const v = [];
  for (const m of maps) for (const row of m) for (const x of row) if (x !== null && Number.isFinite(x)) v.push(Math.abs(x));
  if (!v.length) return 1;
  v.sort((a, b) => a - b);
  const pos = (q / 100) * (v.length - 1), i = Math.floor(pos), f = pos - i;
  let lim = i + 1 < v.length ? v[i] + (v[i + 1] - v[i]) * f : v[i];
  if (!(lim > 0)) lim = v[v.length - 1];
  return lim > 0 ? lim : 1;
}

// The input image of one example as RGB bytes (H x W x 3), drawn dimmed and low-contrast as
// the library's figures draw it so the map's colours stand out (grey: [-0.5, 1.9] mapped to
// black..white; colour: 0.15 + 0.6 x). Values in [0, 1] are taken as they are, anything else
// (normalised inputs) is first stretched from its min to its max.
function inputPixels(ex) {
  const C = ex.length, H = ex[0].length, W = ex[0][0].length;
  let lo = Infinity, hi = -Infinity;
  for (const ch of ex) for (const row of ch) for (const v of row) if (v !== null && Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity || (lo >= 0 && hi <= 1)) { lo = 0; hi = 1; }
  const span = hi - lo || 1;
  const px = new Uint8ClampedArray(H * W * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
    const v = ((ex[Math.min(c, C - 1)][y][x] ?? lo) - lo) / span;
    px[(y * W + x) * 3 + c] = Math.round(255 * (C === 1 ? (v + 0.5) / 2.4 : 0.15 + 0.6 * v));
  }
  return { px, H, W };
}

// The map's colours at the input's resolution (nearest map cell when the map is coarser) and
// each pixel's strength in [0, 1]: |value| / limit for signed maps, value / limit otherwise.
// Over the image a pixel is laid with opacity x strength^0.7 (as the library's figures), so
// where the map is zero the image shows through.
function mapPixels(map, H, W, cmap, signed) {
  const mh = map.length, mw = map[0].length, lim = cmap.hi;
  const px = new Uint8ClampedArray(H * W * 3), strength = new Float64Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const v = map[Math.min(mh - 1, Math.floor((y * mh) / H))][Math.min(mw - 1, Math.floor((x * mw) / W))];
    const c = cmap.fn(v);
    const k = (y * W + x) * 3;
    px[k] = Math.round(c[0]); px[k + 1] = Math.round(c[1]); px[k + 2] = Math.round(c[2]);
    const s = v === null || !Number.isFinite(v) ? 0 : Math.min(1, Math.max(0, (signed ? Math.abs(v) : v) / lim));
    strength[y * W + x] = Math.pow(s, 0.7);
  }
  return { px, strength };
}

function paint(canvas, rgb3, W, H) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  for (let i = 0, j = 0; i < W * H; i++, j += 3) {
    img.data[4 * i] = rgb3[j]; img.data[4 * i + 1] = rgb3[j + 1]; img.data[4 * i + 2] = rgb3[j + 2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function sized(canvas, W, H, side = 168) {
  const z = Math.max(W, H) <= side ? Math.max(1, Math.floor(side / Math.max(W, H))) : side / Math.max(W, H);
  canvas.style.width = `${Math.round(W * z)}px`;
  canvas.style.height = `${Math.round(H * z)}px`;
  if (Math.max(W, H) < 64) canvas.style.imageRendering = "pixelated";
  return canvas;
}

export function softmax(row) {
  const m = Math.max(...row.filter(Number.isFinite));
  const e = row.map((v) => (Number.isFinite(v) ? Math.exp(v - m) : 0));
  const s = e.reduce((a, b) => a + b, 0) || 1;
  return e.map((v) => v / s);
}

// Per-example metric values: arrays with one entry per example are split, other values are
// the same for every example (returned separately).
export function splitMetrics(metrics, B) {
  const per = [], shared = [];
  for (const [k, v] of Object.entries(metrics || {})) {
    if (Array.isArray(v) && v.length === B && v.every((x) => x === null || typeof x === "number" || typeof x === "boolean")) per.push([k, v]);
    else if (v === null || ["number", "string", "boolean"].includes(typeof v)) shared.push([k, v]);
  }
  return { per, shared };
}


/** One example's facts: its target, the model's probability for it, the predicted class and
 * the per-example metric values (`per`: [name, values] pairs from splitMetrics). */
export function exampleTable(data, per, i) {
  const t = Array.isArray(data.targets) ? data.targets[i] : null;
  const p = Array.isArray(data.outputs) && Array.isArray(data.outputs[i]) ? softmax(data.outputs[i]) : null;
  const pred = p ? p.indexOf(Math.max(...p)) : null;
  const facts = [["target", t === null || t === undefined ? "—" : String(t)]];
  if (p && t !== null && t !== undefined && p[t] !== undefined) facts.push(["p(target)", fmt(p[t], 3)]);
  if (pred !== null) facts.push(["predicted", String(pred)]);
  return factTable([
    ...facts.map(([k, v]) => ({ label: k, value: v, num: true, data: { fact: k } })),
    ...per.map(([k, v]) => ({ label: k.replace(/_/g, " "), num: true, data: { metric: k, example: String(i), value: String(v[i]) },
      value: typeof v[i] === "boolean" ? String(v[i]) : fmt(v[i], 4) }))], { cls: "metrics attr-metrics" });
}

/** The method, its layer, what the colours mean and the metrics shared by every example
 * (`shared`: [name, value] pairs from splitMetrics). */
export function methodTable(data, shared) {
  return factTable([
    { label: "method", value: String(data.method || ""), data: { key: "method" } },
    data.layer ? { label: "layer", value: String(data.layer) } : null,
    { label: "map", value: data.signed ? "signed (red raises the target, blue lowers it)" : "unsigned (magnitude)" },
    ...shared.map(([k, v]) => ({ label: k.replace(/_/g, " "), num: true, data: { metric: k, value: String(v) },
      value: typeof v === "number" ? fmt(v, 4) : String(v) }))]);
}

/** The overlay view of one image Attribution's to_dict() (`scores`: per-method scores of a
 * comparison, e.g. deletion/insertion AUC, shown beside the attribution's own metrics). */
export function attributionView(data, scores = null) {
  const maps = mapsOf(data);
  const inputs = data.inputs;
  if (!maps || !Array.isArray(inputs) || dims(inputs).length !== 4) return null;
  const B = Math.min(maps.length, MAX_EXAMPLES);
  const lim = symmetricLimit(maps.slice(0, B));
  const cmap = attributionColormap(!!data.signed, lim);
  const metrics = { ...(data.metrics || {}), ...(scores || {}) };
  const { per, shared } = splitMetrics(metrics, maps.length);
  let opacity = 0.8;
  const overlays = [];

  const slider = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: opacity, id: "attr-opacity",
    oninput: () => { opacity = +slider.value; out.textContent = opacity.toFixed(2); overlays.forEach((o) => o.draw()); } });
  const out = h("span", { class: "muted" }, opacity.toFixed(2));

  const cards = [];
  for (let i = 0; i < B; i++) {
    const { px, H, W } = inputPixels(inputs[i]);
    const { px: heat, strength } = mapPixels(maps[i], H, W, cmap, !!data.signed);
    const overlay = sized(h("canvas", { width: W, height: H, class: "attr-overlay", dataset: { example: String(i) } }), W, H);
    const alone = sized(h("canvas", { width: W, height: H, class: "attr-map", dataset: { example: String(i) } }), W, H, 96);
    paint(alone, heat, W, H);
    const mixed = new Uint8ClampedArray(px.length);
    const o = {
      draw() {
        // (1 - a) * image + a * map per pixel, a = opacity * strength^0.7
        for (let k = 0; k < px.length; k++) {
          const a = opacity * strength[(k / 3) | 0];
          mixed[k] = Math.round((1 - a) * px[k] + a * heat[k]);
        }
        paint(overlay, mixed, W, H);
        overlay.dataset.opacity = String(opacity);
      },
    };
    o.draw();
    overlays.push(o);
    const table = exampleTable(data, per, i);
    cards.push(h("figure", { class: "attr-example", dataset: { example: String(i) } },
      h("figcaption", null, `example ${i}`),
      h("div", { class: "attr-row" }, overlay, h("div", { class: "attr-side" }, alone, table))));
  }
  const head = h("div", { class: "attr-head" },
    methodTable(data, shared),
    h("div", { class: "attr-ctl" },
      h("label", { class: "nd-slider" }, "overlay opacity ", slider, out),
      colorbar(cmap, cmap.diverging ? " attribution (0 = white: no effect)" : " attribution"),
      maps.length > B ? h("p", { class: "muted" }, `first ${B} of ${maps.length} examples`) : null,
      data.paper ? h("p", { class: "muted paper" }, String(data.paper)) : null));
  return h("div", { class: "attr-view" }, head, h("div", { class: "attr-grid" }, cards));
}


const OVERLAID = ["attributions", "inputs", "metrics", "targets", "outputs"];

function imageView(data) {
  const v = attributionView(data);
  return v && h("div", null, inspector(data, "attribution", { skip: OVERLAID }),
    section("overlay", `${Math.min(MAX_EXAMPLES, data.attributions.length)} example(s)`, v));
}

function textInspected(data) {
  const v = textView(data);
  return v && h("div", null, v, inspector(data, "attribution", { skip: [...OVERLAID, "tokens"] }));
}

// tabular, signal and text views load with this one (small modules of their own)
const BY_MODALITY = {
  image: imageView,
  tabular: (data) => h("div", null, tabularView(data), inspector(data, "attribution", { skip: ["attributions", "inputs", "extras"] })),
  signal: (data) => h("div", null, signalView(data), inspector(data, "attribution", { skip: ["attributions", "inputs"] })),
  text: textInspected,
  several: severalView,
};

/** A model with several inputs: each input's part drawn by the view of its own modality (an
 * image overlay for the image input, importance bars for the tabular one...), under its name. */
function severalView(data) {
  const parts = Array.isArray(data.parts) ? data.parts : [];
  const names = Array.isArray(data.input_names) ? data.input_names : [];
  if (!parts.length) return null;
  return h("div", { class: "attr-several" }, parts.map((part, i) => {
    const name = String(names[i] ?? `input ${i}`);
    const own = Object.prototype.hasOwnProperty.call(BY_MODALITY, part.modality) && part.modality !== "several"
      ? BY_MODALITY[part.modality](part) : null;
    return section(name, `${part.modality} input ${i + 1} of ${parts.length}`, own || inspector(part, "attribution"));
  }));
}

/** Images: the overlay; tabular rows: importance, beeswarm and waterfall; signals: the map
 * under each channel; text: the tokens coloured by their scores; several inputs: each
 * input's part by its own modality's view; other arrays: the generic inspector. */
export function render(data) {
  const view = Object.prototype.hasOwnProperty.call(BY_MODALITY, data.modality) ? BY_MODALITY[data.modality](data) : null;
  return view || inspector(data, "attribution");
}
