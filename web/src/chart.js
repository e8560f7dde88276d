// One scalar chart (uPlot): several runs overlaid, TensorBoard's debiased EMA smoothing,
// x = step / relative time / wall time, log scale, drag to zoom (the server sends more
// detail for the zoomed range), hover values of every run at the nearest point,
// CSV and PNG download. The one drawing of scalar series: the Scalars page's charts load
// their runs from /api/scalars and follow the page's settings; the `scalar_series` view
// gives one chart a logged ScalarSeries.to_dict() and settings of its own (`show`).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, clear, fmt, fmtTime, fmtDuration, download } from "./dom.js";
import { get } from "./api.js";
import { state, colorOf, selectedRuns, PALETTE } from "./state.js";

// TensorBoard's smoothing: exponential moving average, debiased so the first points are
// not pulled towards zero; non-finite values are passed through and do not enter the mean.
export function smooth(values, weight) {
  const out = new Array(values.length);
  let last = 0, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = weight === 0 ? v : last / (1 - Math.pow(weight, n));
  }
  return out;
}

function lowerBound(arr, x) {
  let lo = 0, hi = arr.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

// The steps to show around `step` when a view opens focused on it (the Diagnostics page links
// to the step where a problem began): a tenth of the logged range [lo, hi] on each side, at
// least 10 steps, clipped to the range, except that the step stays a quarter of that inside
// the window (a problem at the last logged step is not drawn on the chart's edge). Shared by
// the scalar charts and the histogram cards.
export function focusWindow(lo, hi, step) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !Number.isFinite(step)) return null;
  const half = Math.max(10, 0.1 * (hi - lo)), margin = half / 4;
  return [Math.min(step - margin, Math.max(lo, step - half)), Math.max(step + margin, Math.min(hi, step + half))];
}

const registry = new Map();
window.__nsCharts = registry; // tests and debugging: tag (or the `key` given) -> ScalarChart

/**
 * A chart of the scalar series `tag`. On the Scalars page it reads the page's settings and
 * run colours and loads its runs (`load`); given `settings` ({smoothing, logy, xaxis}) it
 * draws the series handed to `show` with those settings instead (a result view).
 *
 * Example: `const c = new ScalarChart("loss", { settings: { smoothing: 0, logy: false, xaxis: "step" } });
 * parent.append(c.el); c.show("run", { steps: [0, 1], values: [2, 1], walls: [0, 1] });`
 */
export class ScalarChart {
  constructor(tag, { settings = null, key = tag } = {}) {
    this.tag = tag;
    this.key = key;
    this.fixed = settings !== null; // drawing given series (show), not loading runs
    this.settings = settings || state.settings;
    this.series = new Map();      // run id -> {steps, values, walls, total, downsampled, appended}
    this.zoom = null;             // [xmin, xmax] while zoomed in
    this.mark = null;             // a step marked with a vertical line (a diagnostic's start)
    this._focus = null;           // a step to zoom around once the data is there
    this.only = null;             // a single run shown instead of the selected ones (a diagnostic's run)
    this.u = null;
    this.loaded = false;
    this.plotEl = h("div", { class: "plot" });
    this.tip = h("div", { class: "tooltip", hidden: true });
    this.info = h("span", { class: "chart-info muted" });
    this.onlyEl = h("span", { class: "only-run muted", hidden: true, style: { fontSize: "12px", whiteSpace: "nowrap" } });
    this.el = h("div", { class: "chart-card", dataset: { tag } },
      h("div", { class: "chart-head" },
        h("span", { class: "chart-title", title: tag }, tag), this.onlyEl,
        h("span", { class: "chart-tools" },
          h("button", { class: "icon", title: "reset zoom", onclick: () => this.resetZoom() }, "⤢"),
          h("button", { class: "icon", title: "download CSV", dataset: { action: "csv" }, onclick: () => this.downloadCsv() }, "CSV"),
          h("button", { class: "icon", title: "download PNG", dataset: { action: "png" }, onclick: () => this.downloadPng() }, "PNG"))),
      h("div", { class: "plot-wrap" }, this.plotEl, this.tip),
      h("div", { class: "chart-foot" }, this.info));
    registry.set(key, this);
    this._redrawTimer = null;
    // follow the card's width (window resizes, the card being re-attached by a re-render)
    // (a view's chart lets go of the registry and its observer once its view is gone)
    this.ro = "ResizeObserver" in window ? new ResizeObserver(() => (this.fixed && !this.el.isConnected ? this.dispose() : this.resize())) : null;
    if (this.ro) this.ro.observe(this.el);
  }

