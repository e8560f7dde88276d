"""The dashboard's ASGI app (Starlette) and the functions that run it with uvicorn.

* :func:`create_app` builds the app over a runs directory or one model file.
* :func:`serve` runs it in the foreground (``neuralscope serve``).
* :func:`serve_in_background` runs it in a thread and returns a :class:`DashboardServer`
  with its ``url`` and ``stop()`` (used by ``make demo`` and the browser tests).

Security: the server binds 127.0.0.1 unless told otherwise; any address that is not
loopback (``""``, ``0.0.0.0``, ``::``, a name that resolves elsewhere) needs an access token,
and with a token every route (API, events, files, pages) refuses requests that do not carry
it (``Authorization: Bearer``, ``?token=`` or the session cookie ``ns_token_<port>`` the
first page visit sets; it holds a value derived from the token and the port, never the
token). Without a token only loopback ``Host`` headers are answered, which blocks
DNS-rebinding pages from reading a local dashboard. Every response carries a
Content-Security-Policy that runs only the dashboard's own scripts, frame restrictions,
``nosniff`` and ``Referrer-Policy: no-referrer``.
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
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


class AuthMiddleware:
    """Refuses requests without the token (when one is set) or with a Host header that is
    not a loopback name or address (when none is set: the server listens on loopback only,
    and a DNS-rebinding page reaches it under a foreign name)."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.token is None:
            if not is_loopback_name(_host_name(request.headers.get("host", ""))):
                return await _deny(scope, receive, send, 403,
                                   "This dashboard only answers requests addressed to localhost.")
            return await self.app(scope, receive, send)
        port = _server_port(scope)
        given = _token_of(request, port)
        expected = {self.token, session_value(self.token, port)}
        if given is None or not any(hmac.compare_digest(given.encode(), e.encode()) for e in expected):
            return await _deny(scope, receive, send, 401,
                               "An access token is required: open the URL with ?token=... as printed by "
                               "`neuralscope serve`, or send 'Authorization: Bearer <token>'.")
        if request.query_params.get("token") and request.url.path == "/":
            # first visit: keep a session value in a cookie of this port and drop the token
            # from the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(cookie_name(port), session_value(self.token, port), httponly=True,
                                samesite="strict", path="/")
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def cookie_name(port: int | None) -> str:
    """The session cookie of the dashboard on ``port``: browsers send a host's cookies to
    every port of it, so two dashboards (or a dashboard and another local app) must not
    share one name.

    Example:
        >>> cookie_name(6006)
        'ns_token_6006'
    """
    return f"{COOKIE}_{port}" if port else COOKIE


def session_value(token: str, port: int | None) -> str:
    """What the cookie holds: a value derived from the token and the port, so the token
    itself never sits in a cookie that other local apps receive, and a cookie taken from one
    port does not open a dashboard on another."""
    return hmac.new(token.encode(), f"neuralscope-session:{port}".encode(), "sha256").hexdigest()


def _server_port(scope) -> int | None:
    server = scope.get("server")
    return server[1] if server and len(server) > 1 else None


def _host_name(header: str) -> str:
    """The host part of a Host header (``[::1]:6006`` -> ``[::1]``, ``a:1`` -> ``a``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0]


def is_loopback_name(name: str) -> bool:
    """Whether a Host header's host names this machine without DNS: ``localhost`` or a
    loopback address literal (``127.0.0.2``, ``[::1]``); any other name could be a
    DNS-rebinding page's.

    Example:
        >>> [is_loopback_name(n) for n in ("localhost", "127.0.0.2", "[::1]", "evil.example", "0.0.0.0", "")]
        [True, True, True, False, False, False]
    """
    name = name.strip().lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _token_of(request: Request, port: int | None) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(cookie_name(port))


#: the dashboard's pages run only the scripts it serves from /assets; styles may be set
#: inline (the frontend sizes elements from script); images also come as data:/blob: URLs
#: (thumbnails, exports); only the dashboard itself may frame its pages
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (a route that sets its own
    Content-Security-Policy, the graph viewer's with its script's hash, keeps it)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _v in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


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
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware),
                                               Middleware(AuthMiddleware, token=token)], lifespan=lifespan)
    app.state.ns = state
    return app


# -- running --------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine only: a loopback address, or a name
    every address of which is a loopback address. ``""``, ``0.0.0.0`` and ``::`` listen on
    every interface and are not.

    Example:
        >>> [is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "", "0.0.0.0", "::")]
        [True, True, True, True, True, False, False, False]
    """
    host = (host or "").strip()
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addrs = {info[4][0].split("%")[0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a).is_loopback for a in addrs)


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
    """The address to open: the bound address itself (``127.0.0.2`` answers there), this
    machine's name for a wildcard bind, and the token percent-encoded.

    Example:
        >>> dashboard_url("127.0.0.2", 6006, "a&b #c")
        'http://127.0.0.2:6006/?token=a%26b%20%23c'
        >>> dashboard_url("::1", 8080, None)
        'http://[::1]:8080/'
    """
    from urllib.parse import quote

    host = (host or "").strip()
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0", "::"):
        shown = socket.gethostname()
    elif bare == "localhost":
        shown = "127.0.0.1"
    elif ":" in bare:
        shown = f"[{bare}]"
    else:
        shown = bare
    return f"http://{shown}:{port}/" + (f"?token={quote(token, safe='')}" if token else "")


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
    """A uvicorn server for ``app`` that ends the live event streams as it begins to shut down:
    otherwise it waits for them (they never end by themselves), then cancels them and prints
    a traceback per open browser tab."""
    import uvicorn

    class DashboardUvicorn(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            app.state.ns.broadcaster.end_streams()
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=1)
    return DashboardUvicorn(config)


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
