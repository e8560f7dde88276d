// kind "graph" (neuralscope.graph.model.Graph): the graph package's interactive viewer, as the
// Graph tab shows it (served by /graph-view, which rebuilds the run's logged graph from its
// to_dict()).
import { h } from "../dom.js";

export function render(data, { run }) {
  const nodes = Array.isArray(data.nodes) ? data.nodes.length : 0;
  return h("div", null,
    h("p", { class: "muted" }, `${data.name || "graph"}: ${nodes} nodes. Drag to pan, wheel to zoom, click a box to fold it.`),
    h("iframe", { class: "graph-frame", title: "structure graph", src: `/graph-view?run=${encodeURIComponent(run || "")}`,
      style: { width: "100%", height: "70vh", border: "1px solid #d0d7de", borderRadius: "6px" } }));
}
