"""SqliteBackend: ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite://`` (memory).

Every connection gets WAL, ``busy_timeout``, ``foreign_keys=ON`` and ``synchronous=NORMAL``.
Writes run in ``BEGIN IMMEDIATE`` transactions (the write lock is taken up front, so a
transaction never has to upgrade and fail with "database is locked"); writers of one
process queue on an asyncio lock, writers of other processes wait in SQLite's busy
handler, and a write that still finds the database busy is retried with backoff.
Reads run in autocommit mode (WAL readers never block writers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from typing import Any, ClassVar

from agent_storage.errors import AgentStorageError, ConfigurationError
from agent_storage.sql.base import SqlBackend
from agent_storage.url import StoreURL
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

__all__ = ["SqliteBackend"]

#: How long a connection waits for another process's write lock before SQLITE_BUSY.
BUSY_TIMEOUT_MS = 30_000

_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)

_HINT = ("set AGENT_STORAGE_URL (or pass a URL to open_store) to a writable location, "
         "e.g. sqlite:////tmp/agent_storage.db")


def database_path(url: StoreURL) -> str | None:
    """The file path of a sqlite URL, or None for an in-memory database."""
    if url.host:
        raise ConfigurationError(
            f"sqlite URL {url} has a host part {url.host!r}: use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite:// (in memory)")
    path = url.database
    if path in (None, "", ":memory:"):
        return None
    return path


class SqliteBackend(SqlBackend):
    """The SQLite backend (SQLAlchemy asyncio + aiosqlite)."""

    dialect_name: ClassVar[str] = "sqlite"
    accepted_options: ClassVar[frozenset[str]] = frozenset({"pool_size", "pool_timeout", "engine"})

    def __init__(self, url: StoreURL, options: Any) -> None:
        super().__init__(url, options)
        self.path = database_path(url)
        self._write_lock: asyncio.Lock | None = None

    # -- engine ----------------------------------------------------------------------------

    def create_engine(self) -> AsyncEngine:
        if self.path is None:
            # One shared connection: every "connection" is the same in-memory database.
            return create_async_engine(
                "sqlite+aiosqlite://", poolclass=StaticPool,
                connect_args={"check_same_thread": False})
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigurationError(
                f"cannot open SQLite database {self.path!r}: directory {directory!r} does not "
                f"exist; create it, or {_HINT}")
        return create_async_engine(
            f"sqlite+aiosqlite:///{self.path}",
            poolclass=AsyncAdaptedQueuePool,
            pool_size=self.options.pool_size or 5,
            max_overflow=10,
            pool_timeout=self.options.pool_timeout or 30,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        )

    def setup_engine(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        if getattr(sync, "_agent_storage_sqlite", False):
            return
        sync._agent_storage_sqlite = True  # type: ignore[attr-defined]

        @event.listens_for(sync, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            # We issue BEGIN IMMEDIATE ourselves; the driver must not begin on its own.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            try:
                for pragma in _PRAGMAS:
                    cursor.execute(pragma)
            finally:
                cursor.close()

    def insert(self, table: Any) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    # -- transactions ----------------------------------------------------------------------

    async def begin_write(self, conn: AsyncConnection) -> None:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _writer_lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    def write_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        # One writer per process at a time: queueing on an asyncio lock is much cheaper
        # than many connections spinning in SQLite's busy handler.
        return self._writer_lock()

    def read_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self.path is None:
            # In memory there is one connection: reads and writes must not interleave.
            return self._writer_lock()
        return contextlib.nullcontext()

    # -- errors ----------------------------------------------------------------------------

    def is_busy(self, exc: BaseException) -> bool:
        orig = getattr(exc, "orig", None) or exc
        if not isinstance(orig, sqlite3.OperationalError):
            return False
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return True
        message = str(orig).lower()
        return "database is locked" in message or "database is busy" in message

    def is_transient(self, exc: BaseException) -> bool:
        return super().is_transient(exc) or self.is_busy(exc)

    def explain_init_error(self, exc: BaseException) -> AgentStorageError:
        orig = getattr(exc, "orig", None) or exc
        message = str(orig).lower()
        if isinstance(orig, sqlite3.OperationalError) and (
            "unable to open database file" in message or "readonly database" in message
            or "read-only" in message or "disk i/o error" in message
        ):
            err = ConfigurationError(
                f"cannot create or write the SQLite database {self.path or ':memory:'!r} "
                f"({orig}); {_HINT}")
            return err
        return self.translate_error(exc)
