"""Connection settings -> a SQLAlchemy AsyncEngine on asyncpg.

Forms accepted (DESIGN section 2): a URL; a URL plus keyword parts (host, port, database,
user, password; the URL gives defaults, keywords win); ``ssl`` as a bool, a libpq mode
string or an :class:`ssl.SSLContext`; a user-supplied ``engine`` (used, never disposed).
Every checkout is pre-pinged (:func:`install_ping`), so a restarted server costs one
failed ping, not an error. Passwords live only inside the SQLAlchemy URL, whose
``str``/``repr`` mask them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Final

from agent_storage.errors import ConfigurationError
from agent_storage.url import StoreURL

from . import _json, _vectors
from .options import PgOptions

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT",
    "connect_args",
    "create_engine",
    "sqlalchemy_url",
    "terminate_ended",
    "track_connections",
    "url_defaults",
]

#: Connections a store keeps at most (pool_size is a cap: no overflow beyond it).
DEFAULT_POOL_SIZE: Final = 10
#: Seconds to wait for a free pooled connection (and to connect).
DEFAULT_POOL_TIMEOUT: Final = 30.0
APPLICATION_NAME: Final = "agent-storage"

def url_defaults(url: StoreURL) -> dict[str, Any]:
    """Connection parts given by the URL itself; keyword options override them."""
    parts = {
        "host": url.host,
        "port": url.port,
        "database": url.database,
        "user": url.username,
        "password": url.password,
    }
    return {k: v for k, v in parts.items() if v not in (None, "")}


def sqlalchemy_url(options: PgOptions) -> URL:
    """The ``postgresql+asyncpg`` URL; store options never reach the driver's query."""
    from sqlalchemy.engine import URL

    return URL.create(
        "postgresql+asyncpg",
        username=options.user,
        password=options.password,
        host=options.host,
        port=options.port,
        database=options.database,
    )


def connect_args(options: PgOptions) -> dict[str, Any]:
    """Keyword arguments for ``asyncpg.connect``.

    ``ssl``: True/False, a libpq mode (disable, allow, prefer, require, verify-ca,
    verify-full) or an SSLContext: asyncpg takes each of these as is. None leaves asyncpg's
    default (``$PGSSLMODE``, else prefer).
    """
    args: dict[str, Any] = {
        # pgvector's search settings when the store searches with its index (_vectors)
        "server_settings": {"application_name": APPLICATION_NAME,
                            **_vectors.session_settings(options)},
        "timeout": options.pool_timeout or DEFAULT_POOL_TIMEOUT,
    }
    if options.ssl is not None:
        args["ssl"] = options.ssl
    return args


