// Distributions: histograms over steps per series and run, as offset "ridges" (TensorBoard's
// offset mode: one curve per step, earliest at the back) or overlaid curves. A step can be
// marked (a diagnostic's link, or a click on a ridge): its curve is drawn in red and its own
// histogram below; opened from a diagnostic, a card shows the steps around it.
import { h, clear, fmt, groupByPrefix, whenVisible } from "../dom.js";
import { get } from "../api.js";
import { state, on, selectedRuns, seriesNames, setSetting, colorOf } from "../state.js";
import { runSelector } from "../components.js";
import { tint } from "../colors.js";
import { focusWindow } from "../chart.js";
import { niceTicks } from "../draw/axes.js";
import { histogramBars } from "../draw/bars.js";
import { exactly } from "./scalars.js";

const W = 420, H = 260, PAD = { l: 46, r: 52, t: 10, b: 30 };

const MARK = "#cf222e";          // the marked step (as the scalar charts' marker)
const FOCUS_H = 160;             // height of the marked step's own histogram
const MAX_ROWS = 60;             // ridges drawn at most

// Up to `n` of `rows`, evenly spaced, always keeping rows[keep] (the marked step).
function spread(rows, n, keep = -1) {
  if (rows.length <= n) return rows;
  const pick = new Set();
  for (let i = 0; i < n; i++) pick.add(Math.round(i * (rows.length - 1) / (n - 1)));
  if (keep >= 0 && !pick.has(keep)) {
    // replace the picked index nearest to the marked row
    let near = -1;
    for (const i of pick) if (near < 0 || Math.abs(i - keep) < Math.abs(near - keep)) near = i;
    pick.delete(near); pick.add(keep);
  }
  return [...pick].sort((a, b) => a - b).map((i) => rows[i]);
}

// Index of the row whose step is `step`, else of the nearest logged step.
function nearestRow(rows, step) {
  let best = -1;
  rows.forEach((r, i) => { if (best < 0 || Math.abs(r.step - step) < Math.abs(rows[best].step - step)) best = i; });
  return best;
}

