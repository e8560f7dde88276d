"""The browser bundles that the standalone HTML exports embed: ``neuralscope.js`` (head view,
embedding scatter, animation player, loss landscape) and ``graph-viewer.js`` (the graph viewer).

The JavaScript lives in ``web/src/standalone/``, ``web/src/draw/`` and ``web/src/graph/`` and is
built by the same vite toolchain as the dashboard (``web/build.sh``, run by ``make setup``)
into ``server/static/standalone/``; this module only inlines those files, so every export is
still one offline HTML file. A page writes its markup and one JSON data element
per interactive part (:func:`mount`); the bundle finds the data elements and draws.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import NeuralscopeError
from .result import script_json

BUNDLE = Path(__file__).with_name("server") / "static" / "standalone" / "neuralscope.js"
GRAPH_VIEWER = BUNDLE.with_name("graph-viewer.js")
PARTS = ("head-view", "embedding", "animation", "landscape")


class BundleNotBuiltError(NeuralscopeError, FileNotFoundError):
    """The browser bundle has not been built (a source checkout before ``make setup``)."""


def bundle_js(path: Path = BUNDLE) -> str:
    """The built bundle's text (``path``: :data:`BUNDLE` or :data:`GRAPH_VIEWER`), safe inside a
    ``<script>`` element.

    Example:
        >>> "mountAll" in bundle_js()
        True
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleNotBuiltError(f"The browser bundle {path} is not built; run `make setup` (or `sh web/build.sh`) "
                                  "in the neuralscope source tree.") from None
    # a "</script" or "<!--" in the minified code would end or change the element: escape the "<"
    return re.sub(r"<(?=/script|!--)", r"\\x3c", text, flags=re.IGNORECASE)


def mount(part: str, root_id: str, data: Any) -> str:
    """HTML that draws ``part`` into the element with id ``root_id`` (written before it) from
    ``data``: the JSON data element and the inlined bundle.

    Example:
        >>> html = mount("animation", "a1", {"frames": [], "labels": [], "fps": 2})
        >>> html.startswith('<script type="application/json" data-ns-mount="animation" data-ns-root="a1">')
        True
    """
    if part not in PARTS:
        raise ValueError(f"Unknown interactive part {part!r}; the bundle draws {', '.join(PARTS)}.")
    if not re.fullmatch(r"[A-Za-z][\w-]*", root_id):
        raise ValueError(f"The root id {root_id!r} must be a letter followed by letters, digits, '_' or '-'.")
    return (f'<script type="application/json" data-ns-mount="{part}" data-ns-root="{root_id}">{script_json(data, separators=(",", ":"))}'
            f"</script><script>{bundle_js()}</script>")
