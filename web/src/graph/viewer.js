/* neuralscope interactive graph viewer.
 *
 * Hand-written for neuralscope (no third-party code). Reads the Graph JSON inlined in the page
 * (<script type="application/json" id="ns-graph-data">), computes the visible graph for the
 * current expansion state (the same rules as Graph.view in Python), lays it out with layout.js
 * (the compound layered layout that Python's static renderers run too, in an embedded V8: one
 * layout, two drawers) and draws it as SVG. This file measures the text and sizes the boxes;
 * layout.js places them and routes the edges (through ports on group borders, skip connections
 * in lanes of their own, back edges climbing beside, dashed).
 * Collapsed groups are single items: their inside is never laid out. Big visible graphs are
 * drawn in part (only what is near the viewport is in the DOM), with less detail far out.
 *
 * window.neuralscopeGraph is the page's API (tests, notebooks): expand(path), collapse(path),
 * toggle(path), search(text), next(), focus(id), setDepth(d), expandAll(), setFoldRepeats(on),
 * visibleNodeIds(), visibleGroups(), visibleEdges(), nodeBox(id), clusterBox(path),
 * transform(), zoom(k), fit(), exportSvg(); lastLayout (the last layOutGraph input, output and node ids).
 */
import { layOutGraph } from "./layout.js";
import { ancestors, depthOf, parentPath, visibleGraph } from "./view.js";

