// The dashboard shell: navigation, routing (#/page?query), run list, live events.
import "./style.css";
import { h, clear } from "./dom.js";
import { get } from "./api.js";
import { state, setRuns, updateRun, emit, on } from "./state.js";
import * as runsPage from "./pages/runs.js";
import * as scalarsPage from "./pages/scalars.js";
import * as distPage from "./pages/distributions.js";
import * as diagPage from "./pages/diagnostics.js";
import * as graphPage from "./pages/graph.js";
import * as resultsPage from "./pages/results.js";
import * as auditPage from "./pages/audit.js";
import * as resultPage from "./pages/result.js";

const PAGES = [
  { id: "runs", title: "Runs", page: runsPage },
  { id: "scalars", title: "Scalars", page: scalarsPage },
  { id: "distributions", title: "Distributions", page: distPage },
  { id: "diagnostics", title: "Diagnostics", page: diagPage },
  { id: "graph", title: "Graph", page: graphPage },
  { id: "inside", title: "Inside", page: resultsPage, args: { section: "inside" } },
  { id: "attributions", title: "Attributions", page: resultsPage, args: { section: "attributions" } },
  { id: "attention", title: "Attention", page: resultsPage, args: { section: "attention" } },
  { id: "featurevis", title: "Feature vis", page: resultsPage, args: { section: "featurevis" } },
  { id: "audit", title: "Audit", page: auditPage },
  { id: "result", title: "Result", page: resultPage, hidden: true },  // one result by link, not a tab
];

let current = null;
const main = h("main", { id: "page" });
const nav = h("nav", { class: "tabs" });
const liveDot = h("span", { class: "live-dot", title: "live updates" });
const diagBadge = h("span", { class: "badge", hidden: true });

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { id: path || (state.info && state.info.mode === "model" ? "graph" : "runs"), params: new URLSearchParams(query || "") };
}

function route() {
  const { id, params } = parseHash();
  const entry = PAGES.find((p) => p.id === id) || PAGES[0];
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === entry.id);
  if (current && current.unmount) current.unmount();
  clear(main);
  document.title = `${entry.title} · ${state.info ? state.info.title : "neuralscope"}`;
  current = entry.page.mount(main, params, entry.args || {}) || null;
}

async function loadRuns() {
  const body = await get("/api/runs");
  setRuns(body.runs);
}

async function loadDiagnosticsCount() {
  try {
    const body = await get("/api/diagnostics");
    const n = body.items.length;
    diagBadge.textContent = String(n);
    diagBadge.hidden = n === 0;
  } catch { /* shown on the page itself */ }
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("hello", (e) => {
    state.connected = true;
    liveDot.classList.add("on");
    const data = JSON.parse(e.data);
    // (re)connected: anything may have changed while we were away
    loadRuns().then(() => emit("resync", data)).catch(() => {});
  });
  es.addEventListener("runs", () => { loadRuns().catch(() => {}); loadDiagnosticsCount(); });
  es.addEventListener("run", (e) => {
    const summary = JSON.parse(e.data);
    if (!updateRun(summary)) loadRuns().catch(() => {});
  });
  es.addEventListener("scalars", (e) => emit("scalars", JSON.parse(e.data)));
  es.addEventListener("changed", (e) => { emit("changed", JSON.parse(e.data)); throttledDiag(); });
  es.onerror = () => { state.connected = false; liveDot.classList.remove("on"); };
  window.__nsEvents = es;
}

let diagTimer = null;
function throttledDiag() {
  if (diagTimer) return;
  diagTimer = setTimeout(() => { diagTimer = null; loadDiagnosticsCount(); }, 3000);
}

async function start() {
  const app = document.getElementById("app");
  state.info = await get("/api/info");
  const pages = state.info.mode === "model" ? PAGES.filter((p) => p.id === "graph") : PAGES.filter((p) => !p.hidden);
  for (const p of pages) {
    nav.appendChild(h("a", { href: `#/${p.id}`, dataset: { page: p.id } }, p.title, p.id === "diagnostics" ? diagBadge : null));
  }
  app.appendChild(h("header", { class: "top" },
    h("a", { class: "brand", href: "#/runs" }, h("span", { class: "logo" }, "◉"), "neuralscope"),
    nav,
    h("span", { class: "root", title: state.info.root }, state.info.root),
    liveDot));
  app.appendChild(main);
  if (state.info.mode === "runs") {
    await loadRuns();
    loadDiagnosticsCount();
    connect();
  }
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "1";
}

on("runs", () => {});
start().catch((e) => {
  console.error("dashboard failed to start:", e);
  document.getElementById("app").appendChild(h("p", { class: "error" }, `The dashboard could not start: ${e.message}`));
});
