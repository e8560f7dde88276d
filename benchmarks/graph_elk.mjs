// Lays out an ELK JSON graph (written by benchmarks/graph_elk.py) with elkjs's layered
// algorithm and prints one JSON line: wall milliseconds, CPU milliseconds, size of the result.
// Run through benchmarks/graph_elk.py, which passes the path of an elkjs install.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const [elkDir, graphPath] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const ELK = require(`${elkDir}/lib/elk.bundled.js`);
const elk = new ELK();
const graph = JSON.parse(readFileSync(graphPath, "utf8"));
const wall0 = performance.now();
const cpu0 = process.cpuUsage();
const out = await elk.layout(graph);
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
console.log(JSON.stringify({ wall_ms: wall, cpu_ms: (cpu.user + cpu.system) / 1000, width: out.width, height: out.height }));
