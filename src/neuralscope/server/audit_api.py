"""API routes of the dashboard's Audit page: the audits of a run, an audit's summary, its
per-example columns (binary, for tables of a million rows sorted in the browser), thumbnails
of inputs and maps, and the 2-D projection the WebGL projector draws.

Everything is read from the audit's shard files (:mod:`neuralscope.audit.shards`) while
the audit may still be writing: a committed shard is complete, an uncommitted one invisible.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

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
    store = _store(request)
    path = store.dir / "projection.npy"
    if not path.exists():
        raise ApiError(404, "This audit has no projection yet (it is computed when the audit finishes; "
                            "embed_method=None skips it).")
    xy = np.load(path, mmap_mode="r").astype("<f4")
    cls = np.concatenate([np.where(z["label"] >= 0, z["label"], z["pred"])
                          for z in store.iter(["label", "pred"])]).astype("<i2")
    return json_response({"n": int(len(xy)), "coords": _b64(xy), "classes": _b64(cls[:len(xy)])})


RUN = _q("run", "run id", True)
NAME = _q("name", "audit name", True)

#: (path, endpoint, summary, parameters), appended to the API's ROUTES
AUDIT_ROUTES: list[tuple[str, Callable, str, list[dict]]] = [
    ("/api/audits", api_audits, "The audits of a run with their progress (shards done of all).", [RUN]),
    ("/api/audit", api_audit, "One audit's summary: class aggregates, score distributions, worst examples, "
     "layer statistics.", [RUN, NAME]),
    ("/api/audit/columns", api_audit_columns, "Every per-example column (scores, predictions), base64 arrays.",
     [RUN, NAME]),
    ("/api/audit/thumbs", api_audit_thumbs, "PNG thumbnails of examples' inputs or maps.",
     [RUN, NAME, _q("key", "input or a method name"), _q("ids", "comma-separated example numbers", True)]),
    ("/api/audit/projection", api_audit_projection, "2-D coordinates and classes of the audit's projection.",
     [RUN, NAME]),
]
