"""What the dashboard reads through public APIs: an Embedding's thumbnails in its
``to_dict()``, the store's incremental scalar reader, and ``Graph.from_dict``."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from neuralscope.data import load_digits
from neuralscope.inspect.embedding import embed


def _decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_embedding_to_dict_carries_one_lossless_thumbnail_per_point():
    x = load_digits().x_train[:30]
    e = embed(x.flatten(1), labels=list(range(30)), images=x)
    d = e.to_dict()
    assert len(d["thumbnails"]) == len(d["coords"]) == 30
    for i in (0, 7, 29):
        # PNG is lossless: the decoded pixels are the uint8 thumbnail the Embedding holds,
        # which is the digit scaled from [0, 1] to [0, 255]
        np.testing.assert_array_equal(_decode(d["thumbnails"][i]), e.images[i])
        np.testing.assert_array_equal(e.images[i], (x[i, 0].numpy() * 255).round().astype(np.uint8))


def test_embedding_to_dict_colour_thumbnails_and_none_without_images():
    rng = np.random.default_rng(0)
    photos = torch.from_numpy(rng.random((5, 3, 40, 20), dtype=np.float32))
    e = embed(rng.normal(size=(5, 4)), images=photos)
    pix = _decode(e.to_dict()["thumbnails"][3])
    assert pix.shape == (32, 16, 3)  # longest side reduced to 32
    np.testing.assert_array_equal(pix, e.images[3])
    assert "thumbnails" not in embed(rng.normal(size=(5, 4))).to_dict()


# -- the store's incremental scalar reader ---------------------------------------------------
import pytest  # noqa: E402

from neuralscope.track.run import Run  # noqa: E402
from neuralscope.track.store import CHUNK, ReadPositionError, RunReader  # noqa: E402


def test_scalars_since_returns_exactly_the_points_after_a_position_across_chunks(tmp_path):
    n = 2 * CHUNK + 500
    vals = np.sin(np.arange(n) / 7.0)
    with Run(tmp_path / "r") as run:
        for i in range(n):
            run.log({"x": float(vals[i])}, step=3 * i)
    reader = RunReader(tmp_path / "r")
    assert reader.scalar_count("x") == n
    for pos in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, n - 1, n):
        t = reader.scalars_since("x", pos)
        assert (t.start, t.position) == (pos, n)
        np.testing.assert_array_equal(t.steps, 3 * np.arange(pos, n))
        np.testing.assert_array_equal(t.values, vals[pos:])  # the values logged, bit for bit
        assert len(t.walls) == n - pos and np.all(np.diff(t.walls) >= 0)


def test_following_a_live_run_with_scalars_since_sees_every_point_once(tmp_path):
    run = Run(tmp_path / "live", flush_interval=0.01)
    reader = RunReader(tmp_path / "live")
    logged, seen, pos = [], [], 0
    try:
        for batch in range(30):
            for i in range(batch * 700, (batch + 1) * 700):
                run.log({"loss": i * 0.5}, step=i)
                logged.append(i * 0.5)
            if batch % 3 == 0:
                run.flush()
            if batch == 0:
                run.flush()
            t = reader.scalars_since("loss", pos)
            assert t.start == pos and t.position == pos + len(t.steps)
            seen.extend(t.values.tolist())
            pos = t.position
        run.flush()
        t = reader.scalars_since("loss", pos)
        seen.extend(t.values.tolist())
    finally:
        run.close()
    assert seen == logged  # none missing, none twice, in logging order
    assert reader.scalar_count("loss") == len(logged) == 21_000


def test_scalars_since_a_position_past_the_end_returns_the_series_from_the_start(tmp_path):
    with Run(tmp_path / "r") as run:
        for i in range(10):
            run.log({"x": float(i)}, step=i)
    reader = RunReader(tmp_path / "r")
    t = reader.scalars_since("x", 25)  # e.g. the run directory was replaced by a shorter run
    assert (t.start, t.position) == (0, 10)
    assert t.values.tolist() == [float(i) for i in range(10)]
    nothing = reader.scalars_since("x", 10)
    assert (nothing.start, nothing.position, len(nothing.steps)) == (10, 10, 0)
    assert nothing.steps.dtype == np.int64 and nothing.values.dtype == np.float64


def test_scalars_since_bad_position_and_unknown_series_are_one_sentence(tmp_path):
    from neuralscope.errors import LayerNotFoundError

    with Run(tmp_path / "r") as run:
        run.log({"loss": 1.0}, step=0)
    reader = RunReader(tmp_path / "r")
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ReadPositionError, match="whole number"):
            reader.scalars_since("loss", bad)
    with pytest.raises(LayerNotFoundError, match="loss"):
        reader.scalars_since("los", 0)
    with pytest.raises(LayerNotFoundError):
        reader.scalar_count("nope")


def test_the_server_reads_runs_only_through_the_store_reader():
    # the dashboard's code holds no SQL of the store's schema: it uses RunReader's methods
    import neuralscope.server as server

    root = Path(server.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text()
        assert ".conn." not in text and "scalar_chunks" not in text, f.name
        # nor private names of the graph package: a logged graph is rebuilt with Graph.from_dict
        assert "rh._" not in text and "_script_json" not in text and "_asset(" not in text, f.name


# -- Graph.from_dict ----------------------------------------------------------------------------
import json  # noqa: E402

from neuralscope.graph.api import graph  # noqa: E402
from neuralscope.graph.model import Graph  # noqa: E402
from neuralscope.result import jsonable  # noqa: E402
from neuralscope.zoo import MLP, DigitsCNN, RNNClassifier, TinyResNet, TinyTransformer  # noqa: E402

ZOO = {"mlp": MLP, "cnn": DigitsCNN, "lstm": lambda: RNNClassifier("lstm"), "gru": lambda: RNNClassifier("gru"),
       "transformer": TinyTransformer, "resnet": TinyResNet}


@pytest.fixture(scope="module")
def zoo_graphs():
    out = {}
    for name, make in ZOO.items():
        torch.manual_seed(0)
        model = make().eval()
        out[name] = graph(model, model.example_input(2))
    return out


@pytest.mark.parametrize("name", list(ZOO))
def test_graph_from_dict_inverts_to_dict_for_the_zoo_models(zoo_graphs, name):
    g = zoo_graphs[name]
    d = g.to_dict()
    back = Graph.from_dict(d)
    assert back.to_dict() == d
    # the same after the trip through JSON that run.log_result makes
    logged = json.loads(json.dumps(jsonable(d)))
    assert jsonable(Graph.from_dict(logged).to_dict()) == logged
    # and it is a working Graph: same views, same parameter totals, same drawing
    assert back.total_params == g.total_params and back.trainable_params == g.trainable_params
    for depth in (None, 1):
        v0, v1 = g.view(depth), back.view(depth)
        assert [n.to_dict() for n in v1.nodes] == [n.to_dict() for n in v0.nodes]
        assert [e.to_dict() for e in v1.edges] == [e.to_dict() for e in v0.edges]
    assert Graph.from_dict(logged).to_svg() == g.to_svg()


def test_graph_from_dict_refuses_other_data_with_one_sentence(zoo_graphs):
    from neuralscope.errors import FileFormatError

    with pytest.raises(FileFormatError, match="not of 'embedding'"):
        Graph.from_dict({"kind": "embedding", "coords": []})
    d = zoo_graphs["mlp"].to_dict()
    with pytest.raises(FileFormatError, match="lacks 'edges'"):
        Graph.from_dict({k: v for k, v in d.items() if k != "edges"})
    broken = dict(d, nodes=[{"id": "x"}])
    with pytest.raises(FileFormatError, match="not the to_dict"):
        Graph.from_dict(broken)
