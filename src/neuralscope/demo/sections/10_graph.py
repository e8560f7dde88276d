"""Demo section: the trained digits CNN's structure graph in every format, and its summary."""
from __future__ import annotations

import html

from .. import DemoContext, Section

FORMATS = ("svg", "png", "html", "dot", "mmd", "json")


def build(ctx: DemoContext) -> Section:
    from ...graph.api import graph
    from ...graph.summary import summary
    from ...zoo import TinyResNet

    x = ctx.data.x_test[:1]
    g = graph(ctx.cnn, x)
    links = []
    for fmt in FORMATS:
        path = g.save(ctx.path("graph", f"digits_cnn.{fmt}"))
        links.append(f'<a href="graph/{path.name}">{fmt.upper()}</a>')
    resnet = TinyResNet()
    rg = graph(resnet, resnet.example_input(1))
    rg.save(ctx.path("graph", "tiny_resnet.svg"))
    rg.save(ctx.path("graph", "tiny_resnet.html"))
    ctx.log(g, "graph/digits_cnn")
    ctx.log(rg, "graph/tiny_resnet")
    scene_html = ""
    if ctx.scenes is not None:  # logged last: the dashboard's Graph page shows the run's last graph
        sg = graph(ctx.scenes.cnn, ctx.scenes.data.x_test[:1])
        sg.save(ctx.path("graph", "scene_cnn.svg"))
        sg.save(ctx.path("graph", "scene_cnn.html"))
        ctx.log(sg, "graph/scene_cnn")
        scene_html = (f"<h3>Scene CNN</h3><p>{len(sg.nodes)} nodes, {sg.total_params:,} parameters; on the "
                      f"dashboard's Graph page (run <code>results</code>) its nodes carry the gradient norms and "
                      f"dead-unit fractions recorded by <code>run.watch()</code> while it trained. "
                      f'<a href="graph/scene_cnn.html">interactive</a></p><img src="graph/scene_cnn.svg" '
                      f'alt="scene CNN graph">')
    table = summary(ctx.cnn, x)
    ctx.path("graph", "digits_cnn_summary.txt").write_text(str(table))
    body = (f"<p>Extracted with <code>{g.method}</code>: {len(g.nodes)} nodes, "
            f"{g.total_params:,} parameters. Formats: {' · '.join(links)}. "
            f'Interactive: <a href="graph/digits_cnn.html">digits CNN</a>, '
            f'<a href="graph/tiny_resnet.html">TinyResNet (skip connections)</a>.</p>'
            f'<img src="graph/digits_cnn.svg" alt="digits CNN graph"> '
            f'<p>TinyResNet with its skip connections: <a href="graph/tiny_resnet.svg">SVG</a>, '
            f'<a href="graph/tiny_resnet.html">interactive</a>.</p>'
            f"<h3>Summary</h3><pre>{html.escape(str(table))}</pre>" + scene_html)
    return Section("Structure graph", body)
