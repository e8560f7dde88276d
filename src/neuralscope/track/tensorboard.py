"""TensorBoard event files: export a run, import existing logs into a run.

Format (TensorBoard's ``record_writer`` and ``event_file_loader``): a file is a sequence of
records ``uint64 length | uint32 masked_crc32c(length) | payload | uint32 masked_crc32c(payload)``
(little-endian), each payload a serialized ``Event`` protobuf; the first event carries
``file_version = "brain.Event:2"``. CRC-32C is the Castagnoli polynomial (RFC 3720), masked as
``((crc >> 15) | (crc << 17)) + 0xA282EAD8``. The protobuf classes come from the
``tensorboard`` package (no TensorFlow needed); it is needed only here.

Export writes scalars as ``simple_value``, histograms as the legacy ``HistogramProto`` (the
forms every reader understands), images as ``Summary.Image`` and text through the text
plugin. Import reads those forms and the tensor forms written by ``tensorboard.summary``
and ``torch.utils.tensorboard`` (scalars, histograms, images, text), keeping steps, wall
times and histogram buckets exactly.
"""
from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import FileFormatError
from ..histogram import Histogram
from .store import RunReader, StoreWriter

__all__ = ["export_tensorboard", "import_tensorboard", "masked_crc32c", "crc32c", "read_events",
           "EventFileWriter", "EventFileError"]

