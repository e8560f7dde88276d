// Many small pictures as one mosaic with one shared colour scale: feature maps, convolution
// kernels (a grid, or rows = filters x columns = input channels), RGB filters. The mosaic is
// one canvas (hundreds of tiles stay fast); tile numbers are written above the tiles, row and
// column names beside them; hovering names the tile and the value under the pointer.
import { h, fmt } from "../dom.js";
import { colorbar, colormap } from "../colors.js";
import { flat, range } from "../views/parts.js";
import { hoverTip } from "./axes.js";

const NONFINITE = [0, 208, 0];

function tileColour(v, cmap, rgb) {
  if (rgb) return v.every((c) => c !== null && Number.isFinite(c)) ? v.map((c) => Math.max(0, Math.min(255, c * 255))) : NONFINITE;
  return v !== null && Number.isFinite(v) ? cmap.fn(v) : NONFINITE;
}

/** `tiles` (N x H x W numbers, or N x H x W x 3 RGB in [0, 1] with `rgb: true`) as a grid of
 * `ncols` columns. `labels`: a name per tile (written above it); `rowLabels`/`colLabels`:
 * names of the grid's rows/columns; `cmap`: one scale for all (default: diverging centred at
 * zero when any value is negative); `tilePx`: the drawn size of a tile; `valueLabel`.
 *
 * Example: tileGrid([[[0, 1], [1, 0]], [[-1, 0], [0, 1]]], { labels: ["0", "1"], valueLabel: "weight" })
 */
export function tileGrid(tiles, opt = {}) {
  const n = tiles.length, th = tiles[0].length, tw = tiles[0][0].length;
  const ncols = opt.ncols || Math.min(n, Math.ceil(Math.sqrt(n * 1.5)));
  const nrows = Math.ceil(n / ncols);
  const z = opt.tilePx ? Math.max(1, Math.floor(opt.tilePx / Math.max(th, tw))) : Math.max(1, Math.floor(Math.min(72, 720 / ncols, Math.max(12, 1400 / nrows)) / Math.max(th, tw)));
  const cw = tw * z, ch = th * z, labelH = opt.labels && cw >= 14 ? 12 : 0, gap = Math.max(2, Math.min(6, Math.round(cw / 10)));
  const left = opt.rowLabels ? 8 + 6.2 * Math.max(...opt.rowLabels.map((s) => String(s).length)) : 0, top = opt.colLabels ? 16 : 0;
  const W = left + ncols * (cw + gap), H = top + nrows * (ch + gap + labelH);
  const cmap = opt.rgb ? null : opt.cmap || colormap(...range(flat(tiles)));
  const canvas = h("canvas", { width: W, height: H, class: `tile-grid ${opt.cls || ""}`.trim(), dataset: { tiles: String(n), rows: String(nrows), cols: String(ncols) } });
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(tw, th), tmp = document.createElement("canvas"); tmp.width = tw; tmp.height = th;
  const at = (k) => [left + (k % ncols) * (cw + gap), top + Math.floor(k / ncols) * (ch + gap + labelH) + labelH];
  ctx.imageSmoothingEnabled = false;
  ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#57606a";
  tiles.forEach((t, k) => {
    for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
      const c = tileColour(t[y][x], cmap, opt.rgb), q = (y * tw + x) * 4;
      img.data[q] = c[0]; img.data[q + 1] = c[1]; img.data[q + 2] = c[2]; img.data[q + 3] = 255;
    }
    tmp.getContext("2d").putImageData(img, 0, 0);
    const [x0, y0] = at(k);
    ctx.drawImage(tmp, x0, y0, cw, ch);
    if (labelH) { ctx.textAlign = "left"; ctx.textBaseline = "bottom"; ctx.fillText(String(opt.labels[k]), x0, y0 - 1); }
  });
  ctx.fillStyle = "#1f2328";
  if (opt.rowLabels) { ctx.textAlign = "right"; ctx.textBaseline = "middle"; opt.rowLabels.forEach((s, r) => { if (r < nrows && (ch >= 9 || r % Math.ceil(10 / (ch + gap)) === 0)) ctx.fillText(String(s), left - 5, top + r * (ch + gap + labelH) + labelH + ch / 2); }); }
  if (opt.colLabels) { ctx.textAlign = "center"; ctx.textBaseline = "bottom"; opt.colLabels.forEach((s, c) => { if (cw + gap >= 6.2 * String(s).length || c % Math.ceil(6.2 * String(s).length / (cw + gap)) === 0) ctx.fillText(String(s), left + c * (cw + gap) + cw / 2, top - 3); }); }
  canvas.style.width = `${W}px`; canvas.style.height = `${H}px`;
  const wrap = hoverTip(canvas, (e) => {
    const r = canvas.getBoundingClientRect(), px = e.clientX - r.left - left, py = e.clientY - r.top - top;
    const c = Math.floor(px / (cw + gap)), row = Math.floor(py / (ch + gap + labelH)), k = row * ncols + c;
    const x = Math.floor((px - c * (cw + gap)) / z), y = Math.floor((py - row * (ch + gap + labelH) - labelH) / z);
    if (c < 0 || c >= ncols || k >= n || k < 0 || x < 0 || y < 0 || x >= tw || y >= th) return null;
    const v = tiles[k][y][x];
    return `${opt.tileName ? opt.tileName(k) : opt.labels ? opt.labels[k] : `tile ${k}`} [${y}, ${x}] = ${Array.isArray(v) ? v.map((q) => fmt(q, 3)).join(", ") : fmt(v, 4)}`;
  });
  return h("figure", { class: "ns-tiles-fig" }, wrap, cmap ? colorbar(cmap, ` ${opt.valueLabel || "value"}${cmap.diverging ? " (0 = white)" : ""}`) : null);
}
