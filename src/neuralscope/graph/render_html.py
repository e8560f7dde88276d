"""The standalone interactive HTML viewer for a :class:`~neuralscope.graph.model.Graph`.

One self-contained file: the graph's ``to_dict()`` JSON, the viewer's JavaScript (written for
neuralscope in ``web/src/graph/viewer.js``, built by vite with the dashboard; see
:mod:`neuralscope.webbundle`) and CSS (``assets/viewer.css``) are inlined; no CDN, no network,
works offline and inside a notebook ``<iframe srcdoc>``.

The browser lays the graph out itself (a compound layered layout computed for the current
expansion state, so a collapsed group's inside is never laid out) and offers pan and zoom,
click-to-expand/collapse of groups, hover tooltips with shapes and parameters, search by name
or type, depth buttons and folding of repeated blocks.
"""
from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable

from ..result import jsonable
from ..webbundle import GRAPH_VIEWER, bundle_js
from .layout import node_family
from .model import Graph

ASSETS = Path(__file__).with_name("assets")

#: With ``depth=None`` a graph with more nodes than this opens collapsed to the deepest level
#: that shows at most this many nodes (the user expands the rest in the page).
AUTO_DEPTH_NODES = 400


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def visible_count(graph: Graph, depth: int | None) -> int:
    """How many nodes :meth:`Graph.view` shows at ``depth`` (without building the view)."""
    if depth is None:
        return len(graph.nodes)
    seen: set[str] = set()
    count = 0
    for n in graph.nodes.values():
        parts = n.group.split(".") if n.group else []
        if len(parts) < depth:
            count += 1
        else:
            key = ".".join(parts[:depth])
            if key not in seen:
                seen.add(key)
                count += 1
    return count


def auto_depth(graph: Graph, limit: int = AUTO_DEPTH_NODES) -> int | None:
    """The deepest expansion level that shows at most ``limit`` nodes (``None``: all of it)."""
    if len(graph.nodes) <= limit:
        return None
    max_depth = max((g.depth for g in graph.groups.values()), default=0)
    for d in range(max_depth, 0, -1):
        if visible_count(graph, d) <= limit:
            return d
    return 1


def _default(value):
    converted = jsonable(value)
    if converted is value:
        return str(value)
    return converted


def _script_json(data: dict) -> str:
    """JSON that is safe inside a ``<script>`` element (numpy values, tensors and odd attribute
    objects converted; NaN/Inf become null)."""
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:  # a NaN or Inf somewhere: take the slow path that maps them to null
        text = json.dumps(jsonable(data), separators=(",", ":"), allow_nan=False, default=_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


#: attribute values longer than this (as JSON) are shortened in the page; the tooltip shows
#: less anyway, and a model file's big constant arrays would otherwise bloat the file
ATTR_MAX_CHARS = 300


def _short_attr(value):
    if isinstance(value, (bool, int, float, type(None))):
        return value
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=_default)
        except (TypeError, ValueError):
            text = str(value)
        if len(text) <= ATTR_MAX_CHARS:
            return json.loads(text)
    return text if len(text) <= ATTR_MAX_CHARS else text[:ATTR_MAX_CHARS - 1] + "…"


def viewer_data(graph: Graph, depth: int | None = None, title: str | None = None,
                fold_repeats: bool = False, expand: Iterable[str] = (), collapse: Iterable[str] = ()) -> dict:
    """The data the page inlines: ``graph.to_dict()`` with each node's colour family
    (:func:`~neuralscope.graph.layout.node_family`), the repeated-block folds (the same rule as
    ``Graph.view(fold_repeats=True)``) and the initial view options."""
    data = graph.to_dict()
    for node in data["nodes"]:
        if node.get("attrs"):
            node["attrs"] = {str(k): _short_attr(v) for k, v in node["attrs"].items()}
        # the colour family, by the one rule the static renderers use (the viewer only draws it)
        node["family"] = node_family(SimpleNamespace(kind=node.get("kind"), op=node.get("op")))
    runs = graph._repeat_runs(set())
    data["folds"] = [{"first": first, "count": count, "paths": list(paths)}
                     for first, (_, count, paths) in runs.items()]
    data["options"] = {"depth": depth, "title": title or graph.name, "fold_repeats": bool(fold_repeats),
                       "expand": sorted(expand), "collapse": sorted(collapse)}
    return data


