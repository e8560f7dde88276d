"""The one graph model every reader produces and every renderer draws.

Readers (torch.fx, torch.export, forward hooks, ONNX, TorchScript) turn a model into a
:class:`Graph`: nodes in execution order (inputs, modules, functional ops, outputs), edges
that carry tensor shapes, and the module hierarchy as nested groups. Renderers never see the
full graph: they draw a :class:`GraphView`, the flat graph visible at one expansion state
(``depth``, expanded/collapsed groups, repeated blocks folded).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..result import Result
from ..gcpause import paused_gc


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of one tensor (``None`` where a reader could not know them)."""

    shape: tuple | None = None
    dtype: str | None = None

    def to_dict(self) -> dict:
        return {"shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}

    def shape_text(self) -> str:
        if self.shape is None:
            return "?"
        return "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + ")"


@dataclass
class Node:
    """One node: ``kind`` is ``input``, ``output``, ``module`` (a leaf module call), ``op``
    (a functional op or method: add, cat, matmul, reshape...) or ``param`` (a constant or
    initializer shown as its own node).

    ``group`` is the qualified path of the module the node sits in ("" at the top level);
    ``module`` is the qualified name of the called module for ``module`` nodes.
    """

    id: str
    kind: str
    label: str
    op: str
    group: str = ""
    module: str | None = None
    inputs: list[TensorMeta] = field(default_factory=list)
    outputs: list[TensorMeta] = field(default_factory=list)
    params: int = 0
    trainable_params: int = 0
    attrs: dict = field(default_factory=dict)

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "label": self.label, "op": self.op, "group": self.group,
                "module": self.module, "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs], "params": self.params,
                "trainable_params": self.trainable_params, "attrs": self.attrs}


@dataclass
class Edge:
    """A tensor flowing from node ``src`` to node ``dst``."""

    src: str
    dst: str
    tensor: TensorMeta = field(default_factory=TensorMeta)

    def to_dict(self) -> dict:
        return {"src": self.src, "dst": self.dst, **self.tensor.to_dict()}


@dataclass
class Group:
    """A module that contains other nodes (``path`` "" is the whole model)."""

    path: str
    type: str
    params: int = 0
    trainable_params: int = 0

    @property
    def depth(self) -> int:
        return 0 if not self.path else self.path.count(".") + 1

    @property
    def parent(self) -> str | None:
        if not self.path:
            return None
        return self.path.rsplit(".", 1)[0] if "." in self.path else ""

    def to_dict(self) -> dict:
        return {"path": self.path, "type": self.type, "params": self.params,
                "trainable_params": self.trainable_params, "depth": self.depth}


# -- the visible graph ---------------------------------------------------------------

def output_key_paths(structure: Any, is_leaf) -> list[str] | None:
    """Key paths (``"logits"``, ``"hidden.0"``) of the leaves of a nested output, in
    flattening order; None when no dict is involved (outputs keep ``output``, ``output1``)."""
    paths: list[str] = []
    has_dict = False

    def walk(obj, prefix):
        nonlocal has_dict
        if isinstance(obj, dict) or (hasattr(obj, "keys") and hasattr(obj, "__getitem__") and not is_leaf(obj)):
            has_dict = True
            for k in obj.keys():
                walk(obj[k], f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{prefix}.{i}" if prefix else f"output{i or ''}")
        elif is_leaf(obj):
            paths.append(prefix or "output")

    walk(structure, "")
    return paths if has_dict else None


def _has_tied_params(model: Any) -> bool:
    """Whether one parameter tensor (or module) is registered in two places of ``model``."""
    seen: set[int] = set()
    for m in model.modules():
        for p in m._parameters.values():
            if p is not None:
                if id(p) in seen:
                    return True
                seen.add(id(p))
        for child in m._modules.values():  # a module registered under two names
            if child is not None and id(child) in seen:
                return True
            seen.add(id(child))
    return False


def _node_tensors(modules: dict, named: dict, node: Node) -> list:
    """The parameter tensors a node counts: its module's, or the one parameter it reads."""
    if node.kind == "module" and node.module:
        m = modules.get(node.module)
        return list(m.parameters()) if m is not None else []
    if node.kind == "param" and node.attrs.get("name") in named:
        return [named[node.attrs["name"]]]
    return []


@dataclass
class ViewNode:
    """A node as drawn: a real node, or a collapsed group (``collapsed`` = its path), possibly
    standing for ``repeat`` identical consecutive blocks."""

    id: str
    kind: str
    label: str
    op: str
    group: str
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]
    params: int = 0
    trainable_params: int = 0
    attrs: dict = field(default_factory=dict)
    collapsed: str | None = None
    repeat: int = 1
    members: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "label": self.label, "op": self.op, "group": self.group,
                "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
                "params": self.params, "trainable_params": self.trainable_params, "attrs": self.attrs,
                "collapsed": self.collapsed, "repeat": self.repeat}


