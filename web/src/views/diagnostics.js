// kind "diagnostics" (neuralscope.track.results.Diagnostics): the table Diagnostics.plot
// draws (severity coloured, diagnostic, since step, message) with the series or layer it
// concerns; "No problems found." when there is none.
import { h } from "../dom.js";
import { recordTable } from "../draw/table.js";
import { section } from "./parts.js";

const COLOUR = { error: "#b42318", warning: "#b54708" };

export function render(data) {
  const items = Array.isArray(data.items) ? data.items : [];
  const note = `${items.length} found${data.run ? ` in run ${data.run}` : ""}`;
  if (!items.length) return section("diagnostics", note, h("p", { class: "no-problems" }, "No problems found."));
  const counts = ["error", "warning", "info"].map((s) => [s, items.filter((d) => d.severity === s).length]).filter(([, n]) => n);
  const table = recordTable([
    { label: "severity", value: (d) => d.severity, style: (d) => ({ color: COLOUR[d.severity] || "#1f2328", fontWeight: "600" }) },
    { label: "diagnostic", value: (d) => d.code },
    { label: "since step", value: (d) => (d.step === null || d.step === undefined ? null : String(d.step)), num: true },
    { label: "series / layer", value: (d) => [d.series, d.layer].filter(Boolean).join(" · ") || null },
    { label: "message", value: (d) => d.message, style: () => ({ whiteSpace: "normal", maxWidth: "640px" }) },
  ], items, { cls: "diag-table" });
  return section("diagnostics", `${note}: ${counts.map(([s, n]) => `${n} ${s}${n > 1 ? "s" : ""}`).join(", ")}`, table);
}
