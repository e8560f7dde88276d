// One logged result on its own (#/result?run=R&index=I): a link to a single result, drawn by
// its kind's view whatever tab lists it (graphs and audits included).
import { h, clear } from "../dom.js";
import { get } from "../api.js";
import { renderResult } from "../views/index.js";

export function mount(root, params) {
  const run = params.get("run"), index = params.get("index");
  const view = h("section", { class: "content result-content" });
  root.appendChild(view);
  if (!run || index === null) {
    view.appendChild(h("p", { class: "error" }, "This link needs ?run=<run>&index=<result index>, as /api/results lists them."));
    return null;
  }
  let live = true;
  get("/api/result", { run, index }).then(async (d) => {
    const v = await renderResult(d.data, d.kind, { run });
    if (!live) return;
    clear(view).append(h("div", { class: "page-head" }, h("h1", null, d.name || d.kind), h("span", { class: "muted" }, `${d.kind} · run ${run} · step ${d.step}`)), v);
  }).catch((e) => { if (live) clear(view).appendChild(h("p", { class: "error" }, e.message)); });
  return { unmount: () => { live = false; } };
}
