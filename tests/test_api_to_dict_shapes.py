"""The API returns exactly the ``to_dict()`` shapes, and each kind's ``to_dict()`` follows the
schema it declares next to its class (``Result.schema``, checked by ``check_schema``).

The oracle of every route is the result object read or computed directly (the reader's
``ScalarSeries`` / ``HistogramSeries`` / ``Diagnostics``, the logged object itself), sent
through ``jsonable`` and JSON as the server sends it.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient
from torch import nn

import neuralscope as ns
from neuralscope.plot.animation import animate_forward, weights_over_training
from neuralscope.plot.conv_forward import animate_conv
from neuralscope.zoo import MLP, DigitsCNN, RNNClassifier
from neuralscope.inspect import activations as A
from neuralscope.inspect import weights as W
from neuralscope.inspect.activations import activation_histograms, dead_units
from neuralscope.graph.summary import summary
from neuralscope.inspect.embedding import embed
from neuralscope.inspect.functions import activation_functions
from neuralscope.inspect.weights import weight_histograms
from neuralscope.result import Result, SchemaError, check_schema, jsonable
from neuralscope.attribution import compare, explain
from neuralscope.attribution.compare import Comparison
from neuralscope.attribution.metrics import deletion_insertion, model_randomization
from neuralscope.attribution.result import Attribution
from neuralscope.audit.api import audit
from neuralscope.featurevis import feature_vis, reconstruct
from neuralscope.server.app import create_app
from neuralscope.track import Run, open_run, runs
from neuralscope.track.results import Diagnostics, HistogramSeries, ScalarSeries


def as_sent(obj) -> dict:
    """What the server sends for a ``to_dict()``: JSON data, NaN as null."""
    return json.loads(json.dumps(jsonable(obj.to_dict() if hasattr(obj, "to_dict") else obj)))


class ImageAndMeta(nn.Module):
    """Two inputs: an image branch and a tabular branch joined by a linear head."""

    def __init__(self):
        super().__init__()
        self.conv, self.meta, self.head = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(5, 5), nn.Linear(9, 3)

    def forward(self, image, meta):
        return self.head(torch.cat([torch.relu(self.conv(image)).mean((2, 3)), torch.tanh(self.meta(meta))], 1))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Sigmoid())


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    net, x = _net(), torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    objects = [ns.graph(net, x[:1]), dead_units(net, x), weight_histograms(net, bins=10),
               activation_histograms(net, x, bins=10), ScalarSeries("curve", [0, 1, 2], [1.0, float("nan"), 0.5])]
    with Run(root / "alpha") as run:
        for i in range(500):
            run.log({"loss": 1.0 / (i + 1) if i != 300 else float("nan")}, step=i)
        for s in range(0, 500, 50):
            run.log_histogram("weights/fc", np.random.default_rng(s).normal(size=300) * (1 + s / 100), step=s)
        for obj in objects:
            run.log_result(obj)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        yield {"client": client, "objects": objects, "reader": open_run(root / "alpha"), "root": root}


@pytest.mark.parametrize("params", [{}, {"buckets": 40}, {"buckets": 40, "method": "lttb"}, {"start": 10, "end": 20}])
def test_scalars_route_is_the_scalar_series_to_dict(logged, params):
    got = logged["client"].get("/api/scalars", params={"run": "alpha", "tag": "loss", **params}).json()
    want = logged["reader"].scalars("loss", **params)
    assert got == as_sent(want)
    check_schema(got, ScalarSeries.schema)


@pytest.mark.parametrize("max_steps", [200, 4])
def test_histograms_route_is_the_histogram_series_to_dict(logged, max_steps):
    got = logged["client"].get("/api/histograms", params={"run": "alpha", "tag": "weights/fc",
                                                           "max_steps": max_steps}).json()
    want = logged["reader"].histograms("weights/fc", max_steps=max_steps)
    assert got == as_sent(want) and len(got["histograms"]) == min(10, max_steps)
    check_schema(got, HistogramSeries.schema)


def test_result_and_graph_routes_return_each_logged_objects_to_dict(logged):
    c = logged["client"]
    listed = c.get("/api/results", params={"run": "alpha"}).json()["items"]
    assert [i["kind"] for i in listed] == [o.kind for o in logged["objects"]]
    for item, obj in zip(listed, logged["objects"]):
        got = c.get("/api/result", params={"run": "alpha", "index": item["index"]}).json()
        assert got["kind"] == obj.kind and got["data"] == as_sent(obj)
    assert c.get("/api/graph", params={"run": "alpha"}).json()["graph"] == as_sent(logged["objects"][0])


def test_diagnostics_route_is_the_diagnostics_to_dict_with_each_items_run(logged):
    got = logged["client"].get("/api/diagnostics", params={"run": "alpha"}).json()
    want = logged["reader"].diagnostics()
    for d in want:
        d.run = "alpha"
    want.run = "alpha"
    assert got == as_sent(want) and "nonfinite" in {d["code"] for d in got["items"]}
    check_schema(got, Diagnostics.schema)


def _examples(logged) -> dict[str, list[Result]]:
    """Real examples of every kind that declares a schema (kind -> examples)."""
    reader = logged["reader"]
    found: dict[str, list[Result]] = {}
    for obj in [*logged["objects"], reader.scalars("loss"), reader.histograms("weights/fc"), reader.diagnostics(),
                runs(reader.dir.parent), *_attribution_examples(logged["root"])]:
        found.setdefault(obj.kind, []).append(obj)
    torch.manual_seed(0)
    cnn, rnn = DigitsCNN(width=4), RNNClassifier("gru")
    x = cnn.example_input(6)
    lin, xl, yl = nn.Linear(4, 3), torch.randn(32, 4), torch.randint(0, 3, (32,))
    for make in (lambda: W.weight_heatmap(cnn, "classifier"), lambda: W.weight_stats(cnn),
                 lambda: W.conv_filters(cnn, "features.0"), lambda: A.feature_maps(cnn, x[:1], "features.2"),
                 lambda: A.unit_activations(cnn, x, "features.2", 0, labels=list("abcdef")),
                 lambda: A.activation_heatmap(cnn, x, "classifier"),
                 lambda: A.hidden_states(rnn, torch.rand(2, 1, 8, 8), index=1),
                 lambda: activation_functions(["relu", "tanh"]), lambda: summary(cnn, x[:2]),
                 lambda: ns.attention(_attention_net(), torch.randn(2, 5, 8)),
                 lambda: embed(np.random.default_rng(0).normal(size=(40, 6)), labels=np.arange(40) % 3,
                               values=np.arange(40.0), images=np.zeros((40, 4, 4))),
                 lambda: ns.loss_landscape(lin, (xl, yl), steps=5),
                 lambda: ns.curvature(nn.Linear(3, 1, bias=False), (torch.eye(3), torch.zeros(3, 1)), top_k=2),
                 lambda: ns.trajectory(_checkpoints(lin, xl, yl), lin, (xl, yl), grid=4),
                 lambda: weights_over_training(_checkpoints(lin, xl, yl, 3), "weight"),
                 lambda: animate_forward(MLP(hidden=(8,)), torch.randn(1, 64)),
                 lambda: animate_conv(cnn.eval(), x[:1]),
                 lambda: ns.attention(_attention_net(), torch.randn(2, 5, 8)).head_stats(),
                 lambda: animate_forward(MLP(hidden=(8,)), torch.randn(1, 64)).animation().frames[1],
                 lambda: animate_conv(cnn.eval(), x[:1]).animation().frames[1]):
        obj = make()
        found.setdefault(obj.kind, []).append(obj)
    return found


def _attribution_examples(root) -> list[Result]:
    """The attribution family on a small CNN: one-input and two-input maps, a comparison,
    faithfulness curves, a sanity check, feature visualization with dataset examples, a unit
    reconstruction and a whole-data-set audit."""
    torch.manual_seed(0)
    cnn = DigitsCNN(width=4).eval()
    x = cnn.example_input(4)
    saliency = explain(cnn, x, method="saliency")
    two_inputs = explain(ImageAndMeta().eval(), (torch.rand(3, 1, 6, 6), torch.rand(3, 5)), target=[0, 2, 1],
                         method="saliency")
    return [saliency, two_inputs, explain(cnn, x, method="grad_cam"),
            compare(cnn, x, methods=["saliency", "grad_cam"], steps=4),
            deletion_insertion(cnn, x, saliency, steps=4),
            model_randomization(cnn, x[:2], method="saliency"),
            feature_vis(cnn, "features.2:0-1", steps=3, thresholds=(2,), dataset=cnn.example_input(12), top_k=3),
            reconstruct(cnn, x[:2], "features.2:0"),
            audit(cnn, cnn.example_input(20), layer="features", run=root / "audited", shard_size=16, steps=4)]


def _checkpoints(net: nn.Module, x, y, n: int = 5) -> list[dict]:
    """State dicts of a few SGD steps on a copy of ``net`` (the trajectory's input)."""
    import copy

    net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    out = []
    for _ in range(n):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        out.append({k: v.clone() for k, v in net.state_dict().items()})
    return out


def _attention_net() -> nn.Module:
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x)[0]

    torch.manual_seed(0)
    return Block().eval()


