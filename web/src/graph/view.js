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
 *  foldRepeats, unfolded }. Returns, column by column (plain arrays, cheap to pass as JSON):
 *  nodes: { first (the first member's index), group (the collapsed group's path, null for a
 *  plain node), repeat, members } per drawn node in order of first member; rep (per node, the
 *  drawn node standing for it); edges: { src, dst (drawn nodes), first (the first graph edge
 *  of the merged ones), count }; inputs, outputs: { node, edge } pairs, the edges entering and
 *  leaving each collapsed group, in edge order; clusters (the open groups drawn as boxes,
 *  parents first: by depth, then path). */
export function visibleGraph(graph, state) {
  const { collapsed, foldOf } = collapsedGroups(graph, state);
  const n = graph.nodeGroup.length, rep = new Array(n), drawn = new Map(), outermost = new Map();
  const nodes = { first: [], group: [], repeat: [], members: [] };
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
      v = nodes.first.length;
      drawn.set(key, v);
      nodes.first.push(i); nodes.group.push(path); nodes.members.push(0);
      nodes.repeat.push(path !== null && foldOf.has(path) ? foldOf.get(path).count : 1);
    }
    nodes.members[v]++;
    rep[i] = v;
  }
  const edges = { src: [], dst: [], first: [], count: [] }, merged = new Map();
  for (let j = 0; j < graph.src.length; j++) {
    const a = graph.src[j], b = graph.dst[j];
    if (a < 0 || b < 0 || rep[a] === rep[b]) continue;
    const key = rep[a] * n + rep[b], k = merged.get(key);
    if (k !== undefined) { edges.count[k]++; continue; }
    merged.set(key, edges.src.length);
    edges.src.push(rep[a]); edges.dst.push(rep[b]); edges.first.push(j); edges.count.push(1);
  }
  const inputs = { node: [], edge: [] }, outputs = { node: [], edge: [] };
  edges.src.forEach((s, k) => {
    const d = edges.dst[k];
    if (nodes.group[d] !== null) { inputs.node.push(d); inputs.edge.push(k); }
    if (nodes.group[s] !== null) { outputs.node.push(s); outputs.edge.push(k); }
  });
  const open = new Set();
  nodes.first.forEach((i, v) => {
    const g = nodes.group[v];
    for (const p of ancestors(g === null ? graph.nodeGroup[i] : parentPath(g))) open.add(p);
  });
  const clusters = Array.from(open).filter((p) => !collapsed.has(p))
    .sort((a, b) => depthOf(a) - depthOf(b) || (a < b ? -1 : a > b ? 1 : 0));
  return { nodes, rep, edges, inputs, outputs, clusters };
}

/** visibleGraph for callers that speak JSON (Python's embedded engine): text in, text out. */
export function visibleGraphJSON(text) {
  const args = JSON.parse(text);
  return JSON.stringify(visibleGraph(args.graph, args.state));
}
