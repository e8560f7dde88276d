"""SVG rendering of a laid-out :class:`GraphView`.

Rounded boxes coloured by kind and op family, type + short name on the first line and the
output shape (and parameter count) on the second, smooth edges with arrowheads and shape
labels where they fit, expanded groups as titled boxes, ``<title>`` tooltips everywhere. The
output is a standalone, valid XML document with no external resources.

Example:
    >>> from neuralscope.graph.layout import synthetic_graph
    >>> svg = render_svg(synthetic_graph(30, blocks_per_stage=2).view())
    >>> svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    True
"""
from __future__ import annotations

import functools
from xml.sax.saxutils import escape

from .layout import (CLUSTER_TITLE_SIZE, FONT_FAMILY, LABEL_SIZE, SUB_SIZE, TITLE_SIZE, Layout,
                     LayoutOptions, layout, node_family, node_tooltip)
from ..gcpause import paused_gc
from .model import GraphView

#: fill, stroke, text colour per family
PALETTE: dict[str, tuple[str, str, str]] = {
    "input": ("#1e293b", "#0f172a", "#ffffff"),
    "output": ("#1e293b", "#0f172a", "#ffffff"),
    "conv": ("#dbeafe", "#3b82f6", "#0f172a"),
    "linear": ("#ede9fe", "#8b5cf6", "#0f172a"),
    "norm": ("#fef3c7", "#d97706", "#0f172a"),
    "activation": ("#dcfce7", "#16a34a", "#0f172a"),
    "pooling": ("#cffafe", "#0891b2", "#0f172a"),
    "attention": ("#fce7f3", "#db2777", "#0f172a"),
    "recurrent": ("#fee2e2", "#dc2626", "#0f172a"),
    "embedding": ("#e0e7ff", "#4f46e5", "#0f172a"),
    "dropout": ("#f3f4f6", "#9ca3af", "#374151"),
    "op": ("#f8fafc", "#94a3b8", "#1e293b"),
    "param": ("#fafaf9", "#a8a29e", "#44403c"),
    "group": ("#ffffff", "#475569", "#0f172a"),
}

CLUSTER_FILLS = ("#f8fafc", "#f1f5f9", "#eef2f7", "#e9eef5")
EDGE_COLOR = "#64748b"
MARGIN = 16.0


_F_TEXTS: dict[float, str] = {}  # coordinates repeat (chains, widths): each is formatted once


def _f(v: float) -> str:
    s = _F_TEXTS.get(v)
    if s is None:
        s = f"{v:.1f}".rstrip("0").rstrip(".")
        if v and v == v:  # (0.0 and -0.0 are one key but print apart; NaN is never found)
            if len(_F_TEXTS) > 200_000:
                _F_TEXTS.clear()
            _F_TEXTS[v] = s
    return s


def path_data(points) -> str:
    """SVG path data through ``points``: straight where vertical, smooth cubic S-curves with
    vertical tangents elsewhere (so edges leave and enter boxes vertically)."""
    pts = points.tolist() if hasattr(points, "tolist") else [(float(a), float(b)) for a, b in points]
    if not pts:
        return ""
    out = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if abs(x1 - x0) < 0.5 or y1 <= y0:
            if y1 <= y0 and abs(x1 - x0) >= 0.5:  # back edge: bulge sideways
                out.append(f"Q{_f(x1)},{_f(y0)} {_f(x1)},{_f(y1)}")
            else:
                out.append(f"L{_f(x1)},{_f(y1)}")
        else:
            ym = (y0 + y1) / 2
            out.append(f"C{_f(x0)},{_f(ym)} {_f(x1)},{_f(ym)} {_f(x1)},{_f(y1)}")
    return "".join(out)


_STYLE = f"""
.ns-graph text{{font-family:{FONT_FAMILY};}}
.ns-graph .t{{font-size:{TITLE_SIZE:g}px;font-weight:600;}}
.ns-graph .s{{font-size:{SUB_SIZE:g}px;opacity:.78;}}
.ns-graph .l{{font-size:{LABEL_SIZE:g}px;fill:#64748b;}}
.ns-graph .ct{{font-size:{CLUSTER_TITLE_SIZE:g}px;font-weight:600;fill:#475569;}}
.ns-graph .e{{fill:none;stroke:{EDGE_COLOR};stroke-width:1.3;}}
.ns-graph .eb{{fill:none;stroke:#b45309;stroke-width:1.3;stroke-dasharray:4 3;}}
.ns-graph .c{{stroke:#cbd5e1;stroke-width:1;}}
.ns-graph .n rect{{stroke-width:1.3;}}
"""


