// Colour maps: viridis-like sequential and a blue-white-red diverging map (centred at zero).
import { h, fmt } from "./dom.js";
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
  [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
const RDBU = [[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]];

// matplotlib's inferno at 11 evenly spaced points (unsigned attribution maps, as the library draws them)
const INFERNO = [[0, 0, 4], [22, 11, 57], [66, 10, 104], [106, 23, 110], [147, 38, 103], [188, 55, 84],
  [221, 81, 58], [243, 120, 25], [252, 165, 10], [246, 215, 70], [252, 255, 164]];

function lerp(stops, t) {
  if (!Number.isFinite(t)) return [200, 200, 200];
  t = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const a = stops[i], b = stops[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

// A colour function for values in [lo, hi]; signed data gets the diverging map with a
// symmetric range so zero is white.
export function colormap(lo, hi) {
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi) || 1;
    return { fn: (v) => lerp(RDBU, (v / m + 1) / 2), lo: -m, hi: m, diverging: true };
  }
  const span = hi - lo || 1;
  return { fn: (v) => lerp(VIRIDIS, (v - lo) / span), lo, hi, diverging: false };
}

export function rgb(c, a = 1) {
  return a === 1 ? `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})` : `rgba(${c[0] | 0},${c[1] | 0},${c[2] | 0},${a})`;
}

export function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// Mix a colour towards white by `t` (0 = colour, 1 = white).
export function tint(hex, t) {
  const c = hexToRgb(hex);
  return rgb(c.map((x) => x + (255 - x) * t));
}

// The colours of an attribution map, as the library draws it: signed maps on the diverging
// map over [-lim, lim] (zero is white), unsigned maps on inferno over [0, lim].
export function attributionColormap(signed, lim) {
  const m = lim > 0 && Number.isFinite(lim) ? lim : 1;
  if (signed) return { fn: (v) => lerp(RDBU, (v / m + 1) / 2), lo: -m, hi: m, diverging: true };
  return { fn: (v) => lerp(INFERNO, v / m), lo: 0, hi: m, diverging: false };
}

// A horizontal colour bar for a colormap {fn, lo, hi, diverging}, with its limits and a note
// (by default, for diverging maps, that white is zero).
export function colorbar(cmap, note = cmap.diverging ? " (0 = white)" : "") {
  const c = document.createElement("canvas"); c.width = 160; c.height = 10; c.className = "colorbar";
  const ctx = c.getContext("2d");
  for (let x = 0; x < 160; x++) { ctx.fillStyle = rgb(cmap.fn(cmap.lo + (cmap.hi - cmap.lo) * x / 159)); ctx.fillRect(x, 0, 1, 10); }
  return h("div", { class: "cbar" }, h("span", null, fmt(cmap.lo, 3)), c, h("span", null, fmt(cmap.hi, 3)),
    note ? h("span", { class: "muted" }, note) : null);
}
