// Draw a result object's to_dict() data: numbers as a table, arrays as heatmaps / images /
// line charts (with sliders over leading dimensions), embeddings as scatter plots.
import { h, fmt, append, clear } from "./dom.js";
import { colorbar, colormap, rgb, hexToRgb } from "./colors.js";
import { PALETTE } from "./state.js";
import { attributionView, comparisonView } from "./attribution.js";

export function shapeOf(v) {
  if (!Array.isArray(v)) return typeof v === "number" || v === null ? [] : null;
  if (!v.length) return [0];
  const inner = shapeOf(v[0]);
  if (inner === null) return null;
  return [v.length, ...inner];
}

function flat(v, out = []) {
  if (Array.isArray(v)) for (const x of v) flat(x, out); else out.push(v);
  return out;
}

function range(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null && Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) { lo = 0; hi = 1; }
  return [lo, hi];
}

function isImageShape(s, values) {
  if (s.length < 3) return null;
  const [a, b, c] = s.slice(-3);
  const [lo, hi] = range(values.slice(0, 20000));
  const okRange = lo >= 0 && (hi <= 1.0001 || (hi <= 255 && hi > 1.0001));
  if (!okRange) return null;
  if ((a === 3 || a === 4) && b >= 4 && c >= 4) return { layout: "chw", scale: hi > 1.0001 ? 1 : 255 };
  if ((c === 3 || c === 4) && a >= 4 && b >= 4) return { layout: "hwc", scale: hi > 1.0001 ? 1 : 255 };
  return null;
}

// 2D heatmap (or image) into a canvas no larger than `max` px, with hover values.
function heatmap(mat, { lo, hi, cmap, max = 320, xlabels, ylabels, title }) {
  const rows = mat.length, cols = mat[0].length;
  const cell = Math.max(1, Math.min(24, Math.floor(max / Math.max(rows, cols))));
  const cw = cols * cell, ch = rows * cell;
  const canvas = h("canvas", { width: cw, height: ch, class: "heat", style: { width: `${cw}px`, height: `${ch}px` } });
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const c = cmap.fn(mat[i][j]); const k = (i * cols + j) * 4;
    img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
  }
  const tmp = document.createElement("canvas"); tmp.width = cols; tmp.height = rows;
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, cw, ch);
  const tip = h("div", { class: "tooltip", hidden: true });
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const j = Math.floor((e.clientX - r.left) / cell), i = Math.floor((e.clientY - r.top) / cell);
    if (i < 0 || j < 0 || i >= rows || j >= cols) { tip.hidden = true; return; }
    const yl = ylabels ? ` ${ylabels[i]}` : "", xl = xlabels ? ` ${xlabels[j]}` : "";
    tip.textContent = `[${i}${yl}, ${j}${xl}] = ${fmt(mat[i][j])}`;
    tip.hidden = false; tip.style.left = `${e.clientX - r.left + 12}px`; tip.style.top = `${e.clientY - r.top + 12}px`;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  return h("figure", { class: "heat-fig" }, title ? h("figcaption", null, title) : null, h("div", { class: "plot-wrap" }, canvas, tip));
}