def render_svg(view: GraphView | None = None, *, lay: Layout | None = None,
               options: LayoutOptions | None = None, title: str | None = None) -> str:
    """The SVG document of ``view`` (or of an existing layout ``lay``).

    Example:
        >>> from neuralscope.graph.model import Graph, Node
        >>> g = Graph("m", method="manual")
        >>> _ = g.add_node(Node("a", "op", "add", "add"))
        >>> "<title>" in render_svg(g.view())
        True
    """
    if lay is None:
        if view is None:
            raise TypeError("render_svg needs a GraphView or a Layout")
        lay = layout(view, options)
    with paused_gc():
        return _svg(lay, title)


def _svg(lay: Layout, title: str | None) -> str:
    view = lay.view
    W, H = lay.width + 2 * MARGIN, lay.height + 2 * MARGIN
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ns-graph" width="{_f(W)}" height="{_f(H)}" '
        f'viewBox="{_f(-MARGIN)} {_f(-MARGIN)} {_f(W)} {_f(H)}" role="img" '
        f'aria-label="{escape(title or view.name, {chr(34): "&quot;"})}">',
        f"<title>{escape(title or view.name)}</title>",
        f"<style>{_STYLE}</style>",
        '<defs><marker id="ns-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,1L10,5L0,9z" fill="{EDGE_COLOR}"/>'
        "</marker></defs>",
        f'<rect x="{_f(-MARGIN)}" y="{_f(-MARGIN)}" width="{_f(W)}" height="{_f(H)}" fill="#ffffff"/>',
    ]
    # clusters, outermost first
    out.append('<g class="clusters">')
    for b in lay.clusters:
        fill = CLUSTER_FILLS[min(b.depth - 1, len(CLUSTER_FILLS) - 1)]
        tip = f"{b.path} ({b.type})" + (f"\nparams: {b.params:,}" if b.params else "")
        out.append(
            f'<g class="c" data-path="{escape(b.path, {chr(34): "&quot;"})}"><title>{escape(tip)}</title>'
            f'<rect x="{_f(b.x0)}" y="{_f(b.y0)}" width="{_f(b.x1 - b.x0)}" height="{_f(b.y1 - b.y0)}" '
            f'rx="8" fill="{fill}"/>'
            f'<text class="ct" x="{_f(b.x0 + 8)}" y="{_f(b.y0 + 13)}">{escape(b.title)}</text></g>')
    out.append("</g>")
    # edges
    out.append('<g class="edges">')
    for r in lay.edges:
        if len(r.points) < 2:
            continue
        cls = "eb" if r.back else "e"
        tip = f"{r.src} → {r.dst}" + (f"\n{r.label}" if r.label else "") + (f" ×{r.count}" if r.count > 1 else "")
        width = "" if r.count == 1 else f' style="stroke-width:{min(1.3 + 0.5 * (r.count - 1), 4):.1f}"'
        out.append(f'<path class="{cls}"{width} d="{path_data(r.points)}" marker-end="url(#ns-arrow)">'
                   f"<title>{escape(tip)}</title></path>")
    seen: set[tuple[int, int, str]] = set()
    for r in lay.edges:
        if r.label_pos is not None:
            key = (round(r.label_pos[0]), round(r.label_pos[1]), r.label)
            if key in seen:
                continue
            seen.add(key)
            out.append(f'<text class="l" x="{_f(r.label_pos[0])}" y="{_f(r.label_pos[1])}">{escape(r.label)}</text>')
    out.append("</g>")
    # nodes
    out.append('<g class="nodes">')
    for i, node in enumerate(view.nodes):
        (x, y), (w, h) = lay.xy[i], lay.size[i]
        fam = node_family(node)
        fill, stroke, ink = PALETTE[fam]
        title, sub = lay.lines[i]
        x0, y0 = x - w / 2, y - h / 2
        rx = h / 2 if node.kind in ("input", "output", "op") else 6
        nid = escape(node.id, {chr(34): "&quot;"})
        parts = [f'<g class="n {fam}" data-id="{nid}"><title>{escape(node_tooltip(node))}</title>']
        if node.repeat > 1:  # a stack of folded blocks
            for k in (2, 1):
                parts.append(f'<rect x="{_f(x0 + 3 * k)}" y="{_f(y0 - 3 * k)}" width="{_f(w)}" height="{_f(h)}" '
                             f'rx="{_f(rx)}" fill="{fill}" stroke="{stroke}"/>')
        dash = ' stroke-dasharray="3 2"' if node.kind == "param" else ""
        parts.append(f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}" rx="{_f(rx)}" '
                     f'fill="{fill}" stroke="{stroke}"{dash}/>')
        if node.kind == "group":  # marker: this box holds a collapsed group
            parts.append(f'<path d="M{_f(x0 + w - 14)},{_f(y - 3)}h6M{_f(x0 + w - 11)},{_f(y - 6)}v6" '
                         f'stroke="{stroke}" stroke-width="1.3"/>')
        cx = x - (7 if node.kind == "group" else 0)
        if sub:
            parts.append(f'<text class="t" x="{_f(cx)}" y="{_f(y - 3)}" text-anchor="middle" fill="{ink}">'
                         f'{escape(title)}</text>'
                         f'<text class="s" x="{_f(cx)}" y="{_f(y + 12)}" text-anchor="middle" fill="{ink}">'
                         f'{escape(sub)}</text>')
        else:
            parts.append(f'<text class="t" x="{_f(cx)}" y="{_f(y + 4)}" text-anchor="middle" fill="{ink}">'
                         f'{escape(title)}</text>')
        parts.append("</g>")
        out.append("".join(parts))
    out.append("</g></svg>\n")
    return "\n".join(out)


