// Runs: status, config (hyperparameters that differ are columns), last metrics, selection;
// the table is the run_set view's (draw/runs.js) with a selection column and run colours.
import { h, clear } from "../dom.js";
import { state, on, colorOf, setSelected } from "../state.js";
import { runsTable } from "../draw/runs.js";

export function mount(root) {
  const holder = h("div", { class: "table-wrap" });
  const compareBtn = h("a", { class: "button primary", href: "#/scalars" }, "Compare selected in Scalars");
  const summary = h("span", { class: "muted" });
  root.appendChild(h("section", { class: "page-runs" },
    h("div", { class: "page-head" }, h("h1", null, "Runs"), summary, compareBtn), holder));
  const selection = { isSelected: (r) => state.selected.has(r.id), setSelected: (r, on_) => setSelected(r.id, on_) };

  const render = () => {
    const runs = state.runs;
    summary.textContent = `${runs.length} run(s) · ${runs.filter((r) => r.status === "live").length} live · ${state.selected.size} selected`;
    clear(holder).appendChild(runs.length
      ? runsTable(runs, { nameOf: (r) => r.id, selection, colourOf: (r) => colorOf(r.id), maxMetrics: 8, id: "runs-table" })
      : h("table", { class: "runs-table", id: "runs-table" }, h("tr", null, h("td", { class: "empty" },
        `No runs under ${state.info.root} yet. Log one with neuralscope.Run(...) and it appears here.`))));
  };
  render();
  const offs = [on("runs", render), on("run", render), on("selection", render)];
  return { unmount: () => offs.forEach((f) => f()) };
}
