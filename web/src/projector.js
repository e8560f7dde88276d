// The WebGL projector: millions of 2-D points drawn by deck.gl's ScatterplotLayer from
// binary attributes (no per-point JavaScript objects), with pan/zoom (drag, wheel), hover
// and click picking on the GPU, and a shift+drag box selection computed on the coordinates.
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
  const box = h("div", { class: "audit-box", hidden: true });
  parent.append(canvas, box);

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
      if (firstPaint === null) { firstPaint = performance.now() - t0; canvas.dataset.firstPaintMs = String(Math.round(firstPaint)); canvas.dataset.points = String(n); }
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

  // shift+drag: a box selection (the controller never sees these events)
  let start = null;
  const at = (e) => { const r = parent.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  parent.addEventListener("pointerdown", (e) => {
    if (!e.shiftKey) return;
    e.stopPropagation(); e.preventDefault();
    start = at(e);
    Object.assign(box.style, { left: `${start[0]}px`, top: `${start[1]}px`, width: "0px", height: "0px" });
    box.hidden = false;
  }, true);
  parent.addEventListener("pointermove", (e) => {
    if (!start) return;
    e.stopPropagation();
    const p = at(e);
    Object.assign(box.style, { left: `${Math.min(p[0], start[0])}px`, top: `${Math.min(p[1], start[1])}px`,
      width: `${Math.abs(p[0] - start[0])}px`, height: `${Math.abs(p[1] - start[1])}px` });
  }, true);
  parent.addEventListener("pointerup", (e) => {
    if (!start) return;
    e.stopPropagation();
    const p = at(e), vp = deck.getViewports()[0];
    const a = vp.unproject([Math.min(p[0], start[0]), Math.min(p[1], start[1])]);
    const b = vp.unproject([Math.max(p[0], start[0]), Math.max(p[1], start[1])]);
    const [x0, x1] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])], [y0, y1] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
    const ids = [];
    for (let i = 0; i < n; i++) {
      const u = pos[2 * i], v = pos[2 * i + 1];
      if (u >= x0 && u <= x1 && v >= y0 && v <= y1) ids.push(i);
    }
    start = null; box.hidden = true;
    setSelection(ids);
  }, true);

  return {
    canvas,
    viewState: () => ({ target: [...viewState.target], zoom: viewState.zoom }),
    hover: (i) => { const [sx, sy] = screenOf(i); setHover(i, sx, sy); },
    select: (ids) => setSelection(ids),
    deselect: () => setSelection(null),
    destroy: () => deck.finalize(),
  };
}
