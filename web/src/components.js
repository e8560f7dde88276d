// Pieces shared by several pages: the run selector and status badges.
import { h, clear } from "./dom.js";
import { state, on, colorOf, setSelected } from "./state.js";

export function statusBadge(status, title) {
  return h("span", { class: `status status-${status || "unknown"}`, title: title || status }, status || "?");
}

// A list of runs with checkboxes and colours; re-renders when runs change.
export function runSelector() {
  const box = h("div", { class: "run-selector" });
  const render = () => {
    clear(box);
    box.appendChild(h("div", { class: "side-title" }, `Runs (${state.runs.length})`));
    if (!state.runs.length) box.appendChild(h("p", { class: "muted" }, "No runs yet."));
    for (const r of state.runs) {
      const damaged = r.status === "damaged";
      const cb = h("input", { type: "checkbox", checked: state.selected.has(r.id), disabled: damaged,
        dataset: { run: r.id }, onchange: (e) => setSelected(r.id, e.target.checked) });
      box.appendChild(h("label", { class: "run-item" + (damaged ? " damaged" : ""), title: r.damaged || r.id },
        cb, h("span", { class: "swatch", style: { background: colorOf(r.id) } }),
        h("span", { class: "run-name" }, r.id), statusBadge(r.status)));
    }
  };
  render();
  const offs = [on("runs", render), on("run", (r) => {
    const badge = box.querySelector(`input[data-run="${CSS.escape(r.id)}"]`);
    if (badge) { const s = badge.parentElement.querySelector(".status"); s.replaceWith(statusBadge(r.status)); }
  })];
  box.dispose = () => offs.forEach((f) => f());
  return box;
}