  dispose() {
    if (this.ro) this.ro.disconnect();
    if (this.u) this.u.destroy();
    this.u = null;
    if (registry.get(this.key) === this) registry.delete(this.key);
  }

  // A series's colour: its run's on the Scalars page, the palette's first in a view.
  colour(id) { return this.fixed ? PALETTE[0] : colorOf(id); }

  /** Draw `data` (a ScalarSeries.to_dict(): steps, values, walls, total, downsampled) as the
   * series `id`, in place of the chart's series. */
  show(id, data) {
    const walls = Array.isArray(data.walls) ? data.walls : data.steps.map(() => 0);
    this.series = new Map([[id, { steps: data.steps, values: data.values, walls, total: data.total ?? data.steps.length,
      downsampled: data.downsampled, appended: 0 }]]);
    this.loaded = true;
    this.draw();
  }

  // Whether the chart draws `id`: the one run it was narrowed to, else every selected run.
  shows(id) { return this.fixed || (this.only !== null ? id === this.only : state.selected.has(id)); }

  // Show only run `id` (whether or not it is selected); `widen()` or a change of the run
  // selection goes back to the selected runs.
  showOnly(id) {
    this.only = id;
    clear(this.onlyEl).append(h("span", { class: "swatch", style: { background: this.colour(id) } }), `only ${id} `,
      h("button", { class: "icon", dataset: { action: "widen" }, title: "show every selected run again",
        onclick: () => this.widen(true) }, "all runs"));
    this.onlyEl.dataset.run = id;
    this.onlyEl.hidden = false;
  }

  widen(reload = false) {
    if (this.only === null) return;
    this.only = null;
    this.onlyEl.hidden = true;
    delete this.onlyEl.dataset.run;
    if (reload) this.load(selectedRuns());
  }

  width() {
    if (this.el.clientWidth > 0) this._w = Math.max(260, this.el.clientWidth - 18);
    return this._w || 420;
  }

  buckets() { return Math.max(50, Math.round(this.width())); }

  // Fetch every selected run's series (downsampled to the chart width; zoomed: that range).
  async load(runs) {
    // Loads can overlap (a resync while the first load is in flight) and points can be pushed
    // while one is: only the newest load's answer is kept, and the pushes that arrived while
    // it was in flight are replayed on it (append skips the steps it already has).
    const seq = (this._loadSeq = (this._loadSeq || 0) + 1);
    this._pending = [];
    const xr = this.zoom && this.settings.xaxis === "step" ? this.zoom : null;
    if (this.only !== null) runs = [state.runById.get(this.only)].filter(Boolean);
    const results = await Promise.all(runs.filter((r) => (r.series.scalar || []).includes(this.tag)).map(async (r) => {
      try {
        const d = await get("/api/scalars", { run: r.id, tag: this.tag, buckets: this.buckets(),
          start: xr ? Math.floor(xr[0]) : undefined, end: xr ? Math.ceil(xr[1]) : undefined });
        return [r.id, { steps: d.steps, values: d.values, walls: d.walls, total: d.total, downsampled: d.downsampled, appended: 0 }];
      } catch (e) {
        return [r.id, { steps: [], values: [], walls: [], total: 0, error: e.message, appended: 0 }];
      }
    }));
    if (seq !== this._loadSeq) {
      // a newer load is on its way: it replaces this answer, but a chart with nothing drawn
      // yet shows this one meanwhile (pushes still wait for the newer load)
      if (!this.loaded) { this.series = new Map(results); this.loaded = true; this.draw(); }
      return;
    }
    const pending = this._pending;
    this._pending = null;
    this.series = new Map(results);
    this.loaded = true;
    let again = false;
    for (const [runId, pts] of pending) again = this.append(runId, pts) || again;
    this.draw();
    if (this._focus !== null) this.applyFocus();
    if (again) this.load(runs);
  }

  // Open zoomed to a window around `step`, with that step marked (the Diagnostics page links
  // here with the step where a problem began). The window is a tenth of the logged range on
  // each side (at least 10 steps), clipped to it.
  focusOn(step) {
    if (!Number.isFinite(step)) return;
    this.mark = step;
    this._focus = step;
    if (this.loaded) this.applyFocus();
  }

  focusWindow(step) {
    let lo = Infinity, hi = -Infinity;
    for (const [id, s] of this.series) {
      if (!s.steps.length || !this.shows(id)) continue;
      lo = Math.min(lo, s.steps[0]); hi = Math.max(hi, s.steps[s.steps.length - 1]);
    }
    return focusWindow(lo, hi, step);
  }