# -- CRC-32C ------------------------------------------------------------------------------
_POLY = 0x82F63B78  # Castagnoli, reflected


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``.

    Example:
        >>> hex(crc32c(b"123456789"))  # the standard check value
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C TensorBoard stores after each length and payload.

    Example:
        >>> hex(masked_crc32c(b"\\x1a\\x11CRC test, one two"))  # TensorBoard's test vector
        '0x5794d08a'
    """
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- records ------------------------------------------------------------------------------
def _record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", masked_crc32c(header)) + payload
            + struct.pack("<I", masked_crc32c(payload)))


class EventFileError(FileFormatError):
    """An event file that is truncated or fails a checksum (the message names the file and
    the byte offset)."""


def read_records(path: Path) -> Iterator[bytes]:
    """Payloads of an event file, checking both CRCs; a record cut short (a writer killed
    mid-write, an incomplete copy) or a CRC mismatch raises :class:`EventFileError` naming
    the file and the byte offset, after the complete records before it were yielded."""
    data = Path(path).read_bytes()
    pos, n = 0, len(data)
    while pos < n:
        if pos + 12 > n:
            raise _truncated(path, pos, n)
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if hcrc != masked_crc32c(header):
            raise EventFileError(f"The TensorBoard event file {str(path)!r} is corrupt: bad length "
                                 f"checksum in the record at byte {pos}.")
        end = pos + 12 + length + 4
        if end > n:
            raise _truncated(path, pos, n)
        payload = data[pos + 12:pos + 12 + length]
        (pcrc,) = struct.unpack("<I", data[end - 4:end])
        if pcrc != masked_crc32c(payload):
            raise EventFileError(f"The TensorBoard event file {str(path)!r} is corrupt: bad data "
                                 f"checksum in the record at byte {pos}.")
        yield payload
        pos = end


def _truncated(path: Path, pos: int, n: int) -> EventFileError:
    return EventFileError(f"The TensorBoard event file {str(path)!r} is truncated: the record at byte {pos} "
                          f"ends past the end of the file ({n} bytes).")


def _pb():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
    except ImportError as exc:  # pragma: no cover - dev extra
        raise ImportError("TensorBoard import/export needs the 'tensorboard' package "
                          "(pip install tensorboard).") from exc
    return event_pb2, summary_pb2, tensor_pb2


def read_events(path: Path):
    """The ``Event`` protobufs of one event file, in file order."""
    event_pb2, _, _ = _pb()
    for payload in read_records(path):
        ev = event_pb2.Event()
        try:
            ev.ParseFromString(payload)
        except Exception as exc:  # protobuf DecodeError
            raise FileFormatError(f"{str(path)!r} holds a record that is not a TensorBoard Event ({exc}).") from exc
        yield ev


class EventFileWriter:
    """Writes one TensorBoard event file: ``events.out.tfevents.<time>.<host>.<pid>.0``.

    Example:
        >>> import tempfile
        >>> w = EventFileWriter(tempfile.mkdtemp())
        >>> w.scalar("loss", 0.5, step=1)
        >>> w.close()
    """

    def __init__(self, logdir: str | Path, wall_time: float | None = None):
        event_pb2, self._summary, self._tensor = _pb()
        self._event = event_pb2.Event
        self.dir = Path(logdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        t = time.time() if wall_time is None else wall_time
        self.path = self.dir / f"events.out.tfevents.{int(t):010d}.{socket.gethostname()}.{os.getpid()}.0"
        self._fh = open(self.path, "wb")
        self._tags_with_metadata: set[str] = set()
        self.write(self._event(wall_time=t, file_version="brain.Event:2"))

    def write(self, event) -> None:
        self._fh.write(_record(event.SerializeToString()))

    def _value(self, tag: str, plugin: str | None = None, **fields):
        Value = self._summary.Summary.Value
        v = Value(tag=tag, **fields)
        if plugin and tag not in self._tags_with_metadata:  # TensorBoard keeps the first one
            v.metadata.plugin_data.plugin_name = plugin
            self._tags_with_metadata.add(tag)
        return v

    def _emit(self, value, step: int, wall: float | None) -> None:
        ev = self._event(wall_time=time.time() if wall is None else wall, step=int(step))
        ev.summary.value.append(value)
        self.write(ev)

    def scalar(self, tag: str, value: float, step: int, wall: float | None = None) -> None:
        self._emit(self._value(tag, simple_value=float(value)), step, wall)

    def histogram(self, tag: str, edges, counts, step: int, stats=None, wall: float | None = None) -> None:
        """Legacy ``HistogramProto``: ``bucket_limit`` are the right edges, ``bucket`` the counts."""
        edges, counts = np.asarray(edges, float), np.asarray(counts, float)
        num, lo, hi, s, sq = stats if stats is not None else (counts.sum(), edges[0], edges[-1], 0.0, 0.0)
        h = self._summary.HistogramProto(
            min=float(lo if lo is not None else edges[0]), max=float(hi if hi is not None else edges[-1]),
            num=float(num or 0), sum=float(s or 0.0), sum_squares=float(sq or 0.0),
            bucket_limit=edges[1:].tolist(), bucket=counts.tolist())
        self._emit(self._value(tag, histo=h), step, wall)

    def image(self, tag: str, png: bytes, height: int, width: int, channels: int, step: int,
              wall: float | None = None) -> None:
        img = self._summary.Summary.Image(height=int(height), width=int(width), colorspace=int(channels),
                                          encoded_image_string=png)
        self._emit(self._value(tag, image=img), step, wall)

    def text(self, tag: str, text: str, step: int, wall: float | None = None) -> None:
        t = self._tensor.TensorProto(dtype=7, string_val=[text.encode("utf-8")])  # DT_STRING
        t.tensor_shape.SetInParent()  # a scalar string
        self._emit(self._value(tag, plugin="text", tensor=t), step, wall)

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


# -- export -------------------------------------------------------------------------------
def export_tensorboard(run: str | Path, outdir: str | Path) -> Path:
    """Write a run's scalars, histograms, images (and figures) and text as a TensorBoard
    event file in ``outdir``; returns the file's path.

    Example:
        >>> import tempfile
        >>> from neuralscope.track import Run
        >>> with Run(tempfile.mkdtemp()) as r:
        ...     r.log({"loss": 1.0}, step=0)
        >>> export_tensorboard(r.path, tempfile.mkdtemp()).name.startswith("events.out.tfevents.")
        True
    """
    with RunReader(run) as reader:
        names = reader.names()
        created = reader.meta().get("created")
        writer = EventFileWriter(outdir, wall_time=created)
        try:
            for name in names.get("scalar", []):
                steps, vals, walls = reader.scalar_arrays(name)
                for s, v, w in zip(steps.tolist(), vals.tolist(), walls.tolist()):
                    writer.scalar(name, v, s, w)
            for name in names.get("histogram", []):
                for r in reader.histogram_rows(name):
                    writer.histogram(name, r["edges"], r["counts"], r["step"],
                                     (r["num"], r["min"], r["max"], r["sum"], r["sum_sq"]), r["wall"])
            for a in reader.artifacts(kind="image"):
                png = _artifact_bytes(a)
                if png is None:
                    continue
                m = a["meta"]
                writer.image(a["name"], png, m.get("height", 0), m.get("width", 0),
                             m.get("channels", 3), a["step"], a["wall"])
            for a in reader.artifacts(kind="text"):
                writer.text(a["name"], a["text"], a["step"], a["wall"])
        finally:
            writer.close()
    return writer.path


def _artifact_bytes(artifact: dict) -> bytes | None:
    """An image's bytes, or ``None`` with a warning when its file cannot be read (an
    unreadable subdirectory, a path outside the run): one bad file does not stop an export."""
    import warnings

    if artifact.get("error") or not artifact.get("path"):
        warnings.warn(f"Skipping the image {artifact['name']!r} at step {artifact['step']}: "
                      f"{artifact.get('error') or 'it has no file'}", stacklevel=3)
        return None
    try:
        return Path(artifact["path"]).read_bytes()
    except OSError as exc:
        warnings.warn(f"Skipping the image {artifact['name']!r} at step {artifact['step']}: "
                      f"{artifact['path']!r} cannot be read ({exc.strerror or exc}).", stacklevel=3)
        return None


# -- import -------------------------------------------------------------------------------
def _event_files(logdir: Path) -> list[Path]:
    if logdir.is_file():
        return [logdir]
    if not logdir.is_dir():
        raise FileFormatError(f"No TensorBoard log directory {str(logdir)!r}.")
    files = sorted(p for p in logdir.rglob("*") if p.is_file() and "tfevents" in p.name)
    if not files:
        raise FileFormatError(f"No TensorBoard event files (names containing 'tfevents') under {str(logdir)!r}.")
    return files


def import_tensorboard(logdir: str | Path, run: str | Path, *, config: dict | None = None,
                       partial: bool = False) -> dict:
    """Read TensorBoard logs (``torch.utils.tensorboard``, ``tensorboard.summary``,
    tensorboardX or TensorFlow files) into the run directory ``run``; returns counts of what
    was imported per kind. Event files in sub-directories (TensorBoard "runs") get their
    relative directory as a tag prefix. Tags go through the Run API's name rules; values
    whose tag it refuses are counted as ``skipped``.

    A truncated or corrupt event file raises :class:`EventFileError` (file and byte offset)
    and leaves no half-imported run: a run this call created is removed, a run that existed
    before keeps what was imported and gets a note saying the import stopped. With
    ``partial=True`` the readable records are imported, the run is kept, and the problem is
    noted in the run (``notes()``) and returned under ``"errors"``.

    Example:
        >>> import tempfile
        >>> logdir = tempfile.mkdtemp()
        >>> w = EventFileWriter(logdir); w.scalar("loss", 0.25, step=3); w.close()
        >>> import_tensorboard(logdir, tempfile.mkdtemp())["scalar"]
        1
    """
    from .run import Run
    from .store import DB_NAME

    logdir, run = Path(logdir), Path(run)
    files = _event_files(logdir)
    counts = {"scalar": 0, "histogram": 0, "image": 0, "text": 0, "skipped": 0}
    existed, created_dir = (run / DB_NAME).exists(), not run.exists()
    errors: list[str] = []
    with Run(run, config=config) as r:
        for f in files:
            try:
                _import_file(r.writer, f, logdir if logdir.is_dir() else logdir.parent, counts)
            except EventFileError as exc:
                errors.append(str(exc))
                if not partial:
                    break
        if errors and (partial or existed):
            r.writer.note(None, "error", "import_incomplete", f"TensorBoard import stopped early: {errors[0]}")
    if errors and not partial:
        if not existed:
            _remove_run(run, created_dir)
            raise EventFileError(f"{errors[0][:-1]}; nothing was imported (run again with partial=True, "
                                 "or --partial, to import the records before it).")
        raise EventFileError(f"{errors[0][:-1]}; the existing run {str(run)!r} keeps the records imported "
                             "before it and a note saying so.")
    if errors:
        counts["errors"] = errors
    return counts


def _import_file(w: StoreWriter, f: Path, root: Path, counts: dict) -> None:
    from .run import LogNameError, check_series_name

    rel = f.parent.relative_to(root).as_posix()
    prefix = "" if rel in ("", ".") else rel + "/"
    plugin_of: dict[str, str] = {}
    for ev in read_events(f):
        if not ev.HasField("summary"):
            continue
        step, wall = int(ev.step), float(ev.wall_time)
        for v in ev.summary.value:
            try:
                tag = check_series_name(prefix + v.tag)
            except LogNameError:
                counts["skipped"] += 1
                continue
            if v.HasField("metadata") and v.tag not in plugin_of:
                plugin_of[v.tag] = v.metadata.plugin_data.plugin_name
            kind = _import_value(w, tag, v, plugin_of.get(v.tag, ""), step, wall)
            counts[kind] += 1


def _remove_run(run: Path, created_dir: bool) -> None:
    """Remove what an import created: the whole directory if it did not exist before, else
    only the run's files in it."""
    import shutil

    from .store import ARTIFACTS, DB_NAME, LOCK_NAME

    if created_dir:
        shutil.rmtree(run, ignore_errors=True)
        return
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", LOCK_NAME):
        (run / name).unlink(missing_ok=True)
    shutil.rmtree(run / ARTIFACTS, ignore_errors=True)


