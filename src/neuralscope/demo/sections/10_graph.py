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
    table = summary(ctx.cnn, x)
    ctx.path("graph", "digits_cnn_summary.txt").write_text(str(table))
    body = (f"<p>Extracted with <code>{g.method}</code>: {len(g.nodes)} nodes, "
            f"{g.total_params:,} parameters. Formats: {' · '.join(links)}. "
            f'Interactive: <a href="graph/digits_cnn.html">digits CNN</a>, '
            f'<a href="graph/tiny_resnet.html">TinyResNet (skip connections)</a>.</p>'
            f'<img src="graph/digits_cnn.svg" alt="digits CNN graph"> '
            f'<p>TinyResNet with its skip connections: <a href="graph/tiny_resnet.svg">SVG</a>, '
            f'<a href="graph/tiny_resnet.html">interactive</a>.</p>'
            f"<h3>Summary</h3><pre>{html.escape(str(table))}</pre>")
    return Section("Structure graph", body)