(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("ns-graph-data").textContent);
  var OPT = DATA.options || {};
  var NODE_H = 40, GROUP_H = 44, NODE_MIN_W = 96, NODE_PAD_X = 14;
  var RANK_SEP = 30, NODE_SEP = 22, DUMMY_SEP = 10, BOX_PAD_X = 14, BOX_PAD_BOTTOM = 14;
  var TITLE_H = 26;

  // ---------------------------------------------------------------- the model
  // Every value of the JSON that reaches markup is escaped where it is drawn (esc); counts
  // are made numbers here, so a crafted file cannot pass markup through a field the drawing
  // code treats as a number.
  function num(v) { var x = Number(v); return isFinite(x) ? x : 0; }
  var nodes = Array.isArray(DATA.nodes) ? DATA.nodes : [];
  var edgesIn = Array.isArray(DATA.edges) ? DATA.edges : [];
  nodes.forEach(function (n) { n.kind = String(n.kind); n.params = num(n.params); n.trainable_params = num(n.trainable_params); });
  (DATA.groups || []).forEach(function (g) { g.params = num(g.params); g.trainable_params = num(g.trainable_params); });
  (DATA.folds || []).forEach(function (f) { f.count = num(f.count); });
  DATA.total_params = num(DATA.total_params); DATA.trainable_params = num(DATA.trainable_params);
  var nodeById = new Map();
  var groupByPath = new Map();
  (DATA.groups || []).forEach(function (g) { groupByPath.set(g.path, g); });

  function lastPart(path) {
    var i = path.lastIndexOf(".");
    return i < 0 ? path : path.slice(i + 1);
  }
  function groupLabel(path) {
    // "layer1.0" rather than a bare "0" for numbered children of containers
    var parts = path.split("."), last = parts[parts.length - 1];
    if (/^\d+$/.test(last) && parts.length > 1) return parts[parts.length - 2] + "." + last;
    return last;
  }

  var groupFirst = new Map();   // group path -> execution index of its first node
  var groupCount = new Map();   // group path -> number of nodes inside (recursive)
  nodes.forEach(function (n, i) {
    n.index = i;
    n.anc = ancestors(n.group || "");
    nodeById.set(n.id, n);
    for (var k = 0; k < n.anc.length; k++) {
      var p = n.anc[k];
      if (!groupFirst.has(p)) groupFirst.set(p, i);
      groupCount.set(p, (groupCount.get(p) || 0) + 1);
      if (!groupByPath.has(p)) groupByPath.set(p, { path: p, type: "Module", params: 0, trainable_params: 0, depth: depthOf(p) });
    }
  });
  // execution order as the layout sees it: a topological order that follows the readers'
  // node order wherever the edges allow (a reader may list a constant after its consumer)
  (function topoOrder() {
    var indeg = new Array(nodes.length).fill(0), out = nodes.map(function () { return []; });
    edgesIn.forEach(function (e) {
      var a = nodeById.get(e.src), b = nodeById.get(e.dst);
      if (!a || !b || a === b) return;
      out[a.index].push(b.index); indeg[b.index]++;
    });
    var heap = [];
    function push(x) {
      heap.push(x);
      for (var i = heap.length - 1; i > 0;) { var p = (i - 1) >> 1; if (heap[p] <= heap[i]) break; var t = heap[p]; heap[p] = heap[i]; heap[i] = t; i = p; }
    }
    function pop() {
      var top = heap[0], last = heap.pop();
      if (heap.length) {
        heap[0] = last;
        for (var i = 0; ;) {
          var l = 2 * i + 1, r = l + 1, m = i;
          if (l < heap.length && heap[l] < heap[m]) m = l;
          if (r < heap.length && heap[r] < heap[m]) m = r;
          if (m === i) break;
          var t = heap[m]; heap[m] = heap[i]; heap[i] = t; i = m;
        }
      }
      return top;
    }
    indeg.forEach(function (d, i) { if (!d) push(i); });
    var rank = 0, done = new Array(nodes.length).fill(false);
    while (heap.length) {
      var i = pop();
      done[i] = true; nodes[i].rank = rank++;
      out[i].forEach(function (j) { if (--indeg[j] === 0) push(j); });
    }
    // nodes on cycles keep their listed position after everything else
    nodes.forEach(function (n, i) { if (!done[i]) n.rank = rank + i; });
  })();
  groupFirst = new Map();
  nodes.forEach(function (n) {
    n.anc.forEach(function (p) { var f = groupFirst.get(p); if (f === undefined || n.rank < f) groupFirst.set(p, n.rank); });
  });
  var maxDepth = 0;
  groupCount.forEach(function (c, p) { maxDepth = Math.max(maxDepth, depthOf(p)); });

  var folds = DATA.folds || [];
  var foldByFirst = new Map();
  folds.forEach(function (f) { foldByFirst.set(f.first, f); });
  var foldOfPath = new Map();
  folds.forEach(function (f) { f.paths.forEach(function (p) { foldOfPath.set(p, f.first); }); });

  // ---------------------------------------------------------------- state
  var state = {
    collapsed: new Set(),
    foldRepeats: !!OPT.fold_repeats,
    unfolded: new Set(),
    scale: 1, tx: 0, ty: 0,
    matches: [], matchIndex: -1, query: "",
    selected: null,
  };
  function setDepth(d) {
    state.collapsed = new Set();
    if (d !== null && d !== undefined) {
      groupCount.forEach(function (c, p) { if (depthOf(p) >= d) state.collapsed.add(p); });
    }
    state.depth = d;
  }
  setDepth(OPT.depth === undefined ? null : OPT.depth);
  (OPT.expand || []).forEach(function (p) { state.collapsed.delete(p); });
  (OPT.collapse || []).forEach(function (p) { state.collapsed.add(p); });

  // ---------------------------------------------------------------- the visible graph
  // view.js holds the rules (Python's Graph.view runs the same); this page names and labels
  // what they give
  var VIEW_GRAPH = {
    groups: Array.from(groupByPath.keys()),
    nodeGroup: nodes.map(function (n) { return n.group || ""; }),
    src: edgesIn.map(function (e) { var a = nodeById.get(e.src); return a ? a.index : -1; }),
    dst: edgesIn.map(function (e) { var b = nodeById.get(e.dst); return b ? b.index : -1; }),
    folds: folds,
  };
  // the drawn node k of visibleGraph's answer: a node of the graph, or a collapsed group
  function visibleNode(vis, k) {
    var n = nodes[vis.nodes.first[k]], path = vis.nodes.group[k], members = vis.nodes.members[k];
    if (path === null) {
      return { id: n.id, kind: n.kind, label: n.label, op: n.op, family: n.family, base: n.group || "", ref: n, members: members,
               inputs: n.inputs, outputs: n.outputs, params: n.params, trainable_params: n.trainable_params, order: n.rank };
    }
    var g = groupByPath.get(path), f = foldByFirst.get(path), repeat = vis.nodes.repeat[k], label = groupLabel(path);
    if (repeat > 1) {  // "layer3.1–5" for the folded run layer3.1 ... layer3.5
      var lastNum = lastPart(f.paths[f.paths.length - 1]);
      label += /^\d+$/.test(lastNum) && /^\d+$/.test(lastPart(path)) ? "\u2013" + lastNum : " \u2026 " + lastNum;
    }
    return { id: "group:" + path, kind: "group", label: label, op: g.type, base: parentPath(path), path: path,
             repeat: repeat, fold: repeat > 1 ? f : null, members: members, inputs: [], outputs: [],
             params: (g.params || 0) * repeat, trainable_params: (g.trainable_params || 0) * repeat, order: groupFirst.get(path) };
  }
  function computeView() {
    var vis = visibleGraph(VIEW_GRAPH, { depth: null, collapse: Array.from(state.collapsed), foldRepeats: state.foldRepeats,
                                         unfolded: Array.from(state.unfolded) });
    var shown = vis.nodes.first.map(function (_, k) { return visibleNode(vis, k); }), vnodes = new Map(), rep = new Map();
    shown.forEach(function (v) { vnodes.set(v.id, v); });
    nodes.forEach(function (n, i) { rep.set(n.id, shown[vis.rep[i]].id); });
    var E = vis.edges, vedges = E.first.map(function (first, k) {
      var e = edgesIn[first];
      return { src: shown[E.src[k]].id, dst: shown[E.dst[k]].id, shape: e.shape, dtype: e.dtype, count: E.count[k] };
    });
    // a collapsed group's inputs and outputs: the edges at its border
    vis.inputs.node.forEach(function (v, q) { var e = vedges[vis.inputs.edge[q]]; shown[v].inputs.push({ shape: e.shape, dtype: e.dtype }); });
    vis.outputs.node.forEach(function (v, q) { var e = vedges[vis.outputs.edge[q]]; shown[v].outputs.push({ shape: e.shape, dtype: e.dtype }); });
    return { nodes: vnodes, edges: vedges, clusters: new Set(vis.clusters), rep: rep };
  }

  // ---------------------------------------------------------------- text measuring
  var measureCtx = document.createElement("canvas").getContext("2d");
  var widthCache = new Map();
  function textWidth(text, font) {
    var key = font + "|" + text, w = widthCache.get(key);
    if (w === undefined) { measureCtx.font = font; w = measureCtx.measureText(text).width; widthCache.set(key, w); }
    return w;
  }
  var FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
  var FONT_N = "12px " + FONT_FAMILY, FONT_1 = "600 12px " + FONT_FAMILY, FONT_2 = "11px " + FONT_FAMILY, FONT_T = "600 11.5px " + FONT_FAMILY;

  function fmtShape(shape) {
    if (shape === null || shape === undefined) return "?";
    return "(" + shape.map(function (d) { return d === null ? "?" : d; }).join(", ") + ")";
  }
  function shortShape(shape) {
    if (shape === null || shape === undefined) return "";
    return shape.map(function (d) { return d === null ? "?" : d; }).join("×");
  }
  function fmtCount(n) {
    if (!n) return "0";
    if (n >= 1e9) return (n / 1e9).toFixed(n >= 1e10 ? 0 : 1) + "B";
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
    if (n >= 1e3) return (n / 1e3).toFixed(n >= 1e4 ? 0 : 1) + "K";
    return String(num(n));
  }
  function fmtInt(n) { return num(n).toLocaleString("en-US"); }

  // ---------------------------------------------------------------- op families (colours)
  // the families (each node's is computed in Python: layout.node_family) and their legend names
  var FAMILIES = [
    ["conv", "Convolution"], ["linear", "Linear"], ["embedding", "Embedding"], ["norm", "Normalization"],
    ["activation", "Activation"], ["pooling", "Pooling"], ["attention", "Attention"],
    ["recurrent", "Recurrent"], ["dropout", "Dropout"], ["op", "Functional op / other"],
    ["param", "Constant / parameter"], ["io", "Input / output"], ["group", "Collapsed group"],
  ];
  function family(v) {
    if (v.kind === "group") return "group";
    if (v.kind === "input" || v.kind === "output") return "io";
    if (v.kind === "param") return "param";
    // computed in Python (render_html.viewer_data, layout.node_family): one rule, drawn here
    return FAMILIES.some(function (f) { return f[0] === v.family; }) ? v.family : "op";
  }

  // ---------------------------------------------------------------- node geometry
  // [bold title, lighter name after it, second line]; the same wording as the SVG renderer
  function nodeLines(v) {
    if (v.kind === "group") {
      var p = v.params ? fmtCount(v.params) + " params" : "";
      return [v.label || v.path, "", v.op + (p ? " · " + p : "")];
    }
    if (v.kind === "input" || v.kind === "output") {
      var t = v.kind === "input" ? v.outputs : (v.inputs && v.inputs.length ? v.inputs : v.outputs);
      return [v.label || v.kind, "", t && t.length ? shortShape(t[0].shape) : v.kind];
    }
    var out = v.outputs && v.outputs.length ? shortShape(v.outputs[0].shape) : "";
    var line2 = [out, v.params ? fmtCount(v.params) + " params" : ""].filter(Boolean).join(" · ");
    if (v.kind === "module") {
      var mod = (v.ref && v.ref.module) || v.id, parts = mod.split(".");
      var short = parts.length > 1 && /^\d+$/.test(parts[parts.length - 1]) ? parts.slice(-2).join(".") : parts[parts.length - 1];
      return [v.op, short && short !== v.op ? short : "", line2];
    }
    var name = v.label && v.label !== v.op && String(v.label).indexOf(v.op) < 0 ? v.label : "";
    return [v.op || v.label, name, line2];
  }
  function sizeNode(v) {
    var lines = nodeLines(v);
    v.lines = lines;
    var w1 = textWidth(lines[0], FONT_1) + (lines[1] ? 5 + textWidth(lines[1], FONT_N) : 0);
    var w = Math.max(w1, textWidth(lines[2], FONT_2)) + 2 * NODE_PAD_X;
    if (v.kind === "group") w += 22 + (v.repeat > 1 ? 34 : 0);
    v.w = Math.max(NODE_MIN_W, Math.ceil(w));
    v.h = v.kind === "group" ? GROUP_H : NODE_H;
  }

  // ---------------------------------------------------------------- layout
  // The one layout of neuralscope's graphs (layout.js, which Python's static renderers run
  // too): this page measures the text, layout.js places the boxes and routes the edges.
  var LAYOUT_OPTIONS = { rankGap: RANK_SEP, nodeGap: NODE_SEP, dummyGap: DUMMY_SEP, portGap: 14, unitHeight: NODE_H,
    labels: false, clusterPadX: BOX_PAD_X, clusterPadTop: TITLE_H + 12, clusterPadBottom: BOX_PAD_BOTTOM };
  var MARGIN = 20;  // around the whole drawing

  // the visible graph as layOutGraph takes it, in visibleGraph's order (nodes by their first
  // member, groups parents first), as Python's static renderers hand it over
  function layoutInput(view) {
    var vs = Array.from(view.nodes.values()), paths = Array.from(view.clusters);
    var clusterIndex = new Map(paths.map(function (p, k) { return [p, k]; }));
    var nodeIndex = new Map(vs.map(function (v, k) { return [v.id, k]; }));
    var within = function (path) { return path ? clusterIndex.get(path) : -1; };
    vs.forEach(sizeNode);
    var titles = paths.map(function (p) {
      var g = groupByPath.get(p);
      return { title: groupLabel(p), subtitle: g.type + (g.params ? " · " + fmtCount(g.params) : "") };
    });
    return {
      vs: vs, paths: paths, titles: titles,
      graph: {
        nodes: { home: vs.map(function (v) { return within(v.base); }), w: vs.map(function (v) { return v.w; }),
                 h: vs.map(function (v) { return v.h; }) },
        clusters: { parent: paths.map(function (p) { return within(parentPath(p)); }),
                    titleWidth: titles.map(function (t) { return textWidth(t.title, FONT_T) + textWidth(t.subtitle, FONT_2) + 44; }) },
        edges: { src: view.edges.map(function (e) { return nodeIndex.get(e.src); }),
                 dst: view.edges.map(function (e) { return nodeIndex.get(e.dst); }),
                 label: view.edges.map(function () { return ""; }), labelWidth: view.edges.map(function () { return 0; }) },
      },
    };
  }

  // positions for the drawing: node boxes by their top-left corner, group boxes (ox, oy, w,
  // h) by path ("" the whole drawing), edge polylines
  function layout(view) {
    var t0 = performance.now(), input = layoutInput(view);
    var out = layOutGraph(input.graph, LAYOUT_OPTIONS);
    input.vs.forEach(function (v, k) { v.x = out.nodeX[k] - v.w / 2 + MARGIN; v.y = out.nodeY[k] - v.h / 2 + MARGIN; });
    var boxes = new Map();
    boxes.set("", { path: "", ox: 0, oy: 0, w: out.width + 2 * MARGIN, h: out.height + 2 * MARGIN, depth: 0 });
    input.paths.forEach(function (p, k) {
      boxes.set(p, { path: p, ox: out.clusterX0[k] + MARGIN, oy: out.clusterY0[k] + MARGIN, w: out.clusterX1[k] - out.clusterX0[k],
                     h: out.clusterY1[k] - out.clusterY0[k], depth: depthOf(p), title: input.titles[k].title, subtitle: input.titles[k].subtitle });
    });
    view.edges.forEach(function (e, j) {
      var flat = out.edgePoints[j], pts = [];
      for (var q = 0; q + 1 < flat.length; q += 2) pts.push([flat[q] + MARGIN, flat[q + 1] + MARGIN]);
      e.points = pts;
      e.back = out.edgeBack[j];
    });
    api.lastLayout = { graph: input.graph, options: LAYOUT_OPTIONS, output: out, ids: input.vs.map(function (v) { return v.id; }) };
    return { boxes: boxes, width: out.width + 2 * MARGIN, height: out.height + 2 * MARGIN, ms: performance.now() - t0 };
  }

  // ---------------------------------------------------------------- drawing
  var svg = document.getElementById("ns-svg");
  var viewport = document.getElementById("ns-viewport");
  var canvasEl = document.getElementById("ns-canvas");
  var tooltip = document.getElementById("ns-tooltip");
  var current = null;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function edgePath(pts) {
    if (!pts.length) return "";
    var d = "M" + pts[0][0].toFixed(1) + "," + pts[0][1].toFixed(1);
    for (var k = 1; k < pts.length; k++) {
      var a = pts[k - 1], c = pts[k], my = (c[1] - a[1]) / 2;
      if (Math.abs(c[0] - a[0]) < 0.5) { d += "L" + c[0].toFixed(1) + "," + c[1].toFixed(1); continue; }
      d += "C" + a[0].toFixed(1) + "," + (a[1] + my).toFixed(1) + " " + c[0].toFixed(1) + "," + (c[1] - my).toFixed(1) +
           " " + c[0].toFixed(1) + "," + c[1].toFixed(1);
    }
    return d;
  }

  // Big visible graphs are drawn in part: only what lies in and around the viewport is in the
  // DOM, redrawn when panning or zooming leaves the drawn region; zoomed far out, nodes lose
  // their text (level of detail).
  var CULL_NODES = 1500, LOD_NODE_PX = 9;

  function clusterSvg(b) {
    var x = b.ox, y = b.oy;
    return '<g class="ns-cluster d' + (b.depth % 4) + '" data-group="' + esc(b.path) + '" data-path="' + esc(b.path) +
      '"><rect class="ns-cluster-box" x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + b.w.toFixed(1) +
      '" height="' + b.h.toFixed(1) + '" rx="8"/></g>';
  }
  function clusterTitleSvg(b) {
    var x = b.ox, y = b.oy;
    return '<g class="ns-cluster-title" data-path="' + esc(b.path) + '" data-toggle="' + esc(b.path) + '"><rect x="' + (x + 1).toFixed(1) + '" y="' + (y + 1).toFixed(1) +
      '" width="' + (b.w - 2).toFixed(1) + '" height="' + (TITLE_H - 2) + '" rx="7"/>' +
      '<text class="ns-cluster-icon" x="' + (x + 10).toFixed(1) + '" y="' + (y + 17).toFixed(1) + '">\u2212</text>' +
      '<text class="ns-cluster-name" x="' + (x + 24).toFixed(1) + '" y="' + (y + 17).toFixed(1) + '">' + esc(b.title) +
      '<tspan class="ns-cluster-type" dx="8">' + esc(b.subtitle) + "</tspan></text></g>";
  }
  function edgeSvg(e, i, lod) {
    var d = edgePath(e.points);
    return '<g class="ns-edge" data-edge="' + i + '" data-src="' + esc(e.src) + '" data-dst="' + esc(e.dst) +
      '" data-shape="' + esc(fmtShape(e.shape)) + '">' + (lod ? "" : '<path class="ns-edge-hit" d="' + d + '"/>') +
      '<path class="ns-edge-line' + (e.count > 1 ? " multi" : "") + (e.back ? " back" : "") + '" d="' + esc(d) + '" marker-end="url(#ns-arrow)"/></g>';
  }
  function nodeSvg(v, lod) {
    var fam = family(v);
    var w = v.w, h = v.h;
    var attrs = ' data-id="' + esc(v.id) + '" data-kind="' + esc(v.kind) + '" data-group="' + esc(v.base) + '" data-family="' + esc(fam) + '"';
    if (v.kind === "group") attrs += ' data-collapsed="' + esc(v.path) + '" data-repeat="' + num(v.repeat) + '"';
    var cls = "ns-node fam-" + esc(fam) + (v.kind === "group" ? " ns-group-node" : "");
    var s = '<g class="' + cls + '"' + attrs + ' transform="translate(' + v.x.toFixed(1) + "," + v.y.toFixed(1) + ')">';
    var rx = v.kind === "op" ? h / 2 : v.kind === "input" || v.kind === "output" ? 10 : 6;
    if (lod) return s + '<rect class="ns-body" width="' + w + '" height="' + h + '" rx="' + rx + '"/></g>';
    if (v.kind === "group") {
      s += '<rect class="ns-stack" x="4" y="4" width="' + w + '" height="' + h + '" rx="7"/>';
      if (v.repeat > 1) s += '<rect class="ns-stack" x="8" y="8" width="' + w + '" height="' + h + '" rx="7"/>';
    }
    s += '<rect class="ns-body" width="' + w + '" height="' + h + '" rx="' + rx + '"/>';
    if (v.kind === "module" || v.kind === "group") s += '<rect class="ns-stripe" width="5" height="' + h + '" rx="2"/>';
    var tx = v.kind === "group" ? 24 : w / 2, anchor = v.kind === "group" ? "start" : "middle";
    if (v.kind === "group") s += '<text class="ns-expand-icon" x="10" y="' + (h / 2 + 5) + '">+</text>';
    s += '<text class="ns-l1" x="' + tx + '" y="' + (h / 2 - 3) + '" text-anchor="' + anchor + '">' + esc(v.lines[0]) +
      (v.lines[1] ? '<tspan class="ns-name" dx="5">' + esc(v.lines[1]) + "</tspan>" : "") + "</text>";
    s += '<text class="ns-l2" x="' + tx + '" y="' + (h / 2 + 12) + '" text-anchor="' + anchor + '">' + esc(v.lines[2]) + "</text>";
    if (v.repeat > 1) {
      s += '<g class="ns-badge"><rect x="' + (w - 34) + '" y="' + (h / 2 - 10) + '" width="28" height="20" rx="10"/><text x="' +
        (w - 20) + '" y="' + (h / 2 + 4) + '" text-anchor="middle">\u00d7' + num(v.repeat) + "</text></g>";
    }
    return s + "</g>";
  }

  function render() {
    var t0 = performance.now();
    var view = computeView();
    var lay = layout(view);
    var clusterList = [];
    lay.boxes.forEach(function (b) { if (b.path) clusterList.push(b); });
    clusterList.sort(function (a, c) { return a.depth - c.depth; });
    view.edges.forEach(function (e) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      e.points.forEach(function (p) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); });
      e.bbox = [x0, y0, x1, y1];
    });
    current = { view: view, layout: lay, clusterList: clusterList, culled: view.nodes.size > CULL_NODES, drawn: null };
    draw(true);
    svg.setAttribute("data-layout-ms", lay.ms.toFixed(1));
    updatePanel(view, lay);
    api.lastRenderMs = performance.now() - t0;
    api.lastLayoutMs = lay.ms;
    return view;
  }

  function viewRect() {
    var c = canvasSize(), s = state.scale;
    return [-state.tx / s, -state.ty / s, (c.w - state.tx) / s, (c.h - state.ty) / s];
  }
  function draw(force) {
    if (!current) return;
    var lod = current.culled && state.scale * NODE_H < LOD_NODE_PX;
    var r = null;
    if (current.culled) {
      var vr = viewRect(), dw = vr[2] - vr[0], dh = vr[3] - vr[1];
      var d = current.drawn;
      if (!force && d && d.lod === lod && vr[0] >= d.r[0] && vr[1] >= d.r[1] && vr[2] <= d.r[2] && vr[3] <= d.r[3]) return;
      r = [vr[0] - dw, vr[1] - dh, vr[2] + dw, vr[3] + dh];
      current.drawn = { r: r, lod: lod };
    } else if (!force) {
      return;
    }
    function inside(x0, y0, x1, y1) { return !r || (x1 >= r[0] && x0 <= r[2] && y1 >= r[1] && y0 <= r[3]); }
    var parts = ['<g class="ns-clusters">'];
    current.clusterList.forEach(function (b) { if (inside(b.ox, b.oy, b.ox + b.w, b.oy + b.h)) parts.push(clusterSvg(b)); });
    parts.push('</g><g class="ns-edges">');
    current.view.edges.forEach(function (e, i) { if (inside(e.bbox[0], e.bbox[1], e.bbox[2], e.bbox[3])) parts.push(edgeSvg(e, i, lod)); });
    parts.push('</g><g class="ns-cluster-titles">');
    current.clusterList.forEach(function (b) { if (inside(b.ox, b.oy, b.ox + b.w, b.oy + TITLE_H)) parts.push(clusterTitleSvg(b)); });
    parts.push('</g><g class="ns-nodes">');
    current.view.nodes.forEach(function (v) { if (inside(v.x, v.y, v.x + v.w, v.y + v.h)) parts.push(nodeSvg(v, lod)); });
    parts.push("</g>");
    viewport.innerHTML = parts.join("");
    highlightMatches();
    if (state.selected) {
      var el = viewport.querySelector('.ns-node[data-id="' + cssEsc(state.selected) + '"]');
      if (el) el.classList.add("ns-selected");
    }
  }
  // the current view as a standalone SVG document (everything, not only what is on screen)
  function exportSvg() {
    if (!current) return "";
    var L = current.layout, m = 16, W = L.width + 2 * m, H = L.height + 2 * m;
    var parts = ['<g class="ns-clusters">'];
    current.clusterList.forEach(function (b) { parts.push(clusterSvg(b)); });
    parts.push('</g><g class="ns-edges">');
    current.view.edges.forEach(function (e, i) { parts.push(edgeSvg(e, i, true)); });
    parts.push('</g><g class="ns-cluster-titles">');
    current.clusterList.forEach(function (b) { parts.push(clusterTitleSvg(b)); });
    parts.push('</g><g class="ns-nodes">');
    current.view.nodes.forEach(function (v) { parts.push(nodeSvg(v, false)); });
    parts.push("</g>");
    var css = document.querySelector("style").textContent;
    var defs = document.querySelector("#ns-svg defs").outerHTML;
    return '<svg xmlns="http://www.w3.org/2000/svg" width="' + W.toFixed(0) + '" height="' + H.toFixed(0) + '" viewBox="' +
      (-m) + " " + (-m) + " " + W.toFixed(1) + " " + H.toFixed(1) + '"><style>' + css.replace(/]]>/g, "") + "</style>" + defs +
      '<rect x="' + (-m) + '" y="' + (-m) + '" width="' + W.toFixed(1) + '" height="' + H.toFixed(1) + '" fill="#ffffff"/>' +
      parts.join("") + "</svg>";
  }
  function downloadSvg() {
    var blob = new Blob([exportSvg()], { type: "image/svg+xml" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = String(DATA.name || "graph").replace(/[^\w.-]+/g, "_") + ".svg";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  }

  // ---------------------------------------------------------------- pan and zoom
  function applyTransform() {
    viewport.setAttribute("transform", "translate(" + state.tx.toFixed(2) + "," + state.ty.toFixed(2) + ") scale(" + state.scale.toFixed(4) + ")");
    draw(false);
    var z = document.getElementById("ns-zoom-level");
    if (z) z.textContent = Math.round(state.scale * 100) + "%";
  }
  function canvasSize() { var r = canvasEl.getBoundingClientRect(); return { w: r.width || 800, h: r.height || 600 }; }
  function zoomAt(k, cx, cy) {
    state.userMoved = true;
    var s = Math.min(4, Math.max(0.03, state.scale * k));
    k = s / state.scale;
    state.tx = cx - (cx - state.tx) * k; state.ty = cy - (cy - state.ty) * k; state.scale = s;
    applyTransform();
  }
  function fit(initial) {
    if (!current) return;
    var c = canvasSize(), L = current.layout, m = 20;
    var bar = document.getElementById("ns-toolbar"), top = bar ? bar.offsetTop + bar.offsetHeight + 12 : 58;
    var sw = (c.w - 2 * m) / Math.max(L.width, 1), sh = (c.h - top - m) / Math.max(L.height, 1);
    var s = Math.min(sw, sh, 1.4);
    state.userMoved = false;
    if (initial && s < 0.55) {
      // a tall graph: readable scale, top aligned, instead of a thumbnail
      s = Math.min(Math.max(s, Math.min(sw, 0.85)), 1.4);
      state.scale = s; state.tx = (c.w - L.width * s) / 2; state.ty = top;
    } else {
      state.scale = s; state.tx = (c.w - L.width * s) / 2; state.ty = top + (c.h - top - m - L.height * s) / 2;
    }
    applyTransform();
  }
  function centerOn(x, y) {
    state.userMoved = true;
    var c = canvasSize();
    if (state.scale < 0.6) state.scale = 0.9;
    state.tx = c.w / 2 - x * state.scale; state.ty = c.h / 2 - y * state.scale;
    applyTransform();
  }
  var drag = null, moved = false;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, tx: state.tx, ty: state.ty }; moved = false;
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!moved) { svg.classList.add("ns-dragging"); hideTip(); }
    moved = true;
    state.tx = drag.tx + dx; state.ty = drag.ty + dy; state.userMoved = true; applyTransform();
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("ns-dragging"); });
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    var k = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0018));
    zoomAt(k, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });

  // ---------------------------------------------------------------- expand / collapse
  function anchorOf(id) {
    if (!current) return null;
    if (id.indexOf("c:") === 0) {
      var b = current.layout.boxes.get(id.slice(2));
      return b ? { x: b.ox + b.w / 2, y: b.oy } : null;
    }
    var v = current.view.nodes.get(id);
    return v ? { x: v.x + v.w / 2, y: v.y } : null;
  }
  function keepAnchor(before, afterId) {
    state.userMoved = true;
    var a = anchorOf(afterId);
    if (!before || !a) return;
    state.tx = before.sx - a.x * state.scale; state.ty = before.sy - a.y * state.scale;
    applyTransform();
  }
  function screenOf(id) {
    var a = anchorOf(id);
    return a ? { sx: state.tx + a.x * state.scale, sy: state.ty + a.y * state.scale } : null;
  }
  function checkPath(path) {
    if (!groupByPath.has(path) || !path) throw new Error("neuralscope: no group named " + JSON.stringify(path));
  }
  function expand(path) {
    checkPath(path);
    var vid = visibleGroupNodeId(path);
    var before = vid ? screenOf(vid) : null;
    revealPath(path);  // the group and every group around it
    render();
    keepAnchor(before, "c:" + path);
    return api.visibleNodeIds();
  }
  function collapse(path) {
    checkPath(path);
    var before = screenOf("c:" + path);
    state.collapsed.add(path);
    render();
    keepAnchor(before, visibleGroupNodeId(path) || "group:" + path);
    return api.visibleNodeIds();
  }
  function visibleGroupNodeId(path) {
    if (!current) return null;
    var id = "group:" + path;
    if (current.view.nodes.has(id)) return id;
    var f = foldOfPath.get(path);
    if (f !== undefined && current.view.nodes.has("group:" + f)) return "group:" + f;
    return null;
  }
  function isExpanded(path) { return current && current.view.clusters.has(path); }
  function toggle(path) { return isExpanded(path) ? collapse(path) : expand(path); }
  function unfold(first) {
    var before = screenOf("group:" + first);
    state.unfolded.add(first);
    render();
    keepAnchor(before, "group:" + first);
  }
  function revealPath(path) {
    // open every group around `path` (a group path; the node's own group for nodes)
    ancestors(path).forEach(function (p) {
      state.collapsed.delete(p);
      var f = foldOfPath.get(p);
      if (f !== undefined) state.unfolded.add(f);
    });
  }

  // ---------------------------------------------------------------- search
  function findMatches(text) {
    // nodes whose id, name, module or type contains the text (as Graph.find), and groups whose
    // path contains it or whose type is it; best first: exact names, then names containing the
    // text, then exact types, then types containing it; execution order within each rank
    var t = String(text || "").trim().toLowerCase();
    if (!t) return [];
    var out = [];
    function nameScore(name) {
      name = String(name || "").toLowerCase();
      if (!name) return 9;
      if (name === t || name.slice(-t.length - 1) === "." + t) return 0;
      return name.indexOf(t) >= 0 ? 1 : 9;
    }
    nodes.forEach(function (n) {
      var op = String(n.op).toLowerCase();
      var sc = Math.min(nameScore(n.module), nameScore(n.id), nameScore(n.label) === 0 ? 0 : nameScore(n.label) + 2,
                        op === t ? 2 : op.indexOf(t) >= 0 ? 3 : 9);
      if (sc < 9) out.push({ node: n.id, score: sc, order: n.rank });
    });
    groupByPath.forEach(function (g, p) {
      if (!p) return;
      var sc = Math.min(nameScore(p), String(g.type).toLowerCase() === t ? 2 : 9);
      if (sc < 9) out.push({ group: p, score: sc, order: groupFirst.get(p) });
    });
    out.sort(function (x, y) { return x.score - y.score || x.order - y.order || (x.group ? 1 : 0) - (y.group ? 1 : 0); });
    return out;
  }
  function search(text) {
    state.query = String(text || "");
    state.matches = findMatches(state.query);
    state.matchIndex = -1;
    if (state.matches.length) return focusMatch(0);
    if (current) highlightMatches();
    updateSearchStatus();
    return [];
  }
  function focusMatch(i) {
    var m = state.matches[i];
    state.matchIndex = i;
    var target;
    if (m.node) {
      var n = nodeById.get(m.node);
      revealPath(n.group || "");
      target = n.id;
    } else {
      revealPath(parentPath(m.group));
      target = null;
    }
    render();
    if (m.group) target = isExpanded(m.group) ? "c:" + m.group : visibleGroupNodeId(m.group);
    var a = target ? anchorOf(target) : null;
    if (a) {
      var h = target.indexOf("c:") === 0 ? 0 : current.view.nodes.get(target).h / 2;
      centerOn(a.x, a.y + h);
    }
    highlightMatches();
    updateSearchStatus();
    return state.matches.map(function (x) { return x.node || "group:" + x.group; });
  }
  function nextMatch(step) {
    if (!state.matches.length) return null;
    var i = (state.matchIndex + (step || 1) + state.matches.length) % state.matches.length;
    focusMatch(i);
    return state.matches[i].node || "group:" + state.matches[i].group;
  }
  function highlightMatches() {
    if (!current) return;
    viewport.querySelectorAll(".ns-match, .ns-current").forEach(function (el) { el.classList.remove("ns-match", "ns-current"); });
    var cur = state.matches[state.matchIndex];
    state.matches.forEach(function (m) {
      var el;
      if (m.node) {
        var rid = current.view.rep.get(m.node);
        el = rid ? viewport.querySelector('.ns-node[data-id="' + cssEsc(rid) + '"]') : null;
      } else {
        el = viewport.querySelector('.ns-cluster[data-path="' + cssEsc(m.group) + '"] > .ns-cluster-box') ||
             viewport.querySelector('.ns-node[data-collapsed="' + cssEsc(m.group) + '"]');
      }
      if (!el) return;
      el.classList.add("ns-match");
      if (m === cur) el.classList.add("ns-current");
    });
  }
  function cssEsc(s) { return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&"); }
  function updateSearchStatus() {
    var el = document.getElementById("ns-search-status");
    if (!el) return;
    if (!state.query.trim()) { el.textContent = ""; return; }
    el.textContent = state.matches.length ? (state.matchIndex + 1) + " / " + state.matches.length : "no match";
    el.classList.toggle("ns-none", !state.matches.length);
    updateResults();
  }
  var RESULTS_MAX = 12;
  function updateResults() {
    // the list of matches under the search box; clicking one shows it
    var box = document.getElementById("ns-results");
    if (!box) return;
    if (!state.query.trim() || !state.matches.length) { box.style.display = "none"; return; }
    var start = Math.max(0, Math.min(state.matchIndex - 3, state.matches.length - RESULTS_MAX));
    var rows = [];
    for (var i = start; i < Math.min(state.matches.length, start + RESULTS_MAX); i++) {
      var m = state.matches[i], name, sub;
      if (m.node) {
        var n = nodeById.get(m.node);
        name = n.module || n.id; sub = n.op + (n.group ? " · in " + n.group : "");
      } else {
        name = m.group; sub = groupByPath.get(m.group).type + " · group";
      }
      rows.push('<div class="ns-result' + (i === state.matchIndex ? " ns-on" : "") + '" data-i="' + i + '"><span class="ns-result-name">' +
        esc(name) + '</span><span class="ns-result-sub">' + esc(sub) + "</span></div>");
    }
    if (state.matches.length > RESULTS_MAX) rows.push('<div class="ns-result-more">' + fmtInt(state.matches.length) + " matches · Enter for the next</div>");
    box.innerHTML = rows.join("");
    box.style.display = document.activeElement === document.getElementById("ns-search") ? "block" : "none";
  }

  // ---------------------------------------------------------------- tooltip and details
  function tensorRows(list) {
    if (!list || !list.length) return '<span class="ns-muted">—</span>';
    var seen = {}, rows = [];
    list.forEach(function (t) {
      var s = fmtShape(t.shape) + (t.dtype ? " " + t.dtype : "");
      if (seen[s]) return; seen[s] = 1; rows.push('<code>' + esc(fmtShape(t.shape)) + "</code>" + (t.dtype ? ' <span class="ns-muted">' + esc(t.dtype) + "</span>" : ""));
    });
    return rows.join("<br>");
  }
  function nodeInfo(v) {
    var h = "";
    if (v.kind === "group") {
      h += '<div class="ns-tip-title">' + esc(v.path) + (v.repeat > 1 ? ' <span class="ns-badge-inline">\u00d7' + num(v.repeat) + "</span>" : "") + "</div>";
      h += '<div class="ns-tip-sub">' + esc(v.op) + " · collapsed group of " + fmtInt(v.repeat > 1 ? countRun(v.fold) : groupCount.get(v.path)) + " nodes</div>";
    } else {
      h += '<div class="ns-tip-title">' + esc(v.ref.module || v.id) + "</div>";
      h += '<div class="ns-tip-sub">' + esc(v.op) + " · " + esc(v.kind) + (v.base ? " in " + esc(v.base) : "") + "</div>";
    }
    h += '<table class="ns-tip-table">';
    h += "<tr><th>inputs</th><td>" + tensorRows(v.inputs) + "</td></tr>";
    h += "<tr><th>outputs</th><td>" + tensorRows(v.outputs) + "</td></tr>";
    if (v.params || v.kind === "module" || v.kind === "group") {
      var fr = (v.params || 0) - (v.trainable_params || 0);
      h += "<tr><th>params</th><td>" + fmtInt(v.params) + ' <span class="ns-muted">(' + fmtInt(v.trainable_params) + " trainable, " + fmtInt(fr) + " frozen)</span></td></tr>";
    }
    var attrs = v.ref ? v.ref.attrs : null;
    if (attrs) {
      Object.keys(attrs).slice(0, 14).forEach(function (k) {
        var val = attrs[k], s = typeof val === "string" ? val : JSON.stringify(val);
        if (s && s.length > 80) s = s.slice(0, 77) + "…";
        h += "<tr><th>" + esc(k) + "</th><td><code>" + esc(s) + "</code></td></tr>";
      });
    }
    h += "</table>";
    if (v.kind === "group") h += '<div class="ns-tip-hint">click to ' + (v.repeat > 1 ? "unfold the " + num(v.repeat) + " blocks" : "expand") + "</div>";
    return h;
  }
  function countRun(f) { var c = 0; f.paths.forEach(function (p) { c += groupCount.get(p) || 0; }); return c; }
  function edgeInfo(e) {
    var s = current.view.nodes.get(e.src), d = current.view.nodes.get(e.dst);
    return '<div class="ns-tip-title"><code>' + esc(fmtShape(e.shape)) + "</code>" + (e.dtype ? ' <span class="ns-muted">' + esc(e.dtype) + "</span>" : "") +
      '</div><div class="ns-tip-sub">' + esc(s.label) + " \u2192 " + esc(d.label) + (e.count > 1 ? " · " + num(e.count) + " tensors" : "") + "</div>";
  }
  function showTip(html, ev) {
    tooltip.innerHTML = html;
    tooltip.style.display = "block";
    var r = canvasEl.getBoundingClientRect(), tw = tooltip.offsetWidth, th = tooltip.offsetHeight;
    var x = ev.clientX - r.left + 14, y = ev.clientY - r.top + 14;
    if (x + tw > r.width - 6) x = Math.max(6, ev.clientX - r.left - tw - 14);
    if (y + th > r.height - 6) y = Math.max(6, ev.clientY - r.top - th - 14);
    tooltip.style.left = x + "px"; tooltip.style.top = y + "px";
  }
  function hideTip() { tooltip.style.display = "none"; }
  var hoverEl = null;
  svg.addEventListener("mousemove", function (ev) {
    if (drag && moved) return;
    var t = ev.target, nodeEl = t.closest && t.closest(".ns-node"), edgeEl = t.closest && t.closest(".ns-edge");
    var titleEl = t.closest && t.closest(".ns-cluster-title");
    var el = nodeEl || edgeEl || titleEl;
    if (hoverEl && hoverEl !== el) hoverEl.classList.remove("ns-hover");
    hoverEl = el;
    if (!el) { hideTip(); return; }
    el.classList.add("ns-hover");
    if (nodeEl) showTip(nodeInfo(current.view.nodes.get(nodeEl.getAttribute("data-id"))), ev);
    else if (edgeEl) showTip(edgeInfo(current.view.edges[+edgeEl.getAttribute("data-edge")]), ev);
    else {
      var p = titleEl.getAttribute("data-toggle"), g = groupByPath.get(p);
      showTip('<div class="ns-tip-title">' + esc(p) + '</div><div class="ns-tip-sub">' + esc(g.type) + " · " + fmtInt(groupCount.get(p)) +
        " nodes · " + fmtInt(g.params) + ' params</div><div class="ns-tip-hint">click to collapse</div>', ev);
    }
  });
  svg.addEventListener("mouseleave", function () { hideTip(); if (hoverEl) hoverEl.classList.remove("ns-hover"); hoverEl = null; });
  svg.addEventListener("click", function (ev) {
    if (moved) { moved = false; return; }
    var t = ev.target;
    var title = t.closest(".ns-cluster-title");
    if (title) { hideTip(); collapse(title.getAttribute("data-toggle")); return; }
    var nodeEl = t.closest(".ns-node");
    if (nodeEl) {
      var v = current.view.nodes.get(nodeEl.getAttribute("data-id"));
      if (v.kind === "group") {
        hideTip();
        if (v.repeat > 1) unfold(v.fold.first); else expand(v.path);
        return;
      }
      select(v.id);
      return;
    }
    select(null);
  });
  function select(id) {
    state.selected = id;
    viewport.querySelectorAll(".ns-selected").forEach(function (el) { el.classList.remove("ns-selected"); });
    var box = document.getElementById("ns-details");
    if (!id || !current.view.nodes.has(id)) { box.innerHTML = '<div class="ns-muted">Click a node to see its details here.</div>'; return; }
    var el = viewport.querySelector('.ns-node[data-id="' + cssEsc(id) + '"]');
    if (el) el.classList.add("ns-selected");
    box.innerHTML = nodeInfo(current.view.nodes.get(id));
  }

  // ---------------------------------------------------------------- side panel
  function updatePanel(view, lay) {
    var vis = document.getElementById("ns-visible");
    if (vis) vis.textContent = fmtInt(view.nodes.size) + " nodes · " + fmtInt(view.edges.length) + " edges · " + fmtInt(view.clusters.size) +
      " open groups · layout " + lay.ms.toFixed(0) + " ms";
    document.querySelectorAll("#ns-depth button").forEach(function (b) {
      var d = b.getAttribute("data-depth");
      b.classList.toggle("ns-on", String(state.depth === null ? "all" : state.depth) === d);
    });
    var fr = document.getElementById("ns-fold");
    if (fr) fr.checked = state.foldRepeats;
  }
  function buildPanel() {
    document.getElementById("ns-title").textContent = OPT.title || DATA.name;
    var total = DATA.total_params || 0, tr = DATA.trainable_params || 0;
    var nMods = 0, nOps = 0;
    nodes.forEach(function (n) { if (n.kind === "module") nMods++; else if (n.kind === "op") nOps++; });
    var rows = [["model", DATA.name], ["method", DATA.method], ["parameters", fmtInt(total)], ["trainable", fmtInt(tr)],
                ["frozen", fmtInt(total - tr)], ["nodes", fmtInt(nodes.length) + " (" + fmtInt(nMods) + " modules, " + fmtInt(nOps) + " ops)"],
                ["edges", fmtInt(edgesIn.length)], ["groups", fmtInt(groupCount.size)]];
    document.getElementById("ns-totals").innerHTML = rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("");
    var dz = document.getElementById("ns-depth"), hb = "";
    for (var d = 1; d <= Math.min(maxDepth, 8); d++) hb += '<button type="button" data-depth="' + d + '">' + d + "</button>";
    hb += '<button type="button" data-depth="all">all</button>';
    dz.innerHTML = hb;
    dz.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) return;
      var d = b.getAttribute("data-depth");
      setDepth(d === "all" ? null : +d);
      state.unfolded = new Set();
      render(); fit(true);
    });
    var fr = document.getElementById("ns-fold-row");
    if (!folds.length) fr.classList.add("ns-disabled");
    document.getElementById("ns-fold").addEventListener("change", function (ev) { api.setFoldRepeats(ev.target.checked); });
    var seenFam = {};
    nodes.forEach(function (n) { seenFam[family(n)] = 1; });
    if (groupCount.size) seenFam.group = 1;
    document.getElementById("ns-legend").innerHTML = FAMILIES.filter(function (f) { return seenFam[f[0]]; }).map(function (f) {
      return '<div class="ns-legend-item"><span class="ns-swatch fam-' + f[0] + '"></span>' + esc(f[1]) + "</div>";
    }).join("");
    var input = document.getElementById("ns-search");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { search(input.value); }, 160);
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(timer); if (input.value !== state.query) search(input.value); else nextMatch(ev.shiftKey ? -1 : 1); }
      if (ev.key === "Escape") { input.value = ""; search(""); input.blur(); }
    });
    var results = document.getElementById("ns-results");
    input.addEventListener("focus", function () { updateResults(); });
    input.addEventListener("blur", function () { setTimeout(function () { results.style.display = "none"; }, 150); });
    results.addEventListener("mousedown", function (ev) {
      var row = ev.target.closest(".ns-result");
      if (!row) return;
      ev.preventDefault();  // keep the focus in the search box
      focusMatch(+row.getAttribute("data-i"));
    });
    document.getElementById("ns-zoom-in").addEventListener("click", function () { var c = canvasSize(); zoomAt(1.25, c.w / 2, c.h / 2); });
    document.getElementById("ns-zoom-out").addEventListener("click", function () { var c = canvasSize(); zoomAt(0.8, c.w / 2, c.h / 2); });
    document.getElementById("ns-fit").addEventListener("click", function () { fit(false); });
    document.getElementById("ns-export").addEventListener("click", downloadSvg);
    document.getElementById("ns-expand-all").addEventListener("click", function () { api.expandAll(); });
    document.getElementById("ns-collapse-all").addEventListener("click", function () { api.setDepth(1); });
    window.addEventListener("keydown", function (ev) {
      if (ev.target === input) return;
      if (ev.key === "/" || (ev.key === "f" && (ev.ctrlKey || ev.metaKey))) { ev.preventDefault(); input.focus(); input.select(); }
    });
  }

  // ---------------------------------------------------------------- public API (tests, notebooks)
  var api = {
    data: DATA,
    expand: expand,
    collapse: collapse,
    toggle: toggle,
    isExpanded: isExpanded,
    search: search,
    next: nextMatch,
    fit: function () { fit(false); },
    zoom: function (k) { var c = canvasSize(); zoomAt(k, c.w / 2, c.h / 2); return state.scale; },
    select: select,
    focus: function (id) {
      // show a node (opening the groups around it) in the middle of the canvas
      // (or a group, by its "group:<path>" id: opened around, centred as a box or a node)
      var n = nodeById.get(id), path = id.indexOf("group:") === 0 ? id.slice(6) : null;
      if (!n && !(path && groupByPath.has(path))) throw new Error("neuralscope: no node with id " + JSON.stringify(id));
      revealPath(n ? n.group || "" : parentPath(path));
      render();
      var target = n ? id : isExpanded(path) ? "c:" + path : visibleGroupNodeId(path);
      var a = anchorOf(target), h = target.indexOf("c:") === 0 ? 0 : current.view.nodes.get(target).h / 2;
      centerOn(a.x, a.y + h);
      return target;
    },
    setDepth: function (d) { setDepth(d); state.unfolded = new Set(); render(); fit(true); return api.visibleNodeIds(); },
    expandAll: function () { return api.setDepth(null); },
    setFoldRepeats: function (on) { state.foldRepeats = !!on; state.unfolded = new Set(); render(); fit(true); return api.visibleNodeIds(); },
    exportSvg: exportSvg,
    visibleNodeIds: function () { return current ? Array.from(current.view.nodes.keys()) : []; },
    visibleGroups: function () { return current ? Array.from(current.view.clusters) : []; },
    visibleEdges: function () {
      return current ? current.view.edges.map(function (e) { return { src: e.src, dst: e.dst, shape: e.shape, count: e.count }; }) : [];
    },
    nodeBox: function (id) {
      var v = current && current.view.nodes.get(id);
      return v ? { x: v.x, y: v.y, w: v.w, h: v.h } : null;
    },
    clusterBox: function (path) {
      var b = current && current.layout.boxes.get(path);
      return b && path ? { x: b.ox, y: b.oy, w: b.w, h: b.h } : null;
    },
    transform: function () { return { scale: state.scale, tx: state.tx, ty: state.ty }; },
    matches: function () { return state.matches.map(function (m) { return m.node || "group:" + m.group; }); },
    // the last layout's input and output (layOutGraph of layout.js) and its nodes' ids, for tests
    lastLayout: null,
    ready: false,
  };
  window.neuralscopeGraph = api;

  buildPanel();
  if (!nodes.length) {
    document.getElementById("ns-empty").style.display = "block";
  }
  render();
  fit(true);
  select(null);
  // A page inside a lazy or hidden iframe may run before it has a size: fit again once it has
  // one, and on later resizes, as long as the user has not moved the view themselves.
  var lastSize = "";
  function onResize() {
    var r = canvasEl.getBoundingClientRect(), key = Math.round(r.width) + "x" + Math.round(r.height);
    if (!r.width || !r.height || key === lastSize) return;
    lastSize = key;
    if (!state.userMoved) fit(true); else draw(false);
  }
  if (window.ResizeObserver) new ResizeObserver(onResize).observe(canvasEl);
  window.addEventListener("resize", onResize);
  api.ready = true;
  document.documentElement.setAttribute("data-ns-ready", "1");
})();
