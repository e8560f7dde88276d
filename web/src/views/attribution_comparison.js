// kind "attribution_comparison" (neuralscope.attribution.explain.Comparison): several methods
// on the same inputs; a sortable table of their mean scores, and one method's overlay view.
import { h, fmt } from "../dom.js";
import { attributionView } from "./attribution.js";
import { section } from "./parts.js";
import { inspector } from "./inspector.js";

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
  return h("div", null, summary ? h("div", { class: "table-wrap flat" }, summary) : null,
    summary ? h("p", { class: "muted" }, "Click a column to sort by it (again: reverse). deletion AUC: lower is more faithful; insertion AUC: higher is more faithful (Petsiuk et al. 2018). Pointing game, mass and rank accuracy: higher means the map is on the ground-truth mask (Arras et al. 2022).") : null,
    h("label", { class: "nd-slider" }, "method ", pick), body);
}

// The mean score table of a comparison; a click on a column header sorts the rows by it
// (numbers descending first, then ascending; the method column alphabetically).
function scoreTable(methods, names, scores, seconds, mean) {
  const cols = [{ key: "method", label: "method" }, ...names.map((n) => ({ key: n, label: `mean ${n.replace(/_/g, " ")}` })),
    ...(seconds ? [{ key: "seconds", label: "seconds" }] : [])];
  const rows = methods.map((m) => {
    const r = { method: m };
    for (const n of names) r[n] = mean((scores[m] || {})[n]);
    if (seconds) r.seconds = typeof seconds[m] === "number" ? seconds[m] : null;
    return r;
  });
  const sort = { key: null, dir: 1 };
  const body = h("tbody");
  const heads = cols.map((c) => h("th", { class: "sortable", dataset: { sort: c.key }, title: "sort by this column",
    onclick: () => { sort.dir = sort.key === c.key ? -sort.dir : 1; sort.key = c.key; draw(); } }, c.label));
  const cmp = (a, b) => {
    const x = a[sort.key], y = b[sort.key];
    if (sort.key === "method") return sort.dir * String(x).localeCompare(String(y));
    if (x === null || x === undefined) return 1;  // missing values last either way
    if (y === null || y === undefined) return -1;
    return sort.dir * (y - x);
  };
  function draw() {
    heads.forEach((th, i) => { th.dataset.dir = cols[i].key === sort.key ? (sort.dir > 0 ? "desc" : "asc") : "";
      th.textContent = cols[i].label + (cols[i].key === sort.key ? (sort.dir > 0 ? " ▼" : " ▲") : ""); });
    const ordered = sort.key ? [...rows].sort(cmp) : rows;
    body.replaceChildren(...ordered.map((r) => h("tr", { dataset: { method: r.method } }, h("td", null, r.method),
      names.map((n) => h("td", { class: "num", dataset: { metric: n } }, r[n] === null ? "—" : fmt(r[n], 4))),
      seconds ? h("td", { class: "num" }, r.seconds === null ? "—" : fmt(r.seconds, 3)) : null)));
  }
  draw();
  return h("table", { class: "rows attr-scores" }, h("thead", null, h("tr", null, heads)), body);
}

export function render(data) {
  const v = data.results && typeof data.results === "object" ? comparisonView(data) : null;
  if (!v) return inspector(data, "attribution_comparison");
  return h("div", null, inspector(data, "attribution_comparison", { skip: ["results", "methods", "scores", "seconds"] }),
    section("methods", `${Object.keys(data.results).length} method(s) on the same inputs`, v));
}
