// The embedding scatter, the one drawing of an Embedding: used by the dashboard's embedding
// view (views/embedding.js) and by the standalone HTML export (standalone/embedding.js).
// 2-D points pan (drag) and zoom (wheel); 3-D points turn (drag) with perspective. Hover shows
// the nearest point's index, label, value, text and thumbnail; a click on a legend entry hides
// or shows its class. Canvas drawing with typed arrays: 50,000 points stay interactive.
//
// `D`: n, dims (2 or 3), coords (Float32Array n*dims in [-1, 1]), rgb (Uint8Array n*3),
// ok (Uint8Array n: finite point), axes (axis names), legend ([name, css colour] per class),
// labels (per point or null), values (per point or null) with value_label, texts (or null),
// thumb (i -> an element showing example i, or null), width, height.
import { fmt } from "../dom.js";

export function drawScatter(root, D) {
  const W = D.width || 760, H = D.height || 620;
  const cv = el("canvas", { width: W, height: H, class: "scatter", style: "border:1px solid #d0d7de;cursor:crosshair;touch-action:none" });
  const leg = el("div", { class: "ns-legend", style: `min-width:120px;max-height:${H}px;overflow:auto` });
  const tip = el("div", { class: "ns-tip", style: "position:absolute;display:none;pointer-events:none;background:#fff;border:1px solid #888;border-radius:4px;padding:6px;box-shadow:0 2px 6px rgba(0,0,0,.25);max-width:320px;white-space:pre-wrap;z-index:5" });
  root.classList.add("ns-embedding");
  Object.assign(root.style, { position: "relative", display: "flex", gap: "12px", font: "13px system-ui,sans-serif" });
  root.append(cv, leg, tip);
  const view = { zoom: 1, panx: 0, pany: 0, yaw: 0.6, pitch: 0.35, hover: -1, hidden: new Set() };
  const screen = projector(D, W, H, view);
  const visible = (i) => D.ok[i] && !(D.labels && view.hidden.has(String(D.labels[i])));
  const ctx = cv.getContext("2d");
  const draw = () => paint(ctx, D, screen, view, visible, W, H);
  bindPointer(cv, tip, D, screen, view, visible, draw, W, H);
  legend(leg, D, view, draw);
  root.nsScreen = (i) => { screen.update(); return [screen.x[i], screen.y[i]]; };
  root.nsPoints = () => { screen.update(); const out = []; for (let i = 0; i < D.n; i++) if (visible(i)) out.push([screen.x[i], screen.y[i], i]); return out; };
  draw();
  return root;
}

function el(tag, attrs) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// canvas positions of every point for the current zoom, pan and rotation
function projector(D, W, H, view) {
  const n = D.n, d = D.dims, P = D.coords;
  const s = { x: new Float32Array(n), y: new Float32Array(n), z: new Float32Array(n) };
  s.update = () => {
    const k = Math.min(W, H) * 0.45 * view.zoom, cy = Math.cos(view.yaw), sy = Math.sin(view.yaw);
    const cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    for (let i = 0; i < n; i++) {
      let x = P[i * d], y = P[i * d + 1], z = d === 3 ? P[i * d + 2] : 0;
      if (d === 3) {
        const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;
        const y1 = cp * y - sp * z1, z2 = sp * y + cp * z1; x = x1; y = y1; z = z2;
      }
      const f = d === 3 ? 3 / (3 + z) : 1;
      s.x[i] = W / 2 + (x * k + view.panx) * f; s.y[i] = H / 2 - (y * k - view.pany) * f; s.z[i] = z;
    }
  };
  return s;
}

function paint(ctx, D, s, view, visible, W, H) {
  s.update();
  const n = D.n, RGB = D.rgb;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  const r = n > 20000 ? 1.5 : n > 2000 ? 2.5 : 4;
  let order = null;
  if (D.dims === 3) { order = new Uint32Array(n); for (let i = 0; i < n; i++) order[i] = i; order.sort((a, b) => s.z[b] - s.z[a]); }
  ctx.globalAlpha = n > 20000 ? 0.6 : 0.85;
  for (let k = 0; k < n; k++) {
    const i = order ? order[k] : k;
    if (!visible(i)) continue;
    ctx.fillStyle = `rgb(${RGB[3 * i]},${RGB[3 * i + 1]},${RGB[3 * i + 2]})`;
    ctx.fillRect(s.x[i] - r, s.y[i] - r, 2 * r, 2 * r);
  }
  ctx.globalAlpha = 1;
  if (view.hover >= 0) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath();
    ctx.arc(s.x[view.hover], s.y[view.hover], 7, 0, 2 * Math.PI); ctx.stroke();
  }
  ctx.fillStyle = "#333"; ctx.font = "12px system-ui,sans-serif";
  ctx.fillText(D.axes.slice(0, D.dims).join("   |   "), 8, H - 8);
}

