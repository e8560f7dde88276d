// kind "diagnostics" (neuralscope.track.results.Diagnostics): the table Diagnostics.plot
// draws (severity, diagnostic, since step, message), the same table as the Diagnostics page
// (draw/diagnostics.js: with the layer and a link to the chart of the series, zoomed to the
// step, when the run is one the dashboard serves); "No problems found." when there is none.
import { h } from "../dom.js";
import { diagnosticRows } from "../draw/diagnostics.js";
import { section } from "./parts.js";

export function render(data) {
  const items = (Array.isArray(data.items) ? data.items : []).map((d) => ({ ...d, run: d.run ?? data.run ?? null }));
  const note = `${items.length} found${data.run ? ` in run ${data.run}` : ""}`;
  if (!items.length) return section("diagnostics", note, h("p", { class: "no-problems" }, "No problems found."));
  const counts = ["error", "warning", "info"].map((s) => [s, items.filter((d) => d.severity === s).length]).filter(([, n]) => n);
  return section("diagnostics", `${note}: ${counts.map(([s, n]) => `${n} ${s}${n > 1 ? "s" : ""}`).join(", ")}`,
    h("div", { class: "table-wrap flat" }, h("table", { class: "diag-table" }, diagnosticRows(items))));
}
