// A table of records with named columns: numbers right-aligned and formatted, empty cells
// as a dash, a cell's colour or indent chosen per row. Used by the views of diagnostics,
// run sets and model summaries.
import { h, fmt } from "../dom.js";

/**
 * `columns`: [{label, value(row) -> number|string|Node|null, num, style(row) -> CSS object,
 * title(row)}]; `rows`: the records. Returns a scrolling <div> holding the table
 * (`data-rows` = number of rows).
 *
 * Example: `recordTable([{ label: "name", value: (r) => r.name }], [{ name: "a" }])`
 */
export function recordTable(columns, rows, { cls = "", digits = 4 } = {}) {
  const cell = (c, r) => {
    const v = c.value(r);
    const text = v instanceof Node ? v : v === null || v === undefined || v === "" ? "—" : typeof v === "number" ? fmt(v, digits) : String(v);
    return h("td", { class: c.num ? "num" : "", style: c.style ? c.style(r) : null, title: c.title ? c.title(r) : null }, text);
  };
  return h("div", { class: "table-wrap flat", dataset: { rows: String(rows.length) } },
    h("table", { class: `rows ${cls}`.trim() },
      h("thead", null, h("tr", null, columns.map((c) => h("th", null, c.label)))),
      h("tbody", null, rows.map((r) => h("tr", null, columns.map((c) => cell(c, r)))))));
}

/** A count with its unit prefix, as the library's summary writes it: 1.2k, 3.4M. */
export function si(v) {
  for (const [unit, div] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["k", 1e3]]) if (Math.abs(v) >= div) return `${+(v / div).toPrecision(3)}${unit}`;
  return String(Math.round(v));
}
