// Attributions of token sequences (modality "text": neuralscope.attribution.text.explain_text,
// attributions (examples, tokens, embedding dims) or (examples, tokens)), drawn as the
// library's figure (Attribution.plot, _draw_tokens) draws them: one score per token (the
// embedding dimensions summed, Attribution.token_scores), the tokens in reading order on
// backgrounds coloured by their score, lines wrapping at the page's width, and per example
// its own colour limit and colour bar (signed: blue-white-red centred at zero; unsigned:
// inferno from zero), its target, the model's probability for it and its metric values.
import { h } from "../../dom.js";
import { attributionColormap, colorbar } from "../../colors.js";
import { tokenStrip } from "../../draw/tokens.js";
import { section } from "../parts.js";
import { symmetricLimit, splitMetrics, exampleTable, methodTable } from "../attribution.js";

const MAX_EXAMPLES = 32;

const isNumber = (v) => v === null || typeof v === "number";

/** One score per token of one example: a (T, D) map summed over D, a (T,) map as it is;
 * null when the map is neither. */
export function tokenScores(map) {
  if (!Array.isArray(map)) return null;
  if (map.every(isNumber)) return map;
  if (!map.every((row) => Array.isArray(row) && row.every(isNumber))) return null;
  return map.map((row) => row.reduce((s, v) => s + (v ?? 0), 0));
}

function tokensOf(data, i, n) {
  const t = Array.isArray(data.tokens) && Array.isArray(data.tokens[i]) ? data.tokens[i] : [];
  return Array.from({ length: n }, (_, k) => (k < t.length ? t[k] : String(k)));
}

function exampleFigure(data, scores, i, per) {
  const cmap = attributionColormap(!!data.signed, symmetricLimit([[scores]]));
  const tokens = tokensOf(data, i, scores.length);
  return h("figure", { class: "attr-example tok-example", dataset: { example: String(i) }, style: { maxWidth: "100%" } },
    h("figcaption", null, `example ${i}: ${scores.length} tokens`),
    h("div", { class: "attr-row", style: { alignItems: "flex-start", flexWrap: "wrap", gap: "12px" } },
      h("div", { style: { flex: "1 1 420px", minWidth: "0", maxWidth: "100%" } }, tokenStrip(tokens, scores, cmap)),
      h("div", { class: "attr-side" },
        colorbar(cmap, cmap.diverging ? " 0 = white" : ""),
        exampleTable(data, per, i))));
}

/** The coloured tokens of a text Attribution's to_dict(), one figure per example (the first
 * 32); null when its attributions are not one map per example. */
export function textView(data) {
  const maps = Array.isArray(data.attributions) ? data.attributions : [];
  const scores = maps.slice(0, MAX_EXAMPLES).map(tokenScores);
  if (!scores.length || scores.some((s) => s === null || !s.length)) return null;
  const { per, shared } = splitMetrics(data.metrics, maps.length);
  const head = h("div", { class: "attr-head" }, methodTable(data, shared),
    h("div", { class: "attr-ctl" },
      h("p", { class: "muted" }, "one score per token (the embedding dimensions summed); each example has its own colour limit"),
      maps.length > scores.length ? h("p", { class: "muted" }, `first ${scores.length} of ${maps.length} examples`) : null,
      data.paper ? h("p", { class: "muted paper" }, String(data.paper)) : null));
  return section("tokens", `${maps.length} example(s)`,
    h("div", { class: "attr-view tok-view" }, head, scores.map((s, i) => exampleFigure(data, s, i, per))));
}
