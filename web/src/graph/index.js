// What Python's static renderers run in an embedded V8 (built as standalone/graph-layout.js, the
// global `neuralscope`): the graph's visibility rules and its layout, the same modules the
// interactive viewer imports.
export * from "./layout.js";
export * from "./view.js";
