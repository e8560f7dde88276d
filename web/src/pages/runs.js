// Runs: status, config (hyperparameters that differ are columns), last metrics, selection.
import { h, clear, fmt, fmtTime, fmtDuration, own } from "../dom.js";
import { state, on, colorOf, setSelected } from "../state.js";
import { statusBadge } from "../components.js";
import { hparams, configText } from "../views/run_set.js";

function duration(r) {
  const end = r.status === "live" ? r.heartbeat : (r.finished || r.heartbeat);
  return r.created && end ? end - r.created : null;
}

export function mount(root) {
  const table = h("table", { class: "runs-table", id: "runs-table" });
  const compareBtn = h("a", { class: "button primary", href: "#/scalars" }, "Compare selected in Scalars");
  const summary = h("span", { class: "muted" });
  root.appendChild(h("section", { class: "page-runs" },
    h("div", { class: "page-head" }, h("h1", null, "Runs"), summary, compareBtn),
    h("div", { class: "table-wrap" }, table)));

  const render = () => {
    clear(table);
    const runs = state.runs;
    summary.textContent = `${runs.length} run(s) · ${runs.filter((r) => r.status === "live").length} live · ${state.selected.size} selected`;
    if (!runs.length) {
      table.appendChild(h("tr", null, h("td", { class: "empty" }, `No runs under ${state.info.root} yet. Log one with neuralscope.Run(...) and it appears here.`)));
      return;
    }
    const { keys: cfg, metrics } = hparams(runs);
    const met = metrics.slice(0, 8);
    const all = h("input", { type: "checkbox", title: "select all",
      checked: runs.every((r) => state.selected.has(r.id) || r.status === "damaged"),
      onchange: (e) => runs.forEach((r) => r.status !== "damaged" && setSelected(r.id, e.target.checked)) });
    table.appendChild(h("thead", null, h("tr", null,
      h("th", null, all), h("th", null, "run"), h("th", null, "status"), h("th", null, "started"),
      h("th", null, "duration"), h("th", { class: "num" }, "last step"),
      cfg.map((k) => h("th", { class: "cfg", title: "config" }, k)),
      met.map((k) => h("th", { class: "num metric", title: "last value" }, k)))));
    const body = h("tbody");
    for (const r of runs) {
      body.appendChild(h("tr", { dataset: { run: r.id }, class: r.status === "damaged" ? "damaged" : "" },
        h("td", null, h("input", { type: "checkbox", checked: state.selected.has(r.id), disabled: r.status === "damaged",
          onchange: (e) => setSelected(r.id, e.target.checked) })),
        h("td", { class: "run-cell" }, h("span", { class: "swatch", style: { background: colorOf(r.id) } }),
          h("span", { class: "run-name" }, r.id), r.damaged ? h("div", { class: "damaged-msg" }, r.damaged) : null),
        h("td", null, statusBadge(r.status)),
        h("td", null, fmtTime(r.created)),
        h("td", null, fmtDuration(duration(r))),
        h("td", { class: "num" }, r.last_step ?? ""),
        cfg.map((k) => h("td", { class: "cfg" }, configText(r, k))),
        met.map((k) => h("td", { class: "num metric", dataset: { tag: k } }, own(r.last, k) ? fmt(r.last[k]) : ""))));
    }
    table.appendChild(body);
  };
  render();
  const offs = [on("runs", render), on("run", render), on("selection", render)];
  return { unmount: () => offs.forEach((f) => f()) };
}
