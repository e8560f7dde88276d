// Scalars: one chart per tag (grouped by the prefix before "/"), runs overlaid, live.
import { h, clear, groupByPrefix, whenVisible } from "../dom.js";
import { state, on, selectedRuns, seriesNames, setSetting } from "../state.js";
import { runSelector } from "../components.js";
import { ScalarChart } from "../chart.js";

// A filter (regular expression) that matches `tag` and nothing else: pages opened on one tag.
export function exactly(tag) {
  return `^${tag.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
}

export function settingsPanel() {
  const s = state.settings;
  const smoothVal = h("input", { type: "number", min: 0, max: 0.999, step: 0.001, value: s.smoothing, class: "smooth-num",
    onchange: (e) => { const v = Math.min(0.999, Math.max(0, +e.target.value || 0)); slider.value = v; setSetting("smoothing", v); } });
  const slider = h("input", { type: "range", min: 0, max: 0.999, step: 0.001, value: s.smoothing, id: "smoothing",
    oninput: (e) => { smoothVal.value = e.target.value; setSetting("smoothing", +e.target.value); } });
  const radio = (v, label) => h("label", { class: "radio" }, h("input", { type: "radio", name: "xaxis", value: v, checked: s.xaxis === v,
    onchange: () => setSetting("xaxis", v) }), label);
  return h("div", { class: "settings" },
    h("div", { class: "side-title" }, "Smoothing"),
    h("div", { class: "smooth-row" }, slider, smoothVal),
    h("div", { class: "side-title" }, "Horizontal axis"),
    radio("step", "Step"), radio("relative", "Relative"), radio("wall", "Wall"),
    h("div", { class: "side-title" }, "Vertical axis"),
    h("label", { class: "radio" }, h("input", { type: "checkbox", id: "logy", checked: s.logy,
      onchange: (e) => setSetting("logy", e.target.checked) }), "Log scale"),
    h("p", { class: "hint muted" }, "Drag on a chart to zoom, double-click to reset."));
}

export function mount(root, params) {
  const charts = new Map();
  // a link to a step (from Diagnostics) is about steps: show steps on the x axis
  if (params.get("step") !== null && state.settings.xaxis !== "step") setSetting("xaxis", "step");
  const filter = h("input", { type: "search", placeholder: "Filter tags (regular expression)", class: "tag-filter",
    value: params.get("tag") ? exactly(params.get("tag")) : state.settings.filter,
    oninput: () => renderCharts() });
  const body = h("div", { class: "chart-groups" });
  const sel = runSelector();
  root.appendChild(h("div", { class: "with-side" },
    h("aside", { class: "side" }, sel, settingsPanel()),
    h("section", { class: "content" }, h("div", { class: "toolbar" }, filter), body)));

  function matcher() {
    try { return new RegExp(filter.value, "i"); } catch { return null; }
  }

  function renderCharts() {
    const re = matcher();
    filter.classList.toggle("invalid", re === null);
    const tags = seriesNames("scalar").filter((t) => !re || re.test(t));
    // the linked chart is there even when the diagnostic's run is not selected
    const linked = params.get("tag"), linkedRun = state.runById.get(params.get("run"));
    if (linked && !tags.includes(linked) && linkedRun && (linkedRun.series.scalar || []).includes(linked) && (!re || re.test(linked))) {
      tags.push(linked); tags.sort();
    }
    const wanted = new Set(tags);
    for (const [t, c] of charts) if (!wanted.has(t)) { c.dispose(); charts.delete(t); }
    clear(body);
    if (!state.runs.length) { body.appendChild(h("p", { class: "empty" }, "No runs yet.")); return; }
    if (!tags.length) { body.appendChild(h("p", { class: "empty" }, selectedRuns().length ? "No scalar matches." : "Select a run on the left.")); return; }
    const groups = groupByPrefix(tags);
    groups.forEach(([g, names], gi) => {
      const grid = h("div", { class: "chart-grid" });
      const open = gi < 2 || groups.length <= 3 || !!params.get("tag");
      const det = h("details", { class: "group", open, dataset: { group: g } },
        h("summary", null, g || "metrics", h("span", { class: "count" }, String(names.length))), grid);
      const fill = () => {
        for (const t of names) {
          let c = charts.get(t);
          if (!c) {
            c = new ScalarChart(t); charts.set(t, c);
            if (t === params.get("tag")) {
              // a link from a diagnostic names its run: the zoomed chart shows that run only
              // (until the run selection changes or "all runs" is clicked); other charts keep
              // every selected run
              if (params.get("run") !== null && state.runById.has(params.get("run"))) c.showOnly(params.get("run"));
              if (params.get("step") !== null) c.focusOn(+params.get("step"));
            }
          }
          grid.appendChild(c.el);
          if (!c.loaded) whenVisible(c.el, () => c.load(selectedRuns()));
          else c.resize();
        }
      };
      if (open) fill();
      det.addEventListener("toggle", () => { if (det.open && !grid.childElementCount) fill(); });
      body.appendChild(det);
    });
  }

  const reloadAll = () => { for (const c of charts.values()) if (c.el.isConnected) c.load(selectedRuns()); };
  const knownTags = () => seriesNames("scalar").join("\n");
  let tagKey = knownTags();
  renderCharts();
  const offs = [
    on("selection", () => { charts.forEach((c) => c.widen()); renderCharts(); reloadAll(); }),
    on("runs", () => { tagKey = knownTags(); renderCharts(); reloadAll(); }),
    on("run", () => { const k = knownTags(); if (k !== tagKey) { tagKey = k; renderCharts(); } }),
    on("settings", ({ key }) => { for (const c of charts.values()) if (c.loaded) (key === "xaxis" && c.zoom ? (c.zoom = null, c.load(selectedRuns())) : c.draw()); }),
    on("resync", reloadAll),
    on("scalars", (msg) => {
      const c = charts.get(msg.name); // the event is the new points' ScalarSeries.to_dict()
      if (!c || !(c.loaded || c.loading) || !c.shows(msg.run)) return;
      if (c.append(msg.run, msg)) c.load(selectedRuns());
    }),
  ];
  let rt = null;
  const onResize = () => { clearTimeout(rt); rt = setTimeout(() => charts.forEach((c) => c.resize()), 100); };
  window.addEventListener("resize", onResize);
  return {
    unmount: () => {
      offs.forEach((f) => f()); sel.dispose();
      window.removeEventListener("resize", onResize);
      charts.forEach((c) => c.dispose());
    },
  };
}
