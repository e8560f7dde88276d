// Diagnostics: what the tracker found (NaN, exploding/vanishing gradients, dead units, a
// learning rate too high, over-fitting), with the step it began, the layer, and a link to
// the chart that shows it (the table: draw/diagnostics.js).
import { h, clear } from "../dom.js";
import { get } from "../api.js";
import { on } from "../state.js";
import { diagnosticRows } from "../draw/diagnostics.js";

export function mount(root) {
  const table = h("table", { class: "diag-table", id: "diag-table" });
  const head = h("span", { class: "muted" });
  root.appendChild(h("section", null,
    h("div", { class: "page-head" }, h("h1", null, "Diagnostics"), head),
    h("div", { class: "table-wrap" }, table)));

  async function load() {
    let items = [];
    try { items = (await get("/api/diagnostics")).items; } catch (e) { clear(table).appendChild(h("tr", null, h("td", { class: "error" }, e.message))); return; }
    clear(table);
    const errors = items.filter((d) => d.severity === "error").length;
    head.textContent = items.length ? `${items.length} finding(s), ${errors} error(s)` : "";
    if (!items.length) {
      table.appendChild(h("tr", null, h("td", { class: "empty ok" }, "No problems found in any run: no NaN/Inf, no exploding or vanishing gradients, no dead layers, no signs of a learning rate too high or of over-fitting.")));
      return;
    }
    table.append(...diagnosticRows(items));
  }
  load();
  let timer = null;
  const offs = [on("changed", () => { if (!timer) timer = setTimeout(() => { timer = null; load(); }, 3000); }), on("runs", load)];
  return { unmount: () => { offs.forEach((f) => f()); clearTimeout(timer); } };
}
