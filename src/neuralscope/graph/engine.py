"""The graph's JavaScript, run in an embedded V8 (the ``mini-racer`` wheel; no system binary).

``web/src/graph/view.js`` (which nodes, edges and groups are drawn at one expansion state)
and ``web/src/graph/layout.js`` (where they go) are the one copy of the graph's visibility
rules and layout: the interactive viewer imports them in the browser, and ``Graph.view`` and
the static renderers call them here, from the built ``server/static/standalone/graph-layout.js``
(vite mode ``layout``, built by ``web/build.sh``, global ``neuralscope``). Calls speak JSON both
ways; numbers come back exact (shortest round-trip decimals).
"""
from __future__ import annotations

import json
import os
import threading

from ..errors import NeuralscopeError
from ..webbundle import BUNDLE, BundleNotBuiltError

ENGINE_BUNDLE = BUNDLE.with_name("graph-layout.js")
_ENGINE: dict = {}
_ENGINE_LOCK = threading.Lock()  # a V8 context runs one call at a time


class EngineForkedError(NeuralscopeError, RuntimeError):
    """The graph engine was started before this process was forked from its parent."""


def layout_engine():
    """The process's V8 context with the built graph modules loaded (global ``neuralscope``),
    made on first use. V8 does not survive a fork: a child forked after its parent made the
    context gets :class:`EngineForkedError` (measured: with the parent's context it hung, with
    a new one it aborted).

    Example:
        >>> layout_engine() is layout_engine()
        True
    """
    with _ENGINE_LOCK:
        if _ENGINE and _ENGINE["pid"] != os.getpid():
            raise EngineForkedError("This process was forked after its parent had started the graph engine (V8), which "
                                    "cannot run in a forked child; draw the graph in the parent, or start workers with "
                                    "the 'spawn' method.")
        ctx = _ENGINE.get("ctx")
        if ctx is None:
            try:
                code = ENGINE_BUNDLE.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise BundleNotBuiltError(f"The graph layout {ENGINE_BUNDLE} is not built; run `make setup` (or "
                                          "`sh web/build.sh`) in the neuralscope source tree.") from None
            from py_mini_racer import MiniRacer

            ctx = MiniRacer()
            ctx.eval(code)
            _ENGINE.update(ctx=ctx, pid=os.getpid())
        return ctx


def call_json(function: str, args: dict) -> dict:
    """``neuralscope.<function>(JSON text of args)`` in the engine, its JSON answer parsed."""
    ctx = layout_engine()
    text = json.dumps(args, separators=(",", ":"))
    with _ENGINE_LOCK:
        return json.loads(ctx.call(f"neuralscope.{function}", text))


def run_layout_js(graph: dict, options: dict) -> dict:
    """``layOutGraph(graph, options)`` of ``web/src/graph/layout.js`` (see there for both shapes).

    Example:
        >>> g = {"nodes": {"home": [-1, -1], "w": [60, 60], "h": [24, 24]}, "clusters": {"parent": [], "titleWidth": []},
        ...      "edges": {"src": [0], "dst": [1], "label": [""], "labelWidth": [0]}}
        >>> out = run_layout_js(g, {})
        >>> out["nodeY"], out["edgePoints"]
        ([12, 70], [[30, 24, 30, 58]])
    """
    return call_json("layOutGraphJSON", {"graph": graph, "options": options})


def run_view_js(graph: dict, state: dict) -> dict:
    """``visibleGraph(graph, state)`` of ``web/src/graph/view.js`` (see there for both shapes).

    Example:
        >>> g = {"groups": ["a"], "nodeGroup": ["", "a", "a"], "src": [0, 1], "dst": [1, 2], "folds": []}
        >>> out = run_view_js(g, {"depth": 1})
        >>> out["rep"], out["edges"], out["inputs"], out["clusters"]
        ([0, 1, 1], {'src': [0], 'dst': [1], 'first': [0], 'count': [1]}, {'node': [1], 'edge': [0]}, [])
    """
    return call_json("visibleGraphJSON", {"graph": graph, "state": state})
