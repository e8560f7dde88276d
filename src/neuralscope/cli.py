"""The ``neuralscope`` command.

Each subcommand lives in its own module in :mod:`neuralscope.commands` and provides
``register(subparsers)`` (adds its parser and sets ``func``). Every error is printed as one
line, ``neuralscope: error: ...``, and never as a traceback unless ``--debug`` is given: bad
arguments and errors of the package exit with code 2, an unexpected failure inside a command
exits with code 1 and names its type.
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


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the sentence and where to find help, no usage block."""

    def error(self, message: str):  # argparse API
        self.exit(2, f"neuralscope: error: {message.rstrip('.')}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for every failure; --debug re-raises
        if args.debug:
            raise
        print(f"neuralscope: error: {_one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, USER_ERRORS) else 1


# Failures caused by what the user passed (arguments, files, models): exit code 2.
USER_ERRORS = (NeuralscopeError, OSError, ValueError, TypeError, ImportError, LookupError, ArithmeticError)


def _one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message; unexpected types are named, with the --debug hint."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if isinstance(exc, NeuralscopeError) and text:
        return text
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename!r}."
    return f"{type(exc).__name__}: {text or 'no message'} (rerun with --debug for the traceback)."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
