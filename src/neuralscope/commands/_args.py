"""Argument types and checks shared by the subcommands: each refuses a bad value in one
sentence (argparse prints it as ``neuralscope: error: ...`` and exits 2)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import NeuralscopeError, OutputPathError


class UsageError(NeuralscopeError, ValueError):
    """A command-line value that passed argparse but names nothing valid."""


def port(text: str) -> int:
    """A TCP port number, 0-65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; use 0-65535, e.g. 6006.") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number; use 0-65535, e.g. 6006.")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; use 1 or more.") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; use 1 or more.")
    return value


def check_output(text: str | Path) -> Path:
    """The output file ``text`` if its parent directory exists (the command never creates
    directories for ``-o``: a typo would otherwise scatter folders, even at the filesystem root)."""
    path = Path(text).expanduser()
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(f"Cannot write {text!r}: the directory {str(parent)!r} does not exist; "
                              "create it first or choose another -o path.")
    if path.is_dir():
        raise OutputPathError(f"Cannot write {text!r}: it is a directory; give a file name, e.g. "
                              f"{str(path / 'model.svg')!r}.")
    return path
