// Builds the bundle that standalone HTML exports inline (head view, embedding, animation
// player, loss landscape): one IIFE file, no imports at run time, next to the dashboard's build.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  build: {
    outDir: fileURLToPath(new URL("../src/neuralscope/server/static/standalone", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    lib: {
      entry: fileURLToPath(new URL("src/standalone/index.js", import.meta.url)),
      formats: ["iife"],
      name: "neuralscope",
      fileName: () => "neuralscope.js",
    },
  },
});
