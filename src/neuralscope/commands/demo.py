"""``neuralscope demo``: train the digits CNN and write a report of every view."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the digits CNN and write runs/demo with every view",
                       description="Train the zoo's digits CNN on scikit-learn's bundled digits "
                                   "(no downloads) and write a report of every view to OUT.")
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--epochs", type=int, default=15, help="training epochs (default: 15)")
    p.add_argument("--only", action="append", default=None, metavar="SECTION",
                   help="build only these report sections (repeatable)")
    p.add_argument("--no-serve", action="store_true", help="write the report and exit (no dashboard)")
    p.add_argument("--port", type=int, default=6006, help="dashboard port (default: 6006)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..demo import run_demo

    server = None
    if not args.no_serve:
        from ..server.app import serve_in_background

        Path(args.out).mkdir(parents=True, exist_ok=True)
        server = serve_in_background(args.out, port=args.port)
        print(f"dashboard (live while the demo trains): {server.url}", flush=True)
    index = run_demo(args.out, epochs=args.epochs, only=args.only)
    print(f"report: {index}  (self-contained: {index.parent / 'report.html'})")
    if server is not None:
        print(f"dashboard: {server.url}  (Ctrl-C to stop)", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    return 0
