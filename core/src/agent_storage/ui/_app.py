"""The Starlette application: routes, the store's lifetime, errors as pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import (
    AgentStorageError,
    DomainNotAvailableError,
    NotFoundError,
    NotSupportedError,
    SchemaNotInitializedError,
    ValidationError,
)
from ..storage import Storage
from . import _admin_views, _memory_views, _run_views, _trace_views
from ._guard import Guard
from ._render import render

__all__ = ["create_app"]

_STATUS = (
    (NotFoundError, 404),
    (ValidationError, 400),
    (DomainNotAvailableError, 404),
    (NotSupportedError, 501),
    (SchemaNotInitializedError, 503),
)


async def _error(request: Request, exc: Exception) -> Response:
    """An agent-storage error as a page (its one-line message, escaped; no traceback)."""
    code = next((c for cls, c in _STATUS if isinstance(exc, cls)), 500)
    return render(request, "error.html", status_code=code, title="Error",
                  kind=type(exc).__name__, message=str(exc))


async def _home(request: Request) -> Response:
    return RedirectResponse(request.url_for("threads").include_query_params(), status_code=302)


ROUTES = [
    Route("/", _home),
    Route("/threads", _memory_views.threads, name="threads"),
    Route("/thread", _memory_views.conversation, name="thread"),
    Route("/runs", _run_views.runs, name="runs"),
    Route("/run", _run_views.run, name="run"),
    Route("/scores", _run_views.scores, name="scores"),
    Route("/traces", _trace_views.traces, name="traces"),
    Route("/trace", _trace_views.trace, name="trace"),
    Route("/agents", _admin_views.agents, name="agents"),
    Route("/agent", _admin_views.agent, name="agent"),
    Route("/status", _admin_views.status, name="status"),
    Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
]


def create_app(store: Storage | str, *, token: str | None = None,
               options: dict[str, Any] | None = None) -> Starlette:
    """The viewer over ``store`` (a Storage, or a URL opened when the app starts with
    ``disable_init=True``, so it never creates a schema, and closed when it stops).

    Only GET routes exist: the viewer writes nothing. ``token`` None answers only
    requests addressed to the loopback; otherwise every request needs the token.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(store, str):
            from .. import open_store

            storage = open_store(store, **{"disable_init": True, **(options or {})})
            app.state.storage = storage
            try:
                yield
            finally:
                await storage.close()
        else:
            app.state.storage = store
            yield

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(Guard, token=token)],
        exception_handlers={AgentStorageError: _error},
        lifespan=lifespan,
    )