# -- matplotlib ----------------------------------------------------------------------------

MAX_FIGURE_INCHES = 250.0


def _mpl_path(points):
    """A matplotlib Path through ``points`` with the same curves as :func:`path_data`."""
    from matplotlib.path import Path as MPath

    pts = [(float(a), float(b)) for a, b in points]
    verts, codes = [pts[0]], [MPath.MOVETO]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if abs(x1 - x0) < 0.5 or y1 <= y0:
            if y1 <= y0 and abs(x1 - x0) >= 0.5:
                verts += [(x1, y0), (x1, y1)]
                codes += [MPath.CURVE3, MPath.CURVE3]
            else:
                verts.append((x1, y1))
                codes.append(MPath.LINETO)
        else:
            ym = (y0 + y1) / 2
            verts += [(x0, ym), (x1, ym), (x1, y1)]
            codes += [MPath.CURVE4] * 3
    return MPath(verts, codes)


@functools.lru_cache(maxsize=1)
def _mpl_family() -> str:
    """The first installed Helvetica-metric font (the layout measured text with its widths)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in ("Liberation Sans", "Arial", "Helvetica", "Nimbus Sans", "TeX Gyre Heros"):
        if name in names:
            return name
    return "DejaVu Sans"


def plot_layout(lay: Layout, ax=None, *, title: str | None = None):
    """Draw a laid-out graph with matplotlib; returns the Axes.

    Without ``ax`` a figure is made at 1 layout px = 1 pt (capped at 250 inches), so text is
    as large as in the SVG; with ``ax`` the drawing is scaled to fit it.

    Example:
        >>> from neuralscope.graph.layout import layout, synthetic_graph
        >>> ax = plot_layout(layout(synthetic_graph(16, blocks_per_stage=2).view()))
        >>> bool(ax.get_ylim()[0] > ax.get_ylim()[1])  # y grows downwards, as in the SVG
        True
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection, PolyCollection
    from matplotlib.patches import FancyBboxPatch, PathPatch

    W, H = lay.width + 2 * MARGIN, lay.height + 2 * MARGIN
    if ax is None:
        s = min(1.0, MAX_FIGURE_INCHES * 72 / max(W, H))
        fig = plt.figure(figsize=(max(W * s / 72, 1.0), max(H * s / 72, 1.0)))
        ax = fig.add_axes((0, 0, 1, 1))
    fig = ax.figure
    bbox = ax.get_position()
    fw, fh = fig.get_size_inches()
    scale = min(bbox.width * fw * 72 / W, bbox.height * fh * 72 / H)  # pt per layout px
    ax.set_xlim(-MARGIN, W - MARGIN)
    ax.set_ylim(H - MARGIN, -MARGIN)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    font = {"family": _mpl_family()}
    lw = max(0.3, 1.2 * scale)

    for b in lay.clusters:
        fill = CLUSTER_FILLS[min(b.depth - 1, len(CLUSTER_FILLS) - 1)]
        ax.add_patch(FancyBboxPatch((b.x0, b.y0), b.x1 - b.x0, b.y1 - b.y0, boxstyle="round,pad=0,rounding_size=8",
                                    facecolor=fill, edgecolor="#cbd5e1", linewidth=lw * 0.8, zorder=1))
        ax.text(b.x0 + 8, b.y0 + 13, b.title, fontsize=CLUSTER_TITLE_SIZE * scale, fontweight="bold",
                color="#475569", zorder=2, fontdict=font)
    patches, heads = [], []
    for r in lay.edges:
        if len(r.points) < 2:
            continue
        patches.append(PathPatch(_mpl_path(r.points)))
        (x0, y0), (x1, y1) = r.points[-2], r.points[-1]
        dx, dy = (0.0, 1.0) if (abs(x1 - x0) < 0.5 or y1 > y0) and not r.back else (x1 - x0, y1 - y0)
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        dx, dy = dx / norm, dy / norm
        L, Wd = 7.0, 3.2
        heads.append([(x1, y1), (x1 - L * dx - Wd * dy, y1 - L * dy + Wd * dx),
                      (x1 - L * dx + Wd * dy, y1 - L * dy - Wd * dx)])
    ax.add_collection(PatchCollection(patches, facecolor="none", edgecolor=EDGE_COLOR, linewidth=lw, zorder=3))
    ax.add_collection(PolyCollection(heads, facecolor=EDGE_COLOR, edgecolor="none", zorder=3))
    seen = set()
    for r in lay.edges:
        if r.label_pos is not None and (round(r.label_pos[0]), round(r.label_pos[1]), r.label) not in seen:
            seen.add((round(r.label_pos[0]), round(r.label_pos[1]), r.label))
            ax.text(r.label_pos[0], r.label_pos[1], r.label, fontsize=LABEL_SIZE * scale, color="#64748b",
                    zorder=4, fontdict=font)
    for i, node in enumerate(lay.view.nodes):
        (x, y), (w, h) = lay.xy[i], lay.size[i]
        fill, stroke, ink = PALETTE[node_family(node)]
        rx = h / 2 if node.kind in ("input", "output", "op") else 6
        if node.repeat > 1:
            for k in (2, 1):
                ax.add_patch(FancyBboxPatch((x - w / 2 + 3 * k, y - h / 2 - 3 * k), w, h,
                                            boxstyle=f"round,pad=0,rounding_size={rx}", facecolor=fill,
                                            edgecolor=stroke, linewidth=lw, zorder=5))
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=f"round,pad=0,rounding_size={rx}",
                                    facecolor=fill, edgecolor=stroke, linewidth=lw, zorder=5,
                                    linestyle="--" if node.kind == "param" else "-"))
        line1, sub = lay.lines[i]
        if sub:
            ax.text(x, y - 3, line1, ha="center", va="baseline", fontsize=TITLE_SIZE * scale, fontweight="bold",
                    color=ink, zorder=6, fontdict=font)
            ax.text(x, y + 12, sub, ha="center", va="baseline", fontsize=SUB_SIZE * scale, color=ink, alpha=0.8,
                    zorder=6, fontdict=font)
        else:
            ax.text(x, y + 4, line1, ha="center", va="baseline", fontsize=TITLE_SIZE * scale, fontweight="bold",
                    color=ink, zorder=6, fontdict=font)
    if title:
        ax.set_title(title)
    return ax
