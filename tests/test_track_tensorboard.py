"""TensorBoard import/export, checked with the tensorboard package's own reader."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from neuralscope.cli import main
from neuralscope.errors import FileFormatError
from neuralscope.track import Run, open_run
from neuralscope.track.tensorboard import (EventFileWriter, crc32c, export_tensorboard,
                                           import_tensorboard, masked_crc32c)

SIZES = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}


def _accumulate(path):
    ea = EventAccumulator(str(path), size_guidance=SIZES)
    ea.Reload()
    return ea


def test_crc32c_matches_published_vectors():
    assert crc32c(b"123456789") == 0xE3069283          # RFC 3720 / iSCSI check value
    assert crc32c(bytes(32)) == 0x8A9136AA              # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43     # RFC 3720 B.4: 32 bytes of ones
    assert masked_crc32c(b"\x1a\x11CRC test, one two") == 0x5794D08A  # TensorBoard's test


@pytest.fixture(scope="module")
def summary_writer_logs(tmp_path_factory):
    """Logs written by torch.utils.tensorboard.SummaryWriter (scalars, histograms, images,
    text), the user's "old experiment"."""
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path_factory.mktemp("tb")
    g = torch.Generator().manual_seed(0)
    w = SummaryWriter(str(logdir))
    for i in range(300):
        w.add_scalar("loss", 2.0 / (i + 1) + 0.01 * float(torch.rand(1, generator=g)), i)
        w.add_scalar("metrics/acc", i / 300, i)
        if i % 50 == 0:
            w.add_histogram("weights/fc", torch.randn(2000, generator=g) * (1 + i / 100), i)
            w.add_histogram("grads/fc", torch.randn(500, generator=g) * 1e-3, i, bins="auto")
            w.add_image("sample", torch.rand(3, 10, 12, generator=g), i)
            w.add_text("notes", f"step **{i}**", i)
    w.close()
    return logdir


def test_summary_writer_logs_round_trip_through_a_run(summary_writer_logs, tmp_path):
    counts = import_tensorboard(summary_writer_logs, tmp_path / "run")
    assert counts == {"scalar": 600, "histogram": 12, "image": 6, "text": 6, "skipped": 0}
    export_tensorboard(tmp_path / "run", tmp_path / "out")
    a, b = _accumulate(summary_writer_logs), _accumulate(tmp_path / "out")
    for kind in ("scalars", "histograms", "images", "tensors"):
        assert sorted(a.Tags()[kind]) == sorted(b.Tags()[kind]), kind
    for tag in a.Tags()["scalars"]:
        ea, eb = a.Scalars(tag), b.Scalars(tag)
        assert [e.step for e in ea] == [e.step for e in eb]
        assert [e.value for e in ea] == [e.value for e in eb]  # float32 values, exact
        assert [e.wall_time for e in ea] == pytest.approx([e.wall_time for e in eb], abs=1e-6)
    for tag in a.Tags()["histograms"]:
        ha, hb = a.Histograms(tag), b.Histograms(tag)
        assert [e.step for e in ha] == [e.step for e in hb]
        for x, y in zip(ha, hb):
            x, y = x.histogram_value, y.histogram_value
            assert list(x.bucket) == list(y.bucket) and list(x.bucket_limit) == list(y.bucket_limit)
            assert (x.min, x.max, x.num, x.sum, x.sum_squares) == (y.min, y.max, y.num, y.sum, y.sum_squares)
    for tag in a.Tags()["images"]:
        assert [(e.step, e.encoded_image_string, e.width, e.height) for e in a.Images(tag)] == \
               [(e.step, e.encoded_image_string, e.width, e.height) for e in b.Images(tag)]
    for tag in a.Tags()["tensors"]:
        assert [(e.step, list(e.tensor_proto.string_val)) for e in a.Tensors(tag)] == \
               [(e.step, list(e.tensor_proto.string_val)) for e in b.Tensors(tag)]


def test_imported_histograms_keep_bucket_counts_and_read_as_series(summary_writer_logs, tmp_path):
    import_tensorboard(summary_writer_logs, tmp_path / "run")
    a = _accumulate(summary_writer_logs)
    hs = open_run(tmp_path / "run").histograms("weights/fc")
    assert hs.steps.tolist() == [e.step for e in a.Histograms("weights/fc")]
    for row, e in zip(hs.rows, a.Histograms("weights/fc")):
        np.testing.assert_array_equal(row["counts"], e.histogram_value.bucket)
        assert row["counts"].sum() == 2000
    assert open_run(tmp_path / "run").artifacts(kind="text")[0]["text"] == "step **0**"


def test_native_run_exports_what_tensorboard_reads(tmp_path):
    rng = np.random.default_rng(0)
    with Run(tmp_path / "run") as run:
        for i in range(1000):
            run.log({"loss": float(rng.random()), "lr": 0.1}, step=i)
        x = torch.randn(4000, generator=torch.Generator().manual_seed(1))
        run.log_histogram("w", x, step=10, bins=40)
        run.log_image("img", np.full((6, 7, 3), 0.5), step=3)
        run.log_text("readme", "hello", step=0)
    out = export_tensorboard(tmp_path / "run", tmp_path / "tb")
    assert out.name.startswith("events.out.tfevents.")
    ea = _accumulate(tmp_path / "tb")
    loss = open_run(tmp_path / "run").scalars("loss")
    assert [e.step for e in ea.Scalars("loss")] == loss.steps.tolist()
    np.testing.assert_allclose([e.value for e in ea.Scalars("loss")], loss.values, rtol=1e-7)  # float32
    h = ea.Histograms("w")[0].histogram_value
    counts, edges = np.histogram(x.numpy(), bins=40, range=(float(x.min()), float(x.max())))
    assert abs(np.array(h.bucket) - counts).sum() <= 2 and sum(h.bucket) == 4000
    np.testing.assert_allclose(h.bucket_limit, edges[1:], rtol=1e-6)
    img = ea.Images("img")[0]
    assert (img.width, img.height) == (7, 6)
    assert ea.Tensors("readme")[0].tensor_proto.string_val == [b"hello"]


