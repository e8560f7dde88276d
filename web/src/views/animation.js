// kind "animation" (neuralscope.plot.animation.Animation): a player over the frames (play,
// slider, the frame's label), each frame drawn by the view of its own kind (the frames are
// results: forward-pass steps, feature maps, embeddings, weight matrices...). It opens on
// the last frame, as Animation.plot() draws it. Steps of one forward pass come as {kind, step}
// with the pass written once (`pass`), which each step's view is given.
import { h } from "../dom.js";
import { framePlayer } from "../draw/player.js";
import { section } from "./parts.js";
import { cannotDraw } from "../draw/note.js";

function frameView(frame) {
  const box = h("div", { class: "anim-frame", dataset: { kind: frame?.kind || "" } });
  import("./index.js").then(({ renderResult }) => renderResult(frame, frame?.kind)).then((el) => box.replaceChildren(el));
  return box;
}

export function render(data) {
  const frames = Array.isArray(data.frames) ? data.frames : [];
  if (!frames.length) return cannotDraw("animation", "it has no frames");
  const labels = Array.isArray(data.labels) ? data.labels : [];
  const player = framePlayer({ count: frames.length, labels, start: frames.length - 1, fps: data.fps || 1.5,
    show: (i) => frameView(data.pass && !frames[i].pass ? { ...frames[i], pass: data.pass } : frames[i]) });
  return h("div", null, section("frames", `${frames.length} frames at ${data.fps} per second${data.title ? ` — ${data.title}` : ""}`, player));
}
