// kind "hidden_states" (neuralscope.inspect.activations.HiddenStates): the hidden units x
// time steps heatmap of a recurrent layer (diverging, centred at zero), with the input
// sequence above it on the same time axis or the tokens along it, as HiddenStates.plot() draws it.
import { h } from "../dom.js";
import { colormap } from "../colors.js";
import { blockMean, blockTicks, matrixHeatmap } from "../draw/matrix.js";
import { flat, range, section } from "./parts.js";

const transpose = (m) => m[0].map((_, j) => m.map((row) => row[j]));
const GREY = (lo, hi) => ({ fn: (v) => { const g = 255 * (1 - (v - lo) / ((hi - lo) || 1)); return [g, g, g]; }, lo, hi, diverging: false });

// at most 256 units x 1,000 steps are drawn, each cell the mean of a block (HiddenStates.plot: 2,000 steps)
const MAX_UNITS = 256, MAX_STEPS = 1000;

export function render(data) {
  const s = data.states;
  if (!Array.isArray(s) || !s.length || !Array.isArray(s[0])) return h("p", { class: "muted" }, "This result holds no hidden states.");
  const T = s.length, tokens = Array.isArray(data.tokens) && data.tokens.length === T ? data.tokens.map(String) : null;
  const showInput = Array.isArray(data.inputs) && data.inputs.length === T && !tokens;
  const left = 64, maxW = Math.min(1000, Math.max(320, 28 * T));
  const { mat, block: [rb, cb] } = blockMean(transpose(s), MAX_UNITS, MAX_STEPS);
  const shrunk = rb > 1 || cb > 1;
  // the time axis of both maps: tokens, step indices, or (shrunk) step numbers at their blocks
  const time = { xLabel: "time step", left, maxW, xLabels: shrunk ? undefined : tokens, xTicks: cb > 1 ? blockTicks(mat[0].length, cb, maxW, 60) : undefined };
  const states = matrixHeatmap(mat, { ...time, yLabel: "hidden unit", valueLabel: "hidden state", maxH: 460, cls: "hs-states",
    title: `${data.layer}: ${s[0].length} hidden units over ${T} time steps` + (shrunk ? ` (each cell = mean of ${rb} units × ${cb} steps)` : ""),
    yTicks: rb > 1 ? blockTicks(mat.length, rb, 460, 40) : undefined,
    tip: (i, j) => (shrunk ? `units ${i * rb}–${i * rb + rb - 1}, steps ${j * cb}–${j * cb + cb - 1}: ${mat[i][j]}` : `unit ${i}, step ${j}${tokens ? ` (${tokens[j]})` : ""}: ${s[j][i]}`) });
  if (!showInput) return section("hidden states", `input #${data.index}`, states);
  const inp = blockMean(transpose(data.inputs), Infinity, MAX_STEPS).mat, [lo, hi] = range(flat(inp));
  const input = matrixHeatmap(inp, { ...time, yLabel: "input feature", valueLabel: "input", maxH: 140, cmap: lo < 0 ? colormap(lo, hi) : GREY(lo, hi),
    title: `input sequence #${data.index} (one column per ${cb > 1 ? `${cb} time steps, their mean` : "time step"})`, cls: "hs-input" });
  return section("hidden states", `input #${data.index}`, h("div", null, input, states));
}
