/* The one layout of neuralscope's graphs: a compound layered (Sugiyama) layout, top to bottom.
 *
 * Hand-written for neuralscope (no third-party code), with no DOM: the interactive viewer
 * (viewer.js) runs it in the browser for whatever the user opens or closes, and Python's static
 * renderers (Graph.to_svg, .save, .plot) run the same built file in an embedded V8
 * (neuralscope.graph.layout, the mini-racer wheel). Each side measures its own text and gives
 * the sizes; this module only places boxes and routes edges.
 *
 * Compound: every expanded group is laid out on its own, innermost first, and then placed in
 * its parent's layout as one rectangular item. Edges that enter or leave a group go through
 * ports on its top and bottom border, so a skip connection into a block runs inside the block's
 * box. A level equal to one already laid out in the same call (levelSignature: the repeated
 * blocks of a ResNet or a transformer and the stages holding them) takes that one's result.
 *
 * One level runs the steps of Sugiyama, Tagawa & Toda, "Methods for Visual Understanding of
 * Hierarchical System Structures", IEEE SMC 1981, one method each of LevelLayout:
 *   0. breakCycles      a topological order following execution order (Kahn, earliest
 *                       first); edges against it become back edges;
 *   1. assignLayers     longest path from the top, sources pulled down next to their
 *                       consumers; a tall group spans layers where something runs beside it;
 *   2. insertDummies    dummies on edges spanning layers, continuations below spanning groups;
 *   3. orderLayers, reduceCrossings   execution order, then barycenter sweeps, best kept;
 *   4. placeX           alternating sweeps, each solving "stay close to the neighbours, keep
 *                       the separations" exactly per layer (pool-adjacent-violators), the
 *                       longest path weighted to stay straight;
 *   5. placeY           layers stacked, items centred in their layer;
 *   6. routeEdges       polylines through the dummies; back edges climb beside;
 *   7. placeLabels      shape labels in the gap below a node where they fit.
 * Item kinds: 0 node, 1 child group, 2 in port (top border), 3 out port (bottom border).
 */

export const NODE = 0, GROUP = 1, IN_PORT = 2, OUT_PORT = 3;

/** Spacing in px; unitHeight is the height of a two-line node (a tall group spans layers in
 *  units of it); clusterPad* frame a group's content (the title is inside clusterPadTop). */
export const DEFAULTS = {
  rankGap: 34, nodeGap: 20, dummyGap: 12, portGap: 14, sweeps: 6, labels: true,
  unitHeight: 38, labelSize: 9.5, clusterPadX: 10, clusterPadTop: 28, clusterPadBottom: 10, memo: true,
};

// ------------------------------------------------------------------ small exact helpers

/** Python's round(): halves to the even neighbour. */
function roundHalfEven(v) {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The index of the first value in sorted `a` greater than `v`. */
/** The largest of `values` (a loop: spreading a long array into Math.max overflows the stack). */
function maxOf(values, init) {
  let m = init;
  for (const v of values) if (v > m) m = v;
  return m;
}

function bisectRight(a, v) {
  let lo = 0, hi = a.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (v < a[m]) hi = m; else lo = m + 1; }
  return lo;
}

/** Positions closest (weighted least squares) to `target` with x[i+1] - x[i] >= sep[i]:
 *  with y_i = x_i - c_i (c the running sum of separations) an isotonic regression, solved
 *  exactly by pool-adjacent-violators in linear time. */
export function pav(target, weight, sep) {
  const n = target.length, offs = new Array(n).fill(0);
  let c = 0;
  for (let i = 1; i < n; i++) { c += sep[i - 1]; offs[i] = c; }
  const vals = [], wts = [], cnts = [];
  for (let i = 0; i < n; i++) {
    let v = target[i] - offs[i], w = weight[i], k = 1;
    while (vals.length && vals[vals.length - 1] > v) {
      const pv = vals.pop(), pw = wts.pop(), pk = cnts.pop();
      v = (pv * pw + v * w) / (pw + w);
      w += pw;
      k += pk;
    }
    vals.push(v); wts.push(w); cnts.push(k);
  }
  const out = new Array(n);
  let i = 0;
  for (let b = 0; b < vals.length; b++) for (let k = 0; k < cnts[b]; k++, i++) out[i] = vals[b] + offs[i];
  return out;
}

/** Pairs i < j with seq[j] < seq[i] (merge sort; `seq` is left sorted). */
export function inversions(seq) {
  const n = seq.length;
  if (n < 2) return 0;
  const buf = new Array(n);
  let inv = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n - width; lo += 2 * width) {
      const mid = lo + width, hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (seq[j] < seq[i]) { buf[k++] = seq[j++]; inv += mid - i; } else buf[k++] = seq[i++];
      }
      while (i < mid) buf[k++] = seq[i++];
      while (j < hi) buf[k++] = seq[j++];
      for (k = lo; k < hi; k++) seq[k] = buf[k];
    }
  }
  return inv;
}

/** Edge crossings between consecutive layers (inversions per layer pair). */
export function countCrossings(layers, pos, down) {
  let total = 0;
  for (let L = 0; L + 1 < layers.length; L++) {
    const seq = [];
    for (const u of layers[L]) {
      const ps = down[u].map((v) => pos[v]).sort((a, b) => a - b);
      for (const p of ps) seq.push(p);
    }
    if (seq.length >= 2) total += inversions(seq);
  }
  return total;
}