function imageCanvas(arr, layout, scale, max = 160) {
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

function grayCanvas(mat, lo, hi, max) {
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

function index(arr, idx) { let v = arr; for (const i of idx) v = v[i]; return v; }

// An n-d numeric array: leading dimensions become sliders (or a grid when few), the last two
// (or three for images) are drawn.
const IMAGE_KEYS = new Set(["inputs", "images", "examples", "x", "image", "input", "thumbnails"]);

const IMAGE_LIKE = /image|input|example|snapshot|thumb|^x$|picture|photo/i;

function ndarray(key, arr, shape, ctx) {
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
    return heatmap(sub, { lo: cmap.lo, hi: cmap.hi, cmap, title, max: cellMax, xlabels: labelsFor(sub[0].length), ylabels: labelsFor(sub.length) });
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

function lineChart(values, title) {
  const W = 360, H = 140, P = 30;
  const [lo, hi] = range(values);
  const n = values.length;
  const X = (i) => P + (n > 1 ? i / (n - 1) : 0.5) * (W - P - 8), Y = (v) => H - 18 - ((v - lo) / ((hi - lo) || 1)) * (H - 28);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("class", "line-svg");
  let d = "";
  values.forEach((v, i) => { if (v !== null && Number.isFinite(v)) d += `${d ? "L" : "M"}${X(i).toFixed(1)},${Y(v).toFixed(1)}`; });
  const mk = (tag, attrs, text) => { const e = document.createElementNS(svg.namespaceURI, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  mk("line", { x1: P, y1: H - 18, x2: W - 8, y2: H - 18, stroke: "#d0d7de" });
  mk("path", { d, fill: "none", stroke: "#1f77b4", "stroke-width": 1.5 });
  mk("text", { x: 2, y: 12, "font-size": 10, fill: "#57606a" }, fmt(hi, 3));
  mk("text", { x: 2, y: H - 20, "font-size": 10, fill: "#57606a" }, fmt(lo, 3));
  mk("text", { x: P, y: H - 4, "font-size": 10, fill: "#57606a" }, "0");
  mk("text", { x: W - 30, y: H - 4, "font-size": 10, fill: "#57606a" }, String(n - 1));
  return h("figure", { class: "line-fig" }, title ? h("figcaption", null, title) : null, svg);
}

// Columns of a (steps x k) array as k lines (histories, curves).
function multiLine(mat) {
  const W = 420, H = 180, P = 36, n = mat.length, k = mat[0].length;
  const [lo, hi] = range(flat(mat));
  const X = (i) => P + (i / Math.max(1, n - 1)) * (W - P - 10), Y = (v) => H - 20 - ((v - lo) / ((hi - lo) || 1)) * (H - 30);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("class", "line-svg");
  const mk = (tag, attrs, text) => { const e = document.createElementNS(svg.namespaceURI, tag); for (const [a, b] of Object.entries(attrs)) e.setAttribute(a, b); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  mk("line", { x1: P, y1: H - 20, x2: W - 10, y2: H - 20, stroke: "#d0d7de" });
  for (let j = 0; j < k; j++) {
    let d = "";
    for (let i = 0; i < n; i++) { const v = mat[i][j]; if (v !== null && Number.isFinite(v)) d += `${d ? "L" : "M"}${X(i).toFixed(1)},${Y(v).toFixed(1)}`; }
    mk("path", { d, fill: "none", stroke: PALETTE[j % PALETTE.length], "stroke-width": 1.5 });
  }
  mk("text", { x: 2, y: 12, "font-size": 10, fill: "#57606a" }, fmt(hi, 3));
  mk("text", { x: 2, y: H - 22, "font-size": 10, fill: "#57606a" }, fmt(lo, 3));
  mk("text", { x: P, y: H - 6, "font-size": 10, fill: "#57606a" }, "0");
  mk("text", { x: W - 34, y: H - 6, "font-size": 10, fill: "#57606a" }, String(n - 1));
  const legend = h("div", { class: "legend" }, Array.from({ length: k }, (_, j) => h("span", null, h("span", { class: "swatch", style: { background: PALETTE[j % PALETTE.length] } }), `column ${j}`)));
  return h("figure", null, svg, legend);
}

// Embedding projector: 2D scatter, or 3D (drag to rotate); points coloured by label (or by
// a continuous value), hover shows the example's thumbnail (when the embedding
// has images), index, label and text.
function scatter(coords, labels, texts, values, thumbs, axes = null) {
  const W = 560, H = 440, P = 16;
  const dims = coords.length && coords[0].length >= 3 ? 3 : 2;
  const ok = coords.map((c) => c.slice(0, dims).every((v) => v !== null && Number.isFinite(v)));
  const norm = [];
  for (let d = 0; d < dims; d++) {
    const [lo, hi] = range(coords.map((c) => c[d]));
    norm.push((v) => ((v - lo) / ((hi - lo) || 1)) * 2 - 1);
  }
  const pts = coords.map((c) => c.slice(0, dims).map((v, d) => norm[d](v)));
  const classes = labels ? [...new Set(labels)].sort((a, b) => (+a - +b) || String(a).localeCompare(String(b))) : [];
  let vcmap = null;
  if (!labels && Array.isArray(values)) { const [lo, hi] = range(values); vcmap = colormap(lo, hi); }
  const colorOfPoint = (i) => labels ? hexToRgb(PALETTE[classes.indexOf(labels[i]) % PALETTE.length])
    : vcmap ? vcmap.fn(values[i]) : [31, 119, 180];
  const canvas = h("canvas", { width: W, height: H, class: "scatter", title: dims === 3 ? "drag to rotate" : "" });
  const ctx = canvas.getContext("2d");
  let yaw = 0.7, pitch = 0.35, screen = [];
  const project = (p) => {
    if (dims === 2) return [p[0], p[1], 0];
    const [x, y, z] = p;
    const x1 = x * Math.cos(yaw) + z * Math.sin(yaw), z1 = -x * Math.sin(yaw) + z * Math.cos(yaw);
    const y1 = y * Math.cos(pitch) - z1 * Math.sin(pitch), z2 = y * Math.sin(pitch) + z1 * Math.cos(pitch);
    return [x1 / 1.6, y1 / 1.6, z2];
  };
  const draw = () => {
    ctx.clearRect(0, 0, W, H);
    screen = pts.map((p, i) => { const [x, y, z] = project(p); return [P + (x + 1) / 2 * (W - 2 * P), H - P - (y + 1) / 2 * (H - 2 * P), z, i]; });
    const order = screen.filter((s) => ok[s[3]]).sort((a, b) => a[2] - b[2]);
    for (const [x, y, z, i] of order) {
      const [r, g, b] = colorOfPoint(i);
      ctx.fillStyle = `rgba(${r | 0},${g | 0},${b | 0},${dims === 3 ? 0.45 + 0.4 * (z + 1) / 2 : 0.75})`;
      ctx.beginPath(); ctx.arc(x, y, dims === 3 ? 2.2 + 1.3 * (z + 1) / 2 : 3, 0, 7); ctx.fill();
    }
  };
  draw();
  const tip = h("div", { class: "tooltip scatter-tip", hidden: true });
  const ring = h("div", { class: "scatter-ring", hidden: true }); // marks the hovered point
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { if (dims === 3) drag = [e.clientX, e.clientY, yaw, pitch]; });
  window.addEventListener("mouseup", () => { drag = null; });
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    if (drag) {
      yaw = drag[2] + (e.clientX - drag[0]) / 120; pitch = Math.max(-1.5, Math.min(1.5, drag[3] + (e.clientY - drag[1]) / 120));
      draw(); tip.hidden = true; ring.hidden = true; return;
    }
    // the nearest point within 8 px; in 3D the one in front wins a tie
    let best = -1, bd = 64, bz = -Infinity;
    for (const [x, y, z, i] of screen) {
      if (!ok[i]) continue;
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d < bd - 1e-9 || (Math.abs(d - bd) <= 1e-9 && z > bz)) { bd = d; bz = z; best = i; }
    }
    if (best < 0) { tip.hidden = true; ring.hidden = true; delete tip.dataset.index; return; }
    if (tip.dataset.index !== String(best)) showPoint(best);
    tip.hidden = false;
    const at = screen.find((p) => p[3] === best);
    ring.hidden = false; ring.style.left = `${at[0]}px`; ring.style.top = `${at[1]}px`;
    // keep the box inside the canvas: flip to the left / above the cursor near the edges
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = `${mx + 14 + tw > W ? Math.max(0, mx - 14 - tw) : mx + 14}px`;
    tip.style.top = `${my + 14 + th > H ? Math.max(0, my - 14 - th) : my + 14}px`;
  });
  // what the hover box shows of point i: its thumbnail (when the embedding has images), the
  // index, label, value and text
  function showPoint(i) {
    tip.dataset.index = String(i);
    const line = `#${i}${labels ? ` · label ${labels[i]}` : ""}${vcmap ? ` · ${fmt(values[i], 4)}` : ""}`;
    append(clear(tip), [
      thumbs && thumbs[i] ? h("img", { class: "thumb", src: thumbs[i], alt: `example ${i}`, dataset: { index: String(i) } }) : null,
      h("div", { class: "tip-line" }, line),
      texts && texts[i] !== undefined && texts[i] !== null ? h("div", { class: "tip-text" }, String(texts[i])) : null]);
  }
  // tests and debugging: where point i is drawn, in CSS pixels of the canvas
  canvas.nsPoint = (i) => { const s = screen.find((p) => p[3] === i); return s ? [s[0], s[1]] : null; };
  canvas.nsPoints = () => screen.filter((p) => ok[p[3]]).map((p) => [p[0], p[1], p[3]]);
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; ring.hidden = true; delete tip.dataset.index; });
  const legend = labels ? h("div", { class: "legend" }, classes.slice(0, 40).map((c) => h("span", null,
    h("span", { class: "swatch", style: { background: rgb(colorOfPoint(labels.indexOf(c))) } }), String(c)))) : vcmap ? colorbar(vcmap) : null;
  const axisText = axes ? axes.slice(0, dims).map((a, d) => `${["x", "y", "z"][d]}: ${a}`).join(" · ") : "";
  return h("figure", null, h("div", { class: "plot-wrap" }, canvas, ring, tip), legend,
    h("figcaption", { class: "scatter-axes" }, [axisText, dims === 3 ? "3D: drag to rotate" : null,
      thumbs ? "hover a point to see its example" : null].filter(Boolean).join(" — ")));
}

