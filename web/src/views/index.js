// The one table of result views: kind -> the dashboard tab that lists it and the module that
// draws it (web/src/views/<kind>.js, loaded when first needed). A kind is the `kind` of a
// neuralscope Result class (its to_dict()["kind"]) or an artifact kind of the store (image,
// text). Adding a kind: write views/<kind>.js exporting render(data, {kind, run}) and add
// one line here. A kind missing from the table is drawn by the generic inspector on Inside.
import { h } from "../dom.js";

export const VIEWS = {
  activation_functions: { tab: "inside", load: () => import("./activation_functions.js") },
  activation_heatmap: { tab: "inside", load: () => import("./activation_heatmap.js") },
  activation_histograms: { tab: "inside", load: () => import("./activation_histograms.js") },
  animation: { tab: "inside", load: () => import("./animation.js") },
  attention: { tab: "attention", load: () => import("./attention.js") },
  attention_head_stats: { tab: "attention", load: () => import("./attention_head_stats.js") },
  attribution: { tab: "attributions", load: () => import("./attribution.js") },
  attribution_comparison: { tab: "attributions", load: () => import("./attribution_comparison.js") },
  audit: { tab: "audit", load: () => import("./audit.js") },
  conv_filters: { tab: "inside", load: () => import("./conv_filters.js") },
  conv_forward_pass: { tab: "inside", load: () => import("./conv_forward_pass.js") },
  conv_forward_step: { tab: "inside", load: () => import("./conv_forward_step.js") },
  curvature: { tab: "inside", load: () => import("./curvature.js") },
  dead_units: { tab: "inside", load: () => import("./dead_units.js") },
  diagnostics: { tab: "inside", load: () => import("./diagnostics.js") },
  embedding: { tab: "inside", load: () => import("./embedding.js") },
  faithfulness_curves: { tab: "attributions", load: () => import("./faithfulness_curves.js") },
  feature_maps: { tab: "inside", load: () => import("./feature_maps.js") },
  feature_vis: { tab: "featurevis", load: () => import("./feature_vis.js") },
  forward_pass: { tab: "inside", load: () => import("./forward_pass.js") },
  forward_pass_step: { tab: "inside", load: () => import("./forward_pass_step.js") },
  graph: { tab: "graph", load: () => import("./graph.js") },
  hidden_states: { tab: "inside", load: () => import("./hidden_states.js") },
  histogram_series: { tab: "inside", load: () => import("./histogram_series.js") },
  image: { tab: "inside", load: () => import("./image.js") },
  loss_landscape: { tab: "inside", load: () => import("./loss_landscape.js") },
  run_set: { tab: "inside", load: () => import("./run_set.js") },
  sanity_check: { tab: "attributions", load: () => import("./sanity_check.js") },
  scalar_series: { tab: "inside", load: () => import("./scalar_series.js") },
  summary: { tab: "inside", load: () => import("./summary.js") },
  text: { tab: "inside", load: () => import("./text.js") },
  trajectory: { tab: "inside", load: () => import("./trajectory.js") },
  unit_activations: { tab: "inside", load: () => import("./unit_activations.js") },
  unit_reconstruction: { tab: "featurevis", load: () => import("./unit_reconstruction.js") },
  weight_histograms: { tab: "inside", load: () => import("./weight_histograms.js") },
  weight_matrix: { tab: "inside", load: () => import("./weight_matrix.js") },
  weight_stats: { tab: "inside", load: () => import("./weight_stats.js") },
};

const own = (kind) => Object.prototype.hasOwnProperty.call(VIEWS, kind);

/** The dashboard tab that lists results of `kind` ("inside" for kinds with no entry). */
export function tabOf(kind) {
  return own(kind) ? VIEWS[kind].tab : "inside";
}

/** `data` (a to_dict() payload, or an artifact record for image/text) drawn by its kind's view,
 * inside a `.result-view` element; `data-view` names the module that drew it. */
export async function renderResult(data, kind, ctx = {}) {
  const root = h("div", { class: "result-view", dataset: { kind: kind || "", view: own(kind) ? kind : "inspector" } });
  if (own(kind)) {
    const view = await VIEWS[kind].load();
    root.appendChild(view.render(data, { kind, ...ctx }));
  } else {
    const { inspector } = await import("./inspector.js");
    root.appendChild(inspector(data, kind));
  }
  return root;
}
