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
import random
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from agent_storage.errors import AgentStorageError, ConfigurationError
from agent_storage.sql.base import SqlBackend, Tx
from agent_storage.url import StoreURL
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from ._dialect import SqliteDialect
from ._fast import Preparer, run_read, run_write

__all__ = ["SqliteBackend"]

T = TypeVar("T")

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


#: Connections of abandoned stores, kept referenced (see SqliteBackend.abandon).
_GRAVEYARD: list[Any] = []


def _stop_quietly(driver: Any) -> None:
    """Close an aiosqlite connection in its own thread and end the thread, without a
    future: its event loop may be closed, and nothing may be posted to it."""
    try:
        import aiosqlite.core as core

        sentinel = core._STOP_RUNNING_SENTINEL
        queue = driver._tx
    except (ImportError, AttributeError):  # another aiosqlite: leave the thread idle
        return
    if not getattr(driver, "_running", False):
        return
    driver._running = False

    def close_and_stop() -> Any:
        if driver._connection is not None:
            driver._connection.close()
            driver._connection = None
        return sentinel

    queue.put_nowait((None, close_and_stop))


class SqliteBackend(SqliteDialect, SqlBackend):
    """The SQLite backend (SQLAlchemy asyncio + aiosqlite)."""

    dialect_name: ClassVar[str] = "sqlite"
    accepted_options: ClassVar[frozenset[str]] = frozenset({"pool_size", "pool_timeout", "engine"})

    #: Connections kept for reads (WAL lets readers run beside the writer).
    readers: ClassVar[int] = 2

    def __init__(self, url: StoreURL, options: Any) -> None:
        super().__init__(url, options)
        self.path = database_path(url)
        self._write_lock: asyncio.Lock | None = None
        self._preparer: Preparer | None = None
        # Lanes: SQLAlchemy connections held for the store's life, used through their
        # aiosqlite driver connection (see _fast). One writer; a few readers.
        self._held: list[AsyncConnection] = []
        self._writer: Any = None
        self._idle_readers: list[Any] = []
        self._reader_count = 0
        self._reader_waiters: list[asyncio.Future[None]] = []
        self._lane_lock: asyncio.Lock | None = None
        self._abandoned = False

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

        drivers: weakref.WeakSet[Any] = weakref.WeakSet()
        sync._agent_storage_drivers = drivers  # type: ignore[attr-defined]

        @event.listens_for(sync, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            with contextlib.suppress(Exception):
                drivers.add(dbapi_conn.driver_connection)
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

    # -- one hop per call (see _fast) --------------------------------------------------------

    def _prep(self) -> Preparer:
        if self._preparer is None:
            self._preparer = Preparer(self.engine.dialect, debug=self.options.debug)
        return self._preparer

    def prepared(self, stmt: Any) -> Any:
        self._prep().register(stmt)
        return stmt

    async def _open_lane(self) -> Any:
        conn = await self.engine.connect()
        try:
            raw = await conn.get_raw_connection()
        except BaseException:
            await conn.close()
            raise
        self._held.append(conn)
        return raw.driver_connection

    async def _writer_lane(self) -> Any:
        if self._writer is None:
            if self._lane_lock is None:
                self._lane_lock = asyncio.Lock()
            async with self._lane_lock:
                if self._writer is None:
                    self._writer = await self._open_lane()
        return self._writer

    async def _take_reader(self) -> Any:
        """An idle reader lane, a new one (up to ``readers``), or wait for one."""
        while True:
            if self._idle_readers:
                return self._idle_readers.pop()
            if self._reader_count < self.readers:
                self._reader_count += 1
                try:
                    return await self._open_lane()
                except BaseException:
                    self._reader_count -= 1
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._reader_waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._reader_waiters.remove(waiter)

    def _give_reader(self, lane: Any) -> None:
        self._idle_readers.append(lane)
        while self._reader_waiters:
            waiter = self._reader_waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    async def fetch(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        if self._abandoned:  # a call that began before its loop changed: hold nothing
            return await super().fetch(stmt, params)
        sql, args = self._prep().bind(stmt, params)
        debug = self.options.debug
        if self.path is None:  # one in-memory database, one connection
            async with self._writer_lock():
                lane = await self._writer_lane()
                return await lane._execute(run_read, lane._conn, sql, args, debug)  # type: ignore[no-any-return]
        # Fast path: no await between taking an idle lane and using it.
        lane = self._idle_readers.pop() if self._idle_readers else await self._take_reader()
        try:
            return await lane._execute(run_read, lane._conn, sql, args, debug)  # type: ignore[no-any-return]
        finally:
            self._give_reader(lane)

    async def transact(self, fn: Callable[[Tx], T]) -> T:
        if self._abandoned:
            return await super().transact(fn)
        preparer = self._prep()
        attempt = 0
        while True:
            try:
                async with self.write_guard():
                    lane = await self._writer_lane()
                    return await lane._execute(run_write, lane._conn, preparer, fn)  # type: ignore[no-any-return]
            except AgentStorageError:
                raise
            except Exception as exc:
                attempt += 1
                if attempt > self.busy_retries or not self.is_busy(exc):
                    raise
                await asyncio.sleep(min(2.0, 0.01 * 2**attempt) * (0.5 + random.random()))

    async def close(self) -> None:
        held, self._held = self._held, []
        self._abandoned = True
        self._writer, self._idle_readers, self._reader_count = None, [], 0
        for conn in held:
            with contextlib.suppress(Exception):
                await conn.close()
        await super().close()

    def abandon(self) -> None:
        held, self._held = self._held, []
        self._abandoned = True
        self._writer, self._idle_readers, self._reader_count = None, [], 0
        # Their loop is gone (or belongs to another thread): nothing can be awaited. Stop
        # each aiosqlite thread with a request that posts no result to any loop, and keep
        # the held SQLAlchemy connections referenced so their finalizers never run (they
        # would warn and try to reach the dead loop).
        for conn in held:
            with contextlib.suppress(Exception):
                _stop_quietly(conn.sync_connection.connection.driver_connection)  # type: ignore[union-attr]
        _GRAVEYARD.extend(held)
        del _GRAVEYARD[:-1000]
        if self._engine is not None and self._owns_engine:
            for driver in list(getattr(self._engine.sync_engine, "_agent_storage_drivers", ())):
                _stop_quietly(driver)
        super().abandon()

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