// The projector's axis names, as the library's figure writes them.
function axisNames(data) {
  const d = shapeOf(data.coords)[1], m = String(data.method || "");
  const ev = Array.isArray(data.explained_variance) ? data.explained_variance : null;
  return Array.from({ length: d }, (_, i) => (m === "pca" && ev && ev[i] !== undefined && ev[i] !== null
    ? `PC${i + 1} (${(100 * ev[i]).toFixed(1)}% of variance)` : `${m.toUpperCase()} ${i + 1}`));
}

function section(key, note, content) {
  return h("div", { class: "r-section", dataset: { key } }, h("h3", null, key, note ? h("span", { class: "muted" }, ` ${note}`) : null), content);
}

function scalarTable(entries) {
  return h("table", { class: "metrics" }, entries.map(([k, v]) => h("tr", null, h("th", null, k),
    h("td", { class: "num", dataset: { key: k } }, v === null ? "—" : typeof v === "number" ? fmt(v) : typeof v === "object" ? JSON.stringify(v) : String(v)))));
}

const isScalar = (v) => v === null || ["number", "string", "boolean"].includes(typeof v);

// Render a whole to_dict() payload.
export function renderResult(data, kind) {
  const root = h("div", { class: "result-view", dataset: { kind: kind || "" } });
  if (!data || typeof data !== "object") { root.appendChild(h("pre", null, JSON.stringify(data))); return root; }
  const ctx = { tokens: Array.isArray(data.tokens) && data.tokens.every((t) => typeof t === "string") ? data.tokens : null };
  const scalars = [], rest = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === "kind") continue;
    if (isScalar(v) && !(typeof v === "string" && v.length > 200)) scalars.push([k, v]);
    else rest.push([k, v]);
  }
  if (scalars.length) root.appendChild(section("summary", null, scalarTable(scalars)));
  // embeddings: coordinates as a scatter plot coloured by label
  if (Array.isArray(data.coords) && shapeOf(data.coords) && shapeOf(data.coords).length === 2 && shapeOf(data.coords)[1] >= 2) {
    root.appendChild(section("coords", `${data.coords.length} points${data.method ? `, ${data.method}` : ""}`,
      scatter(data.coords, data.labels || null, data.texts || null, data.values || null,
        Array.isArray(data.thumbnails) && data.thumbnails.length === data.coords.length ? data.thumbnails : null,
        axisNames(data))));
  }
  // image attributions: the map over the input with an opacity slider, per example, with
  // the method, target and metric scores beside it (the arrays are not drawn again below)
  const shown = new Set();
  if (kind === "attribution" && data.modality === "image") {
    const v = attributionView(data);
    if (v) {
      root.appendChild(section("overlay", `${Math.min(32, data.attributions.length)} example(s)`, v));
      ["attributions", "inputs", "metrics", "targets", "outputs"].forEach((k) => shown.add(k));
    }
  }
  if (kind === "attribution_comparison" && data.results && typeof data.results === "object") {
    const v = comparisonView(data);
    if (v) {
      root.appendChild(section("methods", `${Object.keys(data.results).length} method(s) on the same inputs`, v));
      ["results", "methods", "scores", "seconds"].forEach((k) => shown.add(k));
    }
  }
  if (kind === "attention" && Array.isArray(data.weights) && (shapeOf(data.weights) || []).length === 5) {
    root.appendChild(section("weights", `attention ${shapeOf(data.weights).join("×")} (example × layer × head × query × key)`, attentionView(data)));
    rest.splice(rest.findIndex(([k]) => k === "weights"), 1);
  }
  const drewScatter = root.querySelector("canvas.scatter") !== null;
  // pictures first (arrays of 2+ dimensions), then tables and lists
  const rank = ([, v]) => { const sh = Array.isArray(v) ? shapeOf(v) : null; return sh && sh.length >= 2 ? 0 : Array.isArray(v) && v.length && typeof v[0] === "object" && !Array.isArray(v[0]) ? 1 : 2; };
  rest.sort((a, b) => rank(a) - rank(b));
  for (const [k, v] of rest) {
    if (drewScatter && ["coords", "labels", "texts", "values", "thumbnails"].includes(k)) continue;
    if (shown.has(k)) continue;
    if (Array.isArray(v) && !v.length) continue;
    root.appendChild(renderValue(k, v, ctx, 0));
  }
  return root;
}