function nearest(D, s, visible, mx, my) {
  let best = -1, bd = 100;
  for (let i = 0; i < D.n; i++) {
    if (!visible(i)) continue;
    const dx = s.x[i] - mx, dy = s.y[i] - my, e = dx * dx + dy * dy;
    if (e < bd) { bd = e; best = i; }
  }
  return best;
}

// the hover box: index and label, value, text, thumbnail; kept inside the canvas
function showTip(tip, D, i, mx, my, W, H) {
  tip.textContent = "";
  tip.dataset.index = String(i);
  const head = document.createElement("div"), b = document.createElement("b");
  b.textContent = `#${i}`; head.append(b);
  if (D.labels) { const l = document.createElement("b"); l.textContent = String(D.labels[i]); head.append(" label ", l); }
  tip.appendChild(head);
  if (D.values && D.values[i] !== null && D.values[i] !== undefined) {
    const v = document.createElement("div"); v.textContent = `${D.value_label || "value"}: ${fmt(D.values[i], 4)}`; tip.appendChild(v);
  }
  if (D.texts && D.texts[i] !== null && D.texts[i] !== undefined) {
    const t = document.createElement("div"); t.className = "ns-text"; t.textContent = String(D.texts[i]); tip.appendChild(t);
  }
  const th = D.thumb ? D.thumb(i) : null;
  if (th) tip.appendChild(th);
  tip.style.display = "block";
  const tw = tip.offsetWidth, tht = tip.offsetHeight;
  tip.style.left = `${mx + 14 + tw > W ? Math.max(0, mx - 14 - tw) : mx + 14}px`;
  tip.style.top = `${my + 14 + tht > H ? Math.max(0, my - 14 - tht) : my + 14}px`;
}

function bindPointer(cv, tip, D, s, view, visible, draw, W, H) {
  let drag = null;
  const hide = () => { tip.style.display = "none"; delete tip.dataset.index; };
  const pos = (e) => { const b = cv.getBoundingClientRect(); return [(e.clientX - b.left) * W / b.width, (e.clientY - b.top) * H / b.height]; };
  cv.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; cv.setPointerCapture(e.pointerId); });
  cv.addEventListener("pointerup", () => { drag = null; });
  cv.addEventListener("pointermove", (e) => {
    if (drag) {
      const dx = e.clientX - drag[0], dy = e.clientY - drag[1]; drag = [e.clientX, e.clientY];
      if (D.dims === 3) { view.yaw += dx * 0.01; view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + dy * 0.01)); }
      else { view.panx += dx; view.pany += dy; }
      hide(); view.hover = -1; draw(); return;
    }
    const [mx, my] = pos(e), i = nearest(D, s, visible, mx, my);
    if (i !== view.hover) { view.hover = i; draw(); }
    if (i >= 0) showTip(tip, D, i, mx, my, W, H); else hide();
  });
  cv.addEventListener("pointerleave", () => { hide(); view.hover = -1; draw(); });
  cv.addEventListener("wheel", (e) => {
    e.preventDefault(); const k = Math.exp(-e.deltaY * 0.001);
    view.zoom *= k; view.panx *= k; view.pany *= k; draw();
  }, { passive: false });
}

// one entry per class (a click hides or shows it), or the colour scale of continuous values
function legend(leg, D, view, draw) {
  if (D.legend && D.legend.length) {
    const t = document.createElement("b"); t.textContent = "label"; leg.appendChild(t);
    for (const [name, col] of D.legend) {
      const row = document.createElement("div"); row.style.cursor = "pointer"; row.style.userSelect = "none";
      const sw = document.createElement("span");
      sw.style.cssText = `display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px;background:${col}`;
      const label = document.createElement("span"); label.textContent = name;
      row.append(sw, label);
      row.onclick = () => {
        if (view.hidden.has(name)) { view.hidden.delete(name); row.style.opacity = 1; } else { view.hidden.add(name); row.style.opacity = 0.35; }
        draw();
      };
      leg.appendChild(row);
    }
  } else if (D.values) {
    const b = document.createElement("b"), note = document.createElement("div");
    b.textContent = D.value_label || "value"; note.textContent = D.value_note || "colour: viridis, low = purple, high = yellow";
    leg.append(b, note);
  }
}
