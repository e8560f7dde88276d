// Graph: the graph package's interactive viewer (served by /graph-view from the package's
// own viewer.js) with per-layer statistics of the selected step drawn on the nodes:
// gradient norm and dead-unit fraction recorded by run.watch().
import { h, clear, fmt } from "../dom.js";
import { get } from "../api.js";
import { state, on, selectedRuns } from "../state.js";

const STATS = [
  { prefix: "gradients/norm/", key: "grad", label: "‖grad‖" },
  { prefix: "activations/dead/", key: "dead", label: "dead" },
  { prefix: "updates/ratio/", key: "update", label: "upd/w" },
];
const SVGNS = "http://www.w3.org/2000/svg";

async function loadStats(run) {
  const tags = (run.series.scalar || []);
  const out = { steps: [], layers: new Map() }; // layer -> key -> Map(step -> value)
  const wanted = [];
  for (const s of STATS) for (const t of tags) if (t.startsWith(s.prefix)) wanted.push([s, t]);
  const all = new Set();
  await Promise.all(wanted.map(async ([s, t]) => {
    const d = await get("/api/scalars", { run: run.id, tag: t, buckets: 2000 });
    const layer = t.slice(s.prefix.length);
    if (!out.layers.has(layer)) out.layers.set(layer, {});
    const m = new Map();
    d.steps.forEach((st, i) => { m.set(st, d.values[i]); all.add(st); });
    out.layers.get(layer)[s.key] = m;
  }));
  out.steps = [...all].sort((a, b) => a - b);
  return out;
}

function valueAt(m, step) {
  if (!m || !m.size) return undefined;
  if (m.has(step)) return m.get(step);
  let best, bestStep = -Infinity;
  for (const [s, v] of m) if (s <= step && s > bestStep) { bestStep = s; best = v; }
  return best;
}

