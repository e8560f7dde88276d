// The one drawing of a 2-D loss landscape: a contour map (filled cells, viridis) that reads out
// the loss and accuracy under the pointer, with the grid minimum (star), the trained weights
// (+) and an optimizer path, and a 3-D surface turned by dragging. Used by the dashboard's
// loss_landscape and trajectory views and by LossLandscape.to_html() (standalone/index.js).
//
// `d`: LossLandscape.to_dict() (x, y, loss (ny x nx), accuracy, axis_labels, minimum, direction,
// center_loss), plus `path` ([[x, y], ...], optional). Losses spanning more than a factor of 20
// are coloured by log10.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
  .map((h) => [1, 3, 5].map((i) => parseInt(h.substr(i, 2), 16)));
const PAD = 44;

const num = (v) => (v === null || v === undefined ? "n/a" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4));

// the colour scale: z (loss or log10 loss) with its range
function scale(d) {
  const finite = d.loss.flat().filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const log = finite.length > 0 && lo > 0 && hi / lo > 20;
  const z = d.loss.map((row) => row.map((v) => (v === null || !Number.isFinite(v) ? null : log ? Math.log10(v) : v)));
  const zs = z.flat().filter((v) => v !== null);
  return { z, zmin: Math.min(...zs), zmax: Math.max(...zs), label: log ? "log10 loss" : "loss" };
}

function colour(s, v, shade = 1) {
  if (v === null) return "#00d000";
  let t = (v - s.zmin) / ((s.zmax - s.zmin) || 1);
  t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return `rgb(${[0, 1, 2].map((k) => Math.round((a[k] + (b[k] - a[k]) * f) * shade)).join(",")})`;
}

// grid index <-> canvas position of the contour map
function mapAxes(d, W, H) {
  const nx = d.x.length, ny = d.y.length, x0 = d.x[0], x1 = d.x[nx - 1], y0 = d.y[0], y1 = d.y[ny - 1];
  return {
    sx: (i) => PAD + (W - PAD - 10) * i / (nx - 1), sy: (j) => H - PAD - (H - PAD - 10) * j / (ny - 1),
    vx: (v) => PAD + (W - PAD - 10) * (v - x0) / (x1 - x0), vy: (v) => H - PAD - (H - PAD - 10) * (v - y0) / (y1 - y0),
    cell: (X, Y) => [Math.round((X - PAD) / (W - PAD - 10) * (nx - 1)), Math.round((H - PAD - Y) / (H - PAD - 10) * (ny - 1))],
  };
}

function drawCells(cx, d, s, ax) {
  const nx = d.x.length, ny = d.y.length, cw = ax.sx(1) - ax.sx(0), ch = ax.sy(0) - ax.sy(1);
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    cx.fillStyle = colour(s, s.z[j][i]); cx.fillRect(ax.sx(i) - cw / 2, ax.sy(j) - ch / 2, cw + 1, ch + 1);
  }
}

function drawAxes(cx, d, ax, W, H) {
  const nx = d.x.length, ny = d.y.length, labels = d.axis_labels || ["x", "y"];
  cx.fillStyle = "#fff"; cx.fillRect(0, 0, PAD - 1, H); cx.fillRect(0, H - PAD + 1, W, PAD);
  cx.fillStyle = "#1f2328"; cx.font = "11px system-ui"; cx.textAlign = "center";
  for (const i of [0, (nx - 1) >> 1, nx - 1]) cx.fillText(d.x[i].toPrecision(3), ax.sx(i), H - PAD + 14);
  cx.fillText(labels[0], W / 2, H - 8);
  cx.save(); cx.translate(12, H / 2); cx.rotate(-Math.PI / 2); cx.fillText(labels[1], 0, 0); cx.restore();
  cx.textAlign = "right";
  for (const j of [0, (ny - 1) >> 1, ny - 1]) cx.fillText(d.y[j].toPrecision(3), PAD - 4, ax.sy(j) + 4);
}

// the grid minimum (star), the trained weights (+, not for PCA planes) and the optimizer path
function drawMarks(cx, d, ax) {
  const [mx, my] = d.minimum.at;
  cx.font = "18px system-ui"; cx.textAlign = "center"; cx.fillStyle = "#ffd400"; cx.strokeStyle = "#000";
  cx.strokeText("\u2605", ax.vx(mx), ax.vy(my) + 6); cx.fillText("\u2605", ax.vx(mx), ax.vy(my) + 6);
  const nx = d.x.length, ny = d.y.length;
  if (d.direction !== "pca" && d.x[0] <= 0 && d.x[nx - 1] >= 0 && d.y[0] <= 0 && d.y[ny - 1] >= 0) {
    cx.fillStyle = "#000"; cx.strokeStyle = "#fff"; cx.strokeText("+", ax.vx(0), ax.vy(0) + 6); cx.fillText("+", ax.vx(0), ax.vy(0) + 6);
  }
  if (d.path && d.path.length) {
    cx.strokeStyle = "#e8503a"; cx.lineWidth = 2; cx.beginPath();
    d.path.forEach((p, k) => (k ? cx.lineTo(ax.vx(p[0]), ax.vy(p[1])) : cx.moveTo(ax.vx(p[0]), ax.vy(p[1]))));
    cx.stroke();
  }
}

