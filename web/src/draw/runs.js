// The table of runs, one for the Runs page and the run_set view: run, status, start, duration,
// last step, every config key, the last value of each metric, with the columns RunSet.hparams
// chooses. The page adds a selection column and run colours; the view shows every metric.
import { h, fmt, fmtTime, fmtDuration, own } from "../dom.js";
import { statusBadge } from "../components.js";
import { recordTable } from "./table.js";

/** The table columns of a set of runs, as RunSet.hparams chooses them: every config key, and
 * the last-value metrics logged at the top level (no "/"), or every metric when no run logged
 * one at the top level.
 *
 * Example: hparams([{ config: { lr: 1 }, last: { loss: 2, "grad/x": 3 } }]) -> { keys: ["lr"], metrics: ["loss"] }
 */
export function hparams(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config || {})))].sort();
  const all = [...new Set(runs.flatMap((r) => Object.keys(r.last || {})))].sort();
  const top = all.filter((k) => !k.includes("/"));
  return { keys, metrics: top.length ? top : all };
}

/** One config value as a cell shows it (objects as JSON; "" where the run lacks the key).
 *
 * Example: configText({ config: { layers: [2, 3] } }, "layers") -> "[2,3]"
 */
export function configText(run, key) {
  const config = run.config || {};
  if (!Object.prototype.hasOwnProperty.call(config, key)) return "";
  const v = config[key];
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

/** How long a run ran: to its end, or to its last heartbeat while it is live. */
export function duration(r) {
  const end = r.status === "live" ? r.heartbeat : (r.finished || r.heartbeat);
  return r.created && end ? end - r.created : null;
}

function selectColumn(runs, { isSelected, setSelected }) {
  const selectable = (r) => r.status !== "damaged";
  const all = h("input", { type: "checkbox", title: "select all", checked: runs.every((r) => isSelected(r) || !selectable(r)),
    onchange: (e) => runs.forEach((r) => selectable(r) && setSelected(r, e.target.checked)) });
  return { label: "", head: all, value: (r) => h("input", { type: "checkbox", checked: isSelected(r), disabled: !selectable(r),
    onchange: (e) => setSelected(r, e.target.checked) }) };
}

function runColumn(nameOf, colourOf) {
  return { label: "run", cls: "run-cell", title: (r) => r.path || null, value: (r) => [
    colourOf ? h("span", { class: "swatch", style: { background: colourOf(r) } }) : null,
    h("span", { class: "run-name" }, nameOf(r)), r.damaged ? h("div", { class: "damaged-msg" }, r.damaged) : null] };
}

/**
 * The table of `runs` (the Runs page's /api/runs rows or RunSet.to_dict()'s runs). `nameOf(run)`
 * names a run; `selection` = {isSelected(run), setSelected(run, on)} adds a checkbox column;
 * `colourOf(run)` a swatch; `maxMetrics` limits the metric columns. Rows carry `data-run`.
 *
 * Example: `runsTable(data.runs, { nameOf: (r) => r.name })`
 */
export function runsTable(runs, { nameOf, selection = null, colourOf = null, maxMetrics = Infinity, id = null }) {
  const { keys, metrics } = hparams(runs);
  const columns = [
    selection ? selectColumn(runs, selection) : null,
    runColumn(nameOf, colourOf),
    { label: "status", value: (r) => statusBadge(r.status) },
    { label: "started", value: (r) => (r.created ? fmtTime(r.created) : null) },
    { label: "duration", value: (r) => (duration(r) === null ? null : fmtDuration(duration(r))) },
    { label: "last step", num: true, value: (r) => (r.last_step ?? null) === null ? null : String(r.last_step) },
    ...keys.map((k) => ({ label: k, cls: "cfg", headTitle: "config", value: (r) => configText(r, k) })),
    ...metrics.slice(0, maxMetrics).map((m) => ({ label: m, num: true, cls: "metric", headTitle: "last value",
      data: () => ({ tag: m }), value: (r) => (own(r.last || {}, m) ? fmt(r.last[m]) : null) })),
  ].filter(Boolean);
  return recordTable(columns, runs, { cls: "runs-table", id, blank: "",
    rowAttrs: (r) => ({ dataset: { run: nameOf(r) }, class: r.status === "damaged" ? "damaged" : null }) });
}
