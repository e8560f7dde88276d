// Audit: the examples of a whole-data-set audit (neuralscope.audit). A WebGL projector
// (deck.gl, src/projector.js, loaded on demand) of the embedded layer, per-class score distributions, and a sortable,
// filterable table with thumbnails; a lasso in the projector filters the table, and a click
// on a row or a point opens that example's full view (input, every method's map, scores).
import { h, clear, append, fmt } from "../dom.js";
import { get, ApiError } from "../api.js";
import { state, PALETTE } from "../state.js";
import { histogramBars } from "../draw/bars.js";
import { factTable } from "../draw/table.js";

const PAGE = 50;

const TYPED = { float32: Float32Array, int32: Int32Array, int16: Int16Array, uint8: Uint8Array, float64: Float64Array };

// a binary route's body (server/audit_api.py binary_response): "NSB1", uint32 header length,
// JSON header, then 8-byte aligned little-endian arrays read in place as typed arrays
export function decodeBinary(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength < 8 || String.fromCharCode(...new Uint8Array(buf, 0, 4)) !== "NSB1") throw new Error("not an NSB1 body");
  const len = dv.getUint32(4, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, len)));
  const arrays = {};
  for (const a of head.arrays) arrays[a.name] = new TYPED[a.dtype](buf, a.offset, a.length);
  return { meta: head.meta, arrays };
}

