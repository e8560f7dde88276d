"""Subcommands of the ``neuralscope`` command, one module each (discovered automatically).

A module provides ``register(subparsers)``, which adds its parser and sets
``func=callable(args) -> int``.
"""