/** The weighted median of sorted [value, weight] pairs; between two optimal values, the one
 *  that moves `current` least. */
export function weightedMedian(cand, current) {
  let half = 0;
  for (const c of cand) half += c[1];
  half /= 2;
  let acc = 0;
  for (let k = 0; k < cand.length; k++) {
    acc += cand[k][1];
    if (acc > half + 1e-9) return cand[k][0];
    if (Math.abs(acc - half) <= 1e-9) return Math.min(Math.max(current, cand[k][0]), cand[k + 1][0]);
  }
  return cand[cand.length - 1][0];
}

/** A binary min-heap of [order, index] pairs, compared by order, then index. */
class PairHeap {
  constructor() { this.a = []; }
  get size() { return this.a.length; }
  static less(p, q) { return p[0] < q[0] || (p[0] === q[0] && p[1] < q[1]); }
  push(p) {
    const a = this.a;
    a.push(p);
    for (let i = a.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (!PairHeap.less(a[i], a[up])) break;
      [a[i], a[up]] = [a[up], a[i]];
      i = up;
    }
  }
  pop() {
    const a = this.a, top = a[0], last = a.pop();
    if (a.length) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && PairHeap.less(a[l], a[m])) m = l;
        if (r < a.length && PairHeap.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

// ------------------------------------------------------------------ one level

/** Items of one group (its own nodes, child groups, ports) and the edges among them. Item
 *  keys are unique numbers (layOutGraph: node i 4i, group c 4c+1, the in port and the out port
 *  of source node s 4s+2 and 4s+3); `cluster[i]` is the child group an item stands for (-1
 *  otherwise). An
 *  edge is [u, uKey, v, vKey]: the key of a group end is the source node whose port it uses
 *  (-1 for none). After layOutLevel: x, y (item centres), width, height, routes (edge index ->
 *  points), labels (edge index -> [x, y]), back (a Set of edge indices), layerTops, layerH. */
export class Level {
  constructor(path) {
    this.path = path;
    this.items = []; this.index = new Map();
    this.w = []; this.h = []; this.order = []; this.kind = []; this.cluster = [];
    this.edges = []; this.edgeIndex = new Map();
  }

  item(key, w = 0, h = 0, order = 0, kind = NODE, cluster = -1) {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.items.length;
      this.index.set(key, i);
      this.items.push(key); this.w.push(w); this.h.push(h); this.order.push(order); this.kind.push(kind);
      this.cluster.push(cluster);
    }
    return i;
  }

  edge(u, uKey, v, vKey) {
    const k = edgeKey(u, uKey, v, vKey);
    let e = this.edgeIndex.get(k);
    if (e === undefined) {
      e = this.edges.length;
      this.edgeIndex.set(k, e);
      this.edges.push([u, uKey, v, vKey]);
    }
    return e;
  }

  /** The index of the edge (u, uKey, v, vKey), undefined if there is none. */
  find(u, uKey, v, vKey) { return this.edgeIndex.get(edgeKey(u, uKey, v, vKey)); }
}

/** An edge's identity in its level: a number for an edge with no port keys (the common case:
 *  no string to build), else a string. */
function edgeKey(u, uKey, v, vKey) {
  return uKey < 0 && vKey < 0 ? u * 2097152 + v : u + "," + uKey + "," + v + "," + vKey;
}

/** Port offsets of laid-out groups: group index -> (source node -> x offset from its centre). */
function portOffset(lv, offsets, item, key) {
  if (key < 0 || lv.cluster[item] < 0) return 0;
  const m = offsets.get(lv.cluster[item]);
  const o = m && m.get(key);
  return o === undefined ? 0 : o;
}

/** Everything LevelLayout reads from a level, as one list of numbers and strings: item kinds
 *  and sizes, the order of the items (as ranks: only comparisons of orders matter), and per
 *  edge its ends, the port offsets at its ends and its label (text and width). Levels with
 *  equal signatures (sameSignature) get equal layouts. */
export function levelSignature(lv, offsets, labels) {
  const distinct = Array.from(new Set(lv.order)).sort((a, b) => a - b);
  const rank = new Map(distinct.map((v, r) => [v, r]));
  const sig = [lv.items.length, lv.edges.length];
  for (let i = 0; i < lv.items.length; i++) sig.push(lv.kind[i], lv.w[i], lv.h[i], rank.get(lv.order[i]));
  lv.edges.forEach(([u, uk, v, vk], ei) => {
    const label = labels.get(ei);
    sig.push(u, v, portOffset(lv, offsets, u, uk), portOffset(lv, offsets, v, vk), label ? label[0] : "", label ? label[1] : 0);
  });
  return sig;
}

/** Whether two level signatures are equal, value for value. */
export function sameSignature(a, b) {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

const HASH_BITS = new Float64Array(1), HASH_WORDS = new Int32Array(HASH_BITS.buffer);

/** A 32-bit FNV-1a hash of a signature's values (numbers by their bits): the memo's bucket. */
function signatureHash(sig) {
  let h = 0x811c9dc5;
  for (const v of sig) {
    if (typeof v === "number") {
      HASH_BITS[0] = v;
      h = Math.imul(h ^ HASH_WORDS[0], 16777619);
      h = Math.imul(h ^ HASH_WORDS[1], 16777619);
    } else for (let k = 0; k < v.length; k++) h = Math.imul(h ^ v.charCodeAt(k), 16777619);
  }
  return h;
}

const RESULT_FIELDS = ["x", "y", "width", "height", "routes", "labels", "back", "layerTops", "layerH"];

/** Lay out one level in its own frame (top-left of its content at 0, 0). `labels`: edge
 *  index -> [text, width]. With `memo` (a Map kept for one whole layout, whose options do not
 *  change; signature hash -> [{sig, result}]), a level equal to one laid out before takes that
 *  one's result. Returns whether the level was laid out (false: taken from the memo). */
export function layOutLevel(lv, offsets, labels, opt, memo = null) {
  let sig = null, hash = 0;
  if (memo) {
    sig = levelSignature(lv, offsets, labels);
    hash = signatureHash(sig);
    const bucket = memo.get(hash), done = bucket && bucket.find((m) => sameSignature(m.sig, sig));
    if (done) { RESULT_FIELDS.forEach((f, k) => { lv[f] = done.result[k]; }); return false; }
  }
  new LevelLayout(lv, offsets, labels, opt).run();
  if (memo) {
    let bucket = memo.get(hash);
    if (!bucket) memo.set(hash, bucket = []);
    bucket.push({ sig, result: RESULT_FIELDS.map((f) => lv[f]) });
  }
  return true;
}

/** The working state of one level's layout; each step is one method (see the top). */
export class LevelLayout {
  constructor(lv, offsets, labels, opt) {
    this.lv = lv; this.offsets = offsets; this.labels = labels; this.opt = { ...DEFAULTS, ...opt };
    this.n = lv.items.length;
    this.order = lv.order.slice();
    this.kind = lv.kind;
  }

  run() {
    this.breakCycles(); this.assignLayers(); this.insertDummies(); this.orderLayers(); this.reduceCrossings();
    this.placeX(); this.placeY(); this.routeEdges(); this.placeLabels();
  }

  offset(item, key) { return portOffset(this.lv, this.offsets, item, key); }

  isPort(i) { return i < this.n && (this.kind[i] === IN_PORT || this.kind[i] === OUT_PORT); }

  // 0. cycle breaking: rank (a topological order by execution order), fwd/back, succ/pred
  breakCycles() {
    const { n, order, kind } = this, edges = this.lv.edges;
    const indeg = new Array(n).fill(0), outs = Array.from({ length: n }, () => []);
    for (const [u, , v] of edges) {
      if (u !== v && kind[u] !== OUT_PORT && kind[v] !== IN_PORT) { outs[u].push(v); indeg[v]++; }
    }
    const rank = new Array(n).fill(0), heap = new PairHeap(), done = new Array(n).fill(false);
    for (let i = 0; i < n; i++) if (indeg[i] === 0) heap.push([order[i], i]);
    const remaining = Array.from({ length: n }, (_, i) => i).sort((a, b) => order[a] - order[b]);
    let r = 0, ptr = 0;
    while (r < n) {
      if (!heap.size) {  // a cycle: release the earliest remaining item
        while (done[remaining[ptr]]) ptr++;
        heap.push([order[remaining[ptr]], remaining[ptr]]);
      }
      const u = heap.pop()[1];
      if (done[u]) continue;
      done[u] = true;
      rank[u] = r++;
      for (const v of outs[u]) {
        indeg[v]--;
        if (indeg[v] === 0 && !done[v]) heap.push([order[v], v]);
      }
    }
    this.rank = rank;
    this.fwd = []; this.back = [];
    edges.forEach(([u, , v], ei) => {
      if (kind[u] === OUT_PORT || kind[v] === IN_PORT || u === v) return;
      (rank[u] < rank[v] ? this.fwd : this.back).push(ei);
    });
    this.succ = Array.from({ length: n }, () => []);
    this.pred = Array.from({ length: n }, () => []);
    for (const ei of this.fwd) { const [u, , v] = edges[ei]; this.succ[u].push(v); this.pred[v].push(u); }
  }

  // 1. layers
  longestPathLayers(span) {
    const { n, kind, pred, succ, base } = this, layer = new Array(n).fill(0);
    for (const v of this.topo) {
      let m = base;
      for (const u of pred[v]) if (kind[u] !== IN_PORT && layer[u] + span[u] > m) m = layer[u] + span[u];
      layer[v] = m;
    }
    for (let k = this.topo.length - 1; k >= 0; k--) {
      const v = this.topo[k];
      if (pred[v].length || !succ[v].length) continue;
      const ls = succ[v].filter((s) => kind[s] === NODE || kind[s] === GROUP).map((s) => layer[s]);
      if (ls.length) layer[v] = Math.max(layer[v], -maxOf(ls.map((l) => -l), -Infinity) - span[v]);
    }
    return layer;
  }

  /** How many items and edge lanes each layer holds. */
  busyLayers(layer) {
    const { kind } = this, edges = this.lv.edges;
    const busy = new Array(maxOf(layer, 0) + 2).fill(0);
    for (const v of this.topo) busy[layer[v]]++;
    for (const ei of this.fwd) {
      const [u, , v] = edges[ei];
      if (kind[u] !== IN_PORT && kind[v] !== OUT_PORT) for (let L = layer[u] + 1; L < layer[v]; L++) busy[L]++;
    }
    return busy;
  }

  /** layer and span of every item, and nLayers; ports on the first and last layer. */
  assignLayers() {
    const { n, kind, lv, opt } = this;
    this.hasIn = kind.some((k) => k === IN_PORT);
    this.base = this.hasIn ? 1 : 0;
    this.topo = [];
    for (let i = 0; i < n; i++) if (kind[i] === NODE || kind[i] === GROUP) this.topo.push(i);
    this.topo.sort((a, b) => this.rank[a] - this.rank[b]);
    const unit = opt.unitHeight + opt.rankGap, span = new Array(n).fill(1);
    let layer = this.longestPathLayers(span);
    const tall = [];
    for (let i = 0; i < n; i++) if (kind[i] === GROUP && lv.h[i] + opt.rankGap > 1.5 * unit) tall.push(i);
    if (tall.length) {  // a tall group spans layers only where something runs beside it
      const busy = this.busyLayers(layer);
      for (const i of tall) if (busy[layer[i]] > 1) span[i] = Math.max(1, roundHalfEven((lv.h[i] + opt.rankGap) / unit));
      if (span.some((s) => s > 1)) layer = this.longestPathLayers(span);
    }
    let last = this.base - 1;
    for (const v of this.topo) last = Math.max(last, layer[v] + span[v] - 1);
    for (let i = 0; i < n; i++) if (kind[i] === OUT_PORT) layer[i] = last + 1;
    const nLayers = kind.some((k) => k === OUT_PORT) ? last + 2 : last + 1;
    this.layer = layer; this.span = span; this.nLayers = Math.max(nLayers, 1);
  }

  // 2. dummies
  newItem(L, width, of, src) {
    const d = this.w.length;
    this.w.push(width); this.h.push(0); this.layer.push(L); this.isDummy.push(width === 0);
    this.head.push(of); this.down.push([]); this.up.push([]); this.order.push(this.order[src]);
    return d;
  }

  /** Continuation items below spanning groups, dummies along long edges, up/down links with
   *  the horizontal offsets of their endpoints (linkOff). */
  insertDummies() {
    const { n, lv, layer, span } = this;
    this.w = lv.w.slice(); this.h = lv.h.slice();
    this.isDummy = new Array(n).fill(false);
    this.head = Array.from({ length: n }, (_, i) => i);  // continuation -> the group it continues
    this.down = Array.from({ length: n }, () => []);
    this.up = Array.from({ length: n }, () => []);
    this.chain = new Map();
    this.linkOff = new Map();  // "a,b" -> x_b + off_b - (x_a + off_a) = 0 along the link
    const tail = Array.from({ length: n }, (_, i) => i);
    for (let u = 0; u < n; u++) {
      let prev = u;
      for (let L = layer[u] + 1; L < layer[u] + span[u]; L++) {
        const c = this.newItem(L, this.w[u], u, u);
        this.down[prev].push(c); this.up[c].push(prev);
        prev = c;
      }
      tail[u] = prev;
    }
    for (const ei of this.fwd) {
      const [u, uk, v, vk] = lv.edges[ei];
      const ou = this.offset(u, uk), ov = this.offset(v, vk);
      const nodes = [tail[u]];
      for (let L = layer[u] + span[u]; L < layer[v]; L++) nodes.push(this.newItem(L, 0, -1, u));
      nodes.push(v);
      this.chain.set(ei, nodes.slice(1, -1));
      for (let k = 0; k + 1 < nodes.length; k++) {
        const a = nodes[k], b = nodes[k + 1];
        this.down[a].push(b); this.up[b].push(a);
        this.linkOff.set(a + "," + b, (a === tail[u] ? ou : 0) - (b === v ? ov : 0));
      }
    }
    this.N = this.w.length;
    this.isCont = Array.from({ length: this.N }, (_, i) => i >= n && this.head[i] >= 0);
  }

  /** layers: items per layer in execution order, ports after the others (by their source). */
  orderLayers() {
    const { n, order, layer } = this;
    const layers = Array.from({ length: this.nLayers }, () => []);
    const byOrder = Array.from({ length: this.N }, (_, i) => i).sort((a, b) => order[a] - order[b] || a - b);
    for (const i of byOrder) if (!this.isPort(i)) layers[layer[i]].push(i);
    for (let i = 0; i < n; i++) if (this.isPort(i)) layers[layer[i]].push(i);
    for (const L of [0, this.nLayers - 1]) layers[L].sort((a, b) => order[a] - order[b] || a - b);
    this.layers = layers;
  }

  // 3. crossing reduction
  number() { for (const cur of this.layers) cur.forEach((i, p) => { this.pos[i] = p; }); }

  barycenterSweep(downwards) {
    const { layers, pos, nLayers } = this, nb = downwards ? this.up : this.down;
    const sweepLayer = (L) => {
      const cur = layers[L];
      if (cur.length < 2) return;
      const key = new Map();
      for (const i of cur) {
        const ns = nb[i];
        let s = 0;
        for (const j of ns) s += pos[j];
        key.set(i, ns.length ? s / ns.length : pos[i]);
      }
      cur.sort((a, b) => key.get(a) - key.get(b));
      cur.forEach((i, p) => { pos[i] = p; });
    };
    if (downwards) for (let L = 1; L < nLayers; L++) sweepLayer(L);
    else for (let L = nLayers - 2; L >= 0; L--) sweepLayer(L);
  }

  /** Reorder layers by barycenter sweeps; keep the order with the fewest crossings (counted
   *  only below 3,000 items, where counting is cheap enough). */
  reduceCrossings() {
    this.pos = new Array(this.N).fill(0);
    this.number();
    this.big = this.N > 3000;
    const trivial = maxOf(this.layers.map((L) => L.length), 0) < 2;
    const copy = () => this.layers.map((L) => L.slice());
    let best = (this.big || trivial) ? null : [countCrossings(this.layers, this.pos, this.down), copy()];
    const sweeps = trivial ? 0 : (this.big ? 2 : this.opt.sweeps);
    for (let s = 0; s < sweeps; s++) {
      this.barycenterSweep(true);
      this.barycenterSweep(false);
      if (best) {
        const c = countCrossings(this.layers, this.pos, this.down);
        if (c < best[0]) best = [c, copy()];
        if (c === 0) break;
      }
    }
    if (best) { this.layers = best[1]; this.number(); }
  }

  // 4. x coordinates
  separations() {
    const { w, isDummy, opt } = this;
    return this.layers.map((cur) => {
      const s = [];
      for (let k = 0; k + 1 < cur.length; k++) {
        const a = cur[k], b = cur[k + 1];
        const gap = (isDummy[a] || isDummy[b] || w[a] === 0 || w[b] === 0) ? opt.dummyGap : opt.nodeGap;
        s.push((w[a] + w[b]) / 2 + gap);
      }
      return s;
    });
  }

  /** Each layer packed at its separations and centred on 0. */
  packedX() {
    const x = new Array(this.N).fill(0);
    this.layers.forEach((cur, L) => {
      let acc = 0;
      cur.forEach((i, k) => { x[i] = acc; if (k < this.seps[L].length) acc += this.seps[L][k]; });
      for (const i of cur) x[i] -= acc / 2;
    });
    return x;
  }

  /** Items on the longest path through this level weigh more, so the main path stays straight
   *  and side branches (shortcuts, downsamples) make room for it. */
  itemWeights() {
    const { n, kind, succ, span, layer } = this, reach = new Array(n).fill(0);
    for (let k = this.topo.length - 1; k >= 0; k--) {
      const v = this.topo[k];
      for (const s of succ[v]) if ((kind[s] === NODE || kind[s] === GROUP) && reach[s] + span[v] > reach[v]) reach[v] = reach[s] + span[v];
    }
    const through = Array.from({ length: n }, (_, i) => layer[i] + reach[i]);
    let longest = 1;
    if (this.topo.length) longest = maxOf(this.topo.map((i) => through[i]), -Infinity) || 1;
    const weight = Array.from({ length: this.N }, (_, i) => (this.isDummy[i] ? 0.01 : this.isPort(i) ? 1 : 2));
    for (const i of this.topo) weight[i] = 1 + 8 * (through[i] / longest) ** 4;
    for (let i = 0; i < this.N; i++) if (this.isCont[i]) weight[i] = 50;
    return weight;
  }

  /** Neighbours above and below as [index, offset, link weight], computed once. */
  neighbours() {
    const { isDummy, linkOff } = this;
    const linkW = (a, b) => (isDummy[a] && isDummy[b] ? 8 : (isDummy[a] || isDummy[b] ? 1 : 2));
    const off = (a, b) => linkOff.get(a + "," + b) || 0;
    this.upN = this.up.map((js, i) => js.map((j) => [j, off(j, i), linkW(i, j)]));
    this.downN = this.down.map((js, i) => js.map((j) => [j, -off(i, j), linkW(i, j)]));
  }

  /** Move layer L towards its neighbours' weighted median, separations kept exactly;
   *  returns the largest move. */
  sweepLayer(L, useUp, useDown) {
    const cur = this.layers[L];
    if (!cur.length) return 0;
    const { x, upN, downN } = this, tgt = [];
    for (const i of cur) {
      const nb = useUp && useDown ? upN[i].concat(downN[i]) : (useUp ? upN[i] : downN[i]);
      if (!nb.length) tgt.push(x[i]);
      else if (nb.length === 1) tgt.push(x[nb[0][0]] + nb[0][1]);
      else {  // weighted median: follow the main path, let side lanes bend
        const cand = nb.map(([j, o, wt]) => [x[j] + o, wt]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        tgt.push(weightedMedian(cand, x[i]));
      }
    }
    const placed = cur.length > 1 ? pav(tgt, this.pavW[L], this.seps[L]) : tgt;
    let moved = 0;
    cur.forEach((i, k) => { const d = Math.abs(x[i] - placed[k]); if (d > moved) moved = d; x[i] = placed[k]; });
    return moved;
  }

  /** Continuation items sit exactly below their group; the rest of the layer makes room. */
  alignContinuations() {
    const { x, isCont } = this;
    this.layers.forEach((cur, L) => {
      if (!cur.some((i) => isCont[i])) return;
      for (const i of cur) if (isCont[i]) x[i] = x[this.head[i]];
      if (cur.length > 1) {
        const placed = pav(cur.map((i) => x[i]), cur.map((i) => (isCont[i] ? 1e9 : 1)), this.seps[L]);
        cur.forEach((i, k) => { x[i] = placed[k]; });
      }
    });
  }

  /** x of every item: down/up sweeps until nothing moves 2 px, then two two-sided passes. */
  placeX() {
    const nLayers = this.nLayers;
    this.seps = this.separations();
    this.x = this.packedX();
    const weight = this.itemWeights();
    this.neighbours();
    this.pavW = this.layers.map((cur) => cur.map((i) => weight[i]));
    for (let pass = 0; pass < (this.big ? 2 : 3); pass++) {
      let moved = 0;
      for (let L = 1; L < nLayers; L++) moved = Math.max(moved, this.sweepLayer(L, true, false));
      for (let L = nLayers - 2; L >= 0; L--) moved = Math.max(moved, this.sweepLayer(L, false, true));
      if (moved < 2) break;
    }
    for (let L = 0; L < nLayers; L++) this.sweepLayer(L, true, true);
    for (let L = nLayers - 1; L >= 0; L--) this.sweepLayer(L, true, true);
    if (this.isCont.some(Boolean)) this.alignContinuations();
  }

  // 5. y coordinates
  layerGaps() {
    const { n, kind, layers, opt, nLayers } = this, gaps = new Array(nLayers).fill(0);
    for (let L = 0; L + 1 < nLayers; L++) {
      const portOnly = L === 0 && this.hasIn && layers[L].every((i) => i < n && kind[i] === IN_PORT);
      const nextOut = L + 1 === nLayers - 1 && layers[L + 1].some((i) => i < n && kind[i] === OUT_PORT);
      gaps[L] = portOnly || nextOut ? opt.portGap : opt.rankGap;
    }
    return gaps;
  }

  /** Layers stacked, items centred in their layer (spanning groups at the top of their first
   *  layer, their last layer made tall enough to hold them); the level's size. */
  placeY() {
    const { n, N, h, span, layer, nLayers, lv } = this;
    const lh = this.layers.map((cur) => {
      let m = 0;
      for (const i of cur) if ((i >= n || span[i] === 1) && h[i] > m) m = h[i];
      return m;
    });
    const gaps = this.layerGaps();
    for (let i = 0; i < n; i++) {
      if (span[i] <= 1) continue;
      const L0 = layer[i], L1 = layer[i] + span[i] - 1;
      let room = 0, gapSum = 0;
      for (let L = L0; L <= L1; L++) room += lh[L];
      for (let L = L0; L < L1; L++) gapSum += gaps[L];
      room += gapSum;
      if (h[i] > room) lh[L1] += h[i] - room;
    }
    const tops = new Array(nLayers).fill(0);
    let y = 0;
    for (let L = 0; L < nLayers; L++) { tops[L] = y; y += lh[L] + (L + 1 < nLayers ? gaps[L] : 0); }
    this.ys = Array.from({ length: N }, (_, i) => tops[layer[i]] + (i < n && span[i] > 1 ? h[i] / 2 : lh[layer[i]] / 2));
    let left = Infinity, right = -Infinity;
    for (let i = 0; i < N; i++) {
      left = Math.min(left, this.x[i] - this.w[i] / 2);
      right = Math.max(right, this.x[i] + this.w[i] / 2);
    }
    if (!N) { left = 0; right = 0; }
    this.left = left; this.tops = tops; this.lh = lh;
    lv.x = this.x.slice(0, n).map((v) => v - left);
    lv.y = this.ys.slice(0, n);
    lv.width = Math.max(right - left, 0);
    lv.height = y;
    lv.layerTops = tops;
    lv.layerH = lh;
  }

  // 6. routes
  /** Forward edges through their dummies; back edges leave the source downwards, climb beside
   *  everything and enter the target from above. */
  routeEdges() {
    const { lv, x, ys, h, w, layer, left } = this, routes = new Map();
    for (const ei of this.fwd) {
      const [u, uk, v, vk] = lv.edges[ei];
      const pts = [[x[u] - left + this.offset(u, uk), ys[u] + h[u] / 2]];
      for (const d of this.chain.get(ei)) {
        const L = layer[d], xd = x[d] - left;
        pts.push([xd, this.tops[L]]);
        if (this.lh[L] > 0) pts.push([xd, this.tops[L] + this.lh[L]]);
      }
      pts.push([x[v] - left + this.offset(v, vk), ys[v] - h[v] / 2]);
      routes.set(ei, pts);
    }
    for (const ei of this.back) {
      const [u, uk, v, vk] = lv.edges[ei];
      const lo = Math.min(layer[u], layer[v]), hi = Math.max(layer[u], layer[v]);
      let side = -Infinity;
      for (let L = lo; L <= hi; L++) for (const i of this.layers[L]) side = Math.max(side, x[i] + w[i] / 2);
      side = side - left + 20;
      const y0 = ys[u] + h[u] / 2, y1 = ys[v] - h[v] / 2;
      routes.set(ei, [[x[u] - left + this.offset(u, uk), y0], [side, y0 + 12], [side, y1 - 12],
                      [x[v] - left + this.offset(v, vk), y1]]);
      lv.width = Math.max(lv.width, side + 4);
      lv.height = Math.max(lv.height, y0 + 14);
    }
    lv.routes = routes;
    lv.back = new Set(this.back);
  }

  // 7. labels
  /** Per layer gap: x-extents of edge segments crossing it, and of spanning groups in it. */
  gapOccupancy() {
    const { lv, tops } = this, spans = new Map(), occupied = new Map();
    const add = (m, L, v) => { let a = m.get(L); if (!a) m.set(L, a = []); a.push(v); };
    for (const ei of this.fwd) {
      const pts = lv.routes.get(ei);
      for (let k = 0; k + 1 < pts.length; k++) {
        const [a, ya] = pts[k], [b, yb] = pts[k + 1];
        if (yb > ya) add(spans, bisectRight(tops, ya + 1e-6) - 1, [Math.min(a, b), Math.max(a, b), ei]);
      }
    }
    for (let i = 0; i < this.n; i++) {
      for (let L = this.layer[i]; L < this.layer[i] + this.span[i] - 1; L++) {
        const xi = this.x[i] - this.left;
        add(occupied, L, [xi - this.w[i] / 2, xi + this.w[i] / 2]);
      }
    }
    return [spans, occupied];
  }

  /** Shape labels on edges leaving a node, in the gap below it where nothing else is. */
  placeLabels() {
    const { lv, opt } = this, labels = new Map();
    if (opt.labels) {
      const [spans, occupied] = this.gapOccupancy();
      for (const ei of this.fwd) {
        const label = this.labels.get(ei), u = lv.edges[ei][0];
        if (!label || !label[0] || this.kind[u] !== NODE) continue;
        const L = this.layer[u], pts = lv.routes.get(ei);
        const x0 = pts[0][0] + 4, x1 = x0 + label[1], gapTop = this.tops[L] + this.lh[L];
        let ok = (spans.get(L) || []).every(([a, b, e2]) => e2 === ei || b < x0 - 2 || a > x1 + 2);
        ok = ok && (occupied.get(L) || []).every(([a, b]) => b < x0 - 4 || a > x1 + 4);
        if (ok && pts[1][0] <= pts[0][0] + 1) {
          let occ = occupied.get(L);
          if (!occ) occupied.set(L, occ = []);
          occ.push([x0, x1]);
          lv.width = Math.max(lv.width, x1 + 2);
          labels.set(ei, [x0, gapTop + Math.min(opt.rankGap, pts[1][1] - gapTop) / 2 + opt.labelSize * 0.35]);
        }
      }
    }
    lv.labels = labels;
  }
}

// ------------------------------------------------------------------ the whole view

/** The compound layout of a visible graph, all positions absolute (y grows downwards).
 *
 *  `graph`: { nodes: { home, w, h } (per node: the index of the expanded group it sits in, -1
 *  at the top; its size), clusters: { parent, titleWidth } (per expanded group, parents
 *  before children: the enclosing group's index or -1; the least width its frame needs),
 *  edges: { src, dst, label, labelWidth } (node indices, -1 for an end not drawn) }.
 *  Returns { width, height, nodeX, nodeY (centres), clusterX0, clusterY0, clusterX1,
 *  clusterY1, clusterDepth (per group), edgePoints (per edge [x0, y0, x1, y1, ...]),
 *  edgeLabel (per edge [x, y] or null), edgeBack (per edge), levels (how many: the top and one
 *  per group), levelsLaidOut (how many were not taken from the memo) }. */
export function layOutGraph(graph, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const { nodes, clusters, edges } = graph;
  const nNodes = nodes.w.length, nClusters = clusters.parent.length;
  const chains = [];  // group -> the groups from the top down to it
  for (let c = 0; c < nClusters; c++) chains.push(clusters.parent[c] < 0 ? [c] : chains[clusters.parent[c]].concat([c]));
  const chainOf = (home) => (home < 0 ? [] : chains[home]);
  const levels = [new Level("")];
  for (let c = 0; c < nClusters; c++) levels.push(new Level(c));
  const levelOf = (c) => levels[c + 1];
  const edgeLabels = levels.map(() => new Map());
  const firstMember = new Array(nClusters).fill(-1);
  for (let i = 0; i < nNodes; i++) for (const c of chainOf(nodes.home[i])) if (firstMember[c] < 0) firstMember[c] = i;
  for (let i = 0; i < nNodes; i++) levelOf(nodes.home[i]).item(4 * i, nodes.w[i], nodes.h[i], i, NODE);
  for (let c = 0; c < nClusters; c++) levelOf(clusters.parent[c]).item(4 * c + 1, 0, 0, Math.max(firstMember[c], 0), GROUP, c);
  const segments = liftEdges(edges, nodes.home, chainOf, levelOf, edgeLabels);

  // innermost first: a group's frame and port offsets feed its parent's level
  const offsets = new Map(), frames = new Array(nClusters), memo = opt.memo ? new Map() : null;
  let laidOut = 0;
  for (let c = nClusters - 1; c >= -1; c--) {
    const lv = levelOf(c);
    lv.items.forEach((key, i) => { if (lv.cluster[i] >= 0) { const f = frames[lv.cluster[i]]; lv.w[i] = f[2]; lv.h[i] = f[3]; } });
    const labels = new Map();
    edgeLabels[c + 1].forEach((j, ei) => { labels.set(ei, [edges.label[j], edges.labelWidth[j]]); });
    laidOut += layOutLevel(lv, offsets, labels, opt, memo);
    if (c >= 0) frames[c] = frameOf(lv, c, clusters.titleWidth[c], opt, offsets);
  }
  return place(levels, levelOf, frames, chains, segments, graph, laidOut);
}

/** One layout edge per level each view edge passes through, ports where it crosses a border;
 *  returns per view edge its [level, edge] pieces, top to bottom. */
function liftEdges(edges, home, chainOf, levelOf, edgeLabels) {
  const segments = [];
  for (let j = 0; j < edges.src.length; j++) {
    const s = edges.src[j], d = edges.dst[j];
    if (s < 0 || d < 0) { segments.push([]); continue; }
    const cs = chainOf(home[s]), cd = chainOf(home[d]), label = edges.label[j];
    let k = 0;
    while (k < cs.length && k < cd.length && cs[k] === cd[k]) k++;
    const segs = [];
    const endKey = (ch, at, node) => (at < ch.length ? 4 * ch[at] + 1 : 4 * node);
    const isC = (key) => (key & 3) === 1;
    for (let q = cs.length - 1; q >= k; q--) {  // leaving nested groups on the source side
      const lv = levelOf(cs[q]), aKey = endKey(cs, q + 1, s), a = lv.index.get(aKey);
      const o = lv.item(4 * s + 3, 0, 0, s, OUT_PORT);
      const ei = lv.edge(a, isC(aKey) ? s : -1, o, -1);
      if (!isC(aKey) && label) edgeLabels[cs[q] + 1].set(ei, j);
      segs.push([cs[q], ei]);
    }
    const top = k ? cs[k - 1] : -1, lv = levelOf(top);
    const aKey = endKey(cs, k, s), bKey = endKey(cd, k, d);
    const ei = lv.edge(lv.index.get(aKey), isC(aKey) ? s : -1, lv.index.get(bKey), isC(bKey) ? s : -1);
    if (!isC(aKey) && label) edgeLabels[top + 1].set(ei, j);
    segs.push([top, ei]);
    for (let q = k; q < cd.length; q++) {  // entering nested groups on the target side
      const lq = levelOf(cd[q]), bq = endKey(cd, q + 1, d);
      const port = lq.item(4 * s + 2, 0, 0, s - 1e9, IN_PORT);
      segs.push([cd[q], lq.edge(port, -1, lq.index.get(bq), isC(bq) ? s : -1)]);
    }
    segments.push(segs);
  }
  return segments;
}

/** A group's frame around its laid-out level ([content x, content y, width, height] in the
 *  frame) and the offsets of its ports from the frame's centre, for its parent's level. */
function frameOf(lv, c, titleWidth, opt, offsets) {
  const fw = Math.max(lv.width + 2 * opt.clusterPadX, titleWidth);
  const fh = lv.height + opt.clusterPadTop + opt.clusterPadBottom;
  const ox = (fw - lv.width) / 2, oy = opt.clusterPadTop;
  const ports = new Map();
  lv.items.forEach((key, i) => { if (lv.kind[i] === IN_PORT || lv.kind[i] === OUT_PORT) ports.set(key >>> 2, ox + lv.x[i] - fw / 2); });
  offsets.set(c, ports);
  return [ox, oy, fw, fh];
}

/** Absolute positions, outermost first, and each view edge's pieces joined into one route. */
function place(levels, levelOf, frames, chains, segments, graph, levelsLaidOut) {
  const { nodes } = graph, nClusters = frames.length;
  const originX = new Array(nClusters + 1).fill(0), originY = new Array(nClusters + 1).fill(0);
  const out = {
    width: levels[0].width, height: levels[0].height, levels: levels.length, levelsLaidOut,
    clusterX0: new Array(nClusters), clusterY0: new Array(nClusters), clusterX1: new Array(nClusters),
    clusterY1: new Array(nClusters), clusterDepth: chains.map((ch) => ch.length),
    nodeX: new Array(nodes.w.length), nodeY: new Array(nodes.w.length), edgePoints: [], edgeLabel: [], edgeBack: [],
  };
  for (let c = -1; c < nClusters; c++) {
    const lv = levelOf(c), gx = originX[c + 1], gy = originY[c + 1];
    lv.items.forEach((key, i) => {
      const k = lv.cluster[i];
      if (k >= 0) {
        const [ox, oy, fw, fh] = frames[k], bx = gx + lv.x[i] - fw / 2, by = gy + lv.y[i] - fh / 2;
        originX[k + 1] = bx + ox; originY[k + 1] = by + oy;
        out.clusterX0[k] = bx; out.clusterY0[k] = by; out.clusterX1[k] = bx + fw; out.clusterY1[k] = by + fh;
      } else if (lv.kind[i] === NODE) {
        const node = key >>> 2;
        out.nodeX[node] = gx + lv.x[i]; out.nodeY[node] = gy + lv.y[i];
      }
    });
  }
  for (const segs of segments) {
    const pts = [];
    let label = null, back = false;
    for (const [c, ei] of segs) {
      const lv = levelOf(c), gx = originX[c + 1], gy = originY[c + 1];
      const route = lv.routes.get(ei) || [];
      if (lv.back.has(ei)) back = true;
      route.forEach(([a, b], k) => {
        const px = gx + a, py = gy + b, m = pts.length;
        if (k === 0 && m && Math.abs(pts[m - 2] - px) < 1e-6 && Math.abs(pts[m - 1] - py) < 1e-6) return;
        pts.push(px, py);
      });
      const at = lv.labels.get(ei);
      if (label === null && at) label = [gx + at[0], gy + at[1]];
    }
    out.edgePoints.push(pts); out.edgeLabel.push(label); out.edgeBack.push(back);
  }
  return out;
}

/** layOutGraph for callers that speak JSON (Python's embedded engine): text in, text out. */
export function layOutGraphJSON(text) {
  const args = JSON.parse(text);
  return JSON.stringify(layOutGraph(args.graph, args.options));
}