class HistChart {
  constructor(run, tag) {
    this.run = run; this.tag = tag; this.rows = null; this.all = null;
    this.focus = null;             // the marked step (a diagnostic's start, or a clicked ridge)
    this.zoomed = false;           // showing only the steps around the marked one
    this.W = W;
    this.canvas = h("canvas", { width: W * devicePixelRatio, height: H * devicePixelRatio, style: { width: `${W}px`, height: `${H}px` } });
    this.focusBox = h("div", { class: "hist-focus", hidden: true, style: { marginTop: "6px" } });
    this.tip = h("div", { class: "tooltip", hidden: true });
    this.info = h("span", { class: "muted" });
    this.zoomBtn = h("button", { class: "icon", hidden: true, dataset: { action: "zoom" }, onclick: () => this.setZoom(!this.zoomed) });
    this.el = h("div", { class: "chart-card hist-card", dataset: { tag, run } },
      h("div", { class: "chart-head" }, h("span", { class: "swatch", style: { background: colorOf(run) } }),
        h("span", { class: "chart-title", title: `${tag} · ${run}` }, tag), h("span", { class: "muted run-label" }, run),
        h("span", { class: "chart-tools" }, this.zoomBtn)),
      h("div", { class: "plot-wrap" }, this.canvas, this.tip), h("div", { class: "chart-foot" }, this.info));
    this.ro = "ResizeObserver" in window ? new ResizeObserver(() => {
      if (this.rows && this.el.clientWidth > 0 && Math.abs(this.el.clientWidth - 18 - this.W) > 2) this.draw();
    }) : null;
    if (this.ro) this.ro.observe(this.el);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.tip.hidden = true; });
    this.canvas.addEventListener("click", (e) => { const k = this.rowAt(e); if (k >= 0) this.mark(this.rows[k].step); });
  }

  // Open on `step` (the Diagnostics page links here with the step where a problem began):
  // the ridges of the steps around it (the window the scalar charts zoom to), that step
  // marked, and its own histogram drawn below.
  focusOn(step) {
    if (!Number.isFinite(step)) return;
    this.focus = step;
    this.zoomed = true;
    if (this.all) { this.pick(); this.draw(); }
  }

  // Mark a step without changing which steps are shown (a click on a ridge).
  mark(step) {
    this.focus = step;
    this.zoomBtn.hidden = false;
    if (!this.zoomed) this.zoomBtn.textContent = `⤡ around step ${step}`;
    this.draw();
  }

  setZoom(on_) {
    this.zoomed = on_ && this.focus !== null;
    this.pick();
    this.draw();
  }

  async load() {
    try {
      // focused: every step (up to the server's limit), so the marked one is there to zoom to
      const d = await get("/api/histograms", { run: this.run, tag: this.tag, max_steps: this.focus !== null ? 2000 : MAX_ROWS });
      this.all = d.histograms.filter((r) => r.edges && r.edges.length > 1); // HistogramSeries.to_dict()
    } catch (e) { this.all = []; this.info.textContent = e.message; }
    this.pick();
    this.draw();
  }

  // The rows drawn: every step (at most MAX_ROWS, evenly spaced), or zoomed, the steps in
  // the focus window around the marked one (at least a few on each side).
  pick() {
    const all = this.all || [];
    const keep = this.focus !== null && all.length ? nearestRow(all, this.focus) : -1;
    let rows = all, k = keep;
    if (this.zoomed && keep >= 0) {
      const win = focusWindow(all[0].step, all[all.length - 1].step, all[keep].step);
      let a = all.findIndex((r) => r.step >= win[0]), b = all.length - 1;
      while (b > 0 && all[b].step > win[1]) b--;
      a = Math.max(0, Math.min(a, keep - 4)); b = Math.min(all.length - 1, Math.max(b, keep + 4));
      rows = all.slice(a, b + 1); k = keep - a;
    }
    this.rows = spread(rows, MAX_ROWS, k);
    this.zoomBtn.hidden = this.focus === null;
    this.zoomBtn.textContent = this.zoomed ? "⤢ all steps" : `⤡ around step ${this.focus}`;
    this.zoomBtn.title = this.zoomed ? "show every logged step" : "show the steps around the marked one";
  }

  // The drawn row of the marked step (-1 when none is marked or it is not drawn).
  focusIndex() {
    if (this.focus === null || !this.rows || !this.rows.length) return -1;
    return nearestRow(this.rows, this.focus); // pick() keeps the row nearest to it
  }

  geometry() {
    const rows = this.rows;
    let lo = Infinity, hi = -Infinity, dmax = 0;
    const empty = rows.map((r) => !r.counts.some((c) => c > 0));
    const dens = rows.map((r) => {
      const total = r.counts.reduce((a, b) => a + b, 0);
      // a step with no finite values (all NaN/Inf) has no range of its own
      if (total > 0) { lo = Math.min(lo, r.edges[0]); hi = Math.max(hi, r.edges[r.edges.length - 1]); }
      const d = r.counts.map((c, i) => c / (total || 1) / ((r.edges[i + 1] - r.edges[i]) || 1));
      for (const v of d) dmax = Math.max(dmax, v);
      return d;
    });
    if (lo === Infinity) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return { lo, hi, dmax: dmax || 1, dens, empty };
  }

  draw() {
    this.W = Math.max(320, (this.el.clientWidth || 436) - 18);
    this.canvas.width = this.W * devicePixelRatio;
    this.canvas.style.width = `${this.W}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    ctx.clearRect(0, 0, this.W, H);
    ctx.font = "11px system-ui, sans-serif";
    this.focusBox.hidden = true;
    if (!this.rows || !this.rows.length) { ctx.fillStyle = "#656d76"; ctx.fillText("no histograms", this.W / 2 - 40, H / 2); return; }
    const ridge = state.settings.ridge;
    const g = this.geometry();
    this.g = g;
    const pw = this.W - PAD.l - PAD.r, ph = H - PAD.t - PAD.b, n = this.rows.length;
    const X = (v) => PAD.l + (v - g.lo) / (g.hi - g.lo) * pw;
    const rowH = ridge ? ph / (n + 3) : 0, amp = ridge ? rowH * 4 : ph;
    const base = (k) => ridge ? PAD.t + ph - (n - 1 - k) * rowH : PAD.t + ph;
    this.X = X; this.base = base; this.amp = amp; this.rowH = rowH;
    const color = colorOf(this.run);
    const fk = this.focusIndex();
    if (fk >= 0) this.el.dataset.focusStep = String(this.rows[fk].step); else delete this.el.dataset.focusStep;
    // axes
    ctx.strokeStyle = "#d0d7de"; ctx.fillStyle = "#57606a"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(PAD.l, PAD.t + ph + 0.5); ctx.lineTo(PAD.l + pw, PAD.t + ph + 0.5); ctx.stroke();
    for (const t of niceTicks(g.lo, g.hi)) {
      const x = X(t);
      ctx.beginPath(); ctx.moveTo(x, PAD.t + ph); ctx.lineTo(x, PAD.t + ph + 4); ctx.stroke();
      const s = fmt(t, 3); ctx.fillText(s, x - ctx.measureText(s).width / 2, PAD.t + ph + 16);
    }
    ctx.fillText("value", PAD.l + pw / 2 - 14, H - 2);
    ctx.save(); ctx.translate(10, PAD.t + ph / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(ridge ? "step" : "density", -16, 0); ctx.restore();
    const curve = (k) => {
      const r = this.rows[k], d = g.dens[k], y0 = base(k);
      ctx.beginPath(); ctx.moveTo(X(r.edges[0]), y0);
      for (let i = 0; i < d.length; i++) {
        const y = y0 - d[i] / g.dmax * amp;
        ctx.lineTo(X(r.edges[i]), y); ctx.lineTo(X(r.edges[i + 1]), y);
      }
      ctx.lineTo(X(r.edges[r.edges.length - 1]), y0);
    };
    // curves, earliest first so later steps are drawn in front; the marked step in red
    this.rows.forEach((r, k) => {
      const t = n > 1 ? 1 - k / (n - 1) : 0;
      if (ridge && (k === fk || g.empty[k])) {
        // the marked step's baseline across the plot (so a step with nothing finite is marked
        // too); a step with no finite values (NaN/Inf only) is a dotted grey line
        ctx.save(); ctx.strokeStyle = k === fk ? MARK : "#8c959f"; ctx.lineWidth = k === fk ? 1.2 : 0.8;
        ctx.setLineDash(k === fk ? [5, 4] : [1, 3]);
        ctx.beginPath(); ctx.moveTo(PAD.l, base(k) + 0.5); ctx.lineTo(PAD.l + pw, base(k) + 0.5); ctx.stroke(); ctx.restore();
      }
      if (g.empty[k]) return;
      curve(k);
      if (ridge) {
        ctx.fillStyle = k === fk ? tint(MARK, 0.55) : tint(color, 0.35 + 0.55 * t); ctx.fill();
        ctx.strokeStyle = k === fk ? MARK : "#fff"; ctx.lineWidth = k === fk ? 1.6 : 0.8; ctx.stroke();
      } else if (k !== fk) { ctx.strokeStyle = tint(color, 0.85 * t); ctx.globalAlpha = 0.5 + 0.5 * (1 - t); ctx.lineWidth = 1.2; ctx.stroke(); ctx.globalAlpha = 1; }
    });
    if (!ridge && fk >= 0 && !g.empty[fk]) { curve(fk); ctx.strokeStyle = MARK; ctx.lineWidth = 2; ctx.stroke(); }
    // step labels on the right (ridge) or a colour key (overlay)
    ctx.fillStyle = "#57606a";
    if (ridge) {
      const every = Math.max(1, Math.ceil(n / 6));
      this.rows.forEach((r, k) => {
        if (k === fk || !(k % every === 0 || k === n - 1)) return;
        if (fk >= 0 && Math.abs(base(k) - base(fk)) < 11) return; // would overlap the marked label
        ctx.fillText(String(r.step), PAD.l + pw + 6, base(k) + 3);
      });
      if (fk >= 0) { ctx.fillStyle = MARK; ctx.font = "bold 11px system-ui, sans-serif"; ctx.fillText(`◀ ${this.rows[fk].step}`, PAD.l + pw + 3, base(fk) + 3); }
    } else {
      ctx.fillText(`step ${this.rows[0].step}`, PAD.l + pw + 4, PAD.t + 10);
      ctx.fillText(`→ ${this.rows[n - 1].step}`, PAD.l + pw + 4, PAD.t + 24);
      if (fk >= 0) { ctx.fillStyle = MARK; ctx.fillText(`▬ ${this.rows[fk].step}`, PAD.l + pw + 4, PAD.t + 38); }
    }
    const shown = (r) => r.num ? `n=${fmt(r.num)}, range [${fmt(r.min, 4)}, ${fmt(r.max, 4)}]` : "no finite values";
    const span = this.zoomed ? ` (steps ${this.rows[0].step}–${this.rows[n - 1].step} of ${this.all[0].step}–${this.all[this.all.length - 1].step})` : "";
    if (fk >= 0) {
      const r = this.rows[fk];
      this.info.textContent = `${n} steps shown${span} · marked step ${r.step}: ${shown(r)}${r.num ? `, mean ${fmt(r.sum / r.num, 4)}` : ""}`;
      this.drawFocus(r, g);
    } else {
      const last = this.rows[n - 1];
      this.info.textContent = `${n} steps shown${span} · last step ${last.step}: ${shown(last)}`;
    }
  }

  // The marked step's histogram on its own (counts per bin, draw/bars.js), on the ridges' value axis.
  drawFocus(r, g) {
    const box = this.focusBox;
    if (!box.isConnected) this.canvas.after(box); // only cards with a marked step have it
    box.hidden = false;
    box.dataset.step = String(r.step);
    const counts = r.counts.map((c) => +c || 0);
    box.replaceChildren(Math.max(0, ...counts) > 0
      ? histogramBars({ counts, edges: r.edges, xRange: [g.lo, g.hi], title: `step ${r.step}`, xLabel: "value",
        colour: tint(MARK, 0.45), width: this.W, height: FOCUS_H, margin: { l: PAD.l, r: PAD.r }, cls: "hist-focus-chart" })
      : h("p", { class: "nonfinite-note", style: { color: MARK, fontSize: "12px" } }, `step ${r.step}: no finite values at this step (NaN or Inf only)`));
  }

  // The drawn row under the mouse (the nearest ridge; overlay: the marked or last step).
  rowAt(e) {
    if (!this.rows || !this.rows.length) return -1;
    const n = this.rows.length;
    if (!state.settings.ridge) { const fk = this.focusIndex(); return fk >= 0 ? fk : n - 1; }
    const my = e.clientY - this.canvas.getBoundingClientRect().top;
    let k = n - 1, best = Infinity;
    for (let j = 0; j < n; j++) { const dist = Math.abs(this.base(j) - this.rowH / 2 - my); if (dist < best) { best = dist; k = j; } }
    return k;
  }

  hover(e) {
    if (!this.rows || !this.rows.length) return;
    const rect = this.canvas.getBoundingClientRect();
    const mx = e.clientX - rect.left, my = e.clientY - rect.top;
    const g = this.g;
    const v = g.lo + (mx - PAD.l) / (this.W - PAD.l - PAD.r) * (g.hi - g.lo);
    const k = this.rowAt(e), r = this.rows[k];
    if (g.empty[k]) {
      clear(this.tip).appendChild(h("div", null, h("b", null, `step ${r.step}`), h("br"), "no finite values (NaN or Inf only)"));
      this.tip.hidden = false;
      this.tip.style.left = `${Math.min(mx + 12, this.W - 180)}px`; this.tip.style.top = `${Math.max(0, my - 30)}px`;
      return;
    }
    let i = r.edges.findIndex((edge, j) => j < r.edges.length - 1 && v >= edge && v <= r.edges[j + 1]);
    if (i < 0) { this.tip.hidden = true; return; }
    clear(this.tip).appendChild(h("div", null, h("b", null, `step ${r.step}`), h("br"),
      `[${fmt(r.edges[i], 4)}, ${fmt(r.edges[i + 1], 4)}): ${fmt(r.counts[i])}`));
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(mx + 12, this.W - 140)}px`; this.tip.style.top = `${Math.max(0, my - 30)}px`;
  }
}

