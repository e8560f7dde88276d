// kind "hidden_states" (neuralscope.inspect.activations.HiddenStates): the hidden units x
// time steps heatmap of a recurrent layer (diverging, centred at zero), with the input
// sequence above it on the same time axis or the tokens along it, as HiddenStates.plot() draws it.
import { h } from "../dom.js";
import { colormap } from "../colors.js";
import { matrixHeatmap } from "../draw/matrix.js";
import { flat, range, section } from "./parts.js";

const transpose = (m) => m[0].map((_, j) => m.map((row) => row[j]));
const GREY = (lo, hi) => ({ fn: (v) => { const g = 255 * (1 - (v - lo) / ((hi - lo) || 1)); return [g, g, g]; }, lo, hi, diverging: false });

export function render(data) {
  const s = data.states;
  if (!Array.isArray(s) || !s.length || !Array.isArray(s[0])) return h("p", { class: "muted" }, "This result holds no hidden states.");
  const T = s.length, tokens = Array.isArray(data.tokens) && data.tokens.length === T ? data.tokens.map(String) : null;
  const showInput = Array.isArray(data.inputs) && data.inputs.length === T && !tokens;
  const left = 64, maxW = Math.min(900, Math.max(320, 28 * T));
  const states = matrixHeatmap(transpose(s), { xLabel: "time step", yLabel: "hidden unit", valueLabel: "hidden state", xLabels: tokens, left, maxW, maxH: 460,
    title: `${data.layer}: ${s[0].length} hidden units over ${T} time steps`, cls: "hs-states", tip: (i, j) => `unit ${i}, step ${j}${tokens ? ` (${tokens[j]})` : ""}: ${s[j][i]}` });
  if (!showInput) return section("hidden states", `input #${data.index}`, states);
  const inp = transpose(data.inputs), [lo, hi] = range(flat(inp));
  const input = matrixHeatmap(inp, { xLabel: "time step", yLabel: "input feature", valueLabel: "input", left, maxW, maxH: 140, cmap: lo < 0 ? colormap(lo, hi) : GREY(lo, hi),
    title: `input sequence #${data.index} (one column per time step)`, cls: "hs-input" });
  return section("hidden states", `input #${data.index}`, h("div", null, input, states));
}
