// Distributions: histograms over steps per series and run, as offset "ridges" (TensorBoard's
// offset mode: one curve per step, earliest at the back) or overlaid curves.
import { h, clear, fmt, groupByPrefix, whenVisible } from "../dom.js";
import { get } from "../api.js";
import { state, on, selectedRuns, seriesNames, setSetting, colorOf } from "../state.js";
import { runSelector } from "../components.js";
import { tint } from "../colors.js";

const W = 420, H = 260, PAD = { l: 46, r: 52, t: 10, b: 30 };

function niceTicks(lo, hi, n = 5) {
  const span = hi - lo || 1, step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

class HistChart {
  constructor(run, tag) {
    this.run = run; this.tag = tag; this.rows = null;
    this.W = W;
    this.canvas = h("canvas", { width: W * devicePixelRatio, height: H * devicePixelRatio, style: { width: `${W}px`, height: `${H}px` } });
    this.tip = h("div", { class: "tooltip", hidden: true });
    this.info = h("span", { class: "muted" });
    this.el = h("div", { class: "chart-card hist-card", dataset: { tag, run } },
      h("div", { class: "chart-head" }, h("span", { class: "swatch", style: { background: colorOf(run) } }),
        h("span", { class: "chart-title", title: `${tag} · ${run}` }, tag), h("span", { class: "muted run-label" }, run)),
      h("div", { class: "plot-wrap" }, this.canvas, this.tip), h("div", { class: "chart-foot" }, this.info));
    this.ro = "ResizeObserver" in window ? new ResizeObserver(() => {
      if (this.rows && this.el.clientWidth > 0 && Math.abs(this.el.clientWidth - 18 - this.W) > 2) this.draw();
    }) : null;
    if (this.ro) this.ro.observe(this.el);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.tip.hidden = true; });
  }

  async load() {
    try {
      const d = await get("/api/histograms", { run: this.run, tag: this.tag, max_steps: 60 });
      this.rows = d.rows.filter((r) => r.edges && r.edges.length > 1);
    } catch (e) { this.rows = []; this.info.textContent = e.message; }
    this.draw();
  }

  geometry() {
    const rows = this.rows;
    let lo = Infinity, hi = -Infinity, dmax = 0;
    const dens = rows.map((r) => {
      lo = Math.min(lo, r.edges[0]); hi = Math.max(hi, r.edges[r.edges.length - 1]);
      const total = r.counts.reduce((a, b) => a + b, 0) || 1;
      const d = r.counts.map((c, i) => c / total / ((r.edges[i + 1] - r.edges[i]) || 1));
      for (const v of d) dmax = Math.max(dmax, v);
      return d;
    });
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return { lo, hi, dmax: dmax || 1, dens };
  }

  draw() {
    this.W = Math.max(320, (this.el.clientWidth || 436) - 18);
    this.canvas.width = this.W * devicePixelRatio;
    this.canvas.style.width = `${this.W}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    ctx.clearRect(0, 0, this.W, H);
    ctx.font = "11px system-ui, sans-serif";
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
    // curves, earliest first so later steps are drawn in front
    this.rows.forEach((r, k) => {
      const d = g.dens[k], y0 = base(k), t = n > 1 ? 1 - k / (n - 1) : 0;
      ctx.beginPath(); ctx.moveTo(X(r.edges[0]), y0);
      for (let i = 0; i < d.length; i++) {
        const y = y0 - d[i] / g.dmax * amp;
        ctx.lineTo(X(r.edges[i]), y); ctx.lineTo(X(r.edges[i + 1]), y);
      }
      ctx.lineTo(X(r.edges[r.edges.length - 1]), y0);
      if (ridge) { ctx.fillStyle = tint(color, 0.35 + 0.55 * t); ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 0.8; ctx.stroke(); }
      else { ctx.strokeStyle = tint(color, 0.85 * t); ctx.globalAlpha = 0.5 + 0.5 * (1 - t); ctx.lineWidth = 1.2; ctx.stroke(); ctx.globalAlpha = 1; }
    });
    // step labels on the right (ridge) or a colour key (overlay)
    ctx.fillStyle = "#57606a";
    if (ridge) {
      const every = Math.max(1, Math.ceil(n / 6));
      this.rows.forEach((r, k) => { if (k % every === 0 || k === n - 1) ctx.fillText(String(r.step), PAD.l + pw + 6, base(k) + 3); });
    } else {
      ctx.fillText(`step ${this.rows[0].step}`, PAD.l + pw + 4, PAD.t + 10);
      ctx.fillText(`→ ${this.rows[n - 1].step}`, PAD.l + pw + 4, PAD.t + 24);
    }
    const last = this.rows[n - 1];
    this.info.textContent = `${n} steps shown · last step ${last.step}: n=${fmt(last.num)}, range [${fmt(last.min, 4)}, ${fmt(last.max, 4)}]`;
  }

  hover(e) {
    if (!this.rows || !this.rows.length) return;
    const rect = this.canvas.getBoundingClientRect();
    const mx = e.clientX - rect.left, my = e.clientY - rect.top;
    const g = this.g, n = this.rows.length;
    const v = g.lo + (mx - PAD.l) / (this.W - PAD.l - PAD.r) * (g.hi - g.lo);
    let k = n - 1;
    if (state.settings.ridge) {
      let best = Infinity;
      for (let j = 0; j < n; j++) { const dist = Math.abs(this.base(j) - this.rowH / 2 - my); if (dist < best) { best = dist; k = j; } }
    }
    const r = this.rows[k];
    let i = r.edges.findIndex((edge, j) => j < r.edges.length - 1 && v >= edge && v <= r.edges[j + 1]);
    if (i < 0) { this.tip.hidden = true; return; }
    clear(this.tip).appendChild(h("div", null, h("b", null, `step ${r.step}`), h("br"),
      `[${fmt(r.edges[i], 4)}, ${fmt(r.edges[i + 1], 4)}): ${fmt(r.counts[i])}`));
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(mx + 12, this.W - 140)}px`; this.tip.style.top = `${Math.max(0, my - 30)}px`;
  }
}

export function mount(root) {
  const body = h("div", { class: "chart-groups" });
  const sel = runSelector();
  const filter = h("input", { type: "search", class: "tag-filter", placeholder: "Filter series (regular expression)", oninput: () => render() });
  const mode = (v, label) => h("label", { class: "radio" }, h("input", { type: "radio", name: "histmode", value: v,
    checked: state.settings.ridge === (v === "ridge"), onchange: () => { setSetting("ridge", v === "ridge"); charts.forEach((c) => c.rows && c.draw()); } }), label);
  root.appendChild(h("div", { class: "with-side" },
    h("aside", { class: "side" }, sel, h("div", { class: "side-title" }, "Histogram mode"), mode("ridge", "Offset (ridges)"), mode("overlay", "Overlay")),
    h("section", { class: "content" }, h("div", { class: "toolbar" }, filter), body)));
  const charts = new Map();

  function render() {
    let re = null; try { re = new RegExp(filter.value, "i"); } catch { /* keep all */ }
    clear(body);
    const runs = selectedRuns();
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
          if (!c) { c = new HistChart(r.id, t); charts.set(key, c); }
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
  const offs = [on("selection", render), on("runs", render),
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
