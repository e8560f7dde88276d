// The generic inspector: any to_dict() payload drawn by the shape of its values (numbers as a
// table, arrays as heatmaps / images / line charts with sliders over leading dimensions,
// lists of records as tables). Views of known kinds use it for the fields they do not draw
// themselves; a kind with no view of its own (views/index.js) is drawn by it alone.
import { h, fmt } from "../dom.js";
import { isScalar, lineChart, multiLine, ndarray, scalarTable, section, shapeOf } from "./parts.js";
import { recordTable } from "../draw/table.js";

/** `data` drawn field by field; `skip`: fields a kind's own view has drawn already. */
export function inspector(data, kind, { skip = [] } = {}) {
  const root = h("div", { class: "inspector" });
  if (!data || typeof data !== "object") { root.appendChild(h("pre", null, JSON.stringify(data))); return root; }
  const ctx = { tokens: Array.isArray(data.tokens) && data.tokens.every((t) => typeof t === "string") ? data.tokens : null };
  const scalars = [], rest = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === "kind" || skip.includes(k)) continue;
    if (isScalar(v) && !(typeof v === "string" && v.length > 200)) scalars.push([k, v]);
    else rest.push([k, v]);
  }
  if (scalars.length) root.appendChild(section("summary", null, scalarTable(scalars)));
  // pictures first (arrays of 2+ dimensions), then tables and lists
  const rank = ([, v]) => { const sh = Array.isArray(v) ? shapeOf(v) : null; return sh && sh.length >= 2 ? 0 : Array.isArray(v) && v.length && typeof v[0] === "object" && !Array.isArray(v[0]) ? 1 : 2; };
  rest.sort((a, b) => rank(a) - rank(b));
  for (const [k, v] of rest) {
    if (Array.isArray(v) && !v.length) continue;
    root.appendChild(renderValue(k, v, ctx, 0));
  }
  return root;
}

function renderValue(key, v, ctx, depth) {
  if (v === null || v === undefined) return h("span");
  if (typeof v === "string") {
    if (v.startsWith("data:image/")) return section(key, null, h("img", { src: v, class: "img" }));
    return section(key, null, h("pre", { class: "text" }, v));
  }
  if (Array.isArray(v)) {
    const s = shapeOf(v);
    if (s && s.length === 2 && s[1] >= 1 && s[1] <= 12 && s[0] > 2 * s[1]) {
      return section(key, `${s[0]} × ${s[1]}: one line per column`, multiLine(v));
    }
    if (s && s.length && s[0] > 0) {
      if (s.length === 1) {
        if (/shape|size/i.test(key) && v.length <= 8) return section(key, null, h("code", null, v.join(" × ")));
        if (v.length <= 64) return section(key, `${s[0]} values`, h("div", { class: "chips" }, v.map((x, i) =>
          h("span", { class: "chip", title: ctx.tokens && ctx.tokens.length === v.length ? `${i} ${ctx.tokens[i]}` : `[${i}]` }, fmt(x, 4)))));
        return section(key, `${s[0]} values`, lineChart(v));
      }
      return ndarray(key, v, s, ctx);
    }
    if (v.every(isScalar)) return section(key, null, h("div", { class: "chips" }, v.slice(0, 200).map((x) => h("span", { class: "chip" }, String(x)))));
    if (v.every((x) => x && typeof x === "object" && !Array.isArray(x) && Object.values(x).every((y) => isScalar(y) || (Array.isArray(y) && y.length <= 8 && y.every(isScalar))))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
      const cell = (y, c) => Array.isArray(y) ? (/shape|size/i.test(c) ? y.join("×") : y.map((z) => fmt(z, 4)).join(", ")) : y === null || y === undefined ? "—" : typeof y === "number" ? fmt(y, 5) : String(y);
      return section(key, `${v.length} rows`, recordTable(cols.map((c) => ({ label: c, value: (x) => cell(x[c], c),
        num: (x) => typeof x[c] === "number" })), v.slice(0, 500)));
    }
    if (depth > 2) return section(key, null, h("pre", { class: "text" }, JSON.stringify(v).slice(0, 2000)));
    return section(key, `${v.length} items`, h("div", { class: "r-list" }, v.slice(0, 12).map((x, i) => renderValue(`${key}[${i}]`, x, ctx, depth + 1))));
  }
  if (typeof v === "object") {
    const entries = Object.entries(v);
    if (!entries.length) return h("span");
    if (entries.every(([, x]) => isScalar(x))) return section(key, null, scalarTable(entries));
    if (depth > 2) return section(key, null, h("pre", { class: "text" }, JSON.stringify(v).slice(0, 2000)));
    return section(key, null, h("div", { class: "r-nested" }, entries.map(([k, x]) => renderValue(`${key}.${k}`, x, ctx, depth + 1))));
  }
  return section(key, null, String(v));
}
