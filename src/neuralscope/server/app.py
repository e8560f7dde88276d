"""The dashboard's ASGI app (Starlette) and the functions that run it with uvicorn.

* :func:`create_app` builds the app over a runs directory or one model file.
* :func:`serve` runs it in the foreground (``neuralscope serve``).
* :func:`serve_in_background` runs it in a thread and returns a :class:`DashboardServer`
  with its ``url`` and ``stop()`` (used by ``make demo`` and the browser tests).

Security: the server binds 127.0.0.1 unless told otherwise; any other address needs an
access token, and with a token every route (API, events, files, pages) refuses requests
that do not carry it (``Authorization: Bearer``, ``?token=`` or the ``ns_token`` cookie the
first page visit sets). Without a token only loopback ``Host`` headers are answered, which
blocks DNS-rebinding pages from reading a local dashboard.
"""
from __future__ import annotations

import contextlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import api, sse
from .runs import RunIndex, SeriesCache, ServerError

STATIC = Path(__file__).parent / "static"
MODEL_SUFFIXES = {".onnx", ".pt", ".pt2", ".pth", ".ts", ".torchscript"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}
COOKIE = "ns_token"


@dataclass
class AppState:
    """What the routes share: the served path, the run index, the token, the broadcaster."""

    root: Path
    mode: str  # "runs" or "model"
    index: RunIndex | None
    token: str | None
    broadcaster: Any = None
    title: str = "neuralscope"
    version: str = "0"
    heartbeat: float = 15.0
    series: Any = None
    _graph: Any = field(default=None, repr=False)
    _graph_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def model_graph(self):
        """The served model file's :class:`~neuralscope.graph.Graph` (read once)."""
        with self._graph_lock:
            if self._graph is None:
                from ..graph.api import graph

                self._graph = graph(self.root)
            return self._graph


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("neuralscope")
    except Exception:  # noqa: BLE001
        return "0+unknown"


class AuthMiddleware:
    """Refuses requests without the token (when one is set) or with a foreign Host header
    (when none is set and the server listens on loopback only)."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.token is None:
            if _host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
                return await _deny(scope, receive, send, 403,
                                   "This dashboard only answers requests addressed to localhost.")
            return await self.app(scope, receive, send)
        given = _token_of(request)
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            return await _deny(scope, receive, send, 401,
                               "An access token is required: open the URL with ?token=... as printed by "
                               "`neuralscope serve`, or send 'Authorization: Bearer <token>'.")
        if request.query_params.get("token") and request.url.path == "/":
            # first visit: keep the token in a cookie and drop it from the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _host_name(header: str) -> str:
    """The host part of a Host header (``[::1]:6006`` -> ``[::1]``, ``a:1`` -> ``a``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0]


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(COOKIE)


async def _deny(scope, receive, send, status: int, message: str):
    if scope["type"] == "websocket":
        return await send({"type": "websocket.close", "code": 1008})
    response = JSONResponse({"error": message}, status_code=status)
    return await response(scope, receive, send)


MISSING_FRONTEND = """<!doctype html><html><head><meta charset="utf-8"><title>neuralscope</title></head>
<body style="font-family:system-ui;margin:40px"><h1>neuralscope dashboard</h1>
<p>The frontend is not built. Run <code>web/build.sh</code> (or <code>make setup</code>) and reload.
The JSON API is available: <a href="/api/runs">/api/runs</a>, <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>"""


def _index_page(request: Request) -> Response:
    index = STATIC / "index.html"
    if not index.is_file():
        return HTMLResponse(MISSING_FRONTEND)
    return FileResponse(index, headers={"Cache-Control": "no-store"})


def _not_found(request: Request) -> Response:
    return JSONResponse({"error": f"No route {request.url.path!r}; see /api/openapi.json."}, status_code=404)