function contourMap(d, s, readout) {
  const cv = canvas("ls-map", 460, 420), cx = cv.getContext("2d"), ax = mapAxes(d, cv.width, cv.height);
  drawCells(cx, d, s, ax); drawAxes(cx, d, ax, cv.width, cv.height); drawMarks(cx, d, ax);
  const labels = (d.axis_labels || ["x", "y"]).map((l) => l.split(" (")[0]);
  cv.addEventListener("mousemove", (e) => {
    const r = cv.getBoundingClientRect();
    const [i, j] = ax.cell((e.clientX - r.left) * cv.width / r.width, (e.clientY - r.top) * cv.height / r.height);
    if (i < 0 || j < 0 || i >= d.x.length || j >= d.y.length) { readout.textContent = ""; return; }
    const acc = d.accuracy ? `, accuracy ${d.accuracy[j][i] === null ? "n/a" : `${(100 * d.accuracy[j][i]).toFixed(1)}%`}` : "";
    readout.textContent = `${labels[0]} = ${d.x[i].toPrecision(3)}, ${labels[1]} = ${d.y[j].toPrecision(3)}: loss ${num(d.loss[j][i])}${acc}`;
  });
  return cv;
}

// painter's algorithm over the grid's quads; drag to turn
function surface(d, s) {
  const cv = canvas("ls-surface", 520, 420), sc = cv.getContext("2d"), SW = cv.width, SH = cv.height;
  const nx = d.x.length, ny = d.y.length, Z = s.z;
  let az = -0.7, el = 0.75, drag = null;
  const proj = (i, j, v) => {
    const x = i / (nx - 1) - 0.5, y = j / (ny - 1) - 0.5, z = v === null ? 0 : ((v - s.zmin) / ((s.zmax - s.zmin) || 1) - 0.5) * 0.8;
    const x1 = x * Math.cos(az) - y * Math.sin(az), y1 = x * Math.sin(az) + y * Math.cos(az);
    return [SW / 2 + x1 * SW * 0.66, SH / 2 - (y1 * Math.sin(el) + z * Math.cos(el)) * SH * 0.78, y1 * Math.cos(el) - z * Math.sin(el)];
  };
  const draw = () => {
    sc.clearRect(0, 0, SW, SH);
    const quads = [];
    for (let j = 0; j < ny - 1; j++) for (let i = 0; i < nx - 1; i++) {
      const vs = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]].map(([a, b]) => proj(a, b, Z[b][a]));
      const vals = [Z[j][i], Z[j][i + 1], Z[j + 1][i + 1], Z[j + 1][i]].filter((v) => v !== null);
      quads.push([vs.reduce((t, p) => t + p[2], 0) / 4, vs, vals.length ? vals.reduce((t, v) => t + v, 0) / vals.length : null]);
    }
    quads.sort((a, b) => b[0] - a[0]);
    for (const [, vs, avg] of quads) {
      sc.beginPath(); vs.forEach((p, k) => (k ? sc.lineTo(p[0], p[1]) : sc.moveTo(p[0], p[1]))); sc.closePath();
      sc.fillStyle = colour(s, avg, 0.92); sc.fill(); sc.strokeStyle = "rgba(0,0,0,0.12)"; sc.stroke();
    }
    sc.fillStyle = "#1f2328"; sc.font = "11px system-ui"; sc.fillText(`drag to turn; height and colour: ${s.label}`, 8, SH - 8);
  };
  cv.style.cursor = "grab";
  cv.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY, az, el]; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    az = drag[2] + (e.clientX - drag[0]) * 0.01; el = Math.max(-0.2, Math.min(1.5, drag[3] + (e.clientY - drag[1]) * 0.01)); draw();
  });
  draw();
  return cv;
}

// the colour bar of the map and the surface: the scale's ends and what it measures
function colourBar(s) {
  const bar = canvas("ls-colorbar", 200, 10), g = bar.getContext("2d");
  for (let x = 0; x < 200; x++) { g.fillStyle = colour(s, s.zmin + (s.zmax - s.zmin) * x / 199); g.fillRect(x, 0, 1, 10); }
  const box = document.createElement("div"), lo = document.createElement("span"), hi = document.createElement("span");
  box.style.cssText = "display:flex;gap:6px;align-items:center;font-size:12px;margin-top:6px";
  lo.textContent = num(s.zmin); hi.textContent = `${num(s.zmax)}  colour: ${s.label}`;
  box.append(lo, bar, hi);
  return box;
}

function canvas(cls, w, h) {
  const c = document.createElement("canvas");
  c.className = cls; c.width = w; c.height = h; c.style.border = "1px solid #d0d7de";
  return c;
}

export function drawLandscape(root, d) {
  const s = scale(d);
  const note = document.createElement("p"), readout = document.createElement("div"), row = document.createElement("div");
  note.style.fontSize = "13px";
  note.textContent = `Loss at the trained weights ${num(d.center_loss)}; grid minimum ${num(d.minimum.loss)} (star)`
    + `${d.path ? "; the optimizer's path in red" : ""}. Hover the map to read the loss${d.accuracy ? " and accuracy" : ""}.`;
  row.style.cssText = "display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start";
  readout.className = "ls-readout"; readout.style.cssText = "font:13px monospace;min-height:18px;margin-top:6px";
  row.append(contourMap(d, s, readout), surface(d, s));
  root.classList.add("ns-landscape");
  root.append(note, row, colourBar(s), readout);
  return root;
}