def _import_value(w: StoreWriter, tag: str, v, plugin: str, step: int, wall: float) -> str:
    which = v.WhichOneof("value")
    if which == "simple_value":
        w.scalars(step, {tag: float(v.simple_value)}, wall)
        return "scalar"
    if which == "histo":
        h = v.histo
        limits = np.asarray(h.bucket_limit, float)
        counts = np.asarray(h.bucket, float)
        if len(limits) == 0:
            return "skipped"
        with np.errstate(over="ignore", invalid="ignore"):  # TensorFlow's +-DBL_MAX end buckets
            width = limits[1] - limits[0] if len(limits) > 1 and np.isfinite(limits[1] - limits[0]) else 1.0
            lo = min(h.min, limits[0] - width) if np.isfinite(h.min) else limits[0] - width
        w.histogram(tag, step, Histogram(np.concatenate([[lo], limits]), counts, h.num, h.min, h.max, h.sum,
                                         h.sum_squares, 0), wall)
        return "histogram"
    if which == "image":
        img = v.image
        w.image(tag, step, bytes(img.encoded_image_string),
                {"height": img.height, "width": img.width, "channels": img.colorspace},
                _image_suffix(img.encoded_image_string), wall)
        return "image"
    if which == "tensor":
        from tensorboard.util import tensor_util

        arr = tensor_util.make_ndarray(v.tensor)
        if plugin == "scalars" and arr.size == 1:
            w.scalars(step, {tag: float(arr.reshape(()))}, wall)
            return "scalar"
        if plugin == "histograms" and arr.ndim == 2 and arr.shape[1] == 3:
            if len(arr) == 0:
                return "skipped"
            edges = np.concatenate([[arr[0, 0]], arr[:, 1]]).astype(float)
            cnt = arr[:, 2].astype(float)
            w.histogram(tag, step, Histogram(edges, cnt, float(cnt.sum()), float(arr[0, 0]), float(arr[-1, 1]),
                                             None, None, 0), wall)
            return "histogram"
        if plugin == "text":
            flat = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in np.ravel(arr)]
            w.text(tag, step, "\n".join(flat), wall)
            return "text"
        if plugin == "images" and arr.ndim == 1 and len(arr) >= 3:
            width, height = int(arr[0]), int(arr[1])
            for i, png in enumerate(arr[2:]):
                name = tag if len(arr) == 3 else f"{tag}/{i}"
                w.image(name, step, bytes(png), {"height": height, "width": width, "channels": 0},
                        _image_suffix(png), wall)
            return "image"
    return "skipped"


def _image_suffix(data: bytes) -> str:
    data = bytes(data[:8])
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data.startswith(b"GIF8"):
        return ".gif"
    return ".bin"
