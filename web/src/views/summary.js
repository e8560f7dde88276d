// kind "summary" (neuralscope.graph.summary.Summary): the totals, the parameters and the
// multiply-accumulates per layer as horizontal bars in execution order (Summary.plot's rows:
// the deepest level with at most 40 rows, repeated calls merged; frozen parameters grey),
// and the whole module table indented by depth.
import { h } from "../dom.js";
import { rowBars } from "../draw/bars.js";
import { recordTable, si } from "../draw/table.js";
import { scalarTable, section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

function rowsAt(rows, depth) {
  const merged = new Map();
  for (const r of rows) {
    if (!r.name || !(r.depth === depth || (r.leaf && r.depth < depth))) continue;
    const m = merged.get(r.name);
    merged.set(r.name, m ? { ...m, macs: m.macs + r.macs, own_macs: m.own_macs + r.own_macs, memory: m.memory + r.memory, call: m.call + 1 } : r);
  }
  return [...merged.values()];
}

/** The rows Summary.plot_rows(depth=None, max_rows) draws. */
export function plotRows(rows, maxRows = 40) {
  let depth = Math.max(0, ...rows.map((r) => r.depth));
  while (depth > 1 && rowsAt(rows, depth).length > maxRows) depth -= 1;
  return rowsAt(rows, depth);
}

const bytes = (n) => { for (const [u, d] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["kB", 2 ** 10]]) if (n >= d) return `${(n / d).toFixed(2)} ${u}`; return `${n} B`; };

export function render(data) {
  if (!Array.isArray(data.rows)) return cannotDraw("summary", "it has no rows");
  const shown = plotRows(data.rows);
  const labels = shown.map((r) => `${r.name}${r.call > 1 ? ` ×${r.call}` : ""}  (${r.type})`);
  const frozen = shown.some((r) => r.trainable_params !== r.params);
  const params = rowBars({ rows: labels, title: `${data.name}: ${data.total_params.toLocaleString("en")} parameters`, xLabel: "parameters", width: 560, cls: "summary-params",
    series: frozen ? [{ name: "trainable", colour: "#4C72B0", values: shown.map((r) => r.trainable_params) }, { name: "frozen", colour: "#8c8c8c", values: shown.map((r) => r.params - r.trainable_params) }]
      : [{ name: "parameters", colour: "#4C72B0", values: shown.map((r) => r.params) }],
    notes: shown.map((r) => (r.params ? si(r.params) : "")) });
  const inputs = (data.input_shapes || []).map((s) => s.join("×")).join(", ");
  const macs = rowBars({ rows: labels, title: `${si(data.total_macs)} MACs for input ${inputs}`, xLabel: "multiply-accumulates per forward pass", width: 560, cls: "summary-macs",
    series: [{ name: "MACs", colour: "#DD8452", values: shown.map((r) => r.macs) }], notes: shown.map((r) => (r.macs ? si(r.macs) : "")) });
  const count = (v) => v.toLocaleString("en");
  const totals = scalarTable([["parameters", count(data.total_params)], ["trainable", count(data.trainable_params)], ["frozen", count(data.total_params - data.trainable_params)],
    ["MACs per forward pass", `${count(data.total_macs)} (${si(data.total_macs)})`], ["activation memory", bytes(data.activation_memory)], ["parameter memory", bytes(data.param_memory)], ["input", inputs]]);
  const table = recordTable([
    { label: "module", value: (r) => r.name || data.name, style: (r) => ({ paddingLeft: `${6 + 14 * r.depth}px`, fontFamily: "ui-monospace, monospace" }) },
    { label: "type", value: (r) => r.type },
    { label: "output shape", value: (r) => (r.output_shapes || []).map((s) => (Array.isArray(s) ? s.join("×") : String(s))).join(", ") },
    { label: "parameters", value: (r) => r.params.toLocaleString("en"), num: true },
    { label: "MACs", value: (r) => si(r.macs), num: true },
    { label: "output memory", value: (r) => bytes(r.memory), num: true },
  ], data.rows, { cls: "summary-table" });
  return h("div", null, section("totals", data.name, totals),
    section("per layer", `${shown.length} rows, execution order`, h("div", { class: "nd-grid" }, params, macs)),
    section("modules", `${data.rows.length} rows`, table));
}
