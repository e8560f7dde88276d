"""The ``graph`` and ``summary`` subcommands: outputs, and one clear sentence with exit code 2
for every kind of bad input."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import pytest
import torch

from neuralscope import zoo
from neuralscope.cli import main

FACTORY_FILE = '''
import torch
from torch import nn

def make_model():
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))

NOT_CALLABLE = 3
'''


@pytest.fixture
def factory_file(tmp_path):
    f = tmp_path / "mymodels.py"
    f.write_text(FACTORY_FILE)
    return f


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("neuralscope: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_graph_json_from_a_package_factory(tmp_path, capsys):
    out = tmp_path / "cnn.json"
    assert main(["graph", "neuralscope.zoo:DigitsCNN", "-o", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["kind"] == "graph" and d["method"] == "fx" and d["total_params"] == 28970
    assert "read with fx" in capsys.readouterr().out


def test_graph_from_a_python_file_factory_with_input_shape(tmp_path, factory_file):
    out = tmp_path / "seq.json"
    assert main(["graph", f"{factory_file}:make_model", "--input-shape", "3,5", "-o", str(out)]) == 0
    d = json.loads(out.read_text())
    assert [n["outputs"][0]["shape"] for n in d["nodes"] if n["kind"] == "module"] == [[3, 7], [3, 7], [3, 2]]


def test_graph_depth_is_kept_as_the_default_view(tmp_path):
    out = tmp_path / "r.json"
    assert main(["graph", "neuralscope.zoo:TinyResNet", "--depth", "1", "--method", "hooks", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["method"] == "hooks"


def test_graph_of_an_onnx_file(tmp_path):
    model = zoo.DigitsCNN().eval()
    f = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (model.example_input(1),), str(f), dynamo=False)
    out = tmp_path / "cnn_onnx.json"
    assert main(["graph", str(f), "-o", str(out)]) == 0
    assert [n["op"] for n in json.loads(out.read_text())["nodes"] if n["kind"] == "module"] == [
        "Conv", "Conv", "Conv", "Gemm"]


@pytest.mark.parametrize("suffix", ["svg", "dot", "mmd", "html"])
def test_graph_rendered_formats(tmp_path, suffix):
    from neuralscope.graph.model import Graph

    if not hasattr(Graph, "to_svg"):
        pytest.skip("renderers not in this tree yet")
    out = tmp_path / f"resnet.{suffix}"
    assert main(["graph", "neuralscope.zoo:TinyResNet", "--fold", "-o", str(out)]) == 0
    text = out.read_text()
    if suffix == "svg":
        assert ET.fromstring(text).tag.endswith("svg")
    elif suffix == "dot":
        assert text.lstrip().startswith(("digraph", "strict digraph"))
    elif suffix == "mmd":
        assert text.lstrip().startswith("flowchart")
    else:
        assert "<html" in text.lower()


def test_summary_prints_the_table(capsys):
    assert main(["summary", "neuralscope.zoo:DigitsCNN", "--input-shape", "2,1,8,8"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 28,970" in out and "(2, 10)" in out and "features (Sequential)" in out


def test_summary_of_token_model_with_int_dtype(capsys, tmp_path):
    out = tmp_path / "t.json"
    assert main(["summary", "neuralscope.zoo:TinyTransformer", "--input-shape", "1,12",
                 "--input-dtype", "int64", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["input_shapes"] == [[1, 12]]


@pytest.mark.parametrize("argv,message", [
    (["graph", "neuralscope.zoo:NoSuchModel", "-o", "x.json"], "No factory named 'NoSuchModel'"),
    (["graph", "no_such_package.models:Net", "-o", "x.json"], "Cannot import module 'no_such_package.models'"),
    (["graph", "neuralscope.zoo:DigitsCNN", "--input-shape", "1,3,8,8", "-o", "x.json"],
     "Input of shape (1, 3, 8, 8) does not fit DigitsCNN"),
    (["graph", "neuralscope.zoo:DigitsCNN", "--input-shape", "1,a,8", "-o", "x.json"], "not a list of positive"),
    (["graph", "neuralscope.zoo:DigitsCNN", "-o", "x.xyz"], "Cannot write '.xyz'"),
    (["graph", "missing.onnx", "-o", "x.json"], "No model file at 'missing.onnx'"),
    (["graph", "torch.nn:Linear", "-o", "x.json"], "Calling 'torch.nn:Linear' with no arguments raised TypeError"),
    (["summary", "just_a_word"], "neither a model file nor 'module:factory'"),
])
def test_bad_input_is_one_sentence_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in _one_line_error(capsys)


def test_missing_factory_in_a_file_suggests_names(factory_file, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", f"{factory_file}:make_modle", "-o", "x.json"]) == 2
    assert "Did you mean: make_model" in _one_line_error(capsys)
    assert main(["graph", f"{factory_file}:NOT_CALLABLE", "-o", "x.json"]) == 2
    assert "not a function or class" in _one_line_error(capsys)


def test_corrupt_onnx_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage\xff" * 10)
    assert main(["graph", str(bad), "-o", str(tmp_path / "x.json")]) == 2
    assert "bad.onnx is not a valid ONNX model" in _one_line_error(capsys)


def test_debug_shows_the_traceback(tmp_path):
    from neuralscope.errors import NeuralscopeError

    with pytest.raises(NeuralscopeError):
        main(["--debug", "graph", "neuralscope.zoo:NoSuchModel", "-o", str(tmp_path / "x.json")])


def test_real_process_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"corrupt")
    proc = subprocess.run([sys.executable, "-m", "neuralscope.cli", "graph", str(bad), "-o", str(tmp_path / "o.svg")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "is not a valid ONNX model" in proc.stderr