function renderValue(key, v, ctx, depth) {
  if (v === null || v === undefined) return h("span");
  if (typeof v === "string") {
    if (v.startsWith("data:image/")) return section(key, null, h("img", { src: v, class: "img" }));
    return section(key, null, h("pre", { class: "text" }, v));
  }
  if (Array.isArray(v)) {
    const s = shapeOf(v);
    if (s && s.length === 2 && s[1] >= 1 && s[1] <= 12 && s[0] > 2 * s[1]) {
      return section(key, `${s[0]} × ${s[1]}: one line per column`, multiLine(v));
    }
    if (s && s.length && s[0] > 0) {
      if (s.length === 1) {
        if (/shape|size/i.test(key) && v.length <= 8) return section(key, null, h("code", null, v.join(" × ")));
        if (v.length <= 64) return section(key, `${s[0]} values`, h("div", { class: "chips" }, v.map((x, i) =>
          h("span", { class: "chip", title: ctx.tokens && ctx.tokens.length === v.length ? `${i} ${ctx.tokens[i]}` : `[${i}]` }, fmt(x, 4)))));
        return section(key, `${s[0]} values`, lineChart(v));
      }
      return ndarray(key, v, s, ctx);
    }
    if (v.every(isScalar)) return section(key, null, h("div", { class: "chips" }, v.slice(0, 200).map((x) => h("span", { class: "chip" }, String(x)))));
    if (v.every((x) => x && typeof x === "object" && !Array.isArray(x) && Object.values(x).every((y) => isScalar(y) || (Array.isArray(y) && y.length <= 8 && y.every(isScalar))))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
      const cell = (y, c) => Array.isArray(y) ? (/shape|size/i.test(c) ? y.join("×") : y.map((z) => fmt(z, 4)).join(", ")) : y === null || y === undefined ? "—" : typeof y === "number" ? fmt(y, 5) : String(y);
      return section(key, `${v.length} rows`, h("div", { class: "table-wrap flat" }, h("table", { class: "rows" },
        h("thead", null, h("tr", null, cols.map((c) => h("th", null, c)))),
        h("tbody", null, v.slice(0, 500).map((x) => h("tr", null, cols.map((c) => h("td", { class: typeof x[c] === "number" ? "num" : "" }, cell(x[c], c)))))))));
    }
    if (depth > 2) return section(key, null, h("pre", { class: "text" }, JSON.stringify(v).slice(0, 2000)));
    return section(key, `${v.length} items`, h("div", { class: "r-list" }, v.slice(0, 12).map((x, i) => renderValue(`${key}[${i}]`, x, ctx, depth + 1))));
  }
  if (typeof v === "object") {
    const entries = Object.entries(v);
    if (!entries.length) return h("span");
    if (entries.every(([, x]) => isScalar(x))) return section(key, null, scalarTable(entries));
    if (depth > 2) return section(key, null, h("pre", { class: "text" }, JSON.stringify(v).slice(0, 2000)));
    return section(key, null, h("div", { class: "r-nested" }, entries.map(([k, x]) => renderValue(`${key}.${k}`, x, ctx, depth + 1))));
  }
  return section(key, null, String(v));
}

