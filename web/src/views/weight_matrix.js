// kind "weight_matrix" (neuralscope.inspect.weights.WeightMatrix): the weight matrix (shrunk
// by block statistics when large) as a heatmap, diverging and centred at zero over
// [-absmax, absmax], with labelled axes, as WeightMatrix.plot() draws it.
import { h } from "../dom.js";
import { colormap } from "../colors.js";
import { blockTicks, matrixHeatmap } from "../draw/matrix.js";
import { section } from "./parts.js";

// the axis names of WeightMatrix (neuralscope.inspect.weights.as_matrix) by the weight's rank
function axisNames(shape) {
  if (shape.length === 1) return ["", "unit"];
  if (shape.length === 2) return ["output unit", "input unit"];
  return ["output channel", "input channel × kernel position"];
}

export function render(data) {
  const d = data.display;
  if (!Array.isArray(d) || !d.length || !Array.isArray(d[0])) return h("p", { class: "muted" }, "This result holds no weight matrix.");
  const shape = data.shape || [], [rowName, colName] = axisNames(shape), block = data.block || [1, 1];
  const shrunk = block[0] !== 1 || block[1] !== 1;
  const lim = data.absmax > 0 ? data.absmax : 1;
  const at = (i, b) => (b === 1 ? String(i) : `${Math.floor(i * b)}–${Math.floor((i + 1) * b) - 1}`);
  return section("weights", `${data.name} (${shape.join("×")})` + (shrunk ? `, each cell = ${+block[0].toPrecision(3)}×${+block[1].toPrecision(3)} weights (${data.how})` : ""),
    matrixHeatmap(d, { xLabel: colName, yLabel: rowName || "row", valueLabel: "weight", cmap: colormap(-lim, lim), cls: "wm-heat", maxH: 520,
      xTicks: shrunk ? blockTicks(d[0].length, block[1], 640, 60) : undefined, yTicks: shrunk ? blockTicks(d.length, block[0], 520, 40) : undefined,
      title: `${data.name}  (${shape.join("×")})`, tip: (i, j) => `${rowName || "row"} ${at(i, block[0])}, ${colName} ${at(j, block[1])}: ${d[i][j]}` }));
}