def test_tensor_form_summaries_are_imported(tmp_path):
    """tensorboard.summary's v2 forms: scalars and histograms as tensors with plugin data."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.util import tensor_util

    w = EventFileWriter(tmp_path / "tb")
    for step in range(3):
        ev = event_pb2.Event(step=step, wall_time=1000.0 + step)
        v = ev.summary.value.add(tag="v2/scalar", tensor=tensor_util.make_tensor_proto(np.float32(step / 4)))
        v.metadata.plugin_data.plugin_name = "scalars"
        buckets = np.array([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]])
        h = ev.summary.value.add(tag="v2/hist", tensor=tensor_util.make_tensor_proto(buckets))
        h.metadata.CopyFrom(summary_pb2.SummaryMetadata(plugin_data={"plugin_name": "histograms"}))
        w.write(ev)
    w.close()
    counts = import_tensorboard(tmp_path / "tb", tmp_path / "run")
    assert counts["scalar"] == 3 and counts["histogram"] == 3
    r = open_run(tmp_path / "run")
    assert r.scalars("v2/scalar").values.tolist() == [0.0, 0.25, 0.5]
    assert r.scalars("v2/scalar").walls.tolist() == [1000.0, 1001.0, 1002.0]
    row = r.histogram_rows("v2/hist")[0]
    assert row["edges"].tolist() == [0.0, 1.0, 2.0] and row["counts"].tolist() == [3.0, 5.0]


def test_subdirectories_become_tag_prefixes(tmp_path):
    for sub, val in (("train", 1.0), ("val", 2.0)):
        w = EventFileWriter(tmp_path / "tb" / sub)
        w.scalar("loss", val, step=0)
        w.close()
    import_tensorboard(tmp_path / "tb", tmp_path / "run")
    r = open_run(tmp_path / "run")
    assert r.names("scalar") == ["train/loss", "val/loss"]


def test_corrupt_and_truncated_event_files(tmp_path):
    w = EventFileWriter(tmp_path / "tb")
    for i in range(5):
        w.scalar("x", float(i), step=i)
    w.close()
    data = w.path.read_bytes()
    w.path.write_bytes(data[:-7])  # a writer killed mid-record
    # refused by default, naming file and offset, and no half-imported run is left
    with pytest.raises(FileFormatError, match=r"is truncated: the record at byte \d+ .*nothing was imported"):
        import_tensorboard(tmp_path / "tb", tmp_path / "r1")
    assert not (tmp_path / "r1").exists()
    # partial=True: the complete records count, and the run says the import stopped early
    counts = import_tensorboard(tmp_path / "tb", tmp_path / "r1", partial=True)
    assert counts["scalar"] == 4 and "truncated" in counts["errors"][0]
    assert [n["code"] for n in open_run(tmp_path / "r1").notes()] == ["import_incomplete"]
    bad = bytearray(data)
    bad[len(data) // 2] ^= 0xFF
    w.path.write_bytes(bytes(bad))
    with pytest.raises(FileFormatError, match=r"corrupt: bad \w+ checksum in the record at byte \d+"):
        import_tensorboard(tmp_path / "tb", tmp_path / "r2")
    assert not (tmp_path / "r2").exists()
    with pytest.raises(FileFormatError, match="No TensorBoard event files"):
        import_tensorboard(tmp_path / "r1", tmp_path / "r3")
    # the framing is little-endian: length 8 bytes, then its masked CRC
    (length,) = struct.unpack("<Q", data[:8])
    assert struct.unpack("<I", data[8:12])[0] == masked_crc32c(data[:8]) and length < 100


def test_cli_export_and_import(tmp_path, capsys):
    with Run(tmp_path / "run") as run:
        for i in range(10):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
    assert main(["export-tensorboard", str(tmp_path / "run"), str(tmp_path / "tb")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["import-tensorboard", str(tmp_path / "tb"), str(tmp_path / "back")]) == 0
    assert "imported 10 scalar value(s)" in capsys.readouterr().out
    np.testing.assert_allclose(open_run(tmp_path / "back").scalars("loss").values,
                               [1.0 / (i + 1) for i in range(10)], rtol=1e-7)
    assert main(["import-tensorboard", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuralscope: error: No TensorBoard log directory") and err.count("\n") == 1


def test_tensorflow_style_histogram_edges_do_not_squash_the_plot(tmp_path):
    """TensorFlow's default buckets end at +-DBL_MAX; plots clip edges to the data range."""
    import matplotlib.pyplot as plt

    w = EventFileWriter(tmp_path / "tb")
    limits = [-1.7976931348623157e308, -1.0, -0.5, 0.0, 0.5, 1.0, 1.7976931348623157e308]
    w.histogram("tf", [-1.8e308] + limits, [0, 0, 3, 4, 3, 0, 0], step=0, stats=(10, -0.95, 0.9, 0.0, 5.0))
    w.close()
    import_tensorboard(tmp_path / "tb", tmp_path / "run")
    hs = open_run(tmp_path / "run").histograms("tf")
    grid, counts = hs.regrid(20)
    assert grid[0] == -0.95 and grid[-1] == 0.9 and counts.sum() == 10
    ax = hs.plot()
    assert ax.get_ylim()[1] < 2
    plt.close("all")
