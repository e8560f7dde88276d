// Builds what standalone HTML exports inline, next to the dashboard's build, each as one IIFE
// file with no imports at run time:
//   vite build -c vite.standalone.config.js               standalone/neuralscope.js (head view,
//                                                          embedding, animation player, loss landscape)
//   vite build -c vite.standalone.config.js --mode graph  standalone/graph-viewer.js (the graph viewer)
//   vite build -c vite.standalone.config.js --mode layout standalone/graph-layout.js (the graph view
//                                                          rules and layout, global neuralscope: run by Python's
//                                                          static renderers in an embedded V8)
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const ENTRIES = {
  production: ["src/standalone/index.js", "neuralscope.js"],
  graph: ["src/graph/viewer.js", "graph-viewer.js"],
  layout: ["src/graph/index.js", "graph-layout.js"],
};

export default defineConfig(({ mode }) => {
  const [entry, file] = ENTRIES[mode] || ENTRIES.production;
  return {
    root: fileURLToPath(new URL(".", import.meta.url)),
    build: {
      outDir: fileURLToPath(new URL("../src/neuralscope/server/static/standalone", import.meta.url)),
      emptyOutDir: false,  // the dashboard's build (run first) empties the static folder
      sourcemap: false,
      lib: { entry: fileURLToPath(new URL(entry, import.meta.url)), formats: ["iife"], name: "neuralscope", fileName: () => file },
    },
  };
});
