// Diagnostics: what the tracker found (NaN, exploding/vanishing gradients, dead units, a
// learning rate too high, over-fitting), with the step it began, the layer, and a link to
// the chart that shows it.
import { h, clear, append, own } from "../dom.js";
import { get } from "../api.js";
import { state, on, colorOf } from "../state.js";

const ICON = { error: "✖", warning: "▲", info: "ℹ" };

function chartLink(d) {
  const run = state.runById.get(d.run);
  const series = (run && run.series) || {};
  const candidates = [d.series, d.layer && `gradients/norm/${d.layer}`, d.layer && `activations/dead/${d.layer}`].filter(Boolean);
  // the chart (or histograms) of the diagnostic's run, zoomed around the step where the
  // problem began, with that step marked
  const at = Number.isFinite(d.step) ? `&step=${d.step}` : "";
  const link = (page, c, what) => h("a", { class: "chart-link",
    href: `#/${page}?tag=${encodeURIComponent(c)}&run=${encodeURIComponent(d.run)}${at}`,
    title: at ? `the ${what} of ${c} in ${d.run}, zoomed to step ${d.step}` : `the ${what} of ${c} in ${d.run}` });
  for (const c of candidates) {
    if ((series.scalar || []).includes(c)) return append(link("scalars", c, "chart"), [`chart: ${c}`]);
    if ((series.histogram || []).includes(c)) return append(link("distributions", c, "histograms"), [`histogram: ${c}`]);
  }
  return d.series ? h("span", { class: "muted" }, d.series) : null;
}

export function mount(root) {
  const table = h("table", { class: "diag-table", id: "diag-table" });
  const head = h("span", { class: "muted" });
  root.appendChild(h("section", null,
    h("div", { class: "page-head" }, h("h1", null, "Diagnostics"), head),
    h("div", { class: "table-wrap" }, table)));

  async function load() {
    let items = [];
    try { items = (await get("/api/diagnostics")).items; } catch (e) { clear(table).appendChild(h("tr", null, h("td", { class: "error" }, e.message))); return; }
    clear(table);
    const errors = items.filter((d) => d.severity === "error").length;
    head.textContent = items.length ? `${items.length} finding(s), ${errors} error(s)` : "";
    if (!items.length) {
      table.appendChild(h("tr", null, h("td", { class: "empty ok" }, "No problems found in any run: no NaN/Inf, no exploding or vanishing gradients, no dead layers, no signs of a learning rate too high or of over-fitting.")));
      return;
    }
    table.appendChild(h("thead", null, h("tr", null, ["", "run", "diagnostic", "since step", "layer", "message", "where to look"].map((t) => h("th", null, t)))));
    const body = h("tbody");
    for (const d of items) {
      body.appendChild(h("tr", { class: `row-${d.severity}`, dataset: { code: d.code || "", run: d.run } },
        h("td", { class: `sev sev-${d.severity}`, title: d.severity }, own(ICON, d.severity) ? ICON[d.severity] : "•"),
        h("td", null, h("span", { class: "swatch", style: { background: colorOf(d.run) } }), d.run),
        h("td", null, h("code", null, d.code || "")),
        h("td", { class: "num" }, d.step === null || d.step === undefined ? "" : String(d.step)),
        h("td", null, d.layer || ""),
        h("td", { class: "msg" }, d.message || ""),
        h("td", null, chartLink(d), d.layer ? [" ", h("a", { href: `#/graph?run=${encodeURIComponent(d.run)}&layer=${encodeURIComponent(d.layer)}` }, "graph")] : null)));
    }
    table.appendChild(body);
  }
  load();
  let timer = null;
  const offs = [on("changed", () => { if (!timer) timer = setTimeout(() => { timer = null; load(); }, 3000); }), on("runs", load)];
  return { unmount: () => { offs.forEach((f) => f()); clearTimeout(timer); } };
}
