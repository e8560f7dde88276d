// kind "embedding" (neuralscope.inspect.embedding.Embedding): the projector, a 2-D scatter
// or a 3-D one (drag to rotate); points coloured by label (or by a continuous value), hover
// shows the example's thumbnail (when the embedding has images), index, label and text.
import { h, fmt, append, clear } from "../dom.js";
import { colorbar, colormap, rgb, hexToRgb } from "../colors.js";
import { PALETTE } from "../state.js";
import { range, section, shapeOf } from "./parts.js";
import { inspector } from "./inspector.js";

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

const DRAWN = ["coords", "labels", "texts", "values", "thumbnails"];

export function render(data) {
  const ok = Array.isArray(data.coords) && (shapeOf(data.coords) || []).length === 2 && shapeOf(data.coords)[1] >= 2;
  if (!ok) return inspector(data, "embedding");
  const thumbs = Array.isArray(data.thumbnails) && data.thumbnails.length === data.coords.length ? data.thumbnails : null;
  return h("div", null,
    section("coords", `${data.coords.length} points${data.method ? `, ${data.method}` : ""}`,
      scatter(data.coords, data.labels || null, data.texts || null, data.values || null, thumbs, axisNames(data))),
    inspector(data, "embedding", { skip: DRAWN }));
}
