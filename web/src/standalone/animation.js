// The frame player of Animation.to_html(): a play/pause button, a slider over the frames and
// the frame's label. `D`: frames (image URLs), labels, fps.
export function animationPlayer(root, D) {
  const img = root.querySelector(".ns-frame"), slider = root.querySelector(".ns-slider");
  const label = root.querySelector(".ns-label"), play = root.querySelector(".ns-play");
  let timer = null;
  const show = (i) => { slider.value = i; img.src = D.frames[i]; label.textContent = `${D.labels[i]} (${+i + 1}/${D.frames.length})`; };
  slider.addEventListener("input", () => show(+slider.value));
  play.addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "\u25b6 play"; return; }
    play.textContent = "\u275a\u275a pause";
    timer = setInterval(() => show((+slider.value + 1) % D.frames.length), 1000 / D.fps);
  });
  show(0);
}