  applyFocus() {
    if (!this.u || this.settings.xaxis !== "step") return;
    const win = this.focusWindow(this._focus);
    this._focus = null;
    if (!win || win[1] <= win[0]) return;
    this.u.setScale("x", { min: win[0], max: win[1] });
  }

  get loading() { return this._pending != null; }

  append(runId, pts) {
    if (this._pending) { this._pending.push([runId, pts]); return false; } // a load is in flight
    const s = this.series.get(runId);
    if (!s || pts.reset) return true; // a run new to this chart, or too many points at once
    // points logged between our query and the first pushed point: query again
    if (pts.total !== undefined && pts.total - pts.steps.length > s.total) return true;
    const last = s.steps.length ? s.steps[s.steps.length - 1] : -Infinity;
    let added = 0;
    for (let i = 0; i < pts.steps.length; i++) {
      if (pts.steps[i] > last) { s.steps.push(pts.steps[i]); s.values.push(pts.values[i]); s.walls.push(pts.walls[i]); added++; }
    }
    s.total = pts.total ?? s.total + added;
    s.appended += added;
    if (added) this.scheduleDraw();
    return s.appended > 2 * this.buckets(); // ask the page to re-query when too dense
  }

  scheduleDraw() {
    if (this._redrawTimer) return;
    this._redrawTimer = setTimeout(() => { this._redrawTimer = null; this.draw(); }, 150);
  }

  xOf(runId, s) {
    const mode = this.settings.xaxis;
    if (mode === "step") return s.steps;
    if (mode === "wall") return s.walls;
    const run = state.runById.get(runId);
    const t0 = (run && run.created) || (s.walls.length ? Math.min(...s.walls.slice(0, 50)) : 0);
    return s.walls.map((w) => w - t0);
  }

