"""summary(): the torchinfo-style table. MACs are checked per layer against torchinfo and in
total against PyTorch's own FlopCounterMode (2 FLOPs per multiply-accumulate)."""
from __future__ import annotations

import json

import matplotlib
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from neuralscope import zoo
from neuralscope.errors import InputShapeError, ModelForwardError
from neuralscope.graph.summary import Summary, summary

torchinfo = pytest.importorskip("torchinfo")


def flop_counter_macs(model, x):
    """PyTorch's count: FLOPs / 2. The math SDPA kernel is forced because FlopCounterMode
    has no formula for the fused CPU attention kernel (it would count 0 for attention)."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    was = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel([SDPBackend.MATH]):
            model(x)
    finally:
        model.train(was)
        torch.backends.mha.set_fastpath_enabled(fast)
    return fc.get_total_flops() // 2


def torchinfo_leaf_macs(model, x):
    info = torchinfo.summary(model, input_data=x, verbose=0, depth=20, mode="eval")
    return [(l.class_name, l.macs, l.module) for l in info.summary_list if l.is_leaf_layer or
            isinstance(l.module, (nn.LSTM, nn.GRU))]


def bias_macs(module, out_shape):
    """What torchinfo adds for biases (it counts a bias add as a mult-add; we do not)."""
    b = getattr(module, "bias", None)
    if isinstance(module, nn.modules.conv._ConvNd):
        return 0 if b is None else b.numel() * out_shape[0] * int(torch.tensor(out_shape[2:]).prod())
    if isinstance(module, nn.Linear):
        return 0 if b is None else b.numel() * out_shape[0]
    if isinstance(module, nn.RNNBase):
        n = sum(p.numel() for name, p in module.named_parameters() if name.startswith("bias"))
        return n * out_shape[0] * out_shape[1]
    return 0


def _leaf_rows(s: Summary):
    return [r for r in s.rows if r.leaf]


@pytest.mark.parametrize("name,batch", [("cnn", 2), ("resnet", 3), ("lstm", 3), ("gru", 2), ("mlp", 4)])
def test_macs_per_layer_equal_torchinfo_minus_its_bias_adds(name, batch):
    torch.manual_seed(0)
    model = zoo.create(name)
    x = model.example_input(batch)
    s = summary(model, x)
    ours = {r.name: r for r in _leaf_rows(s)}
    named = {id(m): n for n, m in model.named_modules()}
    checked = 0
    for cls, macs, module in torchinfo_leaf_macs(model, x):
        if not isinstance(module, (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase)):
            continue
        row = ours[named[id(module)]]
        # exact: both count weight x input products; torchinfo adds one per bias element
        assert row.macs + bias_macs(module, row.output_shapes[0]) == macs, (row.name, row.macs, macs)
        checked += 1
    assert checked >= 2


@pytest.fixture(scope="module")
def resnet18():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet18(), torch.randn(1, 3, 112, 112)


def test_torchvision_resnet18_macs_match_torchinfo_per_conv_and_flopcounter_in_total(resnet18):
    model, x = resnet18
    s = summary(model, x)
    convs = [r for r in _leaf_rows(s) if r.type == "Conv2d"]
    ti = [(c, m) for c, m, mod in torchinfo_leaf_macs(model, x) if c == "Conv2d"]
    assert [r.macs for r in convs] == [m for _, m in ti]  # torchvision convs have no bias
    assert s.total_macs == flop_counter_macs(model, x)
    assert s.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("which", ["transformer", "encoder", "cnn", "gru", "matmul"])
def test_total_macs_equal_pytorch_flop_counter(which):
    torch.manual_seed(0)
    if which == "transformer":
        model = zoo.TinyTransformer()
        x = model.example_input(2)
    elif which == "encoder":
        layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, dropout=0.0)
        model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        x = torch.randn(7, 3, 16)
    elif which == "matmul":
        class Functional(nn.Module):
            def __init__(self):
                super().__init__()
                self.q = nn.Linear(8, 8)

            def forward(self, x):
                q = self.q(x)
                a = torch.softmax(q @ x.transpose(1, 2), dim=-1)
                y = torch.bmm(a, x) + torch.nn.functional.scaled_dot_product_attention(q, x, x)
                return torch.einsum("bij,bjk->bik", y, x.transpose(1, 2))

        model = Functional()
        x = torch.randn(2, 5, 8)
    else:
        model = zoo.create(which)
        x = model.example_input(3)
    assert summary(model, x).total_macs == flop_counter_macs(model, x)


def test_table_prints_rows_and_totals_and_to_dict_is_json(unchanged):
    torch.manual_seed(0)
    model = zoo.TinyTransformer()
    with unchanged(model):
        s = summary(model, model.example_input(2))
    text = str(s)
    assert "Total params: 22,466" in text and "Total multiply-accumulates:" in text
    assert "\n    layers.0 (TransformerEncoderLayer)" in text  # indented by depth, ModuleList skipped
    assert "self_attn (MultiheadAttention)" in text and "(2, 12, 32)" in text
    d = json.loads(s.to_json())
    assert d["kind"] == "summary" and d["total_params"] == 22466
    rows = {r["name"]: r for r in d["rows"]}
    assert rows["encoder.layers.0.linear1"]["output_shapes"] == [[2, 12, 64]]
    assert rows["encoder.layers.0.linear1"]["macs"] == 2 * 12 * 32 * 64
    assert rows["encoder.layers.0.linear1"]["memory"] == 2 * 12 * 64 * 4
    assert rows[""]["macs"] == s.total_macs == sum(r["own_macs"] for r in d["rows"])
    assert s.activation_memory == sum(r["memory"] for r in d["rows"] if r["leaf"])


def test_plot_draws_labelled_bars(tmp_path):
    matplotlib.use("Agg")
    torch.manual_seed(0)
    model = zoo.TinyResNet()
    s = summary(model, model.example_input(1))
    fig = s.plot()
    a0, a1 = fig.axes[:2]
    assert a0.get_xlabel() == "parameters" and "multiply-accumulates" in a1.get_xlabel()
    labels = [t.get_text() for t in a0.get_yticklabels()]
    assert len(labels) == len(s.plot_rows()) and labels[0].startswith("stem.0")
    assert len(a1.patches) == len(labels)
    s.save(tmp_path / "summary.png")
    assert (tmp_path / "summary.png").stat().st_size > 5000


def test_large_model_plot_collapses_to_a_readable_depth(resnet18):
    model, x = resnet18
    s = summary(model, x)
    rows = s.plot_rows()
    assert len(rows) <= 40
    assert sum(r.macs for r in rows) == s.total_macs  # nothing lost by collapsing
    assert sum(r.params for r in rows) == s.total_params


def test_errors_and_model_left_unchanged(unchanged):
    model = zoo.DigitsCNN()
    model.train()
    with unchanged(model), pytest.raises(InputShapeError, match="does not fit DigitsCNN"):
        summary(model, torch.zeros(1, 2, 8, 8))

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x).sqrt_().nonexistent()

    broken = Broken()
    with unchanged(broken), pytest.raises(ModelForwardError, match="Broken.forward"):
        summary(broken, torch.zeros(1, 3))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        summary("model.onnx")


def test_docstring_example_runs():
    import doctest
    import importlib

    mod = importlib.import_module("neuralscope.graph.summary")  # the package re-exports summary()

    assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0


def test_custom_leaf_module_macs_come_from_its_functional_ops():
    class Attention(nn.Module):  # no children: a leaf without a MAC rule of its own
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 8))

        def forward(self, x):
            q = x @ self.w
            return torch.nn.functional.scaled_dot_product_attention(q, x, x)

    model = nn.Sequential(Attention(), nn.Linear(8, 3))
    x = torch.randn(2, 5, 8)
    s = summary(model, x)
    assert s.rows[1].macs == 2 * 5 * 8 * 8 + 2 * 5 * 5 * (8 + 8)
    assert s.total_macs == flop_counter_macs(model, x)


def test_summary_of_a_torch_export_archive_equals_the_live_model(tmp_path, capsys):
    from neuralscope.cli import main

    torch.manual_seed(0)
    model = zoo.TinyResNet().eval()
    x = model.example_input(1)
    f = tmp_path / "r.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(f))
    out = tmp_path / "r.json"
    assert main(["summary", str(f), "-o", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["total_macs"] == summary(model, x).total_macs and d["total_params"] == 42938


def test_html_page_holds_the_table_and_the_chart(tmp_path):
    s = summary(zoo.DigitsCNN(), torch.zeros(1, 1, 8, 8))
    page = s.save(tmp_path / "s.html").read_text()
    assert "Total params: 28,970" in page and "data:image/png;base64," in page
    assert "&lt;" not in page.split("<pre")[0]  # a real page, no escaped markup outside the table