export function mount(root, params) {
  const model = state.info.mode === "model";
  const runs = model ? [] : state.runs.filter((r) => r.status !== "damaged");
  const wantedRun = params.get("run");
  const withGraph = runs.filter((r) => (r.series.result || []).length);
  let run = runs.find((r) => r.id === wantedRun) || withGraph.find((r) => state.selected.has(r.id)) || withGraph[0] || runs[0];
  // The viewer page runs only its own script (a hash-pinned Content-Security-Policy) and
  // escapes every graph field; the sandbox also denies it dialogs, pop-ups, forms and
  // navigating the dashboard. It stays same-origin: the overlay below reads its nodes.
  const frame = h("iframe", { class: "graph-frame", title: "structure graph",
    sandbox: "allow-scripts allow-same-origin allow-downloads" });
  const slider = h("input", { type: "range", min: 0, max: 0, value: 0, id: "graph-step", disabled: true });
  const stepLabel = h("span", { class: "step-label muted" });
  const picker = h("select", { id: "graph-run", onchange: () => { run = state.runById.get(picker.value); show(); } },
    runs.map((r) => h("option", { value: r.id, selected: run && r.id === run.id }, r.id)));
  const legend = h("span", { class: "muted overlay-legend" }, "node badges: gradient norm · dead-unit fraction at the selected step (red: ≥ 50% dead or non-finite)");
  root.appendChild(h("section", { class: "graph-page" },
    h("div", { class: "page-head" }, h("h1", null, "Graph"),
      model ? h("span", { class: "muted" }, state.info.root) : [h("label", null, "run ", picker),
        h("label", { class: "step-ctl" }, "step ", slider, stepLabel), legend]),
    frame));
  let stats = null;
  let observer = null;

  function overlay() {
    const doc = frame.contentDocument;
    if (!doc || !stats || !stats.steps.length) return;
    const step = stats.steps[+slider.value];
    stepLabel.textContent = String(step);
    if (observer) observer.disconnect();
    doc.querySelectorAll(".ns-stat").forEach((e) => e.remove());
    for (const node of doc.querySelectorAll(".ns-node")) {
      const names = [node.getAttribute("data-id"), node.getAttribute("data-group"), node.getAttribute("data-collapsed")];
      const layer = names.find((n) => n && stats.layers.has(n));
      if (!layer) continue;
      const st = stats.layers.get(layer);
      const g = valueAt(st.grad, step), dead = valueAt(st.dead, step);
      const parts = [];
      if (g !== undefined) parts.push(`‖g‖ ${fmt(g, 3)}`);
      if (dead !== undefined) parts.push(`dead ${dead === null ? "NaN" : Math.round(dead * 100) + "%"}`);
      if (!parts.length) continue;
      const bad = (dead !== undefined && dead !== null && dead >= 0.5) || g === null;
      const body = node.querySelector(".ns-body");
      const w = body ? +body.getAttribute("width") : 100;
      const badge = doc.createElementNS(SVGNS, "g");
      badge.setAttribute("class", "ns-stat");
      badge.setAttribute("data-layer", layer);
      const text = parts.join(" · ");
      const bw = Math.max(60, text.length * 5.6 + 10);
      const rect = doc.createElementNS(SVGNS, "rect");
      Object.entries({ x: w - bw + 6, y: -9, width: bw, height: 15, rx: 7, fill: bad ? "#cf222e" : "#0969da", opacity: 0.92 })
        .forEach(([k, v]) => rect.setAttribute(k, v));
      const t = doc.createElementNS(SVGNS, "text");
      Object.entries({ x: w - bw / 2 + 6, y: 2, "text-anchor": "middle", fill: "#fff", "font-size": 9.5, "font-family": "system-ui, sans-serif" })
        .forEach(([k, v]) => t.setAttribute(k, v));
      t.textContent = text;
      badge.appendChild(rect); badge.appendChild(t);
      node.appendChild(badge);
      if (bad && body) body.setAttribute("stroke", "#cf222e");
    }
    if (observer) observer.observe(doc.body, { childList: true, subtree: true });
  }

  function watchFrame() {
    const doc = frame.contentDocument;
    if (!doc || !doc.body) return;
    let pending = false;
    observer = new MutationObserver((muts) => {
      if (muts.every((m) => [...m.addedNodes].every((n) => n.classList && n.classList.contains("ns-stat")))) return;
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; overlay(); });
    });
    observer.observe(doc.body, { childList: true, subtree: true });
    const layer = params.get("layer");
    const api = frame.contentWindow.neuralscopeGraph;
    if (layer && api && api.search) api.search(layer);
    overlay();
  }

  async function show() {
    if (observer) observer.disconnect();
    frame.src = model ? "/graph-view" : `/graph-view?run=${encodeURIComponent(run ? run.id : "")}`;
    frame.onload = () => watchFrame();
    stats = null;
    slider.disabled = true;
    if (!model && run) {
      try { stats = await loadStats(run); } catch { stats = null; }
      if (stats && stats.steps.length) {
        slider.max = String(stats.steps.length - 1);
        slider.value = String(stats.steps.length - 1);
        slider.disabled = false;
        overlay();
      } else {
        stepLabel.textContent = "no per-layer statistics (run.watch(model) records them)";
      }
    }
  }
  slider.addEventListener("input", overlay);
  if (!model && !run) { clear(root).appendChild(h("p", { class: "empty" }, "No runs yet.")); return null; }
  show();
  let lastReload = 0;
  const offs = [on("changed", async (m) => {
    if (!run || m.run !== run.id || !stats || Date.now() - lastReload < 5000) return;
    lastReload = Date.now();
    const atEnd = +slider.value === stats.steps.length - 1;
    try { stats = await loadStats(state.runById.get(run.id)); } catch { return; }
    slider.max = String(stats.steps.length - 1);
    if (atEnd) slider.value = slider.max;
    overlay();
  })];
  return { unmount: () => { offs.forEach((f) => f()); if (observer) observer.disconnect(); } };
}
