"""The ``neuralscope`` command.

Each subcommand lives in its own module in :mod:`neuralscope.commands` and provides
``register(subparsers)`` (adds its parser and sets ``func``). Errors of the package are
printed as one sentence with exit code 2; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import NeuralscopeError

DESCRIPTION = """\
See inside neural networks: structure graphs, weights, activations, attributions,
attention and training dynamics.

examples:
  neuralscope graph model.onnx -o model.html          interactive graph of an ONNX file
  neuralscope graph neuralscope.zoo:DigitsCNN -o cnn.svg --input-shape 1,1,8,8
  neuralscope summary torchvision.models:resnet50 --input-shape 1,3,224,224
  neuralscope demo --out runs/demo                    train the digits CNN and write a report
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralscope", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"neuralscope {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("neuralscope")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
        return int(result or 0)
    except (NeuralscopeError, FileNotFoundError, ValueError, TypeError, ImportError) as exc:
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"neuralscope: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