def render_html(graph: Graph, depth: int | None = None, title: str | None = None, *,
                fold_repeats: bool = False, expand: Iterable[str] = (), collapse: Iterable[str] = ()) -> str:
    """A single self-contained HTML page with the interactive graph viewer.

    ``depth`` is the initial expansion level (as in :meth:`Graph.view`: ``depth=1`` shows the
    model's direct children as collapsed nodes); ``None`` takes ``graph.default_depth`` (set by
    ``graph(..., depth=)``), else shows everything for graphs up to ``AUTO_DEPTH_NODES`` nodes
    and otherwise the deepest level that stays under that. In the
    page: drag to pan, wheel or the buttons to zoom, click a box's title to collapse it and a
    collapsed node to expand it, hover for shapes and parameters, ``/`` to search.
    ``fold_repeats`` starts with chains of identical blocks folded into one ``×N`` node;
    ``expand`` and ``collapse`` name groups to open or close on top of ``depth`` (as in
    :meth:`Graph.view`).

    Example:
        >>> from neuralscope.graph.model import Graph, Node, TensorMeta
        >>> g = Graph("tiny", method="manual")
        >>> _ = g.add_node(Node("x", "input", "x", "input", outputs=[TensorMeta((1, 4), "float32")]))
        >>> _ = g.add_node(Node("fc", "module", "fc", "Linear", module="fc", params=20, trainable_params=20))
        >>> _ = g.add_edge("x", "fc", TensorMeta((1, 4), "float32"))
        >>> page = render_html(g)
        >>> page.startswith("<!doctype html>") and "neuralscopeGraph" in page
        True
    """
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a positive integer or None, not {depth!r}")
    if depth is None:
        depth = getattr(graph, "default_depth", None)
    if depth is None:
        depth = auto_depth(graph)
    expand, collapse = set(expand), set(collapse)
    unknown = (expand | collapse) - set(graph.groups)
    if unknown:
        from ..errors import LayerNotFoundError

        raise LayerNotFoundError(sorted(unknown)[0], [p for p in graph.groups if p], what="group")
    title = title or graph.name
    data = viewer_data(graph, depth, title, fold_repeats, expand, collapse)
    return PAGE.format(
        title=html.escape(title), css=_asset("viewer.css"), js=bundle_js(GRAPH_VIEWER),
        csp=html.escape(content_security_policy(), quote=True),
        data=_script_json(data), name=html.escape(graph.name),
    )


def content_security_policy() -> str:
    """The page's Content-Security-Policy: only the viewer's own inline script (by its
    SHA-256) runs, so markup that a crafted graph might smuggle in runs nothing; no network.

    Example:
        >>> content_security_policy().startswith("default-src 'none'; script-src 'sha256-")
        True
    """
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(bundle_js(GRAPH_VIEWER).encode("utf-8")).digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
            "img-src data: blob:; base-uri 'none'; form-action 'none'")


def iframe_html(page: str, height: int = 620) -> str:
    """``page`` inside an ``<iframe srcdoc>``, so a notebook's CSS and JS cannot clash with it."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;'
            f'border:1px solid #d0d7de;border-radius:6px" sandbox="allow-scripts" loading="lazy"'
            f' title="neuralscope graph"></iframe>')


SEARCH_ICON = ('<svg width="15" height="15" viewBox="0 0 16 16" aria-hidden="true"><circle cx="7" cy="7" r="5" '
               'fill="none" stroke="#656d76" stroke-width="1.6"/><path d="M11 11l3.5 3.5" stroke="#656d76" '
               'stroke-width="1.6" stroke-linecap="round"/></svg>')

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="neuralscope">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{css}</style>
</head>
<body class="ns">
<div id="ns-app">
  <main id="ns-canvas">
    <svg id="ns-svg" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}">
      <defs><marker id="ns-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
        <path d="M0,1 L10,5 L0,9 z"/></marker></defs>
      <g id="ns-viewport"></g>
    </svg>
    <div id="ns-toolbar">
      <label class="ns-searchbox">""" + SEARCH_ICON.replace("{", "{{").replace("}", "}}") + """
        <input id="ns-search" type="search" placeholder="Search name or type  ( / )" autocomplete="off" spellcheck="false">
        <span id="ns-search-status"></span><div id="ns-results" role="listbox"></div></label>
      <div class="ns-btns"><button id="ns-zoom-out" type="button" title="Zoom out">&minus;</button><span id="ns-zoom-level">100%</span>
        <button id="ns-zoom-in" type="button" title="Zoom in">+</button><button id="ns-fit" type="button" title="Fit to screen">Fit</button>
        <button id="ns-export" type="button" title="Download the current view as an SVG file">SVG</button></div>
      <div class="ns-btns"><button id="ns-expand-all" type="button" title="Expand every group">Expand all</button>
        <button id="ns-collapse-all" type="button" title="Collapse to the top level">Collapse</button></div>
    </div>
    <div id="ns-tooltip" role="tooltip"></div>
    <div id="ns-empty">This graph has no nodes.</div>
  </main>
  <aside id="ns-panel">
    <h1 id="ns-title">{name}</h1>
    <div class="ns-brand">structure graph · <b>neuralscope</b></div>
    <table class="ns-kv" id="ns-totals"></table>
    <h2>View</h2>
    <div>Depth</div>
    <div id="ns-depth" style="margin-top:6px"></div>
    <label class="ns-row" id="ns-fold-row"><input type="checkbox" id="ns-fold"> Fold repeated blocks (&times;N)</label>
    <div id="ns-visible"></div>
    <h2>Legend</h2>
    <div id="ns-legend"></div>
    <h2>Selected</h2>
    <div id="ns-details"></div>
    <div class="ns-hint">Drag to pan, wheel to zoom. Click a box title to collapse it, a collapsed node to expand it.
      Hover nodes and edges for shapes. <kbd>/</kbd> search, <kbd>Enter</kbd> next match.</div>
  </aside>
</div>
<script type="application/json" id="ns-graph-data">{data}</script>
<script>{js}</script>
</body></html>
"""
