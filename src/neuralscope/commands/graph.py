"""``neuralscope graph`` and ``neuralscope summary``: a model's structure from the command line.

SOURCE is an ``.onnx`` file, a TorchScript archive (``torch.jit.save``), a ``torch.export``
archive (``.pt2``), a Keras ``.keras`` / ``.h5`` file, ``path/to/file.py:factory`` or ``package.module:ClassName`` (called with
no arguments; a function or a class both work).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..errors import FileFormatError, InputShapeError, NeuralscopeError
from ._args import check_output, positive_int

OUTPUT_SUFFIXES = (".svg", ".png", ".pdf", ".html", ".dot", ".gv", ".mmd", ".json")
MODEL_FILE_SUFFIXES = (".onnx", ".pt", ".pt2", ".pth", ".ts", ".jit", ".torchscript", ".keras", ".h5", ".hdf5")
DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
          "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64",
          "int32": "int32", "int": "int32", "bool": "bool"}


class SourceError(NeuralscopeError, ValueError):
    """A SOURCE that names no loadable model (missing file, module or factory)."""


def register(sub) -> None:
    epilog = ("SOURCE is a model file (.onnx, TorchScript .pt, torch.export .pt2, Keras .keras/.h5) or a factory:\n"
              "  path/to/file.py:make_model      a function or class in a Python file\n"
              "  package.module:ClassName        an importable callable, called with no arguments\n\n"
              "examples:\n"
              "  neuralscope graph model.onnx -o model.html\n"
              "  neuralscope graph model.keras -o model.svg\n"
              "  neuralscope graph neuralscope.zoo:DigitsCNN -o cnn.svg\n"
              "  neuralscope graph torchvision.models:resnet50 --input-shape 1,3,224,224 --depth 2 -o r50.svg\n"
              "  neuralscope graph torchvision.models:vit_b_16 --input-shape 1,3,224,224 --fold -o vit.html")
    p = sub.add_parser("graph", help="draw a model's structure graph (svg, png, html, dot, mermaid, json)",
                       description="Extract a model's structure graph and save it; the output suffix "
                                   "picks the format.",
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="model file or factory (see below)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file: " + ", ".join(s.lstrip(".") for s in OUTPUT_SUFFIXES))
    p.add_argument("--depth", type=positive_int, default=None, metavar="N",
                   help="collapse modules deeper than N levels (default: everything expanded)")
    _input_args(p)
    p.add_argument("--fold", action="store_true", help="fold chains of identical blocks into one node (xN)")
    p.add_argument("--method", choices=("auto", "fx", "export", "hooks"), default="auto",
                   help="reader for torch models (default: auto = fx, then export, then hooks)")
    p.set_defaults(func=run_graph)

    s = sub.add_parser("summary", help="print a model's layer table (shapes, params, MACs, memory)",
                       description="Print the torchinfo-style table of a model: layers, output shapes, "
                                   "parameters, multiply-accumulates and activation memory.",
                       epilog=epilog.replace("neuralscope graph", "neuralscope summary").split("\n\nexamples")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("source", metavar="SOURCE", help="model factory or TorchScript/export archive")
    _input_args(s)
    s.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="also save the table: .txt, .json, or a bar chart .png/.svg")
    s.set_defaults(func=run_summary)


def _input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", default=None, metavar="SHAPE",
                   help="example input shape, e.g. 1,3,224,224 (repeat for several inputs; "
                        "default: the model's example_input(1) when it has one)")
    p.add_argument("--input-dtype", default=None, choices=sorted(DTYPES), metavar="DTYPE",
                   help="dtype of the example inputs given by --input-shape: float32 (default), "
                        "float16, int64 (token ids), ...")


# -- SOURCE -------------------------------------------------------------------------------

def is_model_file(source: str) -> bool:
    path = Path(source)
    return path.suffix.lower() in MODEL_FILE_SUFFIXES or (path.exists() and path.is_file()) or (
        path.is_dir() and (path / "saved_model.pb").exists())


def load_factory(source: str) -> Any:
    """The model built by ``file.py:factory`` or ``package.module:name`` (called with no args)."""
    if ":" not in source:
        raise SourceError(f"SOURCE {source!r} is neither a model file nor 'module:factory' "
                          "(e.g. neuralscope.zoo:DigitsCNN or path/to/file.py:make_model).")
    where, name = source.rsplit(":", 1)
    if not name:
        raise SourceError(f"SOURCE {source!r} names no factory after ':'.")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise SourceError(f"No Python file at {where!r}.")
        spec = importlib.util.spec_from_file_location(f"_neuralscope_source_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent.resolve()))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # one sentence for the user
            raise SourceError(f"Importing {where!r} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(path.parent.resolve()))
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise SourceError(f"Cannot import module {where!r}: {exc}.") from exc
    factory = getattr(module, name, None)
    if factory is None:
        import difflib

        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None))]
        close = difflib.get_close_matches(name, public, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise SourceError(f"No factory named {name!r} in {where!r}.{hint}")
    if not callable(factory):
        raise SourceError(f"{source!r} is a {type(factory).__name__}, not a function or class that builds a model.")
    try:
        model = factory()
    except Exception as exc:  # the user's code failed: one sentence, --debug has the rest
        reason = (str(exc).strip().splitlines() or [""])[0].rstrip(".")
        raise SourceError(f"Calling {source!r} with no arguments raised {type(exc).__name__}"
                          f"{': ' + reason if reason else ''}; fix the factory or pass one that "
                          "needs no arguments.") from exc
    import torch

    from ..adapters.keras import is_keras_model

    if not isinstance(model, torch.nn.Module) and not is_keras_model(model):
        raise SourceError(f"{source!r} returned a {type(model).__name__}, not a torch.nn.Module or a keras.Model.")
    return model


def is_keras_source(source: str) -> bool:
    from ..graph.extract_keras import is_keras_file

    return is_keras_file(source)


def parse_shape(text: str) -> tuple[int, ...]:
    parts = [p for p in text.replace("x", ",").replace(" ", "").strip("()[]").split(",") if p]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise InputShapeError(f"--input-shape {text!r} is not a list of positive integers like 1,3,224,224.")
    return dims


def example_inputs(model: Any, shapes: list[str] | None, dtype: str) -> Any:
    """Example inputs of the given shapes: seeded random floats in [0, 1), or zeros for
    integer dtypes (a valid token id for any embedding); the model's own
    ``example_input(1)`` when no shape is given."""
    import torch

    if not shapes:
        if hasattr(model, "example_input"):
            return model.example_input(1)
        return None
    dt = getattr(torch, DTYPES[dtype])
    g = torch.Generator().manual_seed(0)
    tensors = []
    for text in shapes:
        shape = parse_shape(text)
        if dt.is_floating_point:
            tensors.append(torch.rand(shape, generator=g).to(dt))
        else:
            tensors.append(torch.zeros(shape, dtype=dt))
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def load_source(source: str, shapes: list[str] | None, dtype: str | None) -> tuple[Any, Any]:
    """(model or path, example inputs) for SOURCE."""
    if dtype is not None and not shapes:
        raise InputShapeError(f"--input-dtype {dtype} needs --input-shape (the dtype applies to the "
                              "example inputs it builds), e.g. --input-shape 1,128 --input-dtype int64.")
    dtype = dtype or "float32"
    if is_model_file(source) and ":" not in Path(source).name:
        if not Path(source).exists():
            raise FileFormatError(f"No model file at {source!r}.")
        return source, example_inputs(None, shapes, dtype)
    model = load_factory(source)
    inputs = example_inputs(model, shapes, dtype)
    from ..adapters.keras import is_keras_model

    if inputs is None and not is_keras_model(model):  # a Keras graph carries its own shapes
        raise InputShapeError(f"{type(model).__name__} needs an example input: pass --input-shape, "
                              "e.g. --input-shape 1,3,224,224.")
    return model, inputs


# -- commands -------------------------------------------------------------------------------

def run_graph(args: argparse.Namespace) -> int:
    from ..graph.api import graph

    out = check_output(args.output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise FileFormatError(f"Cannot write {out.suffix or 'a file without suffix'!r}; "
                              f"use one of {', '.join(OUTPUT_SUFFIXES)}.")
    model, inputs = load_source(args.source, args.input_shape, args.input_dtype)
    try:
        g = graph(model, inputs, depth=args.depth, method=args.method) if not isinstance(model, str) else \
            graph(model, inputs, depth=args.depth)
    except InputShapeError as exc:
        if inputs is None:  # the Python API's hint names graph(); the command's names its flag
            raise InputShapeError(f"{args.source!r} needs an example input: pass --input-shape, "
                                  "e.g. --input-shape 1,3,224,224.") from exc
        raise
    g.default_fold_repeats = bool(args.fold)
    if out.suffix.lower() == ".json":
        out.write_text(g.to_json())
    else:
        opts = {}
        if args.depth is not None:
            opts["depth"] = args.depth
        if args.fold:
            opts["fold_repeats"] = True
        g.save(out, **opts)
    print(f"{out}: {g.name} read with {g.method}, {len(g.nodes)} nodes, {g.total_params:,} parameters")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from ..graph.summary import summary

    out = check_output(args.output) if args.output else None
    model, inputs = load_source(args.source, args.input_shape, args.input_dtype)
    if isinstance(model, str) and is_keras_source(model):
        from ..graph.extract_keras import load_keras_file

        model = load_keras_file(model)
    elif isinstance(model, str):
        if Path(model).suffix.lower() == ".onnx":
            raise FileFormatError("summary needs a torch model; for an .onnx file use 'neuralscope graph'.")
        from ..graph.extract_archive import load_module

        model, default_inputs = load_module(Path(model))
        inputs = inputs if inputs is not None else default_inputs
        if inputs is None:
            raise InputShapeError(f"{args.source!r} needs an example input: pass --input-shape, "
                                  "e.g. --input-shape 1,3,224,224.")
    table = summary(model, inputs)
    print(table)
    if out is not None:
        if out.suffix.lower() == ".txt":
            out.write_text(str(table) + "\n")
        else:
            table.save(out)
    return 0
