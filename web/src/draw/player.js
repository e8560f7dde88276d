// A player over numbered frames: play/pause, a slider and the frame's label. `bindPlayer`
// drives existing controls (the standalone animation export, whose markup Python writes);
// `framePlayer` builds them with a frame area whose frames are drawn by `show(i)` when first
// reached and kept (going back is instant): the dashboard views of animations and of forward
// passes (one frame per layer or stage).
import { h } from "../dom.js";

/**
 * Drive `play` (button), `slider` (range input) and `label` over `count` frames named by
 * `labels` at `fps` frames per second, calling `onShow(i)` for each frame shown; starts at
 * `start`. Returns `go(i)`, which shows frame i (and stops playing).
 *
 * Example: `bindPlayer({ play, slider, label, count: 3, labels: ["a", "b", "c"], onShow: (i) => {} })`
 */
export function bindPlayer({ play, slider, label, count, labels = [], fps = 1.5, start = 0, onShow }) {
  let timer = null;
  const show = (i) => {
    slider.value = String(i);
    label.textContent = `${labels[i] ?? `frame ${i}`} (${i + 1}/${count})`;
    onShow(i);
  };
  const stop = () => { clearInterval(timer); timer = null; play.textContent = "▶ play"; };
  slider.addEventListener("input", () => { stop(); show(+slider.value); });
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    play.textContent = "❚❚ pause";
    timer = setInterval(() => { if (!play.isConnected) { stop(); return; } show((+slider.value + 1) % count); }, 1000 / (fps || 1));
  });
  show(Math.max(0, Math.min(count - 1, start)));
  return (i) => { stop(); show(i); };
}

/**
 * `count` frames named by `labels`, starting at `start`, played at `fps` frames per second;
 * `show(i)` returns the element of frame i. Returns the player element (`data-frame` is the
 * frame on screen; `go(i)` shows frame i).
 *
 * Example: `framePlayer({ count: 3, labels: ["a", "b", "c"], show: (i) => h("p", null, i) })`
 */
export function framePlayer({ count, labels = [], start = 0, fps = 1.5, show }) {
  const drawn = new Map();
  const view = h("div", { class: "ns-player-frame" });
  const label = h("span", { class: "ns-player-label", style: { fontSize: "13px" } });
  const slider = h("input", { type: "range", min: 0, max: count - 1, value: start, class: "ns-player-slider",
    disabled: count < 2, style: { width: `${Math.min(420, 40 + 30 * count)}px` } });
  const play = h("button", { type: "button", class: "ns-player-play", disabled: count < 2 }, "▶ play");
  const root = h("div", { class: "ns-player" },
    h("div", { class: "nd-sliders", style: { alignItems: "center" } }, play, slider, label), view);
  root.go = bindPlayer({ play, slider, label, count, labels, fps, start, onShow: (i) => {
    root.dataset.frame = String(i);
    if (!drawn.has(i)) drawn.set(i, show(i));
    view.replaceChildren(drawn.get(i));
  } });
  return root;
}
