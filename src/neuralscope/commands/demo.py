"""``neuralscope demo``: train the digits CNN and write a report of every view."""
from __future__ import annotations

import argparse

from ._args import UsageError, port, positive_int


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the demo models (digits, scenes) and write runs/demo with every view",
                       description="Train the zoo's digits CNN on scikit-learn's bundled digits "
                                   "(no downloads) and write a report of every view to OUT.")
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs (default: 15)")
    p.add_argument("--only", action="append", default=None, metavar="SECTION",
                   help="build only these report sections (repeatable)")
    p.add_argument("--no-serve", action="store_true", help="write the report and exit (no dashboard)")
    p.add_argument("--fast", action="store_true",
                   help="fewer scenes, epochs and steps: a quick check that every view is built")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch intra-op threads while the demo runs (default: 1; its models are too small to share)")
    p.add_argument("--processes", type=int, choices=(1, 2), default=None,
                   help="2 (default on two cores or more): the digits models and their sections in a second "
                        "process; 1: everything in this one")
    p.add_argument("--port", type=port, default=6006, help="dashboard port (default: 6006)")
    p.set_defaults(func=run)


def _check_sections(only: list[str] | None) -> None:
    """Refuse unknown ``--only`` names before minutes of training, listing the valid ones."""
    import pkgutil

    from ..demo import sections

    names = [i.name for i in sorted(pkgutil.iter_modules(sections.__path__), key=lambda i: i.name)]
    valid = {n for name in names for n in (name, name.split("_", 1)[-1])}
    unknown = [s for s in only or [] if s not in valid]
    if unknown:
        raise UsageError(f"--only {unknown[0]!r} is not a section of the demo; use one of "
                         f"{', '.join(n.split('_', 1)[-1] for n in names)}.")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..demo import run_demo

    _check_sections(args.only)

    server = None
    if not args.no_serve:
        from ..server.app import serve_in_background

        Path(args.out).mkdir(parents=True, exist_ok=True)
        server = serve_in_background(args.out, port=args.port)
        print(f"dashboard (live while the demo trains): {server.url}", flush=True)
    index = run_demo(args.out, epochs=args.epochs, only=args.only, fast=args.fast, threads=args.threads,
                     processes=args.processes)
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
