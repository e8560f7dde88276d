// The frame player of Animation.to_html(): the play/pause button, the slider and the label
// that Python writes, driven by the dashboard's player (draw/player.js), over the frames'
// images. `D`: frames (image URLs), labels, fps.
import { bindPlayer } from "../draw/player.js";

export function animationPlayer(root, D) {
  const img = root.querySelector(".ns-frame");
  bindPlayer({ play: root.querySelector(".ns-play"), slider: root.querySelector(".ns-slider"), label: root.querySelector(".ns-label"),
    count: D.frames.length, labels: D.labels, fps: D.fps, start: 0, onShow: (i) => { img.src = D.frames[i]; } });
}
