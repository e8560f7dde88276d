"""API routes of the dashboard's Audit page: the audits of a run, an audit's summary, its
per-example columns (binary, for tables of a million rows sorted in the browser), thumbnails
of inputs and maps, and the 2-D projection the WebGL projector draws.

The columns and the projection also come as raw little-endian arrays (``.bin`` routes, see
:func:`binary_response`): a million points are 9 MB the browser reads in place as typed
arrays, instead of 30 MB of base64 JSON to parse and decode on its main thread.

Everything is read from the audit's shard files (:mod:`neuralscope.audit.shards`) while
the audit may still be writing: a committed shard is complete, an uncommitted one invisible.
"""
from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..audit import aggregate
from ..audit.shards import ShardStore, audit_dirs
from .api import ApiError, json_response
from .runs import UnknownRunError

MAX_THUMBS = 400


def _q(name: str, desc: str, required: bool = False, type_: str = "string") -> dict:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": type_}}


def _run_dir(request: Request) -> Path:
    index = request.app.state.ns.index
    run = request.query_params.get("run")
    if index is None or not run:
        raise ApiError(400 if index is not None else 404, "Give run=<run id> (audits belong to runs).")
    try:
        return Path(index.get(run).path)
    except UnknownRunError as exc:
        raise ApiError(404, str(exc)) from None


def _audits_inside(run_dir: Path) -> list[Path]:
    """The run's audit directories that resolve inside the run: one reached through a
    symbolic link to elsewhere (a run received from someone else) is not read."""
    base = run_dir.resolve()
    return [p for p in audit_dirs(run_dir) if base in p.resolve().parents]


def _store(request: Request) -> ShardStore:
    run_dir = _run_dir(request)
    name = request.query_params.get("name", "")
    found = {p.name: p for p in _audits_inside(run_dir)}
    if name not in found:
        raise ApiError(404, f"The run has no audit named {name!r}; its audits: {', '.join(sorted(found)) or 'none'}.")
    return ShardStore(found[name])