@dataclass
class ViewEdge:
    src: str
    dst: str
    tensor: TensorMeta
    count: int = 1

    def to_dict(self) -> dict:
        return {"src": self.src, "dst": self.dst, "count": self.count, **self.tensor.to_dict()}


@dataclass
class Cluster:
    """An expanded group drawn as a box around its visible members."""

    path: str
    type: str
    parent: str | None
    params: int = 0


@dataclass
class GraphView:
    """The flat graph visible at one expansion state; what layouts and renderers consume.

    ``nodes`` are in execution (topological) order; ``clusters`` are the expanded groups
    that hold at least one visible node, parents before children.
    """

    name: str
    nodes: list[ViewNode]
    edges: list[ViewEdge]
    clusters: list[Cluster]

    def node(self, node_id: str) -> ViewNode:
        return self._index()[node_id]

    def _index(self) -> dict[str, ViewNode]:
        if not hasattr(self, "_by_id"):
            self._by_id = {n.id: n for n in self.nodes}
        return self._by_id


def group_node_id(path: str) -> str:
    return f"group:{path}"


def _ancestors(path: str) -> list[str]:
    """"a.b.c" -> ["a", "a.b", "a.b.c"] (outermost first)."""
    if not path:
        return []
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class Graph(Result):
    """The structure of a model: nodes, edges with tensor shapes, and the module hierarchy.

    ``method`` says which reader produced it (``fx``, ``export``, ``hooks``, ``onnx``,
    ``torchscript``). Nodes are in execution order.

    Example:
        >>> g = Graph("tiny", method="manual")
        >>> _ = g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 4), "float32")]))
        >>> _ = g.add_node(Node("fc", "module", "Linear", "Linear", module="fc", params=20, trainable_params=20))
        >>> _ = g.add_edge("x", "fc", TensorMeta((1, 4), "float32"))
        >>> g.total_params, len(g.view().nodes)
        (20, 2)
    """

    kind = "graph"
    schema = {"kind": "str", "name": "str", "method": "str", "total_params": "int", "trainable_params": "int",
              "nodes": [{"id": "str", "kind": "str", "label": "str", "op": "str", "group": "str", "module": "str?",
                         "inputs": [{"shape": "any", "dtype": "str?"}], "outputs": [{"shape": "any", "dtype": "str?"}],
                         "params": "int", "trainable_params": "int", "attrs": "dict"}],
              "edges": [{"src": "str", "dst": "str", "shape": "any", "dtype": "str?"}],
              "groups": [{"path": "str", "type": "str", "params": "int", "trainable_params": "int", "depth": "int"}]}

    def __init__(self, name: str, method: str, *, total_params: int | None = None,
                 trainable_params: int | None = None):
        self.name = name
        self.method = method
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.groups: dict[str, Group] = {"": Group("", name)}
        self._total_params = total_params
        self._trainable_params = trainable_params

    @classmethod
    def from_dict(cls, d: dict) -> "Graph":
        """The graph that :meth:`to_dict` described (also after a trip through JSON, e.g. a
        graph logged with ``run.log_result``): ``Graph.from_dict(g.to_dict()).to_dict() ==
        g.to_dict()``. Shapes come back as tuples; view defaults set by ``graph(...,
        depth=)`` are not part of the dict.

        Example:
            >>> g = Graph("tiny", method="manual")
            >>> _ = g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 4), "float32")]))
            >>> _ = g.add_node(Node("fc", "module", "Linear", "Linear", module="fc", params=20, trainable_params=20))
            >>> _ = g.add_edge("x", "fc", TensorMeta((1, 4), "float32"))
            >>> Graph.from_dict(g.to_dict()).to_dict() == g.to_dict()
            True
        """
        from ..errors import FileFormatError

        if not isinstance(d, dict) or d.get("kind", "graph") != "graph":
            what = d.get("kind") if isinstance(d, dict) else type(d).__name__
            raise FileFormatError(f"Graph.from_dict needs the to_dict() of a Graph, not of {what!r}.")
        missing = [k for k in ("name", "method", "nodes", "edges") if k not in d]
        if missing:
            raise FileFormatError(f"This graph dict lacks {', '.join(map(repr, missing))}; "
                                  "it is not the to_dict() of a Graph.")

        def meta(t: dict | None) -> TensorMeta:
            t = t or {}
            shape = t.get("shape")
            return TensorMeta(None if shape is None else tuple(shape), t.get("dtype"))

        try:
            g = cls(d["name"], d["method"], total_params=d.get("total_params"),
                    trainable_params=d.get("trainable_params"))
            # groups first, in their order (adding nodes only fills in missing ancestors)
            g.groups = {gr["path"]: Group(gr["path"], gr["type"], gr.get("params", 0), gr.get("trainable_params", 0))
                        for gr in d.get("groups", [])}
            g.groups.setdefault("", Group("", d["name"]))
            for n in d["nodes"]:
                g.add_node(Node(n["id"], n["kind"], n["label"], n["op"], group=n.get("group", ""),
                                module=n.get("module"), inputs=[meta(t) for t in n.get("inputs", [])],
                                outputs=[meta(t) for t in n.get("outputs", [])], params=n.get("params", 0),
                                trainable_params=n.get("trainable_params", 0), attrs=dict(n.get("attrs") or {})))
            for e in d["edges"]:
                g.add_edge(e["src"], e["dst"], meta(e))
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"This graph dict is not the to_dict() of a Graph: {exc!r} in a node, edge "
                                  "or group.") from None
        return g

    # -- building ------------------------------------------------------------------
    def add_node(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id!r}")
        self.nodes[node.id] = node
        groups = self.groups
        for path in _ancestors(node.group):
            if path not in groups:  # (a Group made only where one is missing)
                groups[path] = Group(path, "Module")
        return node

    def add_edge(self, src: str, dst: str, tensor: TensorMeta | None = None) -> Edge:
        edge = Edge(src, dst, tensor or TensorMeta())
        self.edges.append(edge)
        return edge

    def set_group(self, path: str, type: str, params: int = 0, trainable_params: int = 0) -> None:
        """Record a module's type and parameter counts (for the boxes and collapsed nodes)."""
        for p in _ancestors(path)[:-1]:
            self.groups.setdefault(p, Group(p, "Module"))
        self.groups[path] = Group(path, type, params, trainable_params)

    # -- facts ---------------------------------------------------------------------
    @property
    def total_params(self) -> int:
        """Parameters of the model, each counted once (shared weights too)."""
        if self._total_params is not None:
            return self._total_params
        return sum(n.params for n in self.nodes.values())

    @property
    def trainable_params(self) -> int:
        if self._trainable_params is not None:
            return self._trainable_params
        return sum(n.trainable_params for n in self.nodes.values())

    def mark_shared_params(self, model: Any) -> None:
        """Count every parameter tensor once, at the first node that uses it: a later node
        whose module (or parameter) holds tensors already counted -- a tied weight, a module
        called twice -- keeps only its own, and says what it shares in ``attrs``
        (``shared_params``: how many, ``shares_with``: the node that counts them). Afterwards
        the nodes' parameters add up to the model's unique parameters."""
        if not hasattr(model, "named_parameters"):
            return
        if self._total_params is not None and sum(n.params for n in self.nodes.values()) == self._total_params:
            return  # the nodes already add up to the unique total: nothing is counted twice
        paths = [n.module for n in self.nodes.values() if n.kind == "module" and n.module]
        if not _has_tied_params(model) and len(set(paths)) == len(paths):
            return  # nothing is used twice
        named = dict(model.named_parameters())
        modules = dict(model.named_modules())
        owner: dict[int, str] = {}
        for node in self.nodes.values():
            tensors = _node_tensors(modules, named, node)
            shared = [p for p in tensors if id(p) in owner]
            if shared:
                n = sum(p.numel() for p in shared)
                node.params = max(node.params - n, 0)
                node.trainable_params = max(node.trainable_params - sum(p.numel() for p in shared if p.requires_grad), 0)
                node.attrs["shared_params"] = n
                node.attrs["shares_with"] = owner[id(shared[0])]
            for p in tensors:
                owner.setdefault(id(p), node.id)

    def name_outputs(self, paths: list[str] | None) -> None:
        """Label the output nodes (in order) with the key paths of a structured output
        (``{"logits": ..., "embedding": ...}`` -> ``logits``, ``embedding``); nothing changes
        when ``paths`` is None (a plain tensor or tuple) or does not match the outputs."""
        outs = [n for n in self.nodes.values() if n.kind == "output"]
        if not paths or len(paths) != len(outs):
            return
        for node, path in zip(outs, paths):
            node.label = path
            node.attrs["key"] = path

    def find(self, text: str) -> list[Node]:
        """Nodes whose id, label, op or module name contains ``text`` (case-insensitive)."""
        t = text.lower()
        return [n for n in self.nodes.values()
                if t in n.id.lower() or t in n.label.lower() or t in n.op.lower() or t in (n.module or "").lower()]

    def modules(self) -> list[Node]:
        """The module nodes, in execution order."""
        return [n for n in self.nodes.values() if n.kind == "module"]

    # -- views ---------------------------------------------------------------------
    def view(self, depth: int | None = None, *, expand: Iterable[str] = (), collapse: Iterable[str] = (),
             fold_repeats: bool = False) -> GraphView:
        """The graph visible at one expansion state.

        ``depth=d`` shows modules down to ``d`` levels below the model: a group at level
        ``d`` is drawn as one node and its contents are hidden (``depth=1``: the model's
        direct children as boxes, as in torchview); ``expand`` and ``collapse`` name groups to open or close on top of
        that; ``fold_repeats`` folds chains of identical sibling blocks (12 transformer
        layers) into one node marked ×12.
        """
        with paused_gc():  # (a view of a big model allocates tens of thousands of objects)
            return self._view(depth, set(expand), set(collapse), fold_repeats)

    def _view(self, depth: int | None, expand: set[str], collapse: set[str], fold_repeats: bool) -> GraphView:
        unknown = (expand | collapse) - set(self.groups)
        if unknown:
            from ..errors import LayerNotFoundError

            raise LayerNotFoundError(sorted(unknown)[0], [p for p in self.groups if p], what="group")
        # the rules themselves are web/src/graph/view.js, the viewer's too (engine.py runs them)
        from .engine import run_view_js

        nodes = list(self.nodes.values())
        index = {n.id: i for i, n in enumerate(nodes)}
        folds = self._repeat_runs(set()) if fold_repeats else {}
        graph = {"groups": [p for p in self.groups if p], "nodeGroup": [n.group for n in nodes],
                 "src": [index.get(e.src, -1) for e in self.edges], "dst": [index.get(e.dst, -1) for e in self.edges],
                 "folds": [{"first": first, "count": count, "paths": list(run)} for first, (_, count, run) in folds.items()]}
        state = {"depth": depth, "expand": sorted(expand), "collapse": sorted(collapse), "foldRepeats": fold_repeats}
        out = run_view_js(graph, state)
        shown_nodes, shown_edges = out["nodes"], out["edges"]
        members: list[list[str]] = [[] for _ in shown_nodes["first"]]
        for node, r in zip(nodes, out["rep"]):
            members[r].append(node.id)
        shown = [self._view_node(nodes[first], group, repeat, m)
                 for first, group, repeat, m in zip(shown_nodes["first"], shown_nodes["group"], shown_nodes["repeat"], members)]
        edges = [ViewEdge(shown[s].id, shown[d].id, self.edges[first].tensor, count)
                 for s, d, first, count in zip(shown_edges["src"], shown_edges["dst"], shown_edges["first"], shown_edges["count"])]
        # boundary shapes of collapsed groups: what flows in and out
        for v, k in zip(out["inputs"]["node"], out["inputs"]["edge"]):
            shown[v].inputs.append(edges[k].tensor)
        for v, k in zip(out["outputs"]["node"], out["outputs"]["edge"]):
            shown[v].outputs.append(edges[k].tensor)
        clusters = [Cluster(p, self.groups[p].type, self.groups[p].parent, self.groups[p].params) for p in out["clusters"]]
        return GraphView(self.name, shown, edges, clusters)

    def _view_node(self, node: Node, group: str | None, repeat: int, members: list[str]) -> ViewNode:
        """A drawn node whose first member is ``node``: ``node`` itself, or the collapsed ``group``
        (standing for ``repeat`` identical blocks)."""
        if group is None:
            return ViewNode(node.id, node.kind, node.label, node.op, node.group, node.inputs, node.outputs,
                            node.params, node.trainable_params, node.attrs, members=members)
        g = self.groups[group]
        return ViewNode(group_node_id(group), "group", group.rsplit(".", 1)[-1] if group else self.name, g.type,
                        g.parent or "", [], [], g.params * repeat, g.trainable_params * repeat, {}, collapsed=group,
                        repeat=repeat, members=members)

    def _repeat_runs(self, collapsed: set[str]) -> dict[str, tuple[str, int, list[str]]]:
        """Chains of sibling groups with the same structure, each feeding the next.

        Returns ``{first_path: (signature, count, [paths...])}`` for runs of two or more.
        """
        sig = self._signatures()
        children: dict[str, list[str]] = {}
        order = {}
        for i, n in enumerate(self.nodes.values()):
            for p in _ancestors(n.group):
                order.setdefault(p, i)
        for p, g in self.groups.items():
            if p and p in order:
                children.setdefault(g.parent or "", []).append(p)
        flows = set()
        owner = {n.id: n.group for n in self.nodes.values()}
        for e in self.edges:
            a, b = owner.get(e.src, ""), owner.get(e.dst, "")
            for pa in _ancestors(a):
                for pb in _ancestors(b):
                    if pa != pb:
                        flows.add((pa, pb))
        runs = {}
        for parent, kids in children.items():
            kids.sort(key=lambda p: order[p])
            i = 0
            while i < len(kids):
                j = i
                while (j + 1 < len(kids) and sig[kids[j + 1]] == sig[kids[i]]
                       and (kids[j], kids[j + 1]) in flows):
                    j += 1
                if j > i:
                    runs[kids[i]] = (sig[kids[i]], j - i + 1, kids[i:j + 1])
                i = j + 1
        return runs

    def _signatures(self) -> dict[str, str]:
        """A structural hash per group: type, params and the ops inside, in order."""
        inside: dict[str, list[str]] = {p: [] for p in self.groups}
        for n in self.nodes.values():
            for p in _ancestors(n.group):
                rel = n.group[len(p):]
                inside[p].append(f"{rel}|{n.kind}|{n.op}|{n.params}|"
                                 + ",".join(t.shape_text() for t in n.outputs))
        return {p: hashlib.sha1((g.type + str(g.params) + "\n".join(inside[p])).encode()).hexdigest()
                for p, g in self.groups.items()}

    # -- Result protocol -----------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "method": self.method,
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "nodes": [n.to_dict() for n in self.nodes.values()],
                "edges": [e.to_dict() for e in self.edges],
                "groups": [g.to_dict() for g in self.groups.values()]}

    def _title(self) -> str:
        return f"{self.name} ({self.method}, {self.total_params:,} parameters)"

    def to_html(self, depth: int | None = None, title: str | None = None) -> str:
        """The standalone interactive viewer page (see :func:`~neuralscope.graph.render_html.render_html`)."""
        from .render_html import render_html

        return render_html(self, depth=depth, title=title)

    def _repr_html_(self) -> str:
        """The interactive viewer inside an ``<iframe srcdoc>`` (notebook CSS/JS cannot clash)."""
        from .render_html import iframe_html, render_html

        return iframe_html(render_html(self))

    # -- static renderers (layout.py, render_svg.py, render_text.py) ------------------
    def _static_view(self, depth: int | None = None, expand: Iterable[str] = (), collapse: Iterable[str] = (),
                     fold_repeats: bool | None = None) -> GraphView:
        if depth is None:
            depth = getattr(self, "default_depth", None)
        if fold_repeats is None:
            fold_repeats = bool(getattr(self, "default_fold_repeats", False))
        return self.view(depth, expand=expand, collapse=collapse, fold_repeats=fold_repeats)

    def to_svg(self, depth: int | None = None, *, expand: Iterable[str] = (), collapse: Iterable[str] = (),
               fold_repeats: bool | None = None, title: str | None = None) -> str:
        """The graph as a standalone SVG document (layered layout, no Graphviz needed).

        Example:
            >>> g = Graph("tiny", method="manual")
            >>> _ = g.add_node(Node("x", "input", "x", "input"))
            >>> g.to_svg().startswith("<svg")
            True
        """
        from .render_svg import render_svg

        return render_svg(self._static_view(depth, expand, collapse, fold_repeats), title=title or self._title())

    def to_dot(self, depth: int | None = None, *, expand: Iterable[str] = (), collapse: Iterable[str] = (),
               fold_repeats: bool | None = None) -> str:
        """Graphviz DOT source, one ``subgraph cluster_N`` per expanded module."""
        from .render_text import render_dot

        return render_dot(self._static_view(depth, expand, collapse, fold_repeats))

    def to_mermaid(self, depth: int | None = None, *, expand: Iterable[str] = (), collapse: Iterable[str] = (),
                   fold_repeats: bool | None = None) -> str:
        """Mermaid ``flowchart TB`` text, one ``subgraph`` per expanded module."""
        from .render_text import render_mermaid

        return render_mermaid(self._static_view(depth, expand, collapse, fold_repeats))

    def plot(self, ax=None, depth: int | None = None, *, expand: Iterable[str] = (), collapse: Iterable[str] = (),
             fold_repeats: bool | None = None, title: str | None = None):
        """Draw the graph with matplotlib (same layout and colours as the SVG); returns the Axes.

        Example:
            >>> g = Graph("tiny", method="manual")
            >>> _ = g.add_node(Node("x", "input", "x", "input"))
            >>> ax = g.plot()
        """
        from .layout import layout
        from .render_svg import plot_layout

        return plot_layout(layout(self._static_view(depth, expand, collapse, fold_repeats)), ax, title=title)

    def save(self, path: str | Path, dpi: int = 130, **kwargs) -> Path:
        """Save to ``path``; the suffix picks the format: ``.svg .png .pdf .html .dot .gv .mmd
        .json``. ``depth=``, ``expand=``, ``collapse=``, ``fold_repeats=`` choose what is drawn.

        Example:
            >>> import tempfile, os
            >>> g = Graph("tiny", method="manual")
            >>> _ = g.add_node(Node("x", "input", "x", "input"))
            >>> g.save(os.path.join(tempfile.mkdtemp(), "tiny.dot")).suffix
            '.dot'
        """
        self._save_options = dict(kwargs, dpi=dpi)
        try:
            return super().save(path, dpi=dpi, **kwargs)
        finally:
            self._save_options = {}

    def _save_native(self, path: Path) -> bool:
        opts = dict(getattr(self, "_save_options", None) or {})
        dpi = opts.pop("dpi", 130)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.to_svg(**opts), encoding="utf-8")
        elif suffix in (".dot", ".gv"):
            opts.pop("title", None)
            path.write_text(self.to_dot(**opts), encoding="utf-8")
        elif suffix in (".mmd", ".mermaid"):
            opts.pop("title", None)
            path.write_text(self.to_mermaid(**opts), encoding="utf-8")
        elif suffix == ".png":
            import matplotlib.pyplot as plt

            fig = self.figure(**opts)
            fig.savefig(path, dpi=dpi, facecolor="white")
            plt.close(fig)
        elif suffix == ".json":
            path.write_text(self.to_json(), encoding="utf-8")
        elif suffix in (".html", ".htm"):
            from .render_html import render_html

            path.write_text(render_html(self, depth=opts.get("depth"), title=opts.get("title"),
                                        fold_repeats=bool(opts.get("fold_repeats", getattr(self, "default_fold_repeats", False)))), encoding="utf-8")
        else:
            return False
        return True

    def save_formats(self) -> set[str]:
        return super().save_formats() | {".dot", ".gv", ".mmd", ".mermaid"}

    def __repr__(self) -> str:
        return (f"Graph({self.name!r}, method={self.method!r}, nodes={len(self.nodes)}, "
                f"edges={len(self.edges)}, groups={len(self.groups) - 1}, params={self.total_params:,})")
