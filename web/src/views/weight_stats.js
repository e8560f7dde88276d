// kind "weight_stats" (neuralscope.inspect.weights.WeightStats): each parameter tensor's L2
// norm as a horizontal bar noted with its std and near-zero fraction (NaN/Inf in red), as
// WeightStats.plot() draws it, and the table of every statistic.
import { h, fmt } from "../dom.js";
import { rowBars } from "../draw/bars.js";
import { recordTable } from "../draw/table.js";
import { section } from "./parts.js";

const COLUMNS = ["name", "shape", "numel", "norm", "mean", "std", "min", "max", "near_zero", "nonfinite"];

function cell(r, c) {
  const v = r[c];
  if (c === "shape") return (v || []).join("×");
  if (c === "near_zero") return v === null ? "NaN" : `${fmt(100 * v, 3)}%`;
  return typeof v === "number" ? fmt(v, 4) : v === null ? "NaN" : String(v);
}

function table(rows) {
  return recordTable(COLUMNS.map((c) => ({ label: c, num: c !== "name", value: (r) => cell(r, c),
    style: c === "nonfinite" ? (r) => (r[c] ? { color: "#b00000" } : null) : null })), rows, { cls: "ws-table" });
}

export function render(data) {
  const rows = Array.isArray(data.rows) ? data.rows : [];
  if (!rows.length) return h("p", { class: "muted" }, "This model has no parameters to describe.");
  const bars = rowBars({ rows: rows.map((r) => r.name), series: [{ name: "L2 norm", colour: "#4c72b0", values: rows.map((r) => r.norm) }],
    notes: rows.map((r) => (r.nonfinite ? `${r.nonfinite} NaN/Inf` : `std ${fmt(r.std, 3)}, ${Math.round(100 * r.near_zero)}% near 0`)),
    noteColours: rows.map((r) => (r.nonfinite ? "#b00000" : "#57606a")), xLabel: "L2 norm of the tensor",
    title: `Weight statistics (near 0: |w| < ${data.near_zero_threshold})`, cls: "ws-bars" });
  return h("div", null, section("norms", `${rows.length} parameter tensor(s)`, bars), section("statistics", null, table(rows)));
}