export function mount(root, params) {
  // A link from a diagnostic (#/distributions?tag=..&run=..&step=..) opens on that series of
  // that run only, zoomed to the steps around `step` with it marked; changing the run
  // selection (or "all runs") shows the selected runs again.
  const linkTag = params.get("tag"), linkStep = params.get("step") === null ? null : +params.get("step");
  let only = state.runById.has(params.get("run")) ? params.get("run") : null;
  const body = h("div", { class: "chart-groups" });
  const sel = runSelector();
  const filter = h("input", { type: "search", class: "tag-filter", placeholder: "Filter series (regular expression)",
    value: linkTag ? exactly(linkTag) : "", oninput: () => render() });
  const onlyNote = h("span", { class: "only-run muted", hidden: true, style: { fontSize: "12px", marginLeft: "8px" } });
  const mode = (v, label) => h("label", { class: "radio" }, h("input", { type: "radio", name: "histmode", value: v,
    checked: state.settings.ridge === (v === "ridge"), onchange: () => { setSetting("ridge", v === "ridge"); charts.forEach((c) => c.rows && c.draw()); } }), label);
  root.appendChild(h("div", { class: "with-side" },
    h("aside", { class: "side" }, sel, h("div", { class: "side-title" }, "Histogram mode"), mode("ridge", "Offset (ridges)"), mode("overlay", "Overlay")),
    h("section", { class: "content" }, h("div", { class: "toolbar" }, filter, onlyNote), body)));
  const charts = new Map();
  window.__nsHists = charts; // tests and debugging: `${run}\u0000${tag}` -> HistChart

  function render() {
    let re = null; try { re = new RegExp(filter.value, "i"); } catch { /* keep all */ }
    clear(body);
    const runs = only !== null ? [state.runById.get(only)] : selectedRuns();
    onlyNote.hidden = only === null;
    if (only !== null) {
      onlyNote.dataset.run = only;
      clear(onlyNote).append(h("span", { class: "swatch", style: { background: colorOf(only) } }), `only ${only} `,
        h("button", { class: "icon", dataset: { action: "widen" }, title: "show every selected run again",
          onclick: () => { only = null; render(); } }, "all runs"));
    }
    const tags = seriesNames("histogram", runs).filter((t) => !re || re.test(t));
    if (!tags.length) {
      body.appendChild(h("p", { class: "empty" }, runs.length ? "No histograms in the selected runs. run.watch(model) records weight, gradient and activation histograms; run.log_histogram(name, values) logs your own." : "Select a run on the left."));
      return;
    }
    groupByPrefix(tags).forEach(([g, names], gi) => {
      const grid = h("div", { class: "chart-grid hist-grid" });
      const det = h("details", { class: "group", open: true, dataset: { group: g } },
        h("summary", null, g || "histograms", h("span", { class: "count" }, String(names.length))), grid);
      const fill = () => {
        for (const t of names) for (const r of runs) {
          if (!(r.series.histogram || []).includes(t)) continue;
          const key = `${r.id}\u0000${t}`;
          let c = charts.get(key);
          if (!c) {
            c = new HistChart(r.id, t); charts.set(key, c);
            if (t === linkTag && r.id === params.get("run") && linkStep !== null) c.focusOn(linkStep);
          }
          grid.appendChild(c.el);
          if (!c.rows) whenVisible(c.el, () => c.load());
        }
      };
      if (det.open) fill();
      det.addEventListener("toggle", () => { if (det.open && !grid.childElementCount) fill(); });
      body.appendChild(det);
    });
  }
  render();
  let pending = new Set(), timer = null;
  const offs = [on("selection", () => { only = null; render(); }), on("runs", () => { if (only !== null && !state.runById.has(only)) only = null; render(); }),
    on("changed", (m) => {
      pending.add(m.run);
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        for (const c of charts.values()) if (pending.has(c.run) && c.rows && c.el.isConnected) c.load();
        pending = new Set();
      }, 2000);
    })];
  return { unmount: () => { offs.forEach((f) => f()); sel.dispose(); clearTimeout(timer); charts.forEach((c) => c.ro && c.ro.disconnect()); } };
}
