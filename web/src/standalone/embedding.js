// The embedding page of Embedding.to_html(): the payload of neuralscope.inspect.embedding
// (coordinates, colours and thumbnails as base64 typed arrays) drawn by the one embedding
// scatter (draw/scatter.js).
import { drawScatter } from "../draw/scatter.js";

function decode(s, T) {
  const b = atob(s), u = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
  return new T(u.buffer);
}

// example i's thumbnail (h x w grey or h x w x 3) as a pixelated canvas
function thumbnails(images) {
  if (!images) return null;
  const IM = decode(images.data, Uint8Array), { h, w, c } = images;
  return (i) => {
    const cv = document.createElement("canvas"); cv.width = w; cv.height = h;
    const g = cv.getContext("2d"), img = g.createImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < 3; k++) img.data[4 * p + k] = IM[(i * h * w + p) * c + (c === 3 ? k : 0)];
      img.data[4 * p + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    const s = Math.max(1, Math.floor(96 / Math.max(h, w)));
    Object.assign(cv.style, { width: `${w * s}px`, height: `${h * s}px`, imageRendering: "pixelated", display: "block", marginTop: "4px" });
    cv.className = "ns-thumb";
    return cv;
  };
}

export function embeddingPage(root, P) {
  drawScatter(root, { ...P, coords: decode(P.coords, Float32Array), rgb: decode(P.rgb, Uint8Array), ok: decode(P.ok, Uint8Array),
    thumb: thumbnails(P.images) });
}