// Attention: every head of the chosen layer as a grid; a click enlarges one head with its
// query/key tokens written along the axes.
function attentionView(data) {
  const [B, L, H] = shapeOf(data.weights);
  const tokensOf = (b) => {
    const t = data.tokens;
    if (!Array.isArray(t) || !t.length) return null;
    return Array.isArray(t[0]) ? t[Math.min(b, t.length - 1)] : t;
  };
  const names = Array.isArray(data.layer_names) ? data.layer_names : [];
  const state_ = { b: 0, l: L - 1, h: 0 };
  const layer = h("select", { id: "attn-layer" }, Array.from({ length: L }, (_, i) => h("option", { value: i, selected: i === L - 1 }, names[i] ? `${i}: ${names[i]}` : `layer ${i}`)));
  const example = h("input", { type: "range", min: 0, max: B - 1, value: 0, id: "attn-example", disabled: B < 2 });
  const grid = h("div", { class: "nd-grid attn-heads" });
  const big = h("div", { class: "attn-big" });
  const redraw = () => {
    const tokens = tokensOf(state_.b);
    grid.replaceChildren();
    for (let hd = 0; hd < H; hd++) {
      const mat = data.weights[state_.b][state_.l][hd];
      const fig = heatmap(mat, { lo: 0, hi: 1, cmap: colormap(0, 1), max: 140, xlabels: tokens, ylabels: tokens, title: `head ${hd}` });
      fig.classList.toggle("selected", hd === state_.h);
      fig.dataset.head = String(hd);
      fig.addEventListener("click", () => { state_.h = hd; redraw(); });
      grid.appendChild(fig);
    }
    const mat = data.weights[state_.b][state_.l][state_.h];
    let hi = 0; for (const row of mat) for (const v of row) if (v > hi) hi = v;
    const cmap = colormap(0, hi || 1);
    big.replaceChildren(h("div", { class: "muted" }, `layer ${state_.l}${names[state_.l] ? ` (${names[state_.l]})` : ""}, head ${state_.h}: rows are queries, columns keys`),
      labelledHeatmap(mat, tokens, cmap), colorbar(cmap));
  };
  layer.addEventListener("change", () => { state_.l = +layer.value; redraw(); });
  example.addEventListener("input", () => { state_.b = +example.value; redraw(); });
  redraw();
  return h("div", null, h("div", { class: "nd-sliders" }, h("label", { class: "nd-slider" }, "layer ", layer),
    B > 1 ? h("label", { class: "nd-slider" }, "example ", example) : null), grid, big);
}