  // uPlot wants one shared, sorted x array: join the runs' tables.
  buildData() {
    const { smoothing, logy } = this.settings;
    const tables = [], runs = [];
    for (const [id, s] of this.series) {
      if (!this.shows(id) || !s.steps.length) continue;
      const xs = this.xOf(id, s);
      let order = xs.map((_, i) => i);
      let sorted = true;
      for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) { sorted = false; break; }
      if (!sorted) order.sort((a, b) => xs[a] - xs[b]);
      const x = [], raw = [], idx = [];
      for (const i of order) {
        let v = s.values[i];
        if (logy && v !== null && v <= 0) v = null;
        if (x.length && x[x.length - 1] === xs[i]) { raw[raw.length - 1] = v; idx[idx.length - 1] = i; continue; }
        x.push(xs[i]); raw.push(v); idx.push(i);
      }
      const sm = smooth(raw, smoothing);
      tables.push([x, raw, sm]);
      runs.push({ id, idx, s, x });
    }
    if (!tables.length) return { data: null, runs };
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    return { data, runs };
  }

  draw() {
    const { data, runs } = this.buildData();
    this.runs = runs;
    const points = [...this.series.values()].reduce((a, s) => a + s.steps.length, 0);
    const total = [...this.series.values()].reduce((a, s) => a + (s.total || 0), 0);
    const errors = [...this.series.values()].filter((s) => s.error).map((s) => s.error);
    this.info.textContent = errors.length ? errors[0] : (total > points ? `${points.toLocaleString()} of ${total.toLocaleString()} points drawn (min/max per pixel)` : `${total.toLocaleString()} points`);
    if (!data) {
      if (this.u) { this.u.destroy(); this.u = null; }
      clear(this.plotEl).appendChild(h("div", { class: "empty" }, this.loaded ? "no data for the selected runs" : "loading…"));
      return;
    }
    const key = runs.map((r) => r.id).join("|") + `|${this.settings.smoothing > 0}|${this.settings.logy}|${this.settings.xaxis}`;
    if (this.u && this._key === key) {
      this.u.setData(data, !this.zoom);
      return;
    }
    this._key = key;
    if (this.u) this.u.destroy();
    clear(this.plotEl);
    this.u = new uPlot(this.options(runs), data, this.plotEl);
  }

  options(runs) {
    const { smoothing, logy, xaxis } = this.settings;
    const series = [{ label: xaxis }];
    for (const r of runs) {
      const c = this.colour(r.id);
      series.push({ label: `${r.id} (raw)`, stroke: c, width: 1, alpha: smoothing > 0 ? 0.25 : 1, spanGaps: false,
        points: { show: false }, show: true });
      series.push({ label: r.id, stroke: c, width: smoothing > 0 ? 1.6 : 0, spanGaps: false,
        points: { show: false }, show: smoothing > 0 });
    }
    const self = this;
    // a log value axis labels and rules its powers of ten only (uPlot splits every decade 1..9)
    const decades = (u, splits) => (logy ? splits.map((v) => (v > 0 && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? v : null)) : splits);
    return {
      width: this.width(), height: 230,
      legend: { show: false },
      scales: { x: { time: xaxis === "wall" }, y: logy ? { distr: 3 } : { auto: true } },
      axes: [
        { stroke: "#57606a", grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d0d7de" },
          values: xaxis === "relative" ? (u, vals) => vals.map((v) => fmtDuration(v)) : undefined, label: xaxis === "step" ? "step" : xaxis === "relative" ? "relative time" : "wall time", labelSize: 18, labelFont: "11px system-ui", font: "11px system-ui" },
        { stroke: "#57606a", grid: { stroke: "#eaeef2", filter: decades }, ticks: { stroke: "#d0d7de", filter: decades }, size: 60,
          filter: decades, values: (u, vals) => vals.map((v) => (v === null ? "" : fmt(v, 4))), font: "11px system-ui" },
      ],
      series,
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { size: 7, fill: (u, i) => u.series[i].stroke() },
        dataIdx: (u, si, hovered) => {
          // snap each series to its own nearest drawn point (runs log at different steps)
          const ys = u.data[si];
          if (ys[hovered] !== undefined && ys[hovered] !== null) return hovered;
          const xs = u.data[0], cx = xs[hovered];
          let l = hovered - 1, r = hovered + 1;
          while (l >= 0 && (ys[l] === undefined || ys[l] === null)) l--;
          while (r < ys.length && (ys[r] === undefined || ys[r] === null)) r++;
          if (l < 0 && r >= ys.length) return hovered;
          if (l < 0) return r;
          if (r >= ys.length) return l;
          return cx - xs[l] <= xs[r] - cx ? l : r;
        },
      },
      hooks: {
        setCursor: [(u) => self.showTip(u)],
        setScale: [(u, key) => { if (key === "x") self.onZoom(u); }],
        ready: [(u) => u.over.addEventListener("dblclick", () => self.resetZoom())],
        draw: [(u) => self.drawMark(u)],
      },
    };
  }

  // The marked step: a dashed vertical line across the plot, labelled with the step.
  drawMark(u) {
    if (this.mark === null || this.settings.xaxis !== "step") return;
    const { min, max } = u.scales.x;
    if (!(this.mark >= min && this.mark <= max)) return;
    const x = Math.round(u.valToPos(this.mark, "x", true)) + 0.5;
    const { top, height } = u.bbox, ctx = u.ctx, dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = "#cf222e"; ctx.lineWidth = 1.5 * dpr; ctx.setLineDash([5 * dpr, 4 * dpr]);
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = "#cf222e"; ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    const label = `step ${this.mark}`, w = ctx.measureText(label).width;
    ctx.textBaseline = "top"; ctx.textAlign = "left";
    ctx.fillText(label, x + 4 * dpr + w > u.bbox.left + u.bbox.width ? x - 4 * dpr - w : x + 4 * dpr, top + 3 * dpr);
    ctx.restore();
  }

  // The hover box: each run's point nearest to the cursor, raw and smoothed values.
  showTip(u) {
    const { left, top } = u.cursor;
    if (left === undefined || left < 0 || !this.runs) { this.tip.hidden = true; return; }
    clear(this.tip);
    const rows = [];
    this.runs.forEach((r, k) => {
      const rawSi = 1 + 2 * k, smSi = rawSi + 1;
      const i = u.cursor.idxs ? u.cursor.idxs[rawSi] : u.cursor.idx;
      if (i === null || i === undefined) return;
      const raw = u.data[rawSi][i];
      if (raw === undefined) return;
      // position in the run's own data to report step and time exactly as logged
      const pos = lowerBound(r.x, u.data[0][i]);
      const j = r.idx[Math.min(pos, r.idx.length - 1)];
      const step = r.s.steps[j], value = r.s.values[j], wall = r.s.walls[j];
      rows.push({ id: r.id, step, value, smooth: u.data[smSi][i], wall, dist: Math.abs(u.valToPos(u.data[0][i], "x") - left) });
    });
    // runs with no point near the cursor (they ended earlier or start later) are left out
    const near = rows.filter((r) => r.dist <= 24);
    rows.length = 0; rows.push(...near);
    if (!rows.length) { this.tip.hidden = true; return; }
    const smoothing = this.settings.smoothing > 0;
    const table = h("table", null, h("tr", null, h("th", null, "run"), h("th", null, "step"),
      smoothing ? h("th", null, "smoothed") : null, h("th", null, "value"), h("th", null, "time")));
    for (const row of rows) {
      table.appendChild(h("tr", { class: "tt-row", dataset: { run: row.id, step: String(row.step) } },
        h("td", null, h("span", { class: "swatch", style: { background: this.colour(row.id) } }), row.id),
        h("td", { class: "tt-step" }, String(row.step)),
        smoothing ? h("td", { class: "tt-smoothed", dataset: { value: String(row.smooth) } }, fmt(row.smooth)) : null,
        h("td", { class: "tt-value", dataset: { value: String(row.value) } }, fmt(row.value)),
        h("td", { class: "tt-time" }, this.settings.xaxis === "wall" ? fmtTime(row.wall) : fmtTime(row.wall).slice(11))));
    }
    this.tip.appendChild(table);
    this.tip.hidden = false;
    const w = this.plotEl.clientWidth;
    const tipW = this.tip.offsetWidth;
    const x = left + u.over.offsetLeft + 14;
    this.tip.style.left = `${x + tipW > w ? Math.max(0, left + u.over.offsetLeft - tipW - 14) : x}px`;
    // below the plot area, so the lines under the cursor stay visible
    this.tip.style.top = `${u.over.offsetTop + u.over.offsetHeight + 6}px`;
  }

  onZoom(u) {
    const xs = u.data[0];
    if (!xs || !xs.length) return;
    const { min, max } = u.scales.x;
    const full = min <= xs[0] && max >= xs[xs.length - 1];
    if (full) { return; }
    const prev = this.zoom;
    this.zoom = [min, max];
    const downsampled = [...this.series.values()].some((s) => s.downsampled);
    if (!this.fixed && this.settings.xaxis === "step" && downsampled && (!prev || prev[0] !== min || prev[1] !== max)) {
      clearTimeout(this._zoomTimer);
      this._zoomTimer = setTimeout(() => this.refine(), 50);
    }
  }

  async refine() {
    // more detail for the zoomed range, keeping the view where the user put it
    const zoom = this.zoom;
    const runs = [...this.series.keys()].map((id) => state.runById.get(id)).filter(Boolean);
    await this.load(runs);
    if (this.u && zoom) this.u.setScale("x", { min: zoom[0], max: zoom[1] });
  }

  async resetZoom() {
    const wasRefined = !this.fixed && this.zoom && [...this.series.values()].some((s) => s.downsampled);
    this.zoom = null;
    if (wasRefined) {
      const runs = [...this.series.keys()].map((id) => state.runById.get(id)).filter(Boolean);
      await this.load(runs);
    }
    if (this.u) {
      const xs = this.u.data[0];
      if (xs.length) this.u.setScale("x", { min: xs[0], max: xs[xs.length - 1] });
    }
  }

  resize() {
    if (!this.u || this.el.clientWidth === 0) return;
    const w = this.width();
    if (Math.abs(this.u.width - w) > 1) this.u.setSize({ width: w, height: 230 });
  }

  async downloadCsv() {
    const lines = ["run,step,wall_time,value"];
    for (const id of this.series.keys()) {
      if (!this.shows(id)) continue;
      const d = this.fixed ? this.series.get(id) : await get("/api/scalars", { run: id, tag: this.tag });
      const q = /[",\n]/.test(id) ? `"${id.replace(/"/g, '""')}"` : id;
      for (let i = 0; i < d.steps.length; i++) lines.push(`${q},${d.steps[i]},${d.walls[i]},${d.values[i] === null ? "nan" : d.values[i]}`);
    }
    download(`${this.tag.replace(/[^\w.-]+/g, "_")}.csv`, new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  }

  downloadPng() {
    if (!this.u) return;
    const src = this.u.ctx.canvas;
    const dpr = src.width / this.u.width || 1;
    const legendH = 18 * dpr, titleH = 24 * dpr;
    const c = document.createElement("canvas");
    c.width = src.width; c.height = src.height + titleH + legendH;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = "#1f2328"; ctx.font = `${13 * dpr}px system-ui, sans-serif`;
    ctx.fillText(this.tag, 8 * dpr, 16 * dpr);
    ctx.drawImage(src, 0, titleH);
    let x = 8 * dpr;
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    for (const r of this.runs || []) {
      ctx.fillStyle = this.colour(r.id); ctx.fillRect(x, titleH + src.height + 5 * dpr, 10 * dpr, 10 * dpr);
      ctx.fillStyle = "#1f2328"; ctx.fillText(r.id, x + 14 * dpr, titleH + src.height + 14 * dpr);
      x += (24 + ctx.measureText(r.id).width / dpr) * dpr;
    }
    download(`${this.tag.replace(/[^\w.-]+/g, "_")}.png`, c.toDataURL("image/png"));
  }
}

