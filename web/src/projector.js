// The WebGL projector: millions of 2-D points drawn by deck.gl's ScatterplotLayer from
// binary attributes (no per-point JavaScript objects), with pan/zoom (drag, wheel), hover
// and click picking on the GPU, and a shift+drag lasso selection (any closed free-hand
// shape) computed on the coordinates: bounding box first, then an even-odd ray test.
import { Deck, OrthographicView } from "@deck.gl/core";
import { ScatterplotLayer } from "@deck.gl/layers";
import { h } from "./dom.js";

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// parent: a positioned element; x, y: Float32Arrays; classes: integer class per point.
export function createProjector(parent, { x, y, classes, palette, width, height }, handlers = {}) {
  const n = x.length, t0 = performance.now();
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    if (x[i] < lo[0]) lo[0] = x[i]; if (x[i] > hi[0]) hi[0] = x[i];
    if (y[i] < lo[1]) lo[1] = y[i]; if (y[i] > hi[1]) hi[1] = y[i];
  }
  // world units = pixels at zoom 0: the data fills the canvas with a 4% margin, y up
  const s = Math.min(width / ((hi[0] - lo[0]) || 1), height / ((hi[1] - lo[1]) || 1)) * 0.92;
  const pos = new Float32Array(2 * n), col = new Uint8Array(3 * n);
  const rgb = palette.map(hexRgb);
  for (let i = 0; i < n; i++) {
    pos[2 * i] = (x[i] - (lo[0] + hi[0]) / 2) * s;
    pos[2 * i + 1] = -(y[i] - (lo[1] + hi[1]) / 2) * s;
    const c = rgb[classes[i] % rgb.length];
    col[3 * i] = c[0]; col[3 * i + 1] = c[1]; col[3 * i + 2] = c[2];
  }
  const radius = n > 200000 ? 1 : n > 20000 ? 1.6 : 3.5;
  let viewState = { target: [0, 0, 0], zoom: 0, minZoom: -2, maxZoom: 12 };
  let highlight = -1, selected = null, firstPaint = null;
  const canvas = h("canvas", { id: "audit-projector", width, height, style: { width: `${width}px`, height: `${height}px` } });
  const SVG = "http://www.w3.org/2000/svg";
  const lasso = document.createElementNS(SVG, "svg");
  lasso.setAttribute("class", "audit-lasso");
  lasso.setAttribute("width", width); lasso.setAttribute("height", height);
  Object.assign(lasso.style, { position: "absolute", left: "0", top: "0", pointerEvents: "none", display: "none" });
  const path = document.createElementNS(SVG, "polygon");
  lasso.appendChild(path);
  parent.append(canvas, lasso);

  // one data object for the life of the projector: deck.gl compares it by identity, so a
  // hover or a selection never re-uploads the million positions
  const points = { length: n, attributes: { getPosition: { value: pos, size: 2 }, getFillColor: { value: col, size: 3, normalized: true } } };
  const layers = () => [
    new ScatterplotLayer({
      id: "points", data: points,
      radiusUnits: "pixels", getRadius: radius, opacity: n > 100000 ? 0.55 : 0.85, pickable: true, stroked: false,
    }),
    new ScatterplotLayer({
      id: "marked", data: [...(selected || []).slice(0, 5000), ...(highlight >= 0 ? [highlight] : [])],
      getPosition: (i) => [pos[2 * i], pos[2 * i + 1]], radiusUnits: "pixels", getRadius: (i) => (i === highlight ? 6 : radius + 1.5),
      stroked: true, filled: false, getLineColor: [0, 0, 0], lineWidthUnits: "pixels", getLineWidth: 1.5,
      updateTriggers: { getRadius: highlight },
    }),
  ];
  const deck = new Deck({
    canvas, width, height, views: new OrthographicView({ flipY: false }), viewState, controller: { doubleClickZoom: false },
    layers: layers(), useDevicePixels: true, pickingRadius: 4,
    onViewStateChange: ({ viewState: v }) => { viewState = v; deck.setProps({ viewState }); handlers.onView && handlers.onView(); return v; },
    onHover: (info) => { setHover(info.index >= 0 ? info.index : -1, info.x, info.y); },
    onClick: (info) => { if (info.index >= 0 && handlers.onClick) handlers.onClick(info.index); },
    onAfterRender: () => {
      if (firstPaint === null) {
        firstPaint = performance.now() - t0;
        Object.assign(canvas.dataset, { firstPaintMs: String(Math.round(firstPaint)), points: String(n),
          firstPaintNavMs: String(Math.round(performance.now())) });  // since navigation started
      }
    },
    getCursor: ({ isDragging, isHovering }) => (isDragging ? "grabbing" : isHovering ? "pointer" : "grab"),
  });

  function setHover(i, sx, sy) {
    if (i === highlight) return;
    highlight = i;
    deck.setProps({ layers: layers() });
    if (handlers.onHover) handlers.onHover(i, sx, sy);
  }
  function screenOf(i) {
    const vp = deck.getViewports()[0];
    return vp ? vp.project([pos[2 * i], pos[2 * i + 1]]) : [0, 0];
  }
  function setSelection(ids) {
    selected = ids && ids.length ? ids : null;
    deck.setProps({ layers: layers() });
    if (handlers.onSelect) handlers.onSelect(selected);
  }

  // shift+drag: a lasso (the controller never sees these events)
  let trace = null, lastLasso = null;
  const at = (e) => { const r = parent.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const drawTrace = () => path.setAttribute("points", trace.map((p) => p.join(",")).join(" "));
  parent.addEventListener("pointerdown", (e) => {
    if (!e.shiftKey) return;
    e.stopPropagation(); e.preventDefault();
    trace = [at(e)];
    drawTrace();
    lasso.style.display = "";
  }, true);
  parent.addEventListener("pointermove", (e) => {
    if (!trace) return;
    e.stopPropagation();
    const p = at(e), q = trace[trace.length - 1];
    if (Math.abs(p[0] - q[0]) + Math.abs(p[1] - q[1]) >= 2) { trace.push(p); drawTrace(); }
  }, true);
  parent.addEventListener("pointerup", (e) => {
    if (!trace) return;
    e.stopPropagation();
    const shape = trace;
    trace = null; lasso.style.display = "none";
    if (shape.length >= 3) { lastLasso = shape; selectInside(shape); }
  }, true);

  // the points inside a screen-space polygon, tested in world coordinates
  function inside(screen) {
    const vp = deck.getViewports()[0];
    const poly = screen.map((p) => vp.unproject(p));
    const xs = poly.map((p) => p[0]), ys = poly.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const m = poly.length, ids = [];
    for (let i = 0; i < n; i++) {
      const u = pos[2 * i], v = pos[2 * i + 1];
      if (u < x0 || u > x1 || v < y0 || v > y1) continue;
      let odd = false;
      for (let a = 0, b = m - 1; a < m; b = a++) {
        if ((ys[a] > v) !== (ys[b] > v) && u < xs[a] + ((v - ys[a]) * (xs[b] - xs[a])) / (ys[b] - ys[a])) odd = !odd;
      }
      if (odd) ids.push(i);
    }
    return ids;
  }
  function selectInside(screen) { setSelection(inside(screen)); }

  return {
    canvas,
    viewState: () => ({ target: [...viewState.target], zoom: viewState.zoom }),
    hover: (i) => { const [sx, sy] = screenOf(i); setHover(i, sx, sy); },
    select: (ids) => setSelection(ids),
    lasso: (screen) => selectInside(screen),  // screen: [[x, y], ...] in canvas pixels
    inside,
    lastLasso: () => lastLasso,
    screen: (ids) => ids.map(screenOf),
    deselect: () => setSelection(null),
    destroy: () => deck.finalize(),
  };
}
