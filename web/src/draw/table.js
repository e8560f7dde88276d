// A table of records with named columns: numbers right-aligned and formatted, empty cells
// as a dash (or the text asked for), a cell's colour, indent, class or data chosen per row.
// The one table of the views and pages: run sets and the Runs page (draw/runs.js), model
// summaries, faithfulness scores, weight statistics, curvature per layer, top activations.
import { h, fmt } from "../dom.js";

/**
 * `columns`: [{label, value(row) -> number|string|Node|[Node, ...]|null, num (right-aligned
 * figures: true, or per row: num(row)), cls (a class of its header and cells), head (a Node
 * shown in the header instead of the label), headTitle, style(row) -> CSS object, title(row),
 * data(row) -> the cell's dataset, sort(row) -> the number or text a click on the header sorts
 * by, with `key` its name}]; `rows`: the records; `rowAttrs(row)` -> attributes of a row's <tr>
 * (dataset, class); `blank`: the text of an empty cell. A sortable column's header sorts the
 * rows on click (numbers largest first, texts A to Z; again: reversed; empty values last).
 * Returns a scrolling <div> holding the table (`data-rows` = number of rows).
 *
 * Example: `recordTable([{ label: "name", value: (r) => r.name }], [{ name: "a" }])`
 */
export function recordTable(columns, rows, { cls = "", id = null, digits = 4, blank = "—", rowAttrs = null } = {}) {
  const classOf = (c, r) => [(r === undefined ? c.num === true : typeof c.num === "function" ? c.num(r) : c.num) ? "num" : "",
    c.cls || "", r === undefined && c.sort ? "sortable" : ""].join(" ").trim() || null;
  const text = (v) => (v instanceof Node || Array.isArray(v) ? v : v === null || v === undefined || v === "" ? blank
    : typeof v === "number" ? fmt(v, digits) : String(v));
  const cell = (c, r) => h("td", { class: classOf(c, r), style: c.style ? c.style(r) : null, title: c.title ? c.title(r) : null,
    dataset: c.data ? c.data(r) : null }, text(c.value(r)));
  const body = h("tbody");
  const fill = (ordered) => body.replaceChildren(...ordered.map((r) => h("tr", rowAttrs ? rowAttrs(r) : null, columns.map((c) => cell(c, r)))));
  const order = { column: null, dir: 1 };
  const heads = columns.map((c) => h("th", { class: classOf(c), title: c.headTitle || (c.sort ? "sort by this column" : null),
    dataset: c.sort ? { sort: c.key || c.label } : null, onclick: c.sort ? () => sortBy(c) : null }, c.head || c.label));
  function sortBy(c) {
    order.dir = order.column === c ? -order.dir : 1;
    order.column = c;
    columns.forEach((col, i) => {
      if (!col.sort || col.head) return;
      heads[i].dataset.dir = col === c ? (order.dir > 0 ? "desc" : "asc") : "";
      heads[i].textContent = col.label + (col === c ? (order.dir > 0 ? " ▼" : " ▲") : "");
    });
    fill([...rows].sort((a, b) => compareBy(c.sort(a), c.sort(b), order.dir)));
  }
  fill(rows);
  return h("div", { class: "table-wrap flat", dataset: { rows: String(rows.length) } },
    h("table", { class: `rows ${cls}`.trim(), id }, h("thead", null, h("tr", null, heads)), body));
}

// numbers largest first and texts A to Z for dir 1 (reversed for -1); empty values last either way
function compareBy(x, y, dir) {
  const empty = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
  if (empty(x) || empty(y)) return empty(x) - empty(y);
  if (typeof x === "number" && typeof y === "number") return dir * (y - x);
  return dir * String(x).localeCompare(String(y));
}

/** A two-column table of named facts: `rows` = [{label, value: string|Node, num, data (the
 * value cell's dataset)}], a row per fact, the label in a header cell; rows that are null are
 * left out. The one key/value table (result summaries, an attribution's method and metrics).
 *
 * Example: `factTable([{ label: "method", value: "saliency", data: { key: "method" } }])`
 */
export function factTable(rows, { cls = "metrics" } = {}) {
  return h("table", { class: cls }, rows.filter(Boolean).map((r) => h("tr", null, h("th", null, r.label),
    h("td", { class: r.num ? "num" : null, dataset: r.data || null }, r.value))));
}

/** A count with its unit prefix, as the library's summary writes it: 1.2k, 3.4M. */
export function si(v) {
  for (const [unit, div] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["k", 1e3]]) if (Math.abs(v) >= div) return `${+(v / div).toPrecision(3)}${unit}`;
  return String(Math.round(v));
}
