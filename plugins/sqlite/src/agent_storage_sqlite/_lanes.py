"""What runs in a connection thread: one read, or one whole write transaction.

A domain call costs one hand-off to the thread: ``BEGIN IMMEDIATE``, every statement
and ``COMMIT`` are one function (:func:`run_write`) run there. Registered statements are
bound by :mod:`._statements` and run on the sqlite3 connection directly; any other
statement runs through a SQLAlchemy ``Connection`` over the same sqlite3 connection
(public API; SQLAlchemy caches its compiled form).

Busy handling: a connection's own ``busy_timeout`` is short (:data:`POLL_MS`); waiting
for another connection's lock is a loop here that gives up after
:data:`BUSY_TIMEOUT_MS` and stops at once when the caller abandoned the call.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any, cast

from agent_storage.sql.base import Tx
from agent_storage.vectors.backend import TopScores

from ._executor import Abandoned, Call, Executor
from ._statements import Preparer

__all__ = ["BUSY_TIMEOUT_MS", "Lane", "RawTx", "connect", "open_lane", "run_read", "run_write"]

log = logging.getLogger("agent_storage.sql")

#: How long a call waits, in total, for another connection's write lock.
BUSY_TIMEOUT_MS = 30_000
#: One wait inside SQLite's busy handler, between checks for an abandoned call.
POLL_MS = 50

PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)


def is_busy_error(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc).lower()
    return "database is locked" in message or "is busy" in message or "is locked" in message


class Lane:
    """One thread's connection, and a SQLAlchemy Connection over it for statements that
    were not registered. The SQLAlchemy Connection is made with the lane, outside any
    transaction: SQLAlchemy rolls back after its first connect."""

    __slots__ = ("conn", "debug", "sa")

    def __init__(self, conn: sqlite3.Connection, debug: bool) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        self.conn = conn
        self.debug = debug
        engine = create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)
        if debug:
            _log_statements(engine)
        self.sa: Any = engine.connect()

    def end(self) -> None:
        """End SQLAlchemy's logical transaction (after ours ended: a no-op in SQLite)."""
        if self.sa.in_transaction():
            self.sa.rollback()

    def close(self) -> None:
        self.sa.close()
        self.sa.engine.dispose(close=False)
        self.conn.close()


def connect(target: str, *, uri: bool, check_same_thread: bool = True,
            busy_ms: int = POLL_MS) -> sqlite3.Connection:
    """A connection with the store's pragmas (``target``: a path, or a URI), waiting up
    to BUSY_TIMEOUT_MS for a lock while it sets them up (0 with ``busy_ms=0``), then
    ``busy_timeout = busy_ms`` (see :func:`_patiently`)."""
    setup_s = BUSY_TIMEOUT_MS / 1000 if busy_ms else 0.0
    conn = sqlite3.connect(target, uri=uri, timeout=setup_s,
                           isolation_level=None, cached_statements=256,
                           check_same_thread=check_same_thread)
    try:
        for pragma in PRAGMAS:
            if pragma.startswith("PRAGMA busy_timeout"):
                pragma = f"PRAGMA busy_timeout = {int(setup_s * 1000)}"
            conn.execute(pragma)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        # exact vector search scores in the statement (see SqliteBackend.scores_in_sql)
        # (typeshed's protocol knows only one-argument int aggregates)
        conn.create_aggregate(TopScores.name, TopScores.arity, cast(Any, TopScores))
    except BaseException:
        conn.close()
        raise
    return conn


def open_lane(target: str, *, uri: bool, debug: bool) -> Lane:
    """A lane on a new connection (see :func:`connect`)."""
    conn = connect(target, uri=uri)
    try:
        return Lane(conn, debug)
    except BaseException:
        conn.close()
        raise