async function getBinary(path, params) {
  const r = await fetch(`${path}?${new URLSearchParams(params)}`, { credentials: "same-origin" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new ApiError(body.error || `${r.status} ${r.statusText}`);
  }
  return decodeBinary(await r.arrayBuffer());
}

// thumbnails, fetched by batches and kept
function thumbCache(run, name) {
  const cache = new Map(), waiting = new Map();
  async function fetchMany(key, ids) {
    const want = ids.filter((i) => !cache.has(`${key}:${i}`));
    for (let k = 0; k < want.length; k += 200) {
      const part = want.slice(k, k + 200);
      const body = await get("/api/audit/thumbs", { run, name, key, ids: part.join(",") });
      for (const i of part) cache.set(`${key}:${i}`, body.images[String(i)] || "");
    }
  }
  return {
    async many(key, ids) { await fetchMany(key, ids); return ids.map((i) => cache.get(`${key}:${i}`)); },
    async one(key, i) {
      const k = `${key}:${i}`;
      if (cache.has(k)) return cache.get(k);
      if (!waiting.has(k)) waiting.set(k, fetchMany(key, [i]).finally(() => waiting.delete(k)));
      await waiting.get(k);
      return cache.get(k);
    },
  };
}

function img(src, cls, title) {
  return src ? h("img", { src, class: cls, title: title || "", alt: title || "" }) : h("span", { class: cls + " none" });
}

// per-class histograms of one score (the summary's distributions) as small multiples of
// draw/bars.js histograms on one count scale
function distributions(summary, score) {
  const d = summary.distributions[score];
  if (!d) return h("p", { class: "muted" }, "No distribution for this score.");
  const max = Math.max(1, ...d.counts.flat());
  const cells = d.counts.map((row, c) => (!row.some((v) => v > 0) ? null
    : h("div", { class: "audit-dist", dataset: { cls: String(c) } },
      h("div", { class: "small" }, `class ${c}`, h("span", { class: "muted" }, ` mean ${fmt(d.class_means[c], 3)}`)),
      histogramBars({ counts: row, edges: d.edges, compact: true, width: 156, height: 96, yMax: max,
        colour: PALETTE[c % PALETTE.length], cls: "audit-hist" }))));
  return h("div", { class: "audit-dists" }, cells);
}

export function mount(root, params) {
  const head = h("div", { class: "page-head" }, h("h1", null, "Audit"));
  const pick = h("select", { id: "audit-pick" });
  const status = h("span", { class: "muted", id: "audit-status" });
  const plotBox = h("div", { class: "audit-projector" });
  const tip = h("div", { class: "audit-tip", hidden: true });
  plotBox.appendChild(tip);
  const legend = h("div", { class: "audit-legend" });
  const distBox = h("div", { class: "audit-dist-box" });
  const table = h("table", { class: "audit-table", id: "audit-table" });
  const pager = h("div", { class: "audit-pager" });
  const filters = h("div", { class: "audit-filters" });
  const detail = h("div", { class: "audit-detail", id: "audit-detail", hidden: true });
  root.appendChild(h("section", { class: "audit-page" }, head, h("div", { class: "audit-bar" }, pick, status),
    h("div", { class: "audit-top" }, h("div", null, plotBox, legend), distBox), detail, filters, h("div", { class: "table-wrap" }, table), pager));

  let plot = null, alive = true;
  const view = { sort: null, desc: false, cls: "", wrong: false, selection: null, page: 0 };

  async function listAudits() {
    const found = [];
    for (const r of state.runs) {
      try {
        for (const a of (await get("/api/audits", { run: r.id })).items) found.push({ run: r.id, ...a });
      } catch { /* a run that cannot be read: not listed */ }
    }
    return found;
  }

  async function open(run, name) {
    // the projection first, alone (the server and this thread work for it only): the projector
    // paints while the summary and the table's columns load
    const ctx = { run, name, thumbs: thumbCache(run, name), data: null, summary: null, methods: [] };
    await drawProjector(ctx).catch((e) => append(legend, [h("p", { class: "muted" }, e.message)]));
    const [summary, cols] = await Promise.all([get("/api/audit", { run, name }), getBinary("/api/audit/columns.bin", { run, name })]);
    const data = cols.arrays, n = cols.meta.n;
    const p = summary.progress;
    status.textContent = `${n.toLocaleString()} examples` + (p.finished ? "" : ` · running: ${p.shards_done} of ${p.shards ?? "?"} shards`)
      + ` · methods ${summary.spec.methods.join(", ")}`;
    Object.assign(ctx, { summary, data, n, methods: summary.spec.methods });
    buildFilters(ctx);
    buildDistributions(ctx);
    renderTable(ctx);
    const ex = params.get("example");
    if (ex !== null) showExample(ctx, Number(ex));
  }

  function buildDistributions(ctx) {
    const scores = ctx.summary.scores.map((s) => s.name);
    const sel = h("select", { id: "audit-dist-score" }, scores.map((s) => h("option", { value: s }, s)));
    const box = h("div");
    const draw = () => clear(box).appendChild(distributions(ctx.summary, sel.value));
    sel.addEventListener("change", draw);
    clear(distBox).appendChild(h("div", null, h("h3", null, "Distribution per class ", sel), box));
    draw();
  }

  function buildFilters(ctx) {
    const classes = [...new Set(ctx.data.label[0] >= 0 ? ctx.data.label : ctx.data.pred)].sort((a, b) => a - b);
    const clsSel = h("select", { id: "audit-class" }, h("option", { value: "" }, "all classes"),
      classes.map((c) => h("option", { value: String(c) }, `class ${c}`)));
    clsSel.addEventListener("change", () => { view.cls = clsSel.value; view.page = 0; renderTable(ctx); });
    const wrong = h("input", { type: "checkbox", id: "audit-wrong" });
    wrong.addEventListener("change", () => { view.wrong = wrong.checked; view.page = 0; renderTable(ctx); });
    const clearSel = h("button", { id: "audit-clear-selection", hidden: true }, "clear selection");
    clearSel.addEventListener("click", () => { if (plot) plot.deselect(); else setSelection(ctx, null); });
    ctx.clearSel = clearSel;
    clear(filters).appendChild(h("div", null, clsSel, h("label", null, wrong, " misclassified only"), clearSel,
      h("span", { class: "muted", id: "audit-count" })));
  }

  function setSelection(ctx, points) {
    view.selection = points && points.length ? new Set(points) : null;
    if (!ctx.data) return;  // the table applies it once its columns arrive
    ctx.clearSel.hidden = !view.selection;
    view.page = 0;
    renderTable(ctx);
  }

  function rows(ctx) {
    const { data, n } = ctx;
    const group = (i) => (data.label[i] >= 0 ? data.label[i] : data.pred[i]);
    let idx = [];
    const src = view.selection ? [...view.selection] : null;
    const test = (i) => (!view.cls || group(i) === Number(view.cls)) && (!view.wrong || (data.label[i] >= 0 && data.label[i] !== data.pred[i]));
    if (src) { for (const i of src) if (i < n && test(i)) idx.push(i); } else for (let i = 0; i < n; i++) if (test(i)) idx.push(i);
    if (view.sort) {
      const col = data[view.sort], s = view.desc ? -1 : 1;
      const key = (i) => (Number.isFinite(col[i]) ? col[i] : (view.desc ? -Infinity : Infinity));
      idx.sort((a, b) => s * (key(a) - key(b)) || a - b);
    } else idx.sort((a, b) => a - b);
    return idx;
  }

  function renderTable(ctx) {
    const idx = rows(ctx);
    const pages = Math.max(1, Math.ceil(idx.length / PAGE));
    view.page = Math.min(view.page, pages - 1);
    const shown = idx.slice(view.page * PAGE, (view.page + 1) * PAGE);
    document.getElementById("audit-count").textContent = ` ${idx.length.toLocaleString()} of ${ctx.n.toLocaleString()} examples` + (view.selection ? " (selection)" : "");
    const scoreCols = ctx.summary.scores.map((s) => s.name).filter((s) => s in ctx.data);
    const cols = ["index", "label", "pred", "prob", ...scoreCols];
    const th = (c) => {
      const arrow = view.sort === c ? (view.desc ? " ▼" : " ▲") : "";
      return h("th", { class: "sortable", dataset: { col: c }, title: `sort by ${c}`,
        onclick: () => { view.desc = view.sort === c ? !view.desc : false; view.sort = c; renderTable(ctx); } }, c + arrow);
    };
    clear(table).appendChild(h("thead", null, h("tr", null, h("th", null, "input"), h("th", null, ctx.methods[0]), cols.map(th))));
    const body = h("tbody");
    const cells = [];
    for (const i of shown) {
      const a = h("td", { class: "thumb" }), b = h("td", { class: "thumb" });
      cells.push([i, a, b]);
      body.appendChild(h("tr", { dataset: { index: String(i) }, class: ctx.data.label[i] >= 0 && ctx.data.label[i] !== ctx.data.pred[i] ? "wrong" : "",
        onclick: () => showExample(ctx, i) }, a, b,
        cols.map((c) => h("td", { class: "num" }, c === "index" || c === "label" || c === "pred" ? String(ctx.data[c][i]) : fmt(ctx.data[c][i], 4)))));
    }
    table.appendChild(body);
    clear(pager).appendChild(h("span", null,
      h("button", { disabled: view.page === 0, onclick: () => { view.page--; renderTable(ctx); } }, "‹ previous"),
      ` page ${view.page + 1} of ${pages} `,
      h("button", { disabled: view.page >= pages - 1, onclick: () => { view.page++; renderTable(ctx); } }, "next ›")));
    const ids = shown;
    // inputs and maps arrive independently (an audit without map thumbnails still shows its inputs)
    ctx.thumbs.many("input", ids).then((ins) => cells.forEach(([i, a], k) => a.appendChild(img(ins[k], "th-in", `#${i}`)))).catch(() => {});
    ctx.thumbs.many(ctx.methods[0], ids).then((maps) => cells.forEach(([i, , b], k) => b.appendChild(img(maps[k], "th-map", `${ctx.methods[0]} map of #${i}`)))).catch(() => {});
  }

  async function showExample(ctx, i) {
    if (!ctx.data) return;
    detail.hidden = false;
    const { data } = ctx;
    const scores = ctx.summary.scores.map((s) => s.name).filter((s) => s in data);
    const imgs = await Promise.all([ctx.thumbs.one("input", i), ...ctx.methods.map((m) => ctx.thumbs.one(m, i))]);
    clear(detail).appendChild(h("div", { dataset: { index: String(i) } },
      h("h3", null, `Example #${i}`, h("button", { class: "close", onclick: () => { detail.hidden = true; } }, "×")),
      h("div", { class: "audit-views" },
        h("figure", null, img(imgs[0], "big", "input"), h("figcaption", null, "input")),
        ctx.methods.map((m, k) => h("figure", null, img(imgs[k + 1], "big", m), h("figcaption", null, `${m} (red +, blue −, white 0)`)))),
      factTable([
        { label: "label", value: data.label[i] >= 0 ? String(data.label[i]) : "—" },
        { label: "prediction", value: `${data.pred[i]} (p = ${fmt(data.prob[i], 4)})` },
        "loss" in data ? { label: "loss", value: fmt(data.loss[i], 4) } : null,
        ...scores.filter((s) => s !== "loss").map((s) => ({ label: s, value: fmt(data[s][i], 4) }))], { cls: "audit-scores" })));
    detail.scrollIntoView({ block: "nearest" });
  }

  async function drawProjector(ctx) {
    let proj;
    try { proj = await getBinary("/api/audit/projection.bin", { run: ctx.run, name: ctx.name }); } catch (e) {
      plotBox.hidden = true;
      clear(legend).appendChild(h("p", { class: "muted" }, e instanceof ApiError ? e.message : "No projection."));
      return;
    }
    // deck.gl is loaded with the first projector (its own chunk): every other page opens without it
    const { createProjector } = await import("../projector.js");
    const { x, y, classes: cls } = proj.arrays, n = proj.meta.n;
    let ncls = 0;
    for (let i = 0; i < n; i++) if (cls[i] + 1 > ncls) ncls = cls[i] + 1;
    const width = 640, height = 480;
    const palette = Array.from({ length: Math.max(ncls, 1) }, (_, k) => PALETTE[k % PALETTE.length]);
    plot = createProjector(plotBox, { x, y, classes: cls, palette, width, height }, {
      onHover: async (i, px, py) => {
        if (i < 0) { tip.hidden = true; tip.dataset.index = ""; return; }
        tip.hidden = false;
        clear(tip).appendChild(h("div", null, h("b", null, `#${i}`), ` class ${cls[i]}`));
        Object.assign(tip.style, { left: `${Math.min(width - 110, px + 12)}px`, top: `${Math.min(height - 110, py + 12)}px` });
        tip.dataset.index = String(i);
        try {
          const src = await ctx.thumbs.one("input", i);
          if (tip.dataset.index === String(i) && src) tip.appendChild(img(src, "th-tip", `#${i}`));
        } catch { /* no thumbnail */ }
      },
      onClick: (i) => showExample(ctx, i),
      onSelect: (ids) => setSelection(ctx, ids),
    });
    clear(legend).appendChild(h("div", { class: "small" },
      h("span", { class: "muted" }, `${n.toLocaleString()} points (WebGL). Drag to pan, wheel to zoom, hover for the example, click a point to open it, shift+drag to draw a lasso around points; the selection filters the table. `),
      Array.from({ length: ncls }, (_, k) => h("span", { class: "leg" }, h("span", { class: "swatch", style: { background: PALETTE[k % PALETTE.length] } }), `class ${k}`))));
    window.__nsProjector = plot;
  }

  (async () => {
    const found = await listAudits();
    if (!alive) return;
    if (!found.length) {
      clear(root).appendChild(h("p", { class: "empty" }, "No audits in these runs yet. Run neuralscope.audit(model, data, run=...) to add one."));
      return;
    }
    for (const a of found) pick.appendChild(h("option", { value: `${a.run}\u0000${a.name}` }, `${a.run} · ${a.name}`));
    const want = params.get("run") && params.get("name") ? `${params.get("run")}\u0000${params.get("name")}` : null;
    if (want && found.some((a) => `${a.run}\u0000${a.name}` === want)) pick.value = want;
    pick.addEventListener("change", () => { location.hash = `#/audit?run=${encodeURIComponent(pick.value.split("\u0000")[0])}&name=${encodeURIComponent(pick.value.split("\u0000")[1])}`; });
    const [run, name] = pick.value.split("\u0000");
    await open(run, name);
    document.getElementById("audit-table").dataset.ready = "1";
  })().catch((e) => append(root, [h("p", { class: "error" }, `The audit could not be shown: ${e.message}`)]));

  return { unmount() { alive = false; if (plot) plot.destroy(); plot = null; } };
}
