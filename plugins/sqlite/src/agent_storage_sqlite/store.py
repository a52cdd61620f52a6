"""SqliteBackend: ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite://`` (memory).

Domain calls run on our own executor (:mod:`._executor`) over the standard library's
``sqlite3``: one writer connection and a few readers, each owned by a thread. Every
connection gets WAL, ``foreign_keys=ON`` and ``synchronous=NORMAL``. Writes run in
``BEGIN IMMEDIATE`` transactions (the write lock is taken up front, so a transaction
never has to upgrade and fail with "database is locked"); writers of one store queue on
the writer thread, other connections (other stores, other processes) are waited for up
to 30 s, and a write whose caller gave up before its commit is rolled back. Reads run in
autocommit mode (WAL readers never block writers).

The SQLAlchemy engine (``storage.engine``, migrations, indexes, status) is kept beside the
executor; it holds no connection between uses on a file (``NullPool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from agent_storage.errors import AgentStorageError, ConfigurationError
from agent_storage.sql.base import SqlBackend, Tx
from agent_storage.url import StoreURL
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from ._dialect import SqliteDialect
from ._executor import Executor
from ._files import create_private
from ._inline import BUDGET_S, InlineReader
from ._lanes import (
    BUSY_TIMEOUT_MS,
    PRAGMAS,
    Lane,
    connect,
    is_busy_error,
    open_lane,
    run_read,
    run_write,
)
from ._statements import Preparer

__all__ = ["SqliteBackend"]

T = TypeVar("T")

_HINT = ("set AGENT_STORAGE_URL (or pass a URL to open_store) to a writable location, "
         "e.g. sqlite:////tmp/agent_storage.db")

_names = itertools.count(1)

#: Engines whose connect event is installed (a user's engine may serve several stores).
_SET_UP: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()


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


def _opened(lane: Lane, call: Any) -> None:
    """A call that only makes its thread open the connection."""


def _connect_inline(path: str) -> sqlite3.Connection:
    # used on whichever thread runs the loop (and closed from any): see _inline
    return connect(path, uri=False, check_same_thread=False, busy_ms=0)


def _open(target: str, uri: bool, private: bool, debug: bool) -> Lane:
    if private:
        create_private(target)
    return open_lane(target, uri=uri, debug=debug)


class SqliteBackend(SqliteDialect, SqlBackend):
    """The SQLite backend (our executor over sqlite3; SQLAlchemy for the engine)."""

    dialect_name: ClassVar[str] = "sqlite"
    accepted_options: ClassVar[frozenset[str]] = frozenset({"pool_size", "pool_timeout", "engine"})

    #: Reader connections (WAL lets readers run beside the writer).
    readers: ClassVar[int] = 2

    def __init__(self, url: StoreURL, options: Any) -> None:
        super().__init__(url, options)
        self.path = database_path(url)
        # An in-memory store is one named shared-cache database, so the executor's
        # connection and the engine's see the same data.
        self._memory_uri = (None if self.path is not None else
                            f"file:agent_storage_{uuid.uuid4().hex}?mode=memory&cache=shared")
        self._write_lock: asyncio.Lock | None = None
        self._preparer: Preparer | None = None
        self._executor: Executor[Lane] | None = None
        self._inline: InlineReader | None = None
        self._inline_since = 0.0  # when the loop last got control back between inline reads
        self._drivers: weakref.WeakSet[Any] = weakref.WeakSet()

    async def exists(self) -> bool:
        """An in-memory database always exists; a file only if it is there already."""
        return self.path is None or os.path.exists(self.path)  # noqa: ASYNC240 (one stat)

    def location(self) -> str:
        return self.path or ":memory:"

    # -- engine ----------------------------------------------------------------------------

    def create_engine(self) -> AsyncEngine:
        if self.path is None:
            # One connection, held while the store is open: it keeps the database alive.
            return create_async_engine(
                f"sqlite+aiosqlite:///{self._memory_uri}&uri=true", poolclass=StaticPool,
                connect_args={"check_same_thread": False})
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ConfigurationError(
                f"cannot open SQLite database {self.path!r}: directory {directory!r} does not "
                f"exist; create it, or {_HINT}")
        create_private(self.path)
        # No pooled connection outlives its use: nothing is left tied to an event loop.
        return create_async_engine(
            f"sqlite+aiosqlite:///{self.path}", poolclass=NullPool,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    def setup_engine(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        if engine in _SET_UP:
            return
        _SET_UP.add(engine)
        drivers = self._drivers

        @event.listens_for(sync, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            with contextlib.suppress(Exception):
                drivers.add(dbapi_conn.driver_connection)
            # We issue BEGIN IMMEDIATE ourselves; the driver must not begin on its own.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            try:
                for pragma in PRAGMAS:
                    cursor.execute(pragma)
            finally:
                cursor.close()

    def insert(self, table: Any) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    # -- transactions ----------------------------------------------------------------------

    async def begin_write(self, conn: Any) -> None:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _writer_lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    def write_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self.path is None:
            # In memory the engine's connection and the executor's share table locks:
            # their calls must not interleave.
            return self._writer_lock()
        return contextlib.nullcontext()

    def read_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.write_guard()

    # -- the executor ------------------------------------------------------------------------

    def _prep(self) -> Preparer:
        if self._preparer is None:
            self._preparer = Preparer(self.engine.dialect, debug=self.options.debug)
        return self._preparer

    def prepared(self, stmt: Any) -> Any:
        self._prep().register(stmt)
        return stmt

    def _target(self) -> tuple[str, bool, bool] | None:
        """(path or URI, is a URI, create it private) for the executor's connections;
        None when the store runs on a user-supplied engine we cannot open ourselves."""
        if self.options.engine is None:
            if self.path is None:
                return str(self._memory_uri), True, False
            return self.path, False, True
        url = self.engine.url  # checked first: never a file for a refused engine
        database = url.database
        if not database or database == ":memory:" or "uri" in url.query:
            return None
        return database, False, True

    def _exec(self) -> Executor[Lane] | None:
        if self._executor is None:
            target = self._target()
            if target is None:
                return None
            path, uri, private = target
            debug = bool(self.options.debug)
            executor: Executor[Lane] = Executor(
                lambda: _open(path, uri, private, debug), Lane.close,
                readers=self.readers if self.path is not None else 0,
                name=f"#{next(_names)}")
            # A store dropped without close() still ends its threads.
            weakref.finalize(self, executor.stop)
            self._executor = executor
            if self.path is not None and self.options.engine is None:
                self._inline = InlineReader(lambda: _connect_inline(path), debug=debug)
        return self._executor

    def scores_in_sql(self) -> bool:
        # every connection of the executor and the inline reader comes from connect(),
        # which registers the aggregate; SQLAlchemy's (a URI engine's) do not
        return self._exec() is not None

    async def fetch(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        executor = self._exec()
        if executor is None:
            return await super().fetch(stmt, params)
        inline = self._inline
        if inline is not None:
            # Each inline read blocks the loop for at most ~BUDGET_S; back-to-back ones
            # give the loop a turn once BUDGET_S has passed since the last.
            now = time.perf_counter()
            if now - self._inline_since > BUDGET_S:
                await asyncio.sleep(0)
                self._inline_since = time.perf_counter()
            rows = inline.read(self._prep(), stmt, params)
            if rows is not None:
                return rows
        async with self.read_guard():
            return await executor.read(run_read, executor, self._prep(), stmt, params)

    async def transact(self, fn: Callable[[Tx], T]) -> T:
        executor = self._exec()
        if executor is None:
            return await super().transact(fn)
        preparer = self._prep()

        async def attempt() -> T:
            async with self.write_guard():
                return await executor.write(run_write, executor, preparer, fn)

        # A write that still found the file busy after BUSY_TIMEOUT_MS, or was busy in
        # mid-transaction (not in WAL mode), runs again from the start.
        return await self.busy_retry.run(attempt, retry_if=self.retry_busy)

    # -- lifecycle -------------------------------------------------------------------------

    async def init(self) -> None:
        # Open the writer first: a file SQLite cannot open fails here, explained, before
        # the engine tries (aiosqlite's failed connect leaves a stop request racing the
        # end of the event loop).
        executor = self._exec()
        if executor is not None and not self._initialized:
            self._prep()  # builds the engine: a missing directory is reported first
            try:
                await executor.write(_opened)
            except Exception as exc:
                raise self.explain_init_error(exc) from exc
        await super().init()

    async def close(self) -> None:
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            await executor.close()
        await super().close()

    def abandon(self) -> None:
        # Their loop is gone (or belongs to another thread): nothing can be awaited. The
        # executor's threads stop on their own; the engine's in-memory connection (the
        # only one it keeps) is stopped through aiosqlite's public stop().
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.stop()
        for driver in list(self._drivers):
            with contextlib.suppress(Exception):
                driver.stop()
        super().abandon()

    # -- errors ----------------------------------------------------------------------------

    def is_busy(self, exc: BaseException) -> bool:
        return is_busy_error(getattr(exc, "orig", None) or exc)

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
