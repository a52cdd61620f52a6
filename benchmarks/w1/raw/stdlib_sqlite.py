"""Raw stdlib ``sqlite3`` baseline: synchronous calls in the event loop's own thread.

What a user who skips every library gets, and the practical limit of one process: no
thread hop, no executor, one connection, WAL and ``synchronous=FULL`` (issue 16; the
aiosqlite baseline and agent-storage use NORMAL, so phase A here pays an fsync per commit
that they do not). The async methods never await: each call blocks the loop for its whole
statement, which is exactly the cost this baseline leaves out.

Same schema, SQL and row decoding as the aiosqlite baseline (``raw/sqlite.py``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..data import W1Message, W1Thread, iso
from .records import RawMessage, RawThread
from .sqlite import (
    INSERT_MESSAGE,
    INSERT_THREAD,
    LAST_N,
    LIST_THREADS,
    SCHEMA,
    TOUCH_THREAD,
    WINDOW,
    _fromiso,
    _message,
    now_iso,
)

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


class RawStdlibSqlite:
    def __init__(self, path: str) -> None:
        self.name = "sqlite3"
        self.path = path
        self.db: sqlite3.Connection | None = None

    async def open(self) -> None:
        # isolation_level=None: autocommit; we issue BEGIN/COMMIT ourselves
        self.db = sqlite3.connect(self.path, isolation_level=None)
        for p in PRAGMAS:
            self.db.execute(p)
        self.db.executescript(SCHEMA)

    async def close(self) -> None:
        if self.db is not None:
            self.db.close()

    async def create_thread(self, t: W1Thread) -> None:
        assert self.db is not None
        created = iso(t.created_ms)[:-1] + "000Z"  # same width as now_iso()
        meta = json.dumps({"n": t.n}, separators=(",", ":"))
        self.db.execute(INSERT_THREAD, (t.id, t.resource_id, t.title, meta, created, created))

    async def write(self, msgs: Sequence[W1Message]) -> None:
        db = self.db
        assert db is not None
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        rows = [
            (m.id, m.thread_id, m.resource_id, m.role, "text", dumps(m.content), iso(m.created_ms))
            for m in msgs
        ]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(INSERT_MESSAGE, rows)
            db.execute(TOUCH_THREAD, (now_iso(), msgs[0].thread_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def last(self, thread_id: str, n: int) -> list[RawMessage]:
        assert self.db is not None
        rows = self.db.execute(LAST_N, (thread_id, n)).fetchall()
        return [_message(r) for r in reversed(rows)]

    async def list_threads(self, resource_id: str, n: int) -> list[RawThread]:
        assert self.db is not None
        rows = self.db.execute(LIST_THREADS, (resource_id, n)).fetchall()
        return [
            RawThread(r[0], r[1], r[2], json.loads(r[3]), _fromiso(r[4]), _fromiso(r[5]))
            for r in rows
        ]

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> list[RawMessage]:
        # thread_id deliberately unused: W1 gives only the message id
        assert self.db is not None
        params = {"id": message_id, "before": before, "after": after}
        return [_message(r) for r in self.db.execute(WINDOW, params).fetchall()]