function labelledHeatmap(mat, tokens, cmap) {
  const n = mat.length, m = mat[0].length;
  const cell = Math.max(6, Math.min(28, Math.floor(520 / Math.max(n, m))));
  const pad = tokens ? Math.min(110, 8 + 7 * Math.max(...tokens.map((t) => String(t).length))) : 4;
  const W = pad + m * cell, Hh = pad + n * cell;
  const c = h("canvas", { width: W, height: Hh, class: "heat attn-canvas" });
  const ctx = c.getContext("2d");
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) { ctx.fillStyle = rgb(cmap.fn(mat[i][j])); ctx.fillRect(pad + j * cell, pad + i * cell, cell, cell); }
  if (tokens && cell >= 8) {
    ctx.fillStyle = "#1f2328"; ctx.font = `${Math.min(12, cell - 1)}px system-ui, sans-serif`; ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i < n; i++) ctx.fillText(String(tokens[i] ?? i), pad - 4, pad + (i + 0.5) * cell);
    for (let j = 0; j < m; j++) {
      ctx.save(); ctx.translate(pad + (j + 0.5) * cell, pad - 4); ctx.rotate(-Math.PI / 2); ctx.textAlign = "left";
      ctx.fillText(String(tokens[j] ?? j), 0, 0); ctx.restore();
    }
  }
  const tip = h("div", { class: "tooltip", hidden: true });
  c.addEventListener("mousemove", (e) => {
    const r = c.getBoundingClientRect(); const j = Math.floor((e.clientX - r.left - pad) / cell), i = Math.floor((e.clientY - r.top - pad) / cell);
    if (i < 0 || j < 0 || i >= n || j >= m) { tip.hidden = true; return; }
    tip.textContent = `${tokens ? tokens[i] : i} → ${tokens ? tokens[j] : j}: ${fmt(mat[i][j], 4)}`;
    tip.hidden = false; tip.style.left = `${e.clientX - r.left + 12}px`; tip.style.top = `${e.clientY - r.top + 12}px`;
  });
  c.addEventListener("mouseleave", () => { tip.hidden = true; });
  return h("div", { class: "plot-wrap" }, c, tip);
}
