"""The dashboard's JSON API over a runs directory (or one model file).

Every route is listed in :data:`ROUTES` with its parameters; the OpenAPI document served at
``/api/openapi.json`` is generated from that table, so the description cannot drift from the
routes. Data comes from the store's reader (:class:`neuralscope.track.store.RunReader`) and
from result objects' ``to_dict()``: the dashboard draws exactly what the library computed.
"""
from __future__ import annotations

import html
import json
import math
import mimetypes
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import NeuralscopeError
from ..result import jsonable
from .runs import RunEntry, RunIndex, UnknownRunError

MAX_BUCKETS = 20_000
#: seconds a downsampled series may be reused while its run is being written
SCALARS_MAX_AGE = 0.25


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


def _json_bytes(data: Any) -> bytes:
    return json.dumps(jsonable(data), separators=(",", ":"), allow_nan=False).encode()


def json_response(data: Any, status: int = 200) -> Response:
    body = _json_bytes(data)
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


# -- parameters ------------------------------------------------------------------------------
def _param(request: Request, name: str, required: bool = True, default: Any = None) -> Any:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"The query parameter {name!r} is required.")
        return default
    return value


def _int_param(request: Request, name: str, default: int | None = None,
               lo: int | None = None, hi: int | None = None) -> int | None:
    """A whole-number query parameter (``12``, ``1e3``); anything else - ``inf``, ``nan``,
    ``1e400``, ``2.5``, a number outside ``[lo, hi]`` - is a 400 with one sentence."""
    raw = _param(request, name, required=False)
    if raw is None:
        return default
    value = parse_int(raw)
    span = (f"from {lo} to {hi}" if lo is not None and hi is not None else
            f"at least {lo}" if lo is not None else f"at most {hi}" if hi is not None else "")
    if value is None:
        raise ApiError(400, f"The query parameter {name!r} must be a whole number{' ' + span if span else ''}, "
                            f"not {raw[:40]!r}.")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(400, f"The query parameter {name!r} must be {span}, not {value}.")
    return value


#: numbers beyond this are refused (steps are int64 in the store)
INT_LIMIT = 2 ** 63 - 1


def parse_int(raw: str) -> int | None:
    """``raw`` as a whole number, or ``None`` when it is not one (or not finite, or beyond
    int64).

    Example:
        >>> [parse_int(x) for x in ("12", "-3", "1e3", "2.5", "inf", "nan", "1e400", "9" * 30)]
        [12, -3, 1000, None, None, None, None, None]
    """
    raw = raw.strip()
    if _INT_RE.fullmatch(raw):
        value = int(raw)
    elif _NUMBER_RE.fullmatch(raw):
        f = float(raw)
        if not math.isfinite(f) or f != int(f):
            return None
        value = int(f)
    else:  # Python's int() and float() also take "1_0", "nan", "inf" and non-ASCII digits
        return None
    return value if -INT_LIMIT <= value <= INT_LIMIT else None


_INT_RE = re.compile(r"[+-]?[0-9]{1,19}")
_NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")