def _log_statements(engine: Any) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                executemany: bool) -> None:
        conn.info["agent_storage_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:
        started = conn.info.pop("agent_storage_t0", time.perf_counter())
        rows = len(params) if executemany and isinstance(params, list | tuple) else 1
        log_statement(statement, started, rows)


def log_statement(sql: str, started: float, rows: int = 1) -> None:
    log.debug("%.3f ms (%d row(s)): %s", (time.perf_counter() - started) * 1000, rows,
              " ".join(sql.split()))


def _patiently(ex: Executor[Lane], call: Call, step: Callable[[], Any]) -> Any:
    """``step()``, again while another connection holds the lock (each try waits up to
    POLL_MS in SQLite's busy handler), until BUSY_TIMEOUT_MS or the caller gives up."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return step()
        except Exception as exc:
            orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
            if not is_busy_error(orig) or time.monotonic() > deadline:
                raise
            if ex.abandoned(call):
                raise Abandoned from None
            if getattr(orig, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_LOCKED:
                time.sleep(POLL_MS / 1000 / 10)  # a shared-cache lock: no busy handler ran


class RawTx(Tx):
    """Tx on a lane, inside its thread."""

    def __init__(self, lane: Lane, preparer: Preparer) -> None:
        self.lane = lane
        self.conn = lane.conn
        self.preparer = preparer

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        prepared = self.preparer.lookup(stmt)
        if prepared is None:
            return list(self.lane.sa.execute(stmt, params or {}).all())
        sql, args = prepared.bind(params or {})
        started = time.perf_counter()
        result = self.conn.execute(sql, args).fetchall()
        if self.lane.debug:
            log_statement(sql, started, len(result))
        return result

    def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> int:
        prepared = self.preparer.lookup(stmt)
        if prepared is None:
            return int(self.lane.sa.execute(stmt, params or {}).rowcount)
        sql, args = prepared.bind(params or {})
        started = time.perf_counter()
        cursor = self.conn.execute(sql, args)
        count = cursor.rowcount
        cursor.close()
        if self.lane.debug:
            log_statement(sql, started)
        return int(count)

    def insert_many(self, stmt: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
                    *, plain: Any = None) -> None:
        if not rows:
            return
        prepared = self.preparer.for_columns(stmt, columns)
        if prepared is None or prepared.names != columns:
            super().insert_many(stmt, columns, rows)
            return
        started, count = time.perf_counter(), len(rows)
        first = None if plain is None else self.preparer.for_columns(plain, columns)
        if first is not None and first.names == columns:
            # SQLite's upsert costs ~1 us a row more than an INSERT (save_messages: ~18 us a
            # call): the rows go in as a plain INSERT, and if one fails (its statement is
            # undone, the transaction goes on) all of them again through ``stmt``, which
            # re-upserts the ones already inserted unchanged. (Counting the inserted rows
            # with total_changes would also count rows a user's trigger wrote.)
            try:
                self.conn.executemany(first.sql, rows)
                rows = []
            except sqlite3.IntegrityError:
                pass
        if rows:
            self.conn.executemany(prepared.sql, rows)
        if self.lane.debug:
            log_statement(prepared.sql, started, count)

    def executemany(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        prepared = self.preparer.lookup(stmt)
        if prepared is None:
            self.lane.sa.execute(stmt, rows)
            return
        started = time.perf_counter()
        fast = self.preparer.many(stmt, rows)
        if fast is not None:
            self.conn.executemany(*fast)
            if self.lane.debug:
                log_statement(fast[0], started, len(rows))
            return
        bound = [prepared.bind(row) for row in rows]
        sql = bound[0][0]
        if all(b[0] == sql for b in bound):
            self.conn.executemany(sql, [b[1] for b in bound])
        else:  # IN lists of different lengths: one by one, still in order
            for one_sql, args in bound:
                self.conn.execute(one_sql, args)
        if self.lane.debug:
            log_statement(sql, started, len(bound))


def run_read(lane: Lane, call: Call, ex: Executor[Lane], preparer: Preparer, stmt: Any,
             params: dict[str, Any] | None) -> list[Any]:
    """Body of a read (autocommit: one statement needs no transaction)."""
    prepared = preparer.lookup(stmt)
    if prepared is None:
        try:
            found: list[Any] = _patiently(ex, call, lambda: list(
                lane.sa.execute(stmt, params or {}).all()))
            return found
        finally:
            lane.end()
    sql, args = prepared.bind(params or {})
    started = time.perf_counter()
    rows: list[Any] = _patiently(ex, call, lambda: lane.conn.execute(sql, args).fetchall())
    if lane.debug:
        log_statement(sql, started, len(rows))
    return rows


def run_write(lane: Lane, call: Call, ex: Executor[Lane], preparer: Preparer,
              fn: Callable[[Tx], Any]) -> Any:
    """Body of a write: one IMMEDIATE transaction around ``fn(tx)``, committed only if the
    caller is still waiting (see :meth:`Executor.may_commit`)."""
    conn = lane.conn
    _patiently(ex, call, lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        result = fn(RawTx(lane, preparer))
        if not ex.may_commit(call):
            raise Abandoned
        _patiently(ex, call, lambda: conn.execute("COMMIT"))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        lane.end()
    return result