def create_engine(options: PgOptions) -> AsyncEngine:
    """A new engine owned by the store (disposed when the store closes)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    size = options.pool_size or DEFAULT_POOL_SIZE
    engine = create_async_engine(
        sqlalchemy_url(options),
        pool_size=size,
        max_overflow=0,
        pool_timeout=options.pool_timeout or DEFAULT_POOL_TIMEOUT,
        pool_pre_ping=False,  # pinged by install_ping (one round trip instead of three)
        hide_parameters=True,  # parameters are user data: keep them out of error strings
        json_serializer=_json.dumps,
        json_deserializer=_json.loads,
        connect_args=connect_args(options),
    )
    use_text_json(engine)
    install_ping(engine)
    return engine


def use_text_json(engine: AsyncEngine) -> None:
    """Exchange json/jsonb as text, decoded by the C JSON scanner directly.

    SQLAlchemy's asyncpg dialect installs binary codecs whose Python decoder strips the
    jsonb version byte, decodes the bytes and calls the deserializer (``json.loads``, with
    its own checks and whitespace regex): on a last-20 recall (40 JSON values) that cost
    40 us per call more than asyncpg's text format with a direct decoder as the codec
    (W1 phase B, 165 vs 125 us CPU per fetch). The server sends one document without
    surrounding whitespace, which ``json_text`` (shared with SQLite) reads with the scanner
    alone. The values are the same: jsonb's binary form is its text form behind a version
    byte. Only our own engine is changed (a user-supplied engine keeps its codecs); the
    dialect documents these two methods as the place to override.
    """
    from agent_storage.sql.tables import json_text as loads

    async def setup_json(conn: Any) -> None:
        await conn.driver_connection.set_type_codec(
            "json", encoder=str, decoder=loads, schema="pg_catalog", format="text")

    async def setup_jsonb(conn: Any) -> None:
        await conn.driver_connection.set_type_codec(
            "jsonb", encoder=str, decoder=loads, schema="pg_catalog", format="text")

    dialect: Any = engine.dialect
    dialect.setup_asyncpg_json_codec = setup_json
    dialect.setup_asyncpg_jsonb_codec = setup_jsonb


#: Set around the checkout of a read that handles a lost connection itself (store.fetch:
#: invalidate, run once more on a pinged connection): such a read saves the ping round trip.
SKIP_PING: contextvars.ContextVar[bool] = contextvars.ContextVar("agent_storage_pg_skip_ping",
                                                                 default=False)


def install_ping(engine: AsyncEngine) -> None:
    """Pre-ping every checkout with one empty query; a dead connection (server restarted,
    backend terminated) is replaced before the caller sees it.

    SQLAlchemy's own ``pool_pre_ping`` on asyncpg wraps the ping in BEGIN/ROLLBACK: three
    round trips on every checkout. A ``;`` outside a transaction does the same job in one.
    (Measured: ``is_closed()`` alone is not enough. After ``pg_terminate_backend`` the
    server's error arrives before the socket closes, and the next query on that connection
    fails with "another operation is in progress".)
    """
    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc

    try:
        from sqlalchemy.util import await_
    except ImportError:  # SQLAlchemy 2.0
        from sqlalchemy.util import await_only as await_

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if SKIP_PING.get():
            return  # an idempotent read that retries on a lost connection itself
        driver = dbapi_connection.driver_connection
        try:
            if driver.is_closed():
                raise ConnectionError("connection is closed")
            await_(driver.fetchrow(";"))
        except Exception as exc:
            # The pool invalidates this connection and checks out (or opens) another.
            raise sa_exc.DisconnectionError(f"{type(exc).__name__}: {exc}") from exc


def check_user_engine(engine: Any) -> AsyncEngine:
    """A user-supplied engine must be an AsyncEngine on a PostgreSQL dialect."""
    from sqlalchemy.ext.asyncio import AsyncEngine

    if not isinstance(engine, AsyncEngine):
        raise ConfigurationError(
            f"engine: expected a SQLAlchemy AsyncEngine, got {type(engine).__name__}"
        )
    if engine.dialect.name != "postgresql":
        raise ConfigurationError(
            f"engine: expected a PostgreSQL engine, got dialect {engine.dialect.name!r}"
        )
    return engine


def track_connections(engine: AsyncEngine, into: MutableMapping[Any, Any]) -> None:
    """Record every asyncpg connection ``engine`` opens, with the event loop it belongs
    to, in ``into`` (a weak mapping: a closed connection drops out by itself)."""
    import asyncio

    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _opened(dbapi_connection: Any, record: Any) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to track
            into[dbapi_connection.driver_connection] = asyncio.get_running_loop()


def terminate_ended(connections: MutableMapping[Any, Any]) -> int:
    """Terminate the connections whose event loop has stopped (closed, or no longer
    running), from any thread; returns how many. ``asyncpg.Connection.terminate`` is
    synchronous: it sends the protocol's Terminate message on the socket at once, so the
    server ends the session; what it then schedules on the dead loop fails with "Event
    loop is closed", which is expected here and ignored. A connection whose loop still
    runs (in another thread) is left alone: only that loop may touch it."""
    ended = 0
    for driver, loop in list(connections.items()):
        if loop.is_running() or driver.is_closed():
            continue
        with contextlib.suppress(RuntimeError):
            driver.terminate()
        ended += 1
    connections.clear()
    return ended
