// kind "faithfulness_curves" (neuralscope.attribution.metrics.FaithfulnessCurves): deletion
// and insertion curves as FaithfulnessCurves.plot draws them: every example's curve faint,
// the mean bold, the mean AUC in the legend (draw/lines.js); the per-example AUCs below.
import { h, fmt } from "../dom.js";
import { tint } from "../colors.js";
import { lineChart } from "../draw/lines.js";
import { recordTable } from "../draw/table.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

const CURVES = [["deletion", "#b2182b"], ["insertion", "#2166ac"]];

const mean = (rows, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length;

export function curveSeries(data) {
  const faint = [], bold = [];
  for (const [name, colour] of CURVES) {
    const rows = data[name] || [];
    rows.forEach((r, b) => faint.push({ name: "", values: r, colour: tint(colour, 0.75), example: b, curve: name }));
    const auc = data[`${name}_auc`] || [];
    const meanAuc = auc.length ? auc.reduce((a, v) => a + v, 0) / auc.length : NaN;
    if (rows.length) bold.push({ name: `${name} (mean AUC ${fmt(meanAuc, 3)})`, values: data.fractions.map((_, j) => mean(rows, j)), colour });
  }
  return [...faint, ...bold];
}

export function render(data) {
  if (!Array.isArray(data.fractions) || !Array.isArray(data.deletion)) return cannotDraw("faithfulness_curves", "it has no fractions or deletion curves");
  const chart = lineChart({ x: data.fractions, series: curveSeries(data), xLabel: "fraction of pixels removed / inserted (most important first)",
    yLabel: "target probability", title: `Deletion / insertion${data.method ? `: ${data.method}` : ""}`, width: 620, height: 320, cls: "faith-chart" });
  const aucs = recordTable([{ label: "example", value: (r) => String(r.b), num: true },
    { label: "deletion AUC (lower is better)", value: (r) => r.del, num: true }, { label: "insertion AUC (higher is better)", value: (r) => r.ins, num: true }],
  data.deletion.map((_, b) => ({ b, del: data.deletion_auc?.[b], ins: data.insertion_auc?.[b] })), { cls: "faith-aucs" });
  return h("div", null, section("curves", `${data.deletion.length} example(s), ${data.fractions.length} steps`, chart), section("auc", null, aucs));
}
