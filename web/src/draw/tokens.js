// Tokens in reading order, each on a background coloured by one value (an attribution, an
// attention weight), as the library's coloured-token figures draw them (Attribution.plot for
// text): the text black on light backgrounds and white on dark ones (luminance > 0.55 is
// light), lines that wrap at the container's width so long sequences never overlap, and the
// value on hover.
import { h, fmt } from "../dom.js";
import { rgb } from "../colors.js";

// Tokens that would be invisible as text (spaces, tabs, line breaks, the empty string) are
// written with visible signs.
const VISIBLE = { " ": "␣", "\t": "⇥", "\n": "⏎", "\r": "" };

/** The text a token is written as: whitespace made visible, never an empty box.
 *
 * Example: tokenLabel(" ") === "␣" && tokenLabel("cat") === "cat"
 */
export function tokenLabel(token) {
  const s = String(token ?? "");
  if (s === "") return "∅";
  return s.trim() === "" ? [...s].map((c) => VISIBLE[c] ?? "␣").join("") : s;
}

/** Whether black text reads better than white on the colour `c` ([r, g, b], 0..255). */
export function isLight(c) {
  return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255 > 0.55;
}

function tokenSpan(token, value, k, cmap) {
  const finite = value !== null && value !== undefined && Number.isFinite(value);
  const colour = finite ? cmap.fn(value) : [230, 230, 230];
  return h("span", {
    class: "tok",
    title: `#${k} ${String(token ?? "")}: ${finite ? fmt(value, 4) : "no value"}`,
    dataset: { index: String(k), value: finite ? String(value) : "NaN" },
    style: {
      background: rgb(colour), color: isLight(colour) ? "#000" : "#fff",
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", fontSize: "13px", lineHeight: "18px",
      padding: "1px 4px", borderRadius: "3px", whiteSpace: "pre", maxWidth: "100%",
      overflow: "hidden", textOverflow: "ellipsis", display: "inline-block",
    },
  }, tokenLabel(token));
}

/**
 * A wrapping strip of `tokens`, token k on the colour `cmap.fn(values[k])` (`cmap` as
 * colors.js makes them: {fn, lo, hi, diverging}). Each span has `data-index` and `data-value`.
 *
 * Example: tokenStrip(["the", "cat"], [0.2, -0.1], attributionColormap(true, 0.2))
 */
export function tokenStrip(tokens, values, cmap) {
  const n = Math.min(tokens.length, values.length);
  const spans = [];
  for (let k = 0; k < n; k++) spans.push(tokenSpan(tokens[k], values[k], k, cmap));
  return h("div", {
    class: "tok-strip", dataset: { tokens: String(n) },
    style: { display: "flex", flexWrap: "wrap", gap: "3px 3px", alignItems: "center", maxWidth: "100%" },
  }, spans);
}
