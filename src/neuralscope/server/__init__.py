"""The live dashboard: a Starlette app over a runs directory (or one model file).

``neuralscope serve runs/`` runs it; :func:`serve_in_background` starts it from Python and
returns its URL. The frontend is built from ``web/`` into ``server/static`` by ``web/build.sh``.
"""
from .app import DashboardServer, create_app, serve, serve_in_background  # noqa: F401
from .runs import ServerError  # noqa: F401
