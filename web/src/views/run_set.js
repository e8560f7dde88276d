// kind "run_set" (neuralscope.track.runs.RunSet): the runs under one folder in the Runs page's
// table (draw/runs.js: run, status, start, duration, last step, every config key, every last
// metric), and each metric's last value compared across the runs as bars (draw/bars.js).
// Their curves over the steps are on the Scalars page, where the runs can be overlaid.
import { h, fmt } from "../dom.js";
import { PALETTE } from "../state.js";
import { rowBars } from "../draw/bars.js";
import { hparams, runsTable } from "../draw/runs.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

export function render(data) {
  const runs = Array.isArray(data.runs) ? data.runs : null;
  if (!runs) return cannotDraw("run_set", "it has no list of runs");
  if (!runs.length) return section("runs", data.root, h("p", null, "No runs in this folder."));
  const { metrics } = hparams(runs);
  const table = runsTable(runs, { nameOf: (r) => r.name });
  const names = runs.map((r) => r.name);
  const bars = metrics.slice(0, 8).map((m, k) => rowBars({ rows: names, title: `last ${m}`, xLabel: m, width: 420, cls: "run-metric",
    series: [{ name: m, colour: PALETTE[k % PALETTE.length], values: runs.map((r) => (r.last || {})[m] ?? NaN) }],
    notes: runs.map((r) => ((r.last || {})[m] === undefined ? "not logged" : fmt(r.last[m], 4))) }));
  return h("div", null, section("runs", `${runs.length} run(s) in ${data.root}`, table),
    bars.length ? section("last values", metrics.length > 8 ? `the first 8 of ${metrics.length} metrics` : null, h("div", { class: "nd-grid" }, bars)) : null);
}
