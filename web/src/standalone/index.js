// The bundle that standalone HTML exports embed (built by vite into
// src/neuralscope/server/static/standalone/neuralscope.js; Python inlines it, never writes
// JavaScript itself). A page holds its markup and, after it, a data element
//   <script type="application/json" data-ns-mount="NAME" data-ns-root="ID">{...}</script>
// for each interactive part; the bundle mounts every such part once (notebooks may hold many).
import { headView } from "./headview.js";
import { embeddingPage } from "./embedding.js";
import { animationPlayer } from "./animation.js";
import { drawLandscape } from "../draw/landscape.js";

const MOUNTS = { "head-view": headView, embedding: embeddingPage, animation: animationPlayer, landscape: drawLandscape };

export function mountAll(doc = document) {
  for (const data of doc.querySelectorAll("script[type='application/json'][data-ns-mount]")) {
    if (data.dataset.nsMounted) continue;
    const mount = MOUNTS[data.dataset.nsMount];
    const root = doc.getElementById(data.dataset.nsRoot);
    if (!mount || !root) { console.error(`neuralscope: nothing to mount for ${data.dataset.nsMount} #${data.dataset.nsRoot}`); continue; }
    data.dataset.nsMounted = "1";
    mount(root, JSON.parse(data.textContent));
  }
}

mountAll();
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mountAll());
