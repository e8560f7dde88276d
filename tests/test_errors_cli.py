"""Every command-line failure is one line on stderr (no traceback without --debug) and exits 2
for bad input: bad arguments, bad SOURCEs, bad output paths, factories that raise."""
from __future__ import annotations

import pytest
import torch

from neuralscope.cli import main

FACTORIES = '''
import torch
def good():
    return torch.nn.Sequential(torch.nn.Linear(4, 3))
def raises():
    raise RuntimeError("boom inside the factory")
def needs_args(n):
    return torch.nn.Linear(n, n)
def embedding():
    return torch.nn.Sequential(torch.nn.Embedding(10, 4))
def not_a_model():
    return 3
'''


@pytest.fixture
def src(tmp_path):
    (tmp_path / "factories.py").write_text(FACTORIES)
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3)), tmp_path / "pickled.pt")
    (tmp_path / "garbage.onnx").write_text("not an onnx file")
    (tmp_path / "garbage.pt").write_text("not a model")
    return tmp_path


def run_cli(argv, capsys) -> tuple[int, list[str]]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.strip()]


def assert_one_line_error(rc, lines, *words):
    assert rc == 2, lines
    assert len(lines) == 1 and lines[0].startswith("neuralscope: error: "), lines
    assert "Traceback" not in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


BAD = {
    "serve port too high": (["serve", "{d}", "--port", "99999"], ["--port", "0-65535"]),
    "serve port negative": (["serve", "{d}", "--port", "-1"], ["--port", "0-65535"]),
    "serve port not a number": (["serve", "{d}", "--port", "http"], ["--port"]),
    "demo port too high": (["demo", "--no-serve", "--port", "65536"], ["--port"]),
    "demo epochs zero": (["demo", "--no-serve", "--epochs", "0"], ["--epochs"]),
    "demo unknown section": (["demo", "--no-serve", "--out", "{d}/demo", "--only", "nosuch"], ["nosuch", "graph"]),
    "graph depth negative": (["graph", "{d}/factories.py:good", "-o", "{d}/g.svg", "--input-shape", "1,4",
                              "--depth", "-1"], ["--depth"]),
    "graph depth zero": (["graph", "{d}/factories.py:good", "-o", "{d}/g.svg", "--depth", "0"], ["--depth"]),
    "graph factory raises": (["graph", "{d}/factories.py:raises", "-o", "{d}/g.svg"],
                             ["RuntimeError", "boom inside the factory"]),
    "graph factory needs arguments": (["graph", "{d}/factories.py:needs_args", "-o", "{d}/g.svg"], ["no arguments"]),
    "graph factory returns no model": (["graph", "{d}/factories.py:not_a_model", "-o", "{d}/g.svg"], ["nn.Module"]),
    "graph factory misspelt": (["graph", "{d}/factories.py:godo", "-o", "{d}/g.svg"], ["good"]),
    "graph missing module": (["graph", "no_such_module_h3:F", "-o", "{d}/g.svg"], ["no_such_module_h3"]),
    "graph missing file": (["graph", "{d}/absent.onnx", "-o", "{d}/g.svg"], ["absent.onnx"]),
    "graph corrupt onnx": (["graph", "{d}/garbage.onnx", "-o", "{d}/g.svg"], ["garbage.onnx"]),
    "graph corrupt archive": (["graph", "{d}/garbage.pt", "-o", "{d}/g.svg"], ["garbage.pt"]),
    "graph dtype without shape": (["graph", "{d}/factories.py:good", "-o", "{d}/g.svg", "--input-dtype", "int64"],
                                  ["--input-dtype", "--input-shape"]),
    "graph bad shape": (["graph", "{d}/factories.py:good", "-o", "{d}/g.svg", "--input-shape", "1,a"],
                        ["--input-shape"]),
    "graph shape that does not fit": (["graph", "{d}/factories.py:good", "-o", "{d}/g.svg", "--input-shape", "1,5"],
                                      ["(1, 5)"]),
    "graph pickled model without shape": (["graph", "{d}/pickled.pt", "-o", "{d}/g.svg"], ["--input-shape"]),
    "graph output suffix": (["graph", "{d}/factories.py:good", "-o", "{d}/g.xyz", "--input-shape", "1,4"], [".svg"]),
    "graph output is a directory": (["graph", "{d}/factories.py:good", "-o", "{d}", "--input-shape", "1,4"],
                                    ["directory"]),
    "graph output directory missing": (["graph", "{d}/factories.py:good", "-o", "{d}/missing/g.png",
                                        "--input-shape", "1,4"], ["does not exist"]),
    "summary pickled model without shape": (["summary", "{d}/pickled.pt"], ["--input-shape"]),
    "summary of onnx": (["summary", "{d}/garbage.onnx"], ["graph"]),
    "summary output directory missing": (["summary", "{d}/factories.py:good", "--input-shape", "1,4",
                                          "-o", "{d}/missing/t.txt"], ["does not exist"]),
    "summary dtype without shape": (["summary", "{d}/factories.py:good", "--input-dtype", "half"], ["--input-shape"]),
    "serve missing directory": (["serve", "{d}/absent", "--port", "0"], ["absent"]),
    "export-tensorboard not a run": (["export-tensorboard", "{d}", "{d}/tb"], ["run"]),
    "import-tensorboard missing logdir": (["import-tensorboard", "{d}/absent", "{d}/run"], ["absent"]),
    "unknown command": (["frobnicate"], ["frobnicate"]),
    "graph without arguments": (["graph"], ["SOURCE"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_command_line_gives_one_line_and_exit_2(case, src, capsys):
    argv, words = BAD[case]
    rc, lines = run_cli([a.format(d=src) for a in argv], capsys)
    assert_one_line_error(rc, lines, *words)


def test_output_in_a_missing_directory_creates_no_directory(src, capsys):
    target = src / "missing" / "deeper" / "g.png"
    rc, lines = run_cli(["graph", f"{src}/factories.py:good", "-o", target, "--input-shape", "1,4"], capsys)
    assert_one_line_error(rc, lines, str(target.parent))
    assert not (src / "missing").exists()


def test_input_dtype_with_shape_is_used(src, capsys):
    rc, lines = run_cli(["graph", f"{src}/factories.py:embedding", "-o", src / "g.json", "--input-shape", "1,7",
                         "--input-dtype", "int64"], capsys)
    assert rc == 0, lines
    assert "int64" in (src / "g.json").read_text()


def test_debug_shows_the_traceback(src):
    with pytest.raises(Exception, match="boom inside the factory") as info:
        main(["--debug", "graph", f"{src}/factories.py:raises", "-o", str(src / "g.svg")])
    assert "boom" in str(info.value.__cause__ or info.value)


def test_unexpected_failure_is_one_line_exit_1(monkeypatch, src, capsys):
    import neuralscope.commands.graph as cmd

    def explode(args):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(cmd, "run_summary", explode)
    rc, lines = run_cli(["summary", f"{src}/factories.py:good"], capsys)
    assert rc == 1 and len(lines) == 1, lines
    assert "RuntimeError: something inside broke" in lines[0] and "--debug" in lines[0]


def _subcommands() -> list[str]:
    from neuralscope.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_answers_an_unknown_flag_in_one_line(command, capsys):
    rc, lines = run_cli([command, "--no-such-flag", "x"], capsys)
    assert_one_line_error(rc, lines)  # (missing positional arguments may be named first)
