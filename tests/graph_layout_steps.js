// Helpers of tests/test_graph_layout_steps.py: levels built by hand for the steps of layout.js
// (run in the embedded V8 after the built graph-layout.js, which defines `neuralscope`).
const {Level, LevelLayout, NODE, GROUP, IN_PORT, OUT_PORT, pav, inversions, countCrossings, weightedMedian,
       levelSignature, sameSignature, layOutLevel} = neuralscope;
const UNIT = 38;
const STEPS = ["breakCycles", "assignLayers", "insertDummies", "orderLayers", "reduceCrossings", "placeX", "placeY",
               "routeEdges", "placeLabels"];
const OPT = {unitHeight: UNIT};
// a level of n nodes (or groups, by kinds) in execution order, edges [u, v]
function level(n, edges, {widths = {}, heights = {}, kinds = {}} = {}) {
  const lv = new Level("");
  for (let i = 0; i < n; i++) {
    const kind = kinds[i] ?? NODE;
    lv.item("n" + i, widths[i] ?? 60, heights[i] ?? UNIT, i, kind, kind === GROUP ? i : -1);
  }
  for (const [u, v] of edges) lv.edge(u, -1, v, -1);
  return lv;
}
// labels: edge index -> text, measured 6 px a character
const measured = (labels) => new Map(Object.entries(labels).map(([e, t]) => [+e, [t, 6 * t.length]]));
function steps(lv, upto, labels = {}) {
  const lay = new LevelLayout(lv, new Map(), measured(labels), OPT);
  for (const s of STEPS) { lay[s](); if (s === upto) break; }
  return lay;
}
const edgeOf = (lv, u, v) => lv.find(u, -1, v, -1);
// a child group fed through its in port and a node after it, as layOutGraph builds them
function ported({first = 0, width = 60, offset = 5, label = "1×4", orderGap = 1} = {}) {
  const lv = new Level("a");
  const port = lv.item("i7", 0, 0, first - 1e9, IN_PORT);
  const box = lv.item("c0", width, 80, first, GROUP, 0);
  const fc = lv.item("n8", 60, UNIT, first + orderGap);
  lv.edge(port, -1, box, 7);
  lv.edge(box, 7, fc, -1);
  return [lv, new Map([[0, new Map([[7, offset]])]]), measured({1: label})];
}
