"""elkjs (the Eclipse Layout Kernel's layered algorithm, compiled to JavaScript) against
neuralscope's own compound layout, on the same graphs with the same node sizes.

For each graph the script lays out the same view twice: with :func:`neuralscope.graph.layout.layout`
in this process, and with elkjs in Node.js (``elk.algorithm=layered``, top to bottom,
``hierarchyHandling=INCLUDE_CHILDREN`` so edges into and out of groups are laid out across the
hierarchy, as ours does), each node sized as ours sizes it. It prints CPU and wall time and
the drawing's size. elkjs is not a dependency of neuralscope: ``make bench`` installs it into
``.bench/elk`` (git-ignored), where this script looks by default; by hand::

    npm install --prefix .bench/elk --no-save elkjs@0.12.1
    .venv/bin/python benchmarks/graph_elk.py [--elk FOLDER_OF_ELKJS]

(the script in ``benchmarks/graph_elk.mjs`` does the elkjs side).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from neuralscope.graph.layout import layout, node_size, synthetic_graph
from neuralscope.graph.model import GraphView

HERE = Path(__file__).resolve().parent
DEFAULT_ELK = HERE.parent / ".bench" / "elk" / "node_modules" / "elkjs"
ELK_OPTIONS = {"elk.algorithm": "layered", "elk.direction": "DOWN",
               "elk.hierarchyHandling": "INCLUDE_CHILDREN",
               "elk.layered.spacing.nodeNodeBetweenLayers": "34", "elk.spacing.nodeNode": "20"}


def elk_graph(view: GraphView) -> dict:
    """The view as ELK JSON: groups as nested nodes, each edge in the innermost group that
    holds both of its ends, node sizes as neuralscope's layout sizes them."""
    box: dict[str, dict] = {"": {"id": "root", "layoutOptions": ELK_OPTIONS, "children": [], "edges": []}}
    for c in view.clusters:  # parents before children
        item = {"id": f"c:{c.path}", "children": [], "edges": []}
        box[c.path] = item
        box[c.parent if c.parent in box else ""]["children"].append(item)
    home: dict[str, str] = {}
    for n in view.nodes:
        group = n.group if n.collapsed is None else (n.group or "")
        while group and group not in box:
            group = group.rsplit(".", 1)[0] if "." in group else ""
        home[n.id] = group
        w, h = node_size(n)
        box[group]["children"].append({"id": n.id, "width": w, "height": h})
    for i, e in enumerate(view.edges):
        a, b = home[e.src].split(".") if home[e.src] else [], home[e.dst].split(".") if home[e.dst] else []
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        box[".".join(a[:k])]["edges"].append({"id": f"e{i}", "sources": [e.src], "targets": [e.dst]})
    return box[""]


def ours(view: GraphView) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    lay = layout(view)
    return {"wall_ms": 1000 * (time.perf_counter() - wall), "cpu_ms": 1000 * (time.process_time() - cpu),
            "width": lay.width, "height": lay.height}


def theirs(view: GraphView, elk_dir: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.json"
        path.write_text(json.dumps(elk_graph(view)))
        try:
            done = subprocess.run(["node", str(HERE / "graph_elk.mjs"), elk_dir, str(path)], capture_output=True,
                                  text=True, timeout=timeout, check=True)
        except subprocess.TimeoutExpired:
            return {"failed": f"did not finish in {timeout:.0f} s"}
        except subprocess.CalledProcessError as exc:
            lines = [ln for ln in exc.stderr.splitlines() if "Error" in ln] or exc.stderr.splitlines()[-1:]
            return {"failed": f"failed ({lines[0].strip()[:120] if lines else 'no message'})"}
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elk", default=str(DEFAULT_ELK), help="folder of an elkjs install (…/node_modules/elkjs; "
                    "default: where make bench installs it)")
    ap.add_argument("--sizes", default="1000,3000,10000")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds elkjs may take per graph")
    args = ap.parse_args()
    if not (Path(args.elk) / "package.json").is_file():
        ap.exit(2, f"graph_elk.py: no elkjs in {args.elk}: run `make bench` (it installs elkjs there) or pass "
                   "--elk FOLDER.\n")
    for n in (int(s) for s in args.sizes.split(",")):
        for nested in (True, False):
            view = synthetic_graph(n, nested=nested).view()
            a, b = ours(view), theirs(view, args.elk, args.timeout)
            what = "nested" if nested else "flat"
            elk = (f"elkjs {b['wall_ms'] / 1000:.2f} / {b['cpu_ms'] / 1000:.2f} s, {b['width']:.0f} x {b['height']:.0f} px"
                   if "wall_ms" in b else f"elkjs {b['failed']}")
            print(f"{len(view.nodes):>6} nodes {what:>6}: neuralscope {a['wall_ms'] / 1000:.2f} / {a['cpu_ms'] / 1000:.2f} s, "
                  f"{a['width']:.0f} x {a['height']:.0f} px; {elk} (wall / CPU)", flush=True)


if __name__ == "__main__":
    main()
