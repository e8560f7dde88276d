// kind "audit" (neuralscope.audit.result.AuditResult): the audit's summary (examples, engine,
// time), its examples per class, and a link to the Audit tab, where the whole data set's
// projector and table are (pages/audit.js); the mean maps and worst examples by the inspector.
import { h, fmt } from "../dom.js";
import { section, svgEl } from "./parts.js";
import { inspector } from "./inspector.js";

function classBars(counts) {
  const entries = Object.entries(counts || {});
  const W = 420, R = 18, hi = Math.max(1, ...entries.map(([, v]) => +v || 0));
  const svg = svgEl("svg", { width: W, height: entries.length * R + 8, class: "line-svg audit-classes" });
  entries.forEach(([name, v], r) => {
    svgEl("text", { x: 76, y: r * R + 14, "font-size": 11, "text-anchor": "end", fill: "#1f2328" }, `class ${name}`, svg);
    svgEl("rect", { x: 82, y: r * R + 4, width: (W - 140) * (+v || 0) / hi, height: R - 6, fill: "#1f77b4", "data-class": name }, null, svg);
    svgEl("text", { x: 86 + (W - 140) * (+v || 0) / hi, y: r * R + 14, "font-size": 10, fill: "#57606a" }, String(v), svg);
  });
  return svg;
}

export function render(data) {
  const head = h("p", null, `${data.n} examples audited by ${data.engine} in ${fmt(data.seconds, 3)} s. `,
    h("a", { href: `#/audit`, class: "audit-link" }, "Open the Audit tab"), " for the projector and the table of every example.");
  return h("div", null, head,
    data.class_counts ? section("class_counts", "examples per class", classBars(data.class_counts)) : null,
    inspector(data, "audit", { skip: ["class_counts"] }));
}