def error_answer(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and the one sentence for an exception a route did not expect: the
    package's own errors (a damaged run, an unknown series) are the request's fault or the
    run's (4xx), anything else is ours (500, with the exception's type and first line)."""
    from .runs import TooManyOpenFilesError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, TooManyOpenFilesError):
        return 503, text
    if isinstance(exc, NeuralscopeError):
        return (404 if isinstance(exc, KeyError) else 422), text
    return 500, f"The server failed on this request ({type(exc).__name__}: {text or 'no message'})."


def _state(request: Request):
    return request.app.state.ns


def _entry(request: Request) -> RunEntry:
    index: RunIndex | None = _state(request).index
    if index is None:
        raise ApiError(404, "This dashboard serves a model file, not runs.")
    try:
        return index.get(_param(request, "run"))
    except UnknownRunError as exc:
        raise ApiError(404, str(exc)) from None


def _reader_call(entry: RunEntry, fn: Callable[[Any], Any]) -> Any:
    try:
        return entry.call(fn)
    except NeuralscopeError as exc:
        raise ApiError(*error_answer(exc)) from None


# -- run summaries ----------------------------------------------------------------------------
def run_summary(entry: RunEntry) -> dict:
    """What the Runs page shows of one run (also sent over SSE when it changes)."""
    base = {"id": entry.id, "name": entry.path.name if entry.id != "." else entry.path.resolve().name,
            "damaged": entry.damaged}
    if entry.damaged is not None:
        return {**base, "status": "damaged", "config": {}, "last": {}, "series": {}}

    def read(reader):
        meta = reader.meta()
        info = reader.info()
        return {**base, **{k: info.get(k) for k in ("name", "config", "created", "finished",
                                                    "heartbeat", "last_step", "tags")},
                "closed_status": meta.get("status"), "last": reader.last_values(), "series": reader.names()}

    try:
        out = dict(entry.cached("summary", read))
        # the status is probed every time: a writer killed with SIGKILL changes no file
        from ..track.store import lock_held

        closed = out.pop("closed_status")
        out["status"] = "live" if lock_held(entry.path) else (
            closed if closed in ("finished", "failed") else "crashed")
        return out
    except Exception as exc:  # noqa: BLE001 - a run that breaks while read is shown as damaged
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {**base, "status": "damaged", "damaged": message, "config": {}, "last": {}, "series": {}}


def api_info(request: Request) -> Response:
    st = _state(request)
    return json_response({"mode": st.mode, "root": str(st.root), "title": st.title,
                          "version": st.version, "token_required": st.token is not None})


def api_runs(request: Request) -> Response:
    index = _state(request).index
    if index is None:
        return json_response({"runs": []})
    return json_response({"runs": [run_summary(e) for e in index.entries()]})


def api_scalars(request: Request) -> Response:
    entry = _entry(request)
    tag = _param(request, "tag")
    buckets = _int_param(request, "buckets", None, 3, MAX_BUCKETS)
    start = _int_param(request, "start")
    end = _int_param(request, "end")
    method = _param(request, "method", required=False, default="minmax")
    if method not in ("minmax", "lttb"):
        raise ApiError(400, f"method must be 'minmax' or 'lttb', not {method!r}.")
    def query(_reader):
        from ..track import downsample
        from ..track.results import ScalarSeries

        steps, vals, walls = _state(request).series.arrays(entry, tag)
        total = len(steps)
        steps, vals, walls, method_used = downsample.select(steps, vals, walls, start=start, end=end,
                                                            buckets=buckets, method=method)
        series = ScalarSeries(tag, steps, vals, walls, total=total, downsampled=method_used, run=entry.id)
        return _json_bytes(series.to_dict())

    try:
        body = entry.cached(("scalars", tag, buckets, start, end, method), query, max_age=SCALARS_MAX_AGE)
    except NeuralscopeError as exc:
        raise ApiError(*error_answer(exc)) from None
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def api_histograms(request: Request) -> Response:
    """``HistogramSeries.to_dict()`` of one series (``max_steps`` evenly spaced steps)."""
    from ..track.results import HistogramSeries

    entry = _entry(request)
    tag = _param(request, "tag")
    max_steps = _int_param(request, "max_steps", 200, 1, 2000)
    series = _reader_call(entry, lambda r: r.histograms(tag, max_steps=max_steps))
    return json_response(HistogramSeries(tag, series.rows, run=entry.id).to_dict())


def api_diagnostics(request: Request) -> Response:
    """``Diagnostics.to_dict()`` of every run (or of ``run``), each item naming its run."""
    from ..track.results import Diagnostic, Diagnostics

    index = _state(request).index
    wanted = request.query_params.get("run") or None
    items: list[Diagnostic] = []
    for entry in index.entries() if index is not None else []:
        if wanted and entry.id != wanted:
            continue
        if entry.damaged is not None:
            found = [Diagnostic("damaged", "error", None, f"The run cannot be read: {entry.damaged}")]
        else:
            try:
                found = list(entry.call(lambda r: r.diagnostics()))
            except Exception as exc:  # noqa: BLE001 - shown, not fatal
                found = [Diagnostic("diagnostics_failed", "error", None, f"Diagnostics could not be computed: {exc}")]
        for d in found:
            d.run = entry.id
        items += found
    return json_response(Diagnostics(items, run=wanted).to_dict())


def api_artifacts(request: Request) -> Response:
    entry = _entry(request)
    kind = _param(request, "kind", required=False)
    name = _param(request, "name", required=False)
    items = _reader_call(entry, lambda r: r.artifacts(name=name, kind=kind))
    out = []
    for a in items:
        a = dict(a)
        p = a.pop("path", None)
        a["file"] = Path(p).relative_to(Path(entry.path).resolve()).as_posix() if p else None
        out.append(a)
    return json_response({"run": entry.id, "items": out})


def api_results(request: Request) -> Response:
    """Results logged with ``run.log_result``: name, step, kind (without their data)."""
    entry = _entry(request)
    items = _reader_call(entry, lambda r: r.result_entries())
    out = [{k: a[k] for k in ("name", "step", "wall", "kind", "meta", "index")} for a in items]
    return json_response({"run": entry.id, "items": out})


def api_result(request: Request) -> Response:
    """One logged result's ``to_dict()`` data, by its index in :func:`api_results`."""
    entry = _entry(request)
    i = _int_param(request, "index", 0, 0)
    items = _reader_call(entry, lambda r: r.result_entries())
    if i >= len(items):
        raise ApiError(404, f"The run {entry.id!r} has {len(items)} logged result(s); there is no number {i}.")
    doc = _reader_call(entry, lambda r: r.read_result(items[i]))
    return json_response({"run": entry.id, "name": doc["name"], "step": doc["step"],
                          "kind": doc["kind"], "data": doc["data"]})


