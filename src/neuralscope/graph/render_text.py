"""Text renderers of a :class:`GraphView`: Graphviz DOT and Mermaid flowcharts.

Both keep the module hierarchy: expanded groups become DOT ``subgraph cluster_N`` blocks and
Mermaid ``subgraph`` blocks, nested as the modules are. Node ids are generated (``n0``,
``n1``...) so that any module name is safe; the real names are in the labels.

Example:
    >>> from neuralscope.graph.layout import synthetic_graph
    >>> view = synthetic_graph(16, blocks_per_stage=2).view()
    >>> render_dot(view).startswith("digraph")
    True
    >>> render_mermaid(view).splitlines()[0]
    'flowchart TB'
"""
from __future__ import annotations

from .layout import cluster_title, node_family, node_lines, shape_text
from .model import GraphView
from .render_svg import PALETTE


def _cluster_tree(view: GraphView):
    """(children clusters per parent path, member nodes per cluster path), root = ""."""
    paths = {c.path for c in view.clusters}

    def home(path: str) -> str:
        while path and path not in paths:
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return path

    kids: dict[str, list] = {"": []}
    for c in view.clusters:
        kids.setdefault(c.path, [])
        kids.setdefault(home(c.parent or ""), []).append(c)
    members: dict[str, list[int]] = {p: [] for p in kids}
    for i, n in enumerate(view.nodes):
        members.setdefault(home(n.group), []).append(i)
    return kids, members


# -- DOT ------------------------------------------------------------------------------------

def _dot_str(text: str) -> str:
    """A DOT double-quoted string (backslash and quote escaped, newlines as \\n)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(view: GraphView, *, rankdir: str = "TB", edge_labels: bool = True) -> str:
    """Graphviz DOT source of ``view``: one ``subgraph cluster_N`` per expanded group.

    Example:
        >>> from neuralscope.graph.model import Graph, Node
        >>> g = Graph("m", method="manual")
        >>> _ = g.add_node(Node("a", "op", "add", "add"))
        >>> "n0 [" in render_dot(g.view())
        True
    """
    kids, members = _cluster_tree(view)
    ids = {n.id: f"n{i}" for i, n in enumerate(view.nodes)}
    out = [f"digraph {_dot_str(view.name)} {{",
           f"  rankdir={rankdir};",
           '  graph [fontname="Helvetica", fontsize=11, newrank=true, nodesep=0.3, ranksep=0.35];',
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1.2];',
           '  edge [fontname="Helvetica", fontsize=9, color="#64748b", arrowsize=0.7];']
    counter = [0]

    def emit_nodes(path: str, indent: str):
        for i in members.get(path, ()):
            n = view.nodes[i]
            title, sub = node_lines(n)
            fill, stroke, ink = PALETTE[node_family(n)]
            label = title + ("\n" + sub if sub else "")
            extra = ', peripheries=2' if n.repeat > 1 else ""
            out.append(f"{indent}{ids[n.id]} [label={_dot_str(label)}, tooltip={_dot_str(n.id)}, "
                       f'fillcolor="{fill}", color="{stroke}", fontcolor="{ink}"{extra}];')
        for c in kids.get(path, ()):
            k = counter[0]
            counter[0] += 1
            out.append(f"{indent}subgraph cluster_{k} {{")
            out.append(f"{indent}  label={_dot_str(cluster_title(c.path, c.type))}; labeljust=l;")
            out.append(f'{indent}  style="rounded,filled"; fillcolor="#f8fafc"; color="#cbd5e1";')
            emit_nodes(c.path, indent + "  ")
            out.append(f"{indent}}}")

    emit_nodes("", "  ")
    for e in view.edges:
        if e.src not in ids or e.dst not in ids:
            continue
        attrs = []
        if edge_labels and e.tensor.shape is not None:
            attrs.append(f"label={_dot_str(shape_text(e.tensor))}")
        if e.count > 1:
            attrs.append(f"penwidth={min(1 + 0.5 * (e.count - 1), 4):.1f}")
        out.append(f"  {ids[e.src]} -> {ids[e.dst]}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid ------------------------------------------------------------------------------------

_MERMAID_ESCAPES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "&": "#amp;"}


def _mm(text: str) -> str:
    """Text safe inside a Mermaid double-quoted label (entity codes for special characters)."""
    out = []
    for ch in text:
        out.append(_MERMAID_ESCAPES.get(ch, ch))
    return "".join(out).replace("\n", "<br/>")


def render_mermaid(view: GraphView, *, direction: str = "TB", edge_labels: bool = True) -> str:
    """Mermaid ``flowchart`` text of ``view`` with one ``subgraph`` per expanded group.

    Example:
        >>> from neuralscope.graph.model import Graph, Node
        >>> g = Graph("m", method="manual")
        >>> _ = g.add_node(Node("a", "op", "add", "add"))
        >>> print(render_mermaid(g.view()).splitlines()[1].strip())
        n0(["add"]):::op
    """
    kids, members = _cluster_tree(view)
    ids = {n.id: f"n{i}" for i, n in enumerate(view.nodes)}
    out = [f"flowchart {direction}"]
    used: set[str] = set()
    counter = [0]

    def emit(path: str, indent: str):
        for i in members.get(path, ()):
            n = view.nodes[i]
            title, sub = node_lines(n)
            fam = node_family(n)
            used.add(fam)
            label = _mm(title + ("\n" + sub if sub else ""))
            if n.kind in ("input", "output", "op"):
                shape = f'(["{label}"])'
            elif n.kind == "group":
                shape = f'[["{label}"]]'
            else:
                shape = f'["{label}"]'
            out.append(f"{indent}{ids[n.id]}{shape}:::{fam}")
        for c in kids.get(path, ()):
            k = counter[0]
            counter[0] += 1
            out.append(f'{indent}subgraph c{k}["{_mm(cluster_title(c.path, c.type))}"]')
            out.append(f"{indent}  direction {direction}")
            emit(c.path, indent + "  ")
            out.append(f"{indent}end")

    emit("", "  ")
    for e in view.edges:
        if e.src not in ids or e.dst not in ids:
            continue
        if edge_labels and e.tensor.shape is not None:
            out.append(f'  {ids[e.src]} -->|"{_mm(shape_text(e.tensor))}"| {ids[e.dst]}')
        else:
            out.append(f"  {ids[e.src]} --> {ids[e.dst]}")
    for fam in sorted(used):
        fill, stroke, ink = PALETTE[fam]
        out.append(f"  classDef {fam} fill:{fill},stroke:{stroke},color:{ink}")
    return "\n".join(out) + "\n"
