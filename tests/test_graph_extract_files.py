"""graph() on model files: ONNX (checked against onnxruntime's real values), torch.export
archives and TorchScript archives (checked against the live module)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuralscope import zoo
from neuralscope.errors import FileFormatError
from neuralscope.graph.api import graph
from neuralscope.graph.extract_onnx import scope_path

onnx = pytest.importorskip("onnx")

ONNX_OP = {nn.Conv2d: "Conv", nn.Linear: "Gemm", nn.LSTM: "LSTM", nn.GRU: "GRU", nn.Embedding: "Gather"}


def export_onnx(model, x, path):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"])
    return path


@pytest.mark.parametrize("name", ["cnn", "resnet", "lstm", "mlp"])
def test_onnx_export_read_back_gives_the_same_sequence_of_layers(name, tmp_path):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    x = model.example_input(1)
    g = graph(export_onnx(model, x, tmp_path / f"{name}.onnx"))
    assert g.method == "onnx"
    named = dict(model.named_modules())
    expected = [(ONNX_OP[type(named[n.module])], n.module) for n in graph(model, x).modules()
                if type(named[n.module]) in ONNX_OP]
    got = [(n.op, n.module) for n in g.modules() if n.op in ONNX_OP.values()]
    assert got == expected
    # initializer shapes are shown and equal the torch weights (BatchNorm folded into Conv in eval)
    for n in g.modules():
        m = named.get(n.module)
        if isinstance(m, nn.Conv2d):
            assert n.attrs["W"] == "(" + ", ".join(map(str, m.weight.shape)) + ")"
            assert n.attrs["kernel_shape"] == list(m.kernel_size)
            assert n.attrs["strides"] == list(m.stride)


def test_onnx_parameter_total_of_an_mlp_equals_torch(tmp_path):
    torch.manual_seed(0)
    model = zoo.MLP()
    g = graph(export_onnx(model, model.example_input(1), tmp_path / "mlp.onnx"))
    assert g.total_params == sum(p.numel() for p in model.parameters())
    assert [n.params for n in g.modules()] == [8320, 8256, 650]


def test_onnx_edge_shapes_equal_onnxruntime_values(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = zoo.TinyResNet()
    with torch.no_grad():  # trained-looking BatchNorm statistics: folded biases are all distinct
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    x = model.example_input(2)
    path = export_onnx(model, x, tmp_path / "resnet.onnx")
    g = graph(path)
    # ask onnxruntime for every intermediate value: add them all as graph outputs
    proto = onnx.load(str(path))
    names = [o for n in proto.graph.node for o in n.output if n.op_type not in ("Constant", "Identity")]
    existing = {o.name for o in proto.graph.output}
    for nm in names:
        if nm not in existing:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(nm))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    values = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x.numpy()})))
    by_name = {n.name: n for n in proto.graph.node}
    checked = 0
    for node in g.nodes.values():
        if node.kind in ("module", "op"):
            onnx_node = by_name[node.attrs["name"]]
            for meta, out_name in zip(node.outputs, onnx_node.output):
                assert meta.shape == values[out_name].shape, (node.id, meta.shape, values[out_name].shape)
                assert meta.dtype == str(values[out_name].dtype)
                checked += 1
    assert checked >= 20
    out = [n for n in g.nodes.values() if n.kind == "output"][0]
    assert out.inputs[0].shape == (2, 10)
    # hierarchy from node names
    adds = [n for n in g.nodes.values() if n.op == "Add"]
    assert [a.group for a in adds] == ["layer1.0", "layer1.1", "layer2.0", "layer2.1"]
    assert g.groups["layer2.0.shortcut"].params == 16 * 32 + 32  # conv with folded BN bias


def test_scope_paths_follow_torch_module_names():
    assert scope_path("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert scope_path("/stem/stem.0/Conv") == "stem.0"
    assert scope_path("/layer2/layer2.0/shortcut/shortcut.0/Conv") == "layer2.0.shortcut.0"
    assert scope_path("/encoder/layers.0/self_attn/MatMul") == "encoder.layers.0.self_attn"
    assert scope_path("Identity_5") == ""


@pytest.mark.parametrize("content", [b"not a model at all", b"", b"\x08\x07" + b"\xff" * 64])
def test_corrupt_onnx_file_is_one_sentence(tmp_path, content):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(FileFormatError, match=r"^bad\.onnx is not a valid ONNX model") as info:
        graph(bad)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(FileFormatError, match="No model file at"):
        graph("/nonexistent/model.onnx")


def test_torch_export_archive_matches_the_live_module(tmp_path):
    torch.manual_seed(0)
    model = zoo.TinyResNet().eval()
    x = model.example_input(1)
    f = tmp_path / "resnet.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(f))
    g = graph(f)
    live = graph(model, x, method="export")
    assert g.method == "export"
    assert g.total_params == live.total_params == sum(p.numel() for p in model.parameters())
    assert [(n.module, n.op, [t.shape for t in n.outputs]) for n in g.modules()] == \
        [(n.module, n.op, [t.shape for t in n.outputs]) for n in live.modules()]
    assert [n.params for n in g.modules()] == [n.params for n in live.modules()]
    assert {p: grp.params for p, grp in g.groups.items()} == {p: grp.params for p, grp in live.groups.items()}
    assert len(g.edges) == len(live.edges)


def test_torchscript_archive_with_example_input_has_real_shapes(tmp_path):
    torch.manual_seed(0)
    model = zoo.TinyResNet().eval()
    x = model.example_input(2)
    f = tmp_path / "resnet.pt"
    torch.jit.trace(model, x).save(str(f))
    g = graph(f, x)
    assert g.method == "torchscript"
    assert g.total_params == sum(p.numel() for p in model.parameters())
    live = graph(model, x)
    # every module that runs an op, with the live module's shapes (Identity runs none)
    ran = [(n.module, n.op, [t.shape for t in n.outputs]) for n in live.modules() if n.op != "Identity"]
    assert [(n.module, n.op, [t.shape for t in n.outputs]) for n in g.modules()] == ran
    ops = [n for n in g.nodes.values() if n.kind == "op"]
    assert [(n.op, n.group) for n in ops] == [(n.op, n.group) for n in live.nodes.values() if n.kind == "op"]
    assert [n.inputs[0].shape for n in g.nodes.values() if n.kind == "output"] == [(2, 10)]


def test_torchscript_lstm_archive(tmp_path):
    torch.manual_seed(0)
    model = zoo.RNNClassifier("lstm").eval()
    x = model.example_input(3)
    f = tmp_path / "lstm.pt"
    torch.jit.trace(model, x).save(str(f))
    g = graph(f, x)
    (rnn,) = [n for n in g.modules() if n.module == "rnn"]
    assert [t.shape for t in rnn.outputs] == [(3, 8, 64), (1, 3, 64), (1, 3, 64)]
    assert rnn.params == sum(p.numel() for p in model.rnn.parameters())


def test_state_dict_file_says_it_has_no_architecture(tmp_path):
    f = tmp_path / "weights.pt"
    torch.save(zoo.MLP().state_dict(), f)
    with pytest.raises(FileFormatError, match="holds only weights"):
        graph(f)


def test_pickled_module_is_read_like_a_module(tmp_path):
    torch.manual_seed(0)
    model = zoo.DigitsCNN()
    f = tmp_path / "whole.pth"
    torch.save(model, f)
    g = graph(f, model.example_input(1))
    assert g.method == "fx" and g.total_params == sum(p.numel() for p in model.parameters())


def test_onnx_graph_json_round_trip(tmp_path):
    import json

    torch.manual_seed(0)
    model = zoo.DigitsCNN()
    g = graph(export_onnx(model, model.example_input(1), tmp_path / "cnn.onnx"))
    d = json.loads(g.to_json())
    assert d["method"] == "onnx" and len(d["nodes"]) == len(g.nodes)
    assert np.all([e["shape"] is not None for e in d["edges"]])


@pytest.mark.parametrize("module", ["neuralscope.graph.extract_onnx", "neuralscope.graph.extract_archive"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_torchscript_transformer_has_one_node_per_attention_call(tmp_path):
    torch.manual_seed(0)
    model = zoo.TinyTransformer().eval()
    x = model.example_input(2)
    f = tmp_path / "t.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, x, check_trace=False).save(str(f))
    g = graph(f, x)
    live = graph(model, x, method="export")
    assert [(n.module, n.op) for n in g.modules()] == [(n.module, n.op) for n in live.modules()]
    assert [n.outputs[0].shape for n in g.modules() if n.op == "MultiheadAttention"] == [(2, 12, 32)] * 2
