"""Short reads on the event loop's own thread, with a bound on how long they block it.

A hand-off to a reader thread and back costs more than a short indexed read itself
(tens of microseconds against a few). A registered read is therefore first tried here,
on a connection of its own, under a time budget: SQLite's progress handler checks the
clock every :data:`CHECK_EVERY` virtual-machine steps and interrupts the statement once
:data:`BUDGET_S` has passed; a lock wait is not attempted (``busy_timeout = 0``). An
interrupted or busy read, a statement that was not registered, and a read that finds
the connection in use (another thread's loop) return None: the caller runs it on a
reader thread instead. So the loop is blocked by one read for at most about
``BUDGET_S`` plus one check interval (microseconds), and the rows it returns are exactly
what the thread would have returned. There is no await inside: cancellation cannot
interrupt an inline read, and it holds nothing across an await.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ._lanes import is_busy_error, log_statement
from ._statements import Preparer

__all__ = ["BUDGET_S", "CHECK_EVERY", "LONG_SKIPS", "InlineReader"]

#: The most one inline read may run before it is interrupted and handed to a thread.
BUDGET_S = 0.002
#: Virtual-machine steps between clock checks.
CHECK_EVERY = 1000
#: Calls of a statement sent straight to a thread after it was interrupted here: a read
#: that outgrew the budget (an exact vector search over a large scope, a long thread)
#: would otherwise spend BUDGET_S on the loop every time before starting over on a
#: thread; it is tried here again after that many calls, in case it got short again.
LONG_SKIPS = 16


class InlineReader:
    """One connection for inline reads, opened on first use."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, debug: bool) -> None:
        self._connect = connect
        self._debug = debug
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._deadline = 0.0
        self._closed = False
        #: id of a Prepared -> calls left to send to a thread (see LONG_SKIPS)
        self._long: dict[int, int] = {}
        self.interrupted = 0  # reads interrupted over budget (for tests and tuning)

    def _over_budget(self) -> int:
        return int(time.perf_counter() > self._deadline)

    def _open(self) -> sqlite3.Connection:
        conn = self._connect()  # never waits for a lock (busy_timeout 0)
        conn.set_progress_handler(self._over_budget, CHECK_EVERY)
        self._conn = conn
        return conn

    def read(self, preparer: Preparer, stmt: Any, params: dict[str, Any] | None
             ) -> list[Any] | None:
        """The rows of ``stmt``, or None: run it on a reader thread instead."""
        prepared = preparer.lookup(stmt)
        if prepared is None:
            return None
        skips = self._long.get(id(prepared))
        if skips:
            self._long[id(prepared)] = skips - 1
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._closed:
                return None
            sql, args = prepared.bind(params or {})
            started = time.perf_counter()
            self._deadline = started + BUDGET_S
            try:
                conn = self._conn or self._open()
                rows = conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    self.interrupted += 1
                    self._long[id(prepared)] = LONG_SKIPS
                    return None
                if is_busy_error(exc):
                    return None
                raise
            if self._debug:
                log_statement(sql, started, len(rows))
            return rows
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the connection (from any thread; waits for a read in progress)."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