def _declared() -> list[type]:
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(ns.__path__, "neuralscope."):
        if not info.name.startswith(("neuralscope.keras", "neuralscope.adapters.keras", "neuralscope.demo")) \
                and not info.name.endswith("__main__"):
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional framework that is not installed
                continue
    out, todo = [], list(Result.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        home = sys.modules.get(cls.__module__)  # the package's own classes, not ones a doctest or test made
        if cls.schema is not None and getattr(home, cls.__name__, None) is cls:  # declared or inherited
            out.append(cls)
    return sorted(out, key=lambda c: c.kind)


def test_every_declared_schema_holds_on_a_real_example(logged):
    examples = _examples(logged)
    declared = _declared()
    assert {c.kind for c in declared} >= {"scalar_series", "histogram_series", "diagnostics", "dead_units",
                                          "weight_histograms", "graph", "run_set"}
    for cls in declared:
        assert examples.get(cls.kind), f"no example of {cls.kind} in this test: add one to _examples"
        for example in examples[cls.kind]:
            check_schema(example.to_dict(), cls.schema)  # numpy form, as the library returns it
            check_schema(as_sent(example), cls.schema)  # JSON form, as the store and the API keep it


def test_a_document_off_its_schema_is_named_by_field(logged):
    doc = as_sent(logged["reader"].scalars("loss"))
    with pytest.raises(SchemaError, match="values: size 499 where n is 500"):
        check_schema({**doc, "values": doc["values"][:-1]}, ScalarSeries.schema)
    with pytest.raises(SchemaError, match=r"fields \['walls'\] missing"):
        check_schema({k: v for k, v in doc.items() if k != "walls"}, ScalarSeries.schema)
    hist = as_sent(logged["reader"].histograms("weights/fc"))
    hist["histograms"][3]["step"] = "three"
    with pytest.raises(SchemaError, match=r"histograms\[3\].step: int expected"):
        check_schema(hist, HistogramSeries.schema)


def test_every_kind_declares_its_schema():
    _declared()  # imports every module, so every Result subclass is known
    kinds, todo = set(), list(Result.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        home = sys.modules.get(cls.__module__)  # the package's own classes, not ones a doctest or test made
        if cls.schema is None and cls.__module__.startswith("neuralscope.") and getattr(home, cls.__name__, None) is cls:
            kinds.add(cls.kind)
    assert not kinds, f"declare a schema next to the class of {sorted(kinds)}"


def test_nested_attribution_documents_are_checked_by_the_attribution_schema(logged):
    comparison = next(o for o in _attribution_examples(logged["root"]) if o.kind == "attribution_comparison")
    doc = as_sent(comparison)
    doc["results"]["grad_cam"]["targets"] = doc["results"]["grad_cam"]["targets"][:-1]
    with pytest.raises(SchemaError, match=r"results.grad_cam.targets: size 3 where b is 4"):
        check_schema(doc, Comparison.schema)
    two = as_sent(explain(ImageAndMeta().eval(), (torch.rand(3, 1, 6, 6), torch.rand(3, 5)), method="saliency"))
    two["parts"][1]["attributions"] = two["parts"][1]["attributions"][0]
    with pytest.raises(SchemaError, match=r"parts\[1\].attributions: size 5 where b is 3"):
        check_schema(two, Attribution.schema)
