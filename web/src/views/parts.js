// Drawing pieces shared by the result views: images, n-d arrays with sliders (their maps drawn
// by draw/matrix.js, their lines by draw/lines.js), titled sections and scalar tables. Nothing
// here knows a result kind.
import { h, fmt } from "../dom.js";
import { colorbar, colormap } from "../colors.js";
import { lineChart as seriesChart } from "../draw/lines.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { factTable } from "../draw/table.js";

export function shapeOf(v) {
  if (!Array.isArray(v)) return typeof v === "number" || v === null ? [] : null;
  if (!v.length) return [0];
  const inner = shapeOf(v[0]);
  if (inner === null) return null;
  return [v.length, ...inner];
}

export function flat(v, out = []) {
  if (Array.isArray(v)) for (const x of v) flat(x, out); else out.push(v);
  return out;
}

export function range(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null && Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) { lo = 0; hi = 1; }
  return [lo, hi];
}

export function isImageShape(s, values) {
  if (s.length < 3) return null;
  const [a, b, c] = s.slice(-3);
  const [lo, hi] = range(values.slice(0, 20000));
  const okRange = lo >= 0 && (hi <= 1.0001 || (hi <= 255 && hi > 1.0001));
  if (!okRange) return null;
  if ((a === 3 || a === 4) && b >= 4 && c >= 4) return { layout: "chw", scale: hi > 1.0001 ? 1 : 255 };
  if ((c === 3 || c === 4) && a >= 4 && b >= 4) return { layout: "hwc", scale: hi > 1.0001 ? 1 : 255 };
  return null;
}

export function imageCanvas(arr, layout, scale, max = 160) {
  if (layout.layout === "gray") return grayCanvas(arr[0], layout.lo, layout.hi, max);
  const H = layout === "chw" ? arr[0].length : arr.length, W = layout === "chw" ? arr[0][0].length : arr[0].length;
  const C = layout === "chw" ? arr.length : arr[0][0].length;
  const canvas = document.createElement("canvas"); canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext("2d"); const img = ctx.createImageData(W, H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const k = (y * W + x) * 4;
    for (let c = 0; c < 3; c++) {
      const v = layout === "chw" ? arr[Math.min(c, C - 1)][y][x] : arr[y][x][Math.min(c, C - 1)];
      img.data[k + c] = Math.max(0, Math.min(255, (v ?? 0) * scale));
    }
    img.data[k + 3] = C === 4 ? Math.max(0, Math.min(255, (layout === "chw" ? arr[3][y][x] : arr[y][x][3]) * scale)) : 255;
  }
  ctx.putImageData(img, 0, 0);
  const z = Math.max(1, Math.floor(max / Math.max(W, H)));
  canvas.style.width = `${W * z}px`; canvas.style.height = `${H * z}px`; canvas.style.imageRendering = "pixelated";
  canvas.className = "img";
  return canvas;
}

