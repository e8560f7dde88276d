// kind "run_set" (neuralscope.track.runs.RunSet): the runs under one folder as
// RunSet.table_html lists them (run, status as the Runs page badges it, last step, every config key, every last
// metric), and each metric's last value compared across the runs as bars (draw/bars.js).
// Their curves over the steps are on the Scalars page, where the runs can be overlaid.
import { h, fmt } from "../dom.js";
import { PALETTE } from "../state.js";
import { rowBars } from "../draw/bars.js";
import { recordTable } from "../draw/table.js";
import { statusBadge } from "../components.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

/** The table columns of a set of runs, as RunSet.hparams chooses them (one rule for this view
 * and the Runs page): every config key, and the last-value metrics logged at the top level (no
 * "/"), or every metric when no run logged one at the top level. */
export function hparams(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config || {})))].sort();
  const all = [...new Set(runs.flatMap((r) => Object.keys(r.last || {})))].sort();
  const top = all.filter((k) => !k.includes("/"));
  return { keys, metrics: top.length ? top : all };
}

/** One config value as a table cell shows it (objects as JSON; "" where the run lacks the key). */
export function configText(run, key) {
  const config = run.config || {};
  if (!Object.prototype.hasOwnProperty.call(config, key)) return "";
  const v = config[key];
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

export function render(data) {
  const runs = Array.isArray(data.runs) ? data.runs : null;
  if (!runs) return cannotDraw("run_set", "it has no list of runs");
  if (!runs.length) return section("runs", data.root, h("p", null, "No runs in this folder."));
  const { keys, metrics } = hparams(runs);
  const table = recordTable([
    { label: "run", value: (r) => r.name, title: (r) => r.path },
    { label: "status", value: (r) => statusBadge(r.status) },
    { label: "last step", value: (r) => (r.last_step === null ? null : String(r.last_step)), num: true },
    ...keys.map((k) => ({ label: k, value: (r) => configText(r, k) || null, num: true })),
    ...metrics.map((m) => ({ label: m, value: (r) => (r.last || {})[m] ?? null, num: true })),
  ], runs, { cls: "runs-table" });
  const names = runs.map((r) => r.name);
  const bars = metrics.slice(0, 8).map((m, k) => rowBars({ rows: names, title: `last ${m}`, xLabel: m, width: 420, cls: "run-metric",
    series: [{ name: m, colour: PALETTE[k % PALETTE.length], values: runs.map((r) => (r.last || {})[m] ?? NaN) }],
    notes: runs.map((r) => ((r.last || {})[m] === undefined ? "not logged" : fmt(r.last[m], 4))) }));
  return h("div", null, section("runs", `${runs.length} run(s) in ${data.root}`, table),
    bars.length ? section("last values", metrics.length > 8 ? `the first 8 of ${metrics.length} metrics` : null, h("div", { class: "nd-grid" }, bars)) : null);
}
