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
    p.add_argument("--no-serve", action="store_true", help="write the report and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    index = run_demo(args.out, epochs=args.epochs, only=args.only)
    print(f"report: {index}")
    return 0