def safe_file(base: Path, rel: str) -> Path:
    """``base / rel`` if it is an existing file inside ``base`` (after resolving links),
    else :class:`ApiError` 404. Absolute paths, ``..`` and encoded variants are refused."""
    rel = unquote(rel)
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or ":" in rel.split("/")[0]:
        raise ApiError(404, "No such file in this run.")
    parts = Path(rel).parts
    if any(p in ("..", "") for p in parts):
        raise ApiError(404, "No such file in this run.")
    try:
        base = base.resolve()
        target = (base / rel).resolve()
        if base not in target.parents or not target.is_file():
            raise ApiError(404, "No such file in this run.")
    except (OSError, ValueError):  # a name too long for the file system, a loop of links
        raise ApiError(404, "No such file in this run.") from None
    return target


def api_file(request: Request) -> Response:
    entry = _entry(request)
    target = safe_file(entry.path, _param(request, "path"))
    if target.name.startswith("run.sqlite") or target.name == "run.lock":
        raise ApiError(404, "No such file in this run.")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if media in ("text/html", "image/svg+xml", "application/javascript", "text/javascript"):
        media = "text/plain"  # never let a logged file run script in the dashboard's origin
    return FileResponse(target, media_type=media, headers={"X-Content-Type-Options": "nosniff"})


def _logged_graph(entry: RunEntry) -> tuple[dict, int]:
    """The last Graph logged in a run (its ``to_dict()``) and its step."""
    items = _reader_call(entry, lambda r: r.result_entries(kind="graph"))
    graphs = [a for a in items if a["path"] or a.get("error")]
    if not graphs:
        raise ApiError(404, f"The run {entry.id!r} has no logged graph; log one with "
                            "run.log_result(neuralscope.graph(model, x)).")
    doc = _reader_call(entry, lambda r: r.read_result(graphs[-1]))
    return doc["data"], doc["step"]


def api_graph(request: Request) -> Response:
    """The structure graph: the served model file's, or the last Graph logged in a run."""
    st = _state(request)
    if st.mode == "model":
        return json_response({"source": str(st.root), "step": None, "graph": st.model_graph().to_dict()})
    entry = _entry(request)
    data, step = _logged_graph(entry)
    return json_response({"source": entry.id, "step": step, "graph": data})


def graph_page(request: Request) -> Response:
    """``/graph-view``: the graph package's interactive viewer page for the served model file
    or a run's logged graph (rebuilt with :meth:`Graph.from_dict` from what was logged)."""
    from ..errors import FileFormatError
    from ..graph.model import Graph
    from ..graph.render_html import render_html

    from ..graph.render_html import content_security_policy

    st = _state(request)
    headers = {"Content-Security-Policy": content_security_policy() + "; frame-ancestors 'self'"}
    try:
        if st.mode == "model":
            return HTMLResponse(render_html(st.model_graph()), headers=headers)
        entry = _entry(request)
        data, _step = _logged_graph(entry)
        return HTMLResponse(render_html(Graph.from_dict(data)), headers=headers)
    except ApiError as exc:
        return _message_page(exc.message, exc.status)
    except FileFormatError as exc:
        return _message_page(str(exc), 422)
    except Exception as exc:  # noqa: BLE001 - a graph that cannot be drawn: one sentence
        return _message_page(error_answer(exc)[1], error_answer(exc)[0])


