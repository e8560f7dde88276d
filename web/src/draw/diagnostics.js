// The table of diagnostics (what the tracker found in runs), drawn once for the Diagnostics
// page and for a logged Diagnostics result: severity, run, diagnostic, the step it began,
// the layer, the message and where to look (the chart or histograms of the series, zoomed
// to that step, and the layer in the graph).
import { h, append, own } from "../dom.js";
import { state, colorOf } from "../state.js";

const ICON = { error: "✖", warning: "▲", info: "ℹ" };

/** A link to the chart (or histograms) of diagnostic `d`'s series in its run, zoomed around
 * the step where the problem began, or the series' name when the run does not have it. */
export function chartLink(d) {
  const run = state.runById.get(d.run);
  const series = (run && run.series) || {};
  const candidates = [d.series, d.layer && `gradients/norm/${d.layer}`, d.layer && `activations/dead/${d.layer}`].filter(Boolean);
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

/** The header and one row per diagnostic of `items` (each with its `run`), to append to a
 * <table class="diag-table">.
 *
 * Example: `h("table", { class: "diag-table" }, diagnosticRows(items))`
 */
export function diagnosticRows(items) {
  const head = h("thead", null, h("tr", null, ["", "run", "diagnostic", "since step", "layer", "message", "where to look"].map((t) => h("th", null, t))));
  const body = h("tbody", null, items.map((d) => h("tr", { class: `row-${d.severity}`, dataset: { code: d.code || "", run: d.run ?? "" } },
    h("td", { class: `sev sev-${d.severity}`, title: d.severity }, own(ICON, d.severity) ? ICON[d.severity] : "•"),
    h("td", null, h("span", { class: "swatch", style: { background: colorOf(d.run) } }), d.run ?? ""),
    h("td", null, h("code", null, d.code || "")),
    h("td", { class: "num" }, d.step === null || d.step === undefined ? "" : String(d.step)),
    h("td", null, d.layer || ""),
    h("td", { class: "msg" }, d.message || ""),
    h("td", null, chartLink(d), d.layer ? [" ", h("a", { href: `#/graph?run=${encodeURIComponent(d.run)}&layer=${encodeURIComponent(d.layer)}` }, "graph")] : null))));
  return [head, body];
}
