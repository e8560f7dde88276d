// Inside / Attributions / Attention / Feature vis: result objects logged with
// run.log_result, listed on the tab and drawn by the view that views/index.js gives their
// kind, with a step slider when the same result was logged at several steps. Inside also shows logged images and texts.
import { h, clear, fmt } from "../dom.js";
import { get } from "../api.js";
import { state, on, selectedRuns, colorOf } from "../state.js";
import { renderResult, tabOf } from "../views/index.js";

const HELP = {
  inside: "Weights, feature maps, activations, embeddings and images logged with run.log_result(...) / run.log_image(...).",
  attributions: "Attributions logged with run.log_result(neuralscope.explain(...)).",
  attention: "Attention maps logged with run.log_result(neuralscope.attention(...)).",
  featurevis: "Feature visualizations logged with run.log_result(neuralscope.feature_vis(...)).",
};

export function mount(root, params, { section }) {
  const list = h("div", { class: "result-list" });
  const view = h("section", { class: "content result-content" });
  root.appendChild(h("div", { class: "with-side" }, h("aside", { class: "side" }, list), view));
  let groups = [];   // [{run, name, kind, items:[{index, step}]|images}]
  let current = null;

  async function load() {
    const runs = selectedRuns();
    const out = [];
    await Promise.all(runs.map(async (r) => {
      const series = r.series || {};
      if ((series.result || []).length) {
        try {
          const d = await get("/api/results", { run: r.id });
          const by = new Map();
          for (const it of d.items) {
            if (tabOf(it.kind) !== section) continue;
            const key = `${it.name}\u0000${it.kind}`;
            if (!by.has(key)) by.set(key, { run: r.id, name: it.name, kind: it.kind, items: [] });
            by.get(key).items.push(it);
          }
          out.push(...by.values());
        } catch { /* run went away */ }
      }
      if (section === "inside" && ((series.image || []).length || (series.text || []).length)) {
        for (const kind of ["image", "text"]) {
          if (!(series[kind] || []).length) continue;
          try {
            const d = await get("/api/artifacts", { run: r.id, kind });
            const by = new Map();
            for (const it of d.items) {
              if (!by.has(it.name)) by.set(it.name, { run: r.id, name: it.name, kind, items: [] });
              by.get(it.name).items.push(it);
            }
            out.push(...by.values());
          } catch { /* ignore */ }
        }
      }
    }));
    out.sort((a, b) => a.run.localeCompare(b.run) || a.name.localeCompare(b.name));
    groups = out;
    renderList();
  }

  function renderList() {
    clear(list);
    list.appendChild(h("div", { class: "side-title" }, "Logged results"));
    if (!groups.length) {
      list.appendChild(h("p", { class: "muted" }, "Nothing logged here yet."));
      clear(view).appendChild(h("p", { class: "empty" }, HELP[section]));
      return;
    }
    for (const g of groups) {
      const key = `${g.run}\u0000${g.name}\u0000${g.kind}`;
      list.appendChild(h("a", { class: "result-item" + (current === key ? " active" : ""), href: "javascript:void 0", dataset: { name: g.name, run: g.run },
        onclick: () => { current = key; renderList(); show(g); } },
        h("span", { class: "swatch", style: { background: colorOf(g.run) } }), h("span", { class: "run-name" }, g.name),
        h("span", { class: "muted kind" }, `${g.kind} · ${g.items.length}`)));
    }
    const sel = groups.find((g) => `${g.run}\u0000${g.name}\u0000${g.kind}` === current);
    if (!sel) { current = `${groups[0].run}\u0000${groups[0].name}\u0000${groups[0].kind}`; renderList(); show(groups[0]); }
  }

  function show(g) {
    clear(view);
    const out = h("div", { class: "result-body" });
    const label = h("span", { class: "muted" });
    const slider = h("input", { type: "range", min: 0, max: g.items.length - 1, value: g.items.length - 1, id: "result-step",
      disabled: g.items.length < 2, oninput: () => draw(+slider.value) });
    let timer = null;
    const play = h("button", { class: "button", id: "result-play", disabled: g.items.length < 2, title: "play the steps as an animation",
      onclick: () => {
        if (timer) { clearInterval(timer); timer = null; play.textContent = "▶"; return; }
        play.textContent = "⏸";
        timer = setInterval(() => {
          if (!play.isConnected) { clearInterval(timer); return; }
          slider.value = String((+slider.value + 1) % g.items.length); draw(+slider.value);
        }, 700);
      } }, "▶");
    view.appendChild(h("div", { class: "page-head" }, h("h1", null, g.name), h("span", { class: "muted" }, `${g.kind} · run ${g.run}`),
      h("label", { class: "step-ctl" }, "step ", slider, label), play));
    view.appendChild(out);
    let token = 0;
    async function draw(i) {
      const it = g.items[i];
      label.textContent = `${it.step} (${i + 1} of ${g.items.length})`;
      const my = ++token;
      if (g.kind === "image" || g.kind === "text") {  // artifacts: the listing is the record
        const v = await renderResult({ ...it, name: g.name }, g.kind, { run: g.run });
        if (my === token) out.replaceChildren(v);
        return;
      }
      out.replaceChildren(h("p", { class: "muted" }, "loading…"));
      try {
        const d = await get("/api/result", { run: g.run, index: it.index });
        if (my !== token) return;
        const v = await renderResult(d.data, d.kind, { run: g.run });
        if (my === token) out.replaceChildren(v);
      } catch (e) { out.replaceChildren(h("p", { class: "error" }, e.message)); }
    }
    draw(g.items.length - 1);
  }

  load();
  let timer = null;
  const offs = [on("selection", load), on("runs", load),
    on("changed", () => { if (!timer) timer = setTimeout(() => { timer = null; load(); }, 3000); })];
  return { unmount: () => { offs.forEach((f) => f()); clearTimeout(timer); } };
}