def _progress(store: ShardStore) -> dict:
    spec = store.spec()
    n, size, done = spec.get("n"), spec["shard_size"], store.done()
    return {"name": store.dir.name, "n": n, "shards_done": len(done),
            "shards": None if n is None else -(-n // size), "finished": (store.dir / "summary.json").exists(),
            "spec": spec}


def api_audits(request: Request) -> Response:
    """The audits of a run with their progress."""
    return json_response({"items": [_progress(ShardStore(p)) for p in _audits_inside(_run_dir(request))]})


def api_audit(request: Request) -> Response:
    """An audit's summary (``AuditResult.to_dict()``; merged from the shards while running)."""
    store = _store(request)
    path = store.dir / "summary.json"
    if path.exists():
        summary = json.loads(path.read_text())
    else:
        from ..audit.result import AuditResult

        summary = AuditResult(store.dir, aggregate.merge(store)).to_dict()
    summary["progress"] = _progress(store)
    summary["scores"] = [{"name": s, "higher_is_better": aggregate.lower_is_worse(s)}
                         for s in aggregate.score_names(store)] + [{"name": "loss", "higher_is_better": False}]
    return json_response(summary)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def api_audit_columns(request: Request) -> Response:
    """Every per-example column as little-endian float32 (``index`` int32), base64."""
    t = aggregate.table(_store(request))
    cols = {}
    for k, v in t.items():
        dt = "<i4" if k in ("index", "label", "pred") else "<f4"
        cols[k] = {"dtype": "int32" if dt == "<i4" else "float32", "data": _b64(v.astype(dt))}
    return json_response({"n": int(len(t.get("index", []))), "columns": cols})


MAGIC = b"NSB1"


def binary_response(meta: dict, arrays: dict[str, np.ndarray]) -> StreamingResponse:
    """Arrays as one binary body, streamed: ``NSB1``, a little-endian uint32 header length,
    the JSON header ``{"meta": ..., "arrays": [{"name", "dtype", "offset", "length"}]}``
    (padded with spaces to a multiple of 8 bytes), then each array's little-endian bytes at
    its ``offset`` from the start of the body (a multiple of 8: typed arrays read it in place).
    """
    arrays = {k: np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")) for k, v in arrays.items()}
    entries, offset = [], 0
    for k, v in arrays.items():
        entries.append({"name": k, "dtype": v.dtype.name, "offset": offset, "length": int(v.size)})
        offset += -(-v.nbytes // 8) * 8
    start, head = 0, b""
    while 8 + len(head) > start:  # the data starts after the header, which names its offsets
        start = -(-(8 + len(head)) // 8) * 8
        shifted = [{**e, "offset": e["offset"] + start} for e in entries]
        head = json.dumps({"meta": meta, "arrays": shifted}, separators=(",", ":")).encode()
    head += b" " * (start - 8 - len(head))

    def body() -> Iterator[bytes]:
        yield MAGIC + struct.pack("<I", len(head)) + head
        for v in arrays.values():
            yield memoryview(v.reshape(-1)).cast("B")
            if v.nbytes % 8:
                yield b"\0" * (8 - v.nbytes % 8)
    return StreamingResponse(body(), media_type="application/octet-stream",
                             headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


_INT_COLUMNS = ("index", "label", "pred")


def api_audit_columns_bin(request: Request) -> Response:
    """Every per-example column as raw arrays (:func:`binary_response`): int32 ``index``,
    ``label``, ``pred``; float32 scores, probabilities and losses."""
    t = aggregate.table(_store(request))
    arrays = {k: v.astype("<i4" if k in _INT_COLUMNS else "<f4") for k, v in t.items()}
    return binary_response({"n": int(len(t.get("index", [])))}, arrays)


def _projection(store: ShardStore) -> tuple[np.ndarray, np.ndarray]:
    path = store.dir / "projection.npy"
    if not path.exists():
        raise ApiError(404, "This audit has no projection yet (it is computed when the audit finishes; "
                            "embed_method=None skips it).")
    xy = np.load(path, mmap_mode="r")
    cls = np.concatenate([np.where(z["label"] >= 0, z["label"], z["pred"])
                          for z in store.iter(["label", "pred"])])[:len(xy)]
    return xy, cls


def api_audit_projection_bin(request: Request) -> Response:
    """The projection as raw arrays (:func:`binary_response`): float32 ``x`` and ``y`` and
    each point's class (``uint8`` below 256 classes, else ``int16``)."""
    xy, cls = _projection(_store(request))
    small = cls.size == 0 or (cls.min() >= 0 and cls.max() < 256)
    return binary_response({"n": int(len(xy))}, {"x": xy[:, 0].astype("<f4"), "y": xy[:, 1].astype("<f4"),
                                                 "classes": cls.astype("u1" if small else "<i2")})


def _png(im: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _colour_map(m: np.ndarray) -> np.ndarray:
    """Signed map thumbnail (128 = zero) in a diverging colormap centred at zero (RdBu_r)."""
    import matplotlib

    return (matplotlib.colormaps["RdBu_r"](m.astype(np.float64) / 255.0)[..., :3] * 255).round().astype(np.uint8)


def api_audit_thumbs(request: Request) -> Response:
    """Thumbnails (PNG data URLs) of examples ``ids`` (comma separated) for ``key`` =
    ``input`` or a method (maps in a diverging colormap centred at zero)."""
    store = _store(request)
    key = request.query_params.get("key", "input")
    try:
        ids = np.array([int(v) for v in request.query_params.get("ids", "").split(",") if v.strip()], np.int64)
    except ValueError:
        raise ApiError(400, "ids must be comma-separated example numbers, e.g. ids=0,5,17.") from None
    if len(ids) > MAX_THUMBS:
        raise ApiError(400, f"Ask for at most {MAX_THUMBS} thumbnails at a time, not {len(ids)}.")
    size, done = store.spec()["shard_size"], set(store.done())
    out = {}
    for shard in np.unique(ids // size).tolist():
        if shard not in done:
            continue
        z = store.load(shard, [f"thumb/{key}"])
        if f"thumb/{key}" not in z:
            raise ApiError(404, f"The audit has no thumbnails {key!r}; use 'input' or one of its methods.")
        th = z[f"thumb/{key}"]
        for i in ids[ids // size == shard].tolist():
            j = i - shard * size
            if 0 <= j < len(th) and th[j].size:
                out[str(i)] = _png(th[j] if key == "input" else _colour_map(th[j]))
    return json_response({"key": key, "images": out})


def api_audit_projection(request: Request) -> Response:
    """The projection of the audit's embedded layer: float32 ``(x, y)`` pairs and the class
    of each point (int16), base64."""
    xy, cls = _projection(_store(request))
    return json_response({"n": int(len(xy)), "coords": _b64(xy.astype("<f4")), "classes": _b64(cls.astype("<i2"))})


RUN = _q("run", "run id", True)
NAME = _q("name", "audit name", True)

#: (path, endpoint, summary, parameters), appended to the API's ROUTES
AUDIT_ROUTES: list[tuple[str, Callable, str, list[dict]]] = [
    ("/api/audits", api_audits, "The audits of a run with their progress (shards done of all).", [RUN]),
    ("/api/audit", api_audit, "One audit's summary: class aggregates, score distributions, worst examples, "
     "layer statistics.", [RUN, NAME]),
    ("/api/audit/columns", api_audit_columns, "Every per-example column (scores, predictions), base64 arrays.",
     [RUN, NAME]),
    ("/api/audit/columns.bin", api_audit_columns_bin, "Every per-example column as raw little-endian arrays "
     "(NSB1: magic, uint32 header length, JSON header of names/dtypes/offsets, 8-byte aligned data).", [RUN, NAME]),
    ("/api/audit/thumbs", api_audit_thumbs, "PNG thumbnails of examples' inputs or maps.",
     [RUN, NAME, _q("key", "input or a method name"), _q("ids", "comma-separated example numbers", True)]),
    ("/api/audit/projection", api_audit_projection, "2-D coordinates and classes of the audit's projection.",
     [RUN, NAME]),
    ("/api/audit/projection.bin", api_audit_projection_bin, "The projection as raw arrays (NSB1, as columns.bin): "
     "float32 x and y, uint8 or int16 classes.", [RUN, NAME]),
]