def _message_page(message: str, status: int) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><body style='font-family:system-ui;"
                        f"color:#656d76;padding:24px'>{html.escape(message)}</body>", status_code=status)


# -- the route table and its OpenAPI description ---------------------------------------------
def _p(name: str, desc: str, required: bool = False, type_: str = "string") -> dict:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": type_}}


RUN = _p("run", "run id: the run directory relative to the served root ('.' when the root is a run)", True)
TAG = _p("tag", "series name", True)

#: (path, endpoint, summary, parameters)
ROUTES: list[tuple[str, Callable, str, list[dict]]] = [
    ("/api/info", api_info, "What is served (runs or a model file) and whether a token is required.", []),
    ("/api/runs", api_runs, "Every run with status (live/finished/failed/crashed/damaged), config, "
     "last value of each scalar and the names of its series.", []),
    ("/api/scalars", api_scalars, "One scalar series, downsampled at read time to at most two points per "
     "bucket (min/max) or one (LTTB).", [
        RUN, TAG, _p("buckets", "pixel columns of the chart (3 to 20000); omitted: every point", type_="integer"),
        _p("start", "first step (inclusive)", type_="integer"), _p("end", "last step (inclusive)", type_="integer"),
        _p("method", "minmax (default) or lttb")]),
    ("/api/histograms", api_histograms, "Histograms of one series over steps (bin edges and counts per step).",
     [RUN, TAG, _p("max_steps", "evenly spaced steps to return (default 200)", type_="integer")]),
    ("/api/diagnostics", api_diagnostics, "Problems found by the tracker and flagged by the store, with step "
     "and layer.", [_p("run", "only this run")]),
    ("/api/artifacts", api_artifacts, "Images, texts, figures and results logged in a run.",
     [RUN, _p("kind", "image, text, figure or result"), _p("name", "series name")]),
    ("/api/results", api_results, "Result objects logged with run.log_result (without their data).", [RUN]),
    ("/api/result", api_result, "One logged result object's to_dict() data.",
     [RUN, _p("index", "position in /api/results", True, "integer")]),
    ("/api/file", api_file, "A file of a run (an image it logged); paths outside the run are refused.",
     [RUN, _p("path", "path relative to the run directory", True)]),
    ("/api/graph", api_graph, "The structure graph (Graph.to_dict()) of the served model file or of a run.",
     [_p("run", "run id (runs mode)")]),
]


from .audit_api import AUDIT_ROUTES  # noqa: E402 - the Audit page's routes (they use ApiError above)

ROUTES += AUDIT_ROUTES


def openapi_document(version: str) -> dict:
    paths = {}
    for path, _fn, summary, params in ROUTES:
        paths[path] = {"get": {"summary": summary, "parameters": params, "responses": {
            "200": {"description": "JSON data", "content": {"application/json": {}}},
            "400": {"description": "a bad parameter"}, "401": {"description": "missing or wrong access token"},
            "404": {"description": "no such run, series or file"}}}}
    paths["/api/events"] = {"get": {"summary": "Server-Sent Events: 'runs' (run list changed), 'scalars' (new "
                                               "points of a series), 'changed' (histograms, results or "
                                               "diagnostics of a run changed).",
                                    "responses": {"200": {"description": "text/event-stream",
                                                          "content": {"text/event-stream": {}}}}}}
    paths["/api/openapi.json"] = {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI"}}}}
    return {"openapi": "3.1.0",
            "info": {"title": "neuralscope dashboard API", "version": version,
                     "description": "Read-only access to neuralscope runs. When the server was started with "
                                    "a token, send it as 'Authorization: Bearer <token>', a 'token' query "
                                    "parameter or the 'ns_token_<port>' cookie set by the first visit."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": paths}


def api_openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(_state(request).version))


def _wrap(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            return fn(request)
        except ApiError as exc:
            return json_response({"error": exc.message}, status=exc.status)
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            status, message = error_answer(exc)
            return json_response({"error": message}, status=status)
    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


def routes() -> list[Route]:
    out = [Route(path, _wrap(fn), methods=["GET"]) for path, fn, _s, _p in ROUTES]
    out.append(Route("/api/openapi.json", api_openapi, methods=["GET"]))
    out.append(Route("/graph-view", graph_page, methods=["GET"]))
    return out
