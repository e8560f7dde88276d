// Shared dashboard state: runs, selection, colours, chart settings, live events.

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#3b5b92", "#e4572e", "#17a398", "#a05195", "#665191"];

const saved = (() => { try { return JSON.parse(localStorage.getItem("neuralscope") || "{}"); } catch { return {}; } })();

export const state = {
  info: null,
  runs: [],
  runById: new Map(),
  selected: new Set(saved.selected || []),
  knownRuns: new Set(saved.known || []),
  colors: new Map(),
  settings: Object.assign({ smoothing: 0.6, xaxis: "step", logy: false, filter: "", ridge: true }, saved.settings || {}),
  connected: false,
};

export function persist() {
  try {
    localStorage.setItem("neuralscope", JSON.stringify({
      selected: [...state.selected], known: [...state.knownRuns], settings: state.settings,
    }));
  } catch { /* private mode */ }
}

const listeners = new Map();
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event).delete(fn);
}
export function emit(event, data) {
  for (const fn of listeners.get(event) || []) {
    try { fn(data); } catch (e) { console.warn(`listener of ${event} failed:`, e); }
  }
}

export function setRuns(runs) {
  state.runs = runs;
  state.runById = new Map(runs.map((r) => [r.id, r]));
  runs.forEach((r, i) => { if (!state.colors.has(r.id)) state.colors.set(r.id, PALETTE[state.colors.size % PALETTE.length]); });
  // new runs start selected (as TensorBoard); runs the user unticked stay unticked
  for (const r of runs) {
    if (!state.knownRuns.has(r.id)) { state.knownRuns.add(r.id); if (r.status !== "damaged") state.selected.add(r.id); }
  }
  for (const id of [...state.selected]) if (!state.runById.has(id)) state.selected.delete(id);
  persist();
  emit("runs", runs);
}

export function updateRun(summary) {
  const i = state.runs.findIndex((r) => r.id === summary.id);
  if (i < 0) return false;
  state.runs[i] = summary;
  state.runById.set(summary.id, summary);
  emit("run", summary);
  return true;
}

export function selectedRuns() {
  return state.runs.filter((r) => state.selected.has(r.id) && r.status !== "damaged");
}

export function colorOf(id) { return state.colors.get(id) || "#555"; }

export function setSelected(id, on_) {
  if (on_) state.selected.add(id); else state.selected.delete(id);
  persist();
  emit("selection", [...state.selected]);
}

export function setSetting(key, value) {
  state.settings[key] = value;
  persist();
  emit("settings", { key, value });
}

// All series names of one kind over the selected runs.
export function seriesNames(kind, runs = selectedRuns()) {
  const names = new Set();
  for (const r of runs) for (const n of (r.series && r.series[kind]) || []) names.add(n);
  return [...names].sort();
}
