"""Keras models drawn from their own layer graph: every layer, Keras's parameter totals, real
shapes; the summary agrees with ``model.summary()``; model files from the command line."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import neuralscope  # noqa: E402
from neuralscope.cli import main  # noqa: E402
from neuralscope.errors import InputShapeError  # noqa: E402


def two_in_two_out(op: bool = True):
    """Two inputs, two outputs, a layer shared by both inputs, a nested model and an op (the
    legacy .h5 format cannot store a keras.ops call with a constant: ``op=False``)."""
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, activation="relu", name="dense"),
                              keras.layers.BatchNormalization(name="bn")], name="inner")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    z = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    return keras.Model([a, b], [inner(keras.ops.multiply(z, 2.0) if op else z), keras.layers.Dense(2, name="head2")(z)],
                       name="two")


def real_output_shapes(model, x) -> dict[str, tuple]:
    """Every layer's output shape from Keras's own multi-output model (not neuralscope's recorder)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    return {layer.name: tuple(o.shape) for layer, o in zip(layers, probe(x))}


def keras_summary_totals(model) -> dict[str, int]:
    lines = []
    model.summary(print_fn=lambda text, **kw: lines.append(text))
    text = "\n".join(lines)
    return {k: int(re.search(rf"{k} params: ([\d,]+)", text).group(1).replace(",", ""))
            for k in ("Total", "Trainable", "Non-trainable")}


@pytest.mark.parametrize("arch", ["MobileNetV2", "ResNet50", "EfficientNetB0"])
def test_keras_applications_graph_has_every_layer_keras_totals_and_real_shapes(arch, unchanged):
    model = getattr(keras.applications, arch)(weights=None, input_shape=(64, 64, 3))
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    with unchanged(model):
        g = neuralscope.graph(model, x)
    modules = {n.module: n for n in g.nodes.values() if n.kind == "module"}
    layers = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert sorted(modules) == sorted(layers)
    assert g.method == "keras"
    assert g.total_params == model.count_params() == sum(n.params for n in g.nodes.values())
    real = real_output_shapes(model, x)
    assert {name: modules[name].outputs[0].shape for name in layers} == real
    # the shapes of the graph without example inputs are Keras's symbolic ones (batch unknown)
    symbolic = neuralscope.graph(model)
    assert all(n.outputs[0].shape == (None, *real[n.module][1:]) for n in symbolic.nodes.values() if n.kind == "module")


def test_functional_two_inputs_two_outputs_shared_layer_and_nested_model():
    m = two_in_two_out()
    x = [np.ones((3, 4), "float32"), np.zeros((3, 4), "float32")]
    g = neuralscope.graph(m, x)
    kinds = {n.id: n.kind for n in g.nodes.values()}
    assert kinds == {"input:a": "input", "input:b": "input", "shared": "module", "shared_1": "module",
                     "cat": "module", "multiply": "op", "head2": "module", "inner/dense": "module",
                     "inner/bn": "module", "output:inner": "output", "output:head2": "output"}
    edges = {(e.src, e.dst) for e in g.edges}
    assert {("input:a", "shared"), ("input:b", "shared_1"), ("shared", "cat"), ("shared_1", "cat"),
            ("cat", "multiply"), ("multiply", "inner/dense"), ("inner/dense", "inner/bn"),
            ("inner/bn", "output:inner"), ("cat", "head2"), ("head2", "output:head2")} == edges
    assert g.nodes["shared"].params == 20 and g.nodes["shared_1"].params == 0  # shared weights count once
    assert g.groups["inner"].type == "Sequential" and g.nodes["inner/bn"].group == "inner"
    assert g.total_params == m.count_params() and g.trainable_params == 20 + 54 + 12 + 18
    assert g.nodes["inner/bn"].outputs[0].shape == (3, 6) and g.nodes["multiply"].outputs[0].shape == (3, 8)
    assert "inner" in g.to_svg()  # the nested model is drawn as a box


def test_keras_summary_agrees_with_model_summary_and_counts_macs():
    for m in (two_in_two_out(), keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))):
        s = neuralscope.summary(m)
        want = keras_summary_totals(m)
        assert (s.total_params, s.trainable_params, s.frozen_params) == (
            want["Total"], want["Trainable"], want["Non-trainable"])
    # MobileNetV2 at 224x224 is 300M multiply-adds (Sandler et al. 2018, table 6): at 96x96 it scales
    # with the number of positions; the 0.1% allowance covers the odd-sized feature maps at the edges
    assert s.total_macs == pytest.approx(300.8e6 * (96 / 224) ** 2, rel=0.02)
    conv = next(r for r in s.rows if r.name == "Conv1")
    assert conv.macs == 3 * 3 * 3 * 32 * 48 * 48


def test_keras_summary_macs_follow_the_layer_rules():
    m = keras.Sequential([keras.Input((10, 5)), keras.layers.LSTM(7, return_sequences=True, name="lstm"),
                          keras.layers.Conv1D(4, 3, name="conv"), keras.layers.Dense(2, name="fc")])
    rows = {r.name: r for r in neuralscope.summary(m, np.zeros((2, 10, 5), "float32")).rows}
    assert rows["lstm"].macs == 4 * 7 * (5 + 7) * 2 * 10  # gates x units x (in + units) x batch x steps
    assert rows["conv"].macs == 3 * 7 * 4 * 2 * 8  # kernel x batch x output positions
    assert rows["fc"].macs == 4 * 2 * 2 * 8  # kernel x output rows


def test_subclassed_keras_model_is_read_from_a_real_forward():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.hidden = keras.layers.Dense(4, name="hidden")
            self.out = keras.layers.Dense(1, name="out")

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(InputShapeError, match="pass example_inputs"):
        neuralscope.graph(net)
    g = neuralscope.graph(net, np.zeros((2, 3), "float32"))
    assert g.method == "keras-calls" and [n.id for n in g.nodes.values()] == ["input:0", "hidden", "out", "output:0"]
    assert {(e.src, e.dst) for e in g.edges} == {("input:0", "hidden"), ("hidden", "out"), ("out", "output:0")}
    assert g.total_params == net.count_params()


def test_cli_reads_keras_and_h5_files_and_says_why_not_a_savedmodel(tmp_path, capsys):
    m = two_in_two_out(op=False)
    m.save(tmp_path / "two.keras")
    m.save(tmp_path / "two.h5")
    for name in ("two.keras", "two.h5"):
        out = tmp_path / f"{name}.json"
        assert main(["graph", str(tmp_path / name), "-o", str(out)]) == 0
        d = json.loads(out.read_text())
        assert d["method"] == "keras" and d["total_params"] == m.count_params()
    assert main(["summary", str(tmp_path / "two.keras")]) == 0
    assert f"Total params: {m.count_params():,}" in capsys.readouterr().out
    saved = tmp_path / "exported"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    assert main(["graph", str(saved), "-o", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.save('model.keras')" in err