export function grayCanvas(mat, lo, hi, max) {
  const H = mat.length, W = mat[0].length;
  const canvas = document.createElement("canvas"); canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext("2d"); const img = ctx.createImageData(W, H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const v = Math.round(255 * ((mat[y][x] ?? lo) - lo) / ((hi - lo) || 1)), k = (y * W + x) * 4;
    img.data[k] = img.data[k + 1] = img.data[k + 2] = v; img.data[k + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const z = Math.max(1, Math.floor(max / Math.max(W, H)));
  canvas.style.width = `${W * z}px`; canvas.style.height = `${H * z}px`; canvas.style.imageRendering = "pixelated";
  canvas.className = "img";
  return canvas;
}

export function index(arr, idx) { let v = arr; for (const i of idx) v = v[i]; return v; }

// An n-d numeric array: leading dimensions become sliders (or a grid when few), the last two
// (or three for images) are drawn.
const IMAGE_KEYS = new Set(["inputs", "images", "examples", "x", "image", "input", "thumbnails"]);

const IMAGE_LIKE = /image|input|example|snapshot|thumb|^x$|picture|photo/i;

export function ndarray(key, arr, shape, ctx) {
  const values = flat(arr);
  const base = key.split(".").pop().replace(/\[\d+\]$/, "");
  let img = IMAGE_LIKE.test(base) ? isImageShape(shape, values) : null;
  if (!img && IMAGE_KEYS.has(base) && shape.length >= 3 && shape[shape.length - 3] === 1 && shape[shape.length - 1] >= 4) {
    const [lo, hi] = range(values);
    img = { layout: "gray", lo, hi };
  }
  const drawDims = img ? 3 : Math.min(2, shape.length);
  if (img && img.layout === "gray") img.scale = 1;
  const lead = shape.slice(0, shape.length - drawDims);
  const [lo, hi] = range(values);
  const cmap = colormap(lo, hi);
  const box = h("div", { class: "nd" });
  const tokens = ctx.tokens;
  const labelsFor = (n) => (tokens && tokens.length === n ? tokens : null);
  const drawOne = (sub, title) => {
    if (img) return h("figure", { class: "img-fig" }, title ? h("figcaption", null, title) : null, imageCanvas(sub, img.layout === "gray" ? img : img.layout, img.scale, count > 16 ? 72 : 160));
    if (drawDims === 1) return lineChart(sub, title);
    return matrixHeatmap(sub, { cmap, title, maxW: cellMax, maxH: cellMax, minW: Math.min(200, cellMax), minH: Math.min(60, cellMax),
      xLabels: labelsFor(sub[0].length) || undefined, yLabels: labelsFor(sub.length) || undefined, colorbar: false, cls: "nd-heat" });
  };
  const count = lead.reduce((a, b) => a * b, 1);
  const small = shape.slice(-2).every((d) => d <= 32);
  const cellMax = count > 16 ? 72 : 320;
  if (count <= 16 || (count <= 64 && small)) {
    const grid = h("div", { class: "nd-grid" });
    const walk = (prefix) => {
      if (prefix.length === lead.length) { grid.appendChild(drawOne(index(arr, prefix), lead.length ? `[${prefix.join(", ")}]` : null)); return; }
      for (let i = 0; i < lead[prefix.length]; i++) walk([...prefix, i]);
    };
    walk([]);
    box.appendChild(grid);
  } else {
    const pos = lead.map(() => 0);
    const view = h("div", { class: "nd-view" });
    const names = ctx.dimNames && ctx.dimNames.length === shape.length ? ctx.dimNames : null;
    const sliders = lead.map((n, d) => {
      const out = h("span", { class: "muted" }, `0 / ${n - 1}`);
      const s = h("input", { type: "range", min: 0, max: n - 1, value: 0, dataset: { dim: String(d) },
        oninput: () => { pos[d] = +s.value; out.textContent = `${s.value} / ${n - 1}`; redraw(); } });
      return h("label", { class: "nd-slider" }, names ? names[d] : `dim ${d}`, s, out);
    });
    const redraw = () => { view.replaceChildren(drawOne(index(arr, pos), `[${pos.join(", ")}]`)); };
    box.appendChild(h("div", { class: "nd-sliders" }, sliders));
    box.appendChild(view);
    redraw();
  }
  if (!img && drawDims === 2) box.appendChild(colorbar(cmap));
  return section(key, `array ${shape.join("×")}`, box);
}

// One series (`values` over its index) and the columns of a (steps x k) array as k lines: the
// inspector's line charts, drawn by the views' line chart (draw/lines.js).
export function lineChart(values, title) {
  return seriesChart({ series: [{ name: "", values }], title, xLabel: "index", width: 380, height: 170 });
}

export function multiLine(mat) {
  const k = mat[0].length;
  return seriesChart({ series: Array.from({ length: k }, (_, j) => ({ name: `column ${j}`, values: mat.map((row) => row[j]) })), xLabel: "row", width: 440, height: 200 });
}

export function section(key, note, content) {
  return h("div", { class: "r-section", dataset: { key } }, h("h3", null, key, note ? h("span", { class: "muted" }, ` ${note}`) : null), content);
}

/** [name, value] pairs as a fact table (numbers formatted, objects as JSON, null as a dash). */
export function scalarTable(entries) {
  return factTable(entries.map(([k, v]) => ({ label: k, num: true, data: { key: k },
    value: v === null ? "—" : typeof v === "number" ? fmt(v) : typeof v === "object" ? JSON.stringify(v) : String(v) })));
}

export const isScalar = (v) => v === null || ["number", "string", "boolean"].includes(typeof v);

// An SVG element with attributes (and text), appended to `parent` when given.
export function svgEl(tag, attrs = {}, text, parent) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
