// kind "attribution_comparison" (neuralscope.attribution.explain.Comparison): several methods
// on the same inputs; a sortable table of their mean scores, and one method's overlay view.
import { h, fmt } from "../dom.js";
import { attributionView } from "./attribution.js";
import { section } from "./parts.js";
import { inspector } from "./inspector.js";
import { recordTable } from "../draw/table.js";

/** A comparison of several methods (attribution_comparison): pick a method, see its overlay
 * view with its faithfulness scores. */
export function comparisonView(data) {
  const methods = Array.isArray(data.methods) ? data.methods : Object.keys(data.results || {});
  if (!methods.length) return null;
  const body = h("div");
  const pick = h("select", { id: "attr-method", onchange: () => show(pick.value) },
    methods.map((m) => h("option", { value: m }, m)));
  const show = (m) => {
    const v = attributionView(data.results[m], (data.scores || {})[m]);
    body.replaceChildren(v || h("p", { class: "muted" }, `${m}: not an image attribution`));
  };
  show(methods[0]);
  // the mean of each score over the examples, one row per method (Comparison.table())
  const scores = data.scores || {};
  const names = [...new Set(methods.flatMap((m) => Object.keys(scores[m] || {})))];
  const mean = (v) => { const ok = (Array.isArray(v) ? v : [v]).filter((x) => typeof x === "number" && Number.isFinite(x)); return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null; };
  const summary = names.length ? scoreTable(methods, names, scores, data.seconds, mean) : null;
  return h("div", null, summary,
    summary ? h("p", { class: "muted" }, "Click a column to sort by it (again: reverse). deletion AUC: lower is more faithful; insertion AUC: higher is more faithful (Petsiuk et al. 2018). Pointing game, mass and rank accuracy: higher means the map is on the ground-truth mask (Arras et al. 2022).") : null,
    h("label", { class: "nd-slider" }, "method ", pick), body);
}

// The mean score table of a comparison (draw/table.js); a click on a column header sorts the
// rows by it (numbers descending first, then ascending; the method column alphabetically).
function scoreTable(methods, names, scores, seconds, mean) {
  const rows = methods.map((m) => {
    const r = { method: m };
    for (const n of names) r[n] = mean((scores[m] || {})[n]);
    if (seconds) r.seconds = typeof seconds[m] === "number" ? seconds[m] : null;
    return r;
  });
  return recordTable([
    { label: "method", key: "method", value: (r) => r.method, sort: (r) => r.method },
    ...names.map((n) => ({ label: `mean ${n.replace(/_/g, " ")}`, key: n, num: true, value: (r) => r[n], sort: (r) => r[n],
      data: () => ({ metric: n }) })),
    ...(seconds ? [{ label: "seconds", key: "seconds", num: true, value: (r) => (r.seconds === null ? null : fmt(r.seconds, 3)),
      sort: (r) => r.seconds }] : []),
  ], rows, { cls: "attr-scores", rowAttrs: (r) => ({ dataset: { method: r.method } }) });
}

export function render(data) {
  const v = data.results && typeof data.results === "object" ? comparisonView(data) : null;
  if (!v) return inspector(data, "attribution_comparison");
  return h("div", null, inspector(data, "attribution_comparison", { skip: ["results", "methods", "scores", "seconds"] }),
    section("methods", `${Object.keys(data.results).length} method(s) on the same inputs`, v));
}