def create_app(path: str | Path, token: str | None = None, *, poll_interval: float = 0.5,
               heartbeat: float = 15.0) -> Starlette:
    """The dashboard app over a runs directory (or a single run, or a model file).

    Args:
        path: a directory holding run directories (searched recursively), one run
            directory, or a model file (``.onnx``, TorchScript, ``.pt2``) to show alone.
        token: when given, every request must carry it.
        poll_interval: seconds between two looks at the store for live updates.

    Example:
        >>> import tempfile
        >>> from starlette.testclient import TestClient
        >>> with TestClient(create_app(tempfile.mkdtemp()), base_url="http://127.0.0.1") as c:
        ...     c.get("/api/runs").json()
        {'runs': []}
    """
    root = Path(path).expanduser()
    if root.is_file():
        if root.suffix.lower() not in MODEL_SUFFIXES:
            raise ServerError(f"{str(root)!r} is neither a runs directory nor a model file "
                              f"({', '.join(sorted(MODEL_SUFFIXES))}).")
        mode, index = "model", None
    else:
        mode, index = "runs", RunIndex(root)
    state = AppState(root=root, mode=mode, index=index, token=token, version=_version(),
                     heartbeat=heartbeat, title=f"neuralscope · {root.resolve().name}")
    state.broadcaster = sse.Broadcaster(index, interval=poll_interval)
    state.series = SeriesCache()
    if mode == "model":
        state.model_graph()  # a file that cannot be read fails now, with the reader's sentence

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if index is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, lambda: state.broadcaster.poll(first=True))
        state.broadcaster.start()
        try:
            yield
        finally:
            await state.broadcaster.stop()
            if index is not None:
                index.close()

    routes = [Route("/", _index_page), *api.routes(), Route("/api/events", sse.events)]
    if (STATIC / "assets").is_dir():
        routes.append(Mount("/assets", StaticFiles(directory=STATIC / "assets"), name="assets"))
    routes.append(Route("/{rest:path}", _not_found))
    app = Starlette(routes=routes, middleware=[Middleware(AuthMiddleware, token=token)], lifespan=lifespan)
    app.state.ns = state
    return app


# -- running --------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int) -> None:
    """Raise :class:`ServerError` (one sentence) when ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise ServerError(f"Port {port} on {host} is already in use; stop the other server "
                                  f"or pick another port with --port.") from None
            raise ServerError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None


def resolve_token(host: str, token: str | None) -> str | None:
    """The token to use: the given one, a fresh one for a non-loopback host, else None."""
    if token:
        return token
    if not is_loopback(host):
        return secrets.token_urlsafe(24)
    return None


def dashboard_url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("", "localhost") else (f"[{host}]" if ":" in host and not host.startswith("[") else host)
    if shown in ("0.0.0.0", "[::]"):
        shown = socket.gethostname()
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


@dataclass
class DashboardServer:
    """A dashboard running in a background thread: ``url``, ``token`` and ``stop()``."""

    url: str
    host: str
    port: int
    token: str | None
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def wait(self) -> None:
        """Block until the server stops or Ctrl-C is pressed (then stop it)."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()

    def __enter__(self) -> "DashboardServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _uvicorn_server(app, host: str, port: int):
    import uvicorn

    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=1)
    return uvicorn.Server(config)


def serve_in_background(path: str | Path, host: str = "127.0.0.1", port: int = 0,
                        token: str | None = None, poll_interval: float = 0.5,
                        timeout: float = 20.0) -> DashboardServer:
    """Start the dashboard in a daemon thread and return once it answers.

    ``port=0`` picks a free port. Example:

        >>> import tempfile
        >>> with serve_in_background(tempfile.mkdtemp()) as srv:
        ...     srv.url.startswith("http://127.0.0.1:")
        True
    """
    token = resolve_token(host, token)
    if port:
        check_bind(host, port)
    else:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host.strip("[]"), 0))
            port = s.getsockname()[1]
    app = create_app(path, token=token, poll_interval=poll_interval)
    server = _uvicorn_server(app, host, port)
    thread = threading.Thread(target=server.run, name="neuralscope-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise ServerError(f"The dashboard could not start on {host}:{port}.")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise ServerError(f"The dashboard did not start on {host}:{port} within {timeout:.0f} s.")
        time.sleep(0.02)
    return DashboardServer(dashboard_url(host, port, token), host, port, token, server, thread)


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 6006, token: str | None = None,
          poll_interval: float = 0.5, announce=print) -> None:
    """Run the dashboard in the foreground until interrupted (``neuralscope serve``).

    Example (blocks; press Ctrl-C to stop)::

        serve("runs/", port=6006)
    """
    token = resolve_token(host, token)
    check_bind(host, port)
    app = create_app(path, token=token, poll_interval=poll_interval)
    server = _uvicorn_server(app, host, port)
    announce(f"neuralscope dashboard: {dashboard_url(host, port, token)}")
    if not is_loopback(host):
        announce("listening on a non-loopback address: every request needs the token above")
    server.run()
