"""``neuralscope serve``: the live dashboard over a runs directory or one model file."""
from __future__ import annotations

import argparse

from ._args import port


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="live dashboard over a runs directory (or one model file)",
        description="Start the neuralscope dashboard: runs, scalars, distributions, diagnostics, "
                    "graph and logged results, updated live while runs are written. Binds "
                    "127.0.0.1 by default; any other address requires an access token "
                    "(given with --token or generated and printed).",
        epilog="examples:\n  neuralscope serve runs/\n  neuralscope serve model.onnx --port 8080\n"
               "  neuralscope serve runs/ --host 0.0.0.0 --token s3cret",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", nargs="?", default="runs", metavar="RUNS_DIR|MODEL_FILE",
                   help="directory of runs (searched recursively), one run, or a model file "
                        "(.onnx, TorchScript, .pt2); default: runs")
    p.add_argument("--port", type=port, default=6006, help="port (default: 6006)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--token", default=None, help="access token required by every request "
                                                 "(generated when --host is not a loopback address)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..server.app import serve

    serve(args.path, host=args.host, port=args.port, token=args.token)
    return 0
