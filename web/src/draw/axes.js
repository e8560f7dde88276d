// Labelled SVG axes shared by the result views' charts: nice tick values, ticks placed so that
// their labels never overlap (thinned, or turned upright when long), axis titles, a legend,
// and a hover tooltip. Charts (draw/lines.js, draw/bars.js, draw/matrix.js) draw inside the
// plot area `{l, t, w, h}` that `chartFrame` returns.
import { h, fmt } from "../dom.js";
import { svgEl } from "../views/parts.js";

const INK = "#1f2328", MUTED = "#57606a", RULE = "#d0d7de";
export const CHAR_PX = 6.2;  // width of one character of the 10 px tick font, a little generous

/** About `n` round values covering [lo, hi] (1, 2 or 5 times a power of ten apart).
 *
 * Example: niceTicks(0, 1, 5) -> [0, 0.2, 0.4, 0.6, 0.8, 1]
 */
export function niceTicks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const span = hi - lo, step0 = span / Math.max(1, n), mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : +v.toPrecision(12));
  return out;
}

/** Integer ticks for the indices 0..n-1 of an axis `px` pixels long (one label per ~`gap` px). */
export function indexTicks(n, px, gap = 40) {
  const step = Math.max(1, ...niceTicks(0, n - 1, Math.max(1, Math.floor(px / gap))).slice(1, 2));
  const out = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/** The indices of `count` labels, every k-th, so that labels `size` px long along an axis of
 * `px` pixels do not touch. */
export function thinned(count, px, size) {
  const step = Math.max(1, Math.ceil(count * (size + 2) / Math.max(1, px)));
  const out = [];
  for (let i = 0; i < count; i += step) out.push(i);
  return out;
}

/** An SVG chart of `width` x `height` with a title and a plot area `area` = {l, t, w, h}
 * inside `margin` (draw the axes with `drawAxes`). */
export function chartFrame({ width, height, margin = {}, title, titlePx = 12, cls = "" }) {
  const lines = title ? wrapText(title, width - 4, titlePx * 0.76) : [];
  const extra = Math.max(0, lines.length - 1) * (titlePx + 2);
  const m = { l: 56, r: 14, t: title ? 24 : 10, b: 40, ...margin };
  m.t += extra;
  const svg = svgEl("svg", { width, height: height + extra, class: `line-svg ns-chart ${cls}`.trim(), "font-family": "system-ui, sans-serif" });
  lines.forEach((line, k) => svgEl("text", { x: width / 2, y: titlePx + 2 + k * (titlePx + 2), "font-size": titlePx, "text-anchor": "middle", fill: INK, class: "chart-title" }, line, svg));
  return { svg, area: { l: m.l, t: m.t, w: width - m.l - m.r, h: height - m.t - m.b }, width, height: height + extra };
}

/** `text` cut into at most `maxLines` lines of `px` pixels (at `charPx` per character), at
 * spaces; a word longer than a line keeps its end ("…" + tail: layer names end in what
 * tells them apart), as does a last line that does not fit. */
export function wrapText(text, px, charPx = CHAR_PX, maxLines = 3) {
  const room = Math.max(4, Math.floor(px / charPx));
  const cut = (w) => (w.length <= room ? w : `…${w.slice(w.length - room + 1)}`);
  const lines = [];
  for (const word of String(text).split(" ")) {
    const last = lines.length ? lines[lines.length - 1] : null;
    if (last !== null && last.length + 1 + word.length <= room) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  if (lines.length > maxLines) lines.splice(maxLines - 1, lines.length, lines.slice(maxLines - 1).join(" "));
  return lines.map((l, k) => (k === lines.length - 1 && l.length > room ? `${l.slice(0, room - 1)}…` : cut(l)));
}

/** Ticks and titles of the bottom (`x`) and left (`y`) axes of `frame`'s plot area:
 * `x`, `y` = {label, ticks: [[px, text], ...] in px of the plot area, upright}. */
export function drawAxes(frame, { x, y, box = true }) {
  const { svg, area: a } = frame;
  const g = svgEl("g", { class: "axes" }, null, svg);
  if (box) svgEl("rect", { x: a.l, y: a.t, width: a.w, height: a.h, fill: "none", stroke: RULE }, null, g);
  if (x) {
    for (const [px, text] of x.ticks || []) {
      const X = a.l + px, Y = a.t + a.h;
      svgEl("line", { x1: X, x2: X, y1: Y, y2: Y + 4, stroke: MUTED }, null, g);
      const attrs = x.upright
        ? { x: X + 3, y: Y + 7, transform: `rotate(-90 ${X + 3} ${Y + 7})`, "text-anchor": "end" }
        : { x: X, y: Y + 15, "text-anchor": "middle" };
      svgEl("text", { ...attrs, "font-size": 10, fill: MUTED, class: "tick x-tick" }, text, g);
    }
    if (x.label) svgEl("text", { x: a.l + a.w / 2, y: frame.height - 4, "font-size": 11, "text-anchor": "middle", fill: INK, class: "axis-label x-label" }, x.label, g);
  }
  if (y) {
    for (const [px, text] of y.ticks || []) {
      const Y = a.t + px;
      svgEl("line", { x1: a.l - 4, x2: a.l, y1: Y, y2: Y, stroke: MUTED }, null, g);
      svgEl("text", { x: a.l - 6, y: Y + 3.5, "font-size": 10, "text-anchor": "end", fill: MUTED, class: "tick y-tick" }, text, g);
    }
    if (y.label) {
      const cx = 12, cy = a.t + a.h / 2;
      svgEl("text", { x: cx, y: cy, transform: `rotate(-90 ${cx} ${cy})`, "font-size": 11, "text-anchor": "middle", fill: INK, class: "axis-label y-label" }, y.label, g);
    }
  }
  return g;
}

/** A linear map from [lo, hi] onto [0, px] (`flip`: hi at 0, as a y axis). */
export function scale(lo, hi, px, flip = false) {
  const span = hi - lo || 1;
  return flip ? (v) => px - ((v - lo) / span) * px : (v) => ((v - lo) / span) * px;
}

/** Numeric ticks of [lo, hi] on an axis of `px` pixels placed by `to` (value -> px), about
 * one per `gap` px. */
export function valueTicks(lo, hi, to, px, gap = 50) {
  const n = Math.max(2, Math.floor(px / gap)), ticks = (k) => niceTicks(lo, hi, k).map((v) => [to(v), fmt(v, 4)]);
  const few = ticks(n);
  if (few.length >= 3) return few;
  // fewer than three round values fit: take twice as many when their labels still do not touch
  const more = ticks(2 * n);
  const room = more.length > 1 ? Math.abs(more[1][0] - more[0][0]) : Infinity;
  return room >= textWidth(more.map((t) => t[1])) + 6 ? more : few;
}

/** Room, in px, for the longest of `texts` in the 10 px tick font. */
export function textWidth(texts) {
  return CHAR_PX * Math.max(1, ...texts.map((t) => String(t).length));
}

/** A legend of coloured swatches: `items` = [[name, colour], ...]. */
export function legend(items) {
  return h("div", { class: "legend" }, items.map(([name, colour]) => h("span", { class: "legend-item" },
    h("span", { class: "swatch", style: { background: colour } }), name)));
}

/** `target` in a `.plot-wrap` with a tooltip: `textAt(event)` gives the text, or null to hide it. */
export function hoverTip(target, textAt) {
  const tip = h("div", { class: "tooltip", hidden: true });
  target.addEventListener("mousemove", (e) => {
    const text = textAt(e);
    if (text === null || text === undefined) { tip.hidden = true; return; }
    const r = target.getBoundingClientRect();
    tip.textContent = text; tip.hidden = false;
    tip.style.left = `${e.clientX - r.left + 12}px`; tip.style.top = `${e.clientY - r.top + 12}px`;
  });
  target.addEventListener("mouseleave", () => { tip.hidden = true; });
  return h("div", { class: "plot-wrap" }, target, tip);
}

/** The position of mouse `event` in `frame`'s plot area, in px. */
export function areaPoint(frame, event) {
  const r = frame.svg.getBoundingClientRect();
  return [event.clientX - r.left - frame.area.l, event.clientY - r.top - frame.area.t];
}
