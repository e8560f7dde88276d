/* The visibility rules of a graph: which nodes, edges and groups are drawn at one expansion
 * state. The one copy of these rules: the interactive viewer (viewer.js) runs it for whatever
 * the user opens or closes, and Python's Graph.view runs the same built file in an embedded V8
 * (graph-layout.js, with layout.js). Each side wraps the answer in its own objects.
 *
 * The rules: a group is collapsed when it is named in `collapse`, or sits at `depth` or deeper
 * and is not named in `expand`; with `foldRepeats`, every group of a run of identical sibling
 * blocks (the folds, found by Python's Graph._repeat_runs) is collapsed too and the run is
 * drawn as its first block, marked xN (except the runs whose first block is in `unfolded`). A
 * node inside a collapsed group is drawn as its outermost collapsed group; edges between two
 * drawn nodes merge (a count), edges inside one drawn node vanish; a collapsed group's inputs
 * and outputs are the edges that enter and leave it; the open groups drawn as boxes are the
 * groups around the drawn nodes.
 */

/** "a.b.c" -> ["a", "a.b", "a.b.c"] (outermost first). */
export function ancestors(path) {
  if (!path) return [];
  const parts = path.split("."), out = [];
  let cur = "";
  parts.forEach((part, i) => { cur = i ? cur + "." + part : part; out.push(cur); });
  return out;
}

/** "a.b.c" -> "a.b"; "a" -> "". */
export function parentPath(path) {
  const i = path.lastIndexOf(".");
  return i < 0 ? "" : path.slice(0, i);
}

/** How deep a group sits: "a" 1, "a.b" 2 ("" the whole model, 0). */
export function depthOf(path) { return path ? path.split(".").length : 0; }

/** The groups drawn as single nodes at `state` (see the top). */
export function collapsedGroups(graph, state) {
  const expand = new Set(state.expand || []), collapse = new Set(state.collapse || []);
  const depth = state.depth === undefined ? null : state.depth, collapsed = new Set(), foldOf = new Map();
  for (const p of graph.groups) {
    if (p && (collapse.has(p) || (depth !== null && depthOf(p) >= depth && !expand.has(p)))) collapsed.add(p);
  }
  if (state.foldRepeats) {
    const unfolded = new Set(state.unfolded || []);
    for (const f of graph.folds || []) {
      if (unfolded.has(f.first)) continue;
      for (const p of f.paths) { collapsed.add(p); foldOf.set(p, f); }
    }
  }
  return { collapsed, foldOf };
}

/** The graph visible at one expansion state.
 *
 *  `graph`: { groups (every group path), nodeGroup (per node, the path of the group it is in,
 *  "" at the top), src, dst (per edge, node indices, -1 for an end that is not a node), folds
 *  ([{first, count, paths}]) }. `state`: { depth (null: everything open), expand, collapse,
 *  foldRepeats, unfolded }. Returns { nodes: per drawn node in order of first member {first
 *  (the first member's index), group (the collapsed group's path, null for a plain node),
 *  repeat, members, inputs, outputs (a group's: indices into edges)}, rep (per node, the drawn
 *  node standing for it), edges: [{src, dst (drawn nodes), first (the first graph edge),
 *  count}], clusters (the open groups drawn as boxes, parents first: by depth, then path) }. */
export function visibleGraph(graph, state) {
  const { collapsed, foldOf } = collapsedGroups(graph, state);
  const n = graph.nodeGroup.length, rep = new Array(n), nodes = [], drawn = new Map(), outermost = new Map();
  for (let i = 0; i < n; i++) {
    const home = graph.nodeGroup[i];
    let path = outermost.get(home);
    if (path === undefined) {  // (the many nodes of one group share the answer)
      path = null;
      for (const p of ancestors(home)) if (collapsed.has(p)) { path = foldOf.has(p) ? foldOf.get(p).first : p; break; }
      outermost.set(home, path);
    }
    const key = path === null ? i : "g" + path;
    let v = drawn.get(key);
    if (v === undefined) {
      v = nodes.length;
      drawn.set(key, v);
      const fold = path !== null && foldOf.has(path) ? foldOf.get(path) : null;
      nodes.push({ first: i, group: path, repeat: fold ? fold.count : 1, members: 0, inputs: [], outputs: [] });
    }
    nodes[v].members++;
    rep[i] = v;
  }
  const edges = [], merged = new Map();
  for (let j = 0; j < graph.src.length; j++) {
    const a = graph.src[j], b = graph.dst[j];
    if (a < 0 || b < 0 || rep[a] === rep[b]) continue;
    const key = rep[a] * n + rep[b], k = merged.get(key);
    if (k !== undefined) { edges[k].count++; continue; }
    merged.set(key, edges.length);
    edges.push({ src: rep[a], dst: rep[b], first: j, count: 1 });
  }
  edges.forEach((e, k) => {
    if (nodes[e.dst].group !== null) nodes[e.dst].inputs.push(k);
    if (nodes[e.src].group !== null) nodes[e.src].outputs.push(k);
  });
  const open = new Set();
  for (const v of nodes) for (const p of ancestors(v.group === null ? graph.nodeGroup[v.first] : parentPath(v.group))) open.add(p);
  const clusters = Array.from(open).filter((p) => !collapsed.has(p))
    .sort((a, b) => depthOf(a) - depthOf(b) || (a < b ? -1 : a > b ? 1 : 0));
  return { nodes, rep, edges, clusters };
}

/** visibleGraph for callers that speak JSON (Python's embedded engine): text in, text out. */
export function visibleGraphJSON(text) {
  const args = JSON.parse(text);
  return JSON.stringify(visibleGraph(args.graph, args.state));
}
