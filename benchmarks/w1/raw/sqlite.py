"""Raw aiosqlite baseline: WAL, synchronous=NORMAL, foreign keys, one connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from ..data import W1Message, W1Thread, iso
from .records import RawMessage, RawThread

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)

# Timestamps are fixed-width ISO-8601 UTC text, so text order is time order.
SCHEMA = """
CREATE TABLE threads (
    id TEXT PRIMARY KEY,
    resource_id TEXT NOT NULL,
    title TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX threads_resource_updated ON threads (resource_id, updated_at DESC, id);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    resource_id TEXT,
    role TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX messages_thread_created ON messages (thread_id, created_at, seq);
"""

INSERT_THREAD = """
INSERT INTO threads (id, resource_id, title, metadata, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
INSERT_MESSAGE = """
INSERT INTO messages (id, thread_id, resource_id, role, type, content, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
TOUCH_THREAD = "UPDATE threads SET updated_at = ? WHERE id = ?"

MSG_COLS = "id, thread_id, resource_id, role, type, content, metadata, created_at"

LAST_N = f"""
SELECT {MSG_COLS} FROM messages WHERE thread_id = ?
ORDER BY created_at DESC, seq DESC LIMIT ?
"""  # noqa: S608 (constant fragments only)

LIST_THREADS = """
SELECT id, resource_id, title, metadata, created_at, updated_at FROM threads
WHERE resource_id = ? ORDER BY updated_at DESC, id LIMIT ?
"""

# Locate the message by id, then two keyset scans on (thread_id, created_at, seq). The lookup
# is inlined in each arm (not a CTE): SQLite then walks the index in order and stops at LIMIT
# instead of sorting every earlier message of the thread.
_M = "(SELECT thread_id, created_at, seq FROM messages WHERE id = :id) m"
WINDOW = f"""
SELECT {MSG_COLS} FROM (
    SELECT * FROM (
        SELECT x.* FROM {_M} CROSS JOIN messages x
        WHERE x.thread_id = m.thread_id AND (x.created_at, x.seq) < (m.created_at, m.seq)
        ORDER BY x.created_at DESC, x.seq DESC LIMIT :before)
    UNION ALL
    SELECT x.* FROM messages x WHERE x.id = :id
    UNION ALL
    SELECT * FROM (
        SELECT x.* FROM {_M} CROSS JOIN messages x
        WHERE x.thread_id = m.thread_id AND (x.created_at, x.seq) > (m.created_at, m.seq)
        ORDER BY x.created_at, x.seq LIMIT :after)
) ORDER BY created_at, seq
"""  # noqa: S608 (constant fragments only)

_fromiso = datetime.fromisoformat


def now_iso() -> str:
    # microseconds: successive updates within one millisecond must still order
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _message(r: Any) -> RawMessage:
    meta = r[6]
    return RawMessage(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        json.loads(r[5]),
        json.loads(meta) if meta else {},
        _fromiso(r[7]),
    )


class RawSqlite:
    def __init__(self, path: str) -> None:
        self.name = "aiosqlite"
        self.path = path
        self.db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves
        self.db = await aiosqlite.connect(self.path, isolation_level=None)
        for p in PRAGMAS:
            await self.db.execute(p)
        await self.db.executescript(SCHEMA)

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()

    async def create_thread(self, t: W1Thread) -> None:
        assert self.db is not None
        created = iso(t.created_ms)[:-1] + "000Z"  # same width as now_iso()
        meta = json.dumps({"n": t.n}, separators=(",", ":"))
        await self.db.execute(INSERT_THREAD, (t.id, t.resource_id, t.title, meta, created, created))

    async def write(self, msgs: Sequence[W1Message]) -> None:
        db = self.db
        assert db is not None
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        rows = [
            (m.id, m.thread_id, m.resource_id, m.role, "text", dumps(m.content), iso(m.created_ms))
            for m in msgs
        ]
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(INSERT_MESSAGE, rows)
            await db.execute(TOUCH_THREAD, (now_iso(), msgs[0].thread_id))
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def last(self, thread_id: str, n: int) -> list[RawMessage]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(LAST_N, (thread_id, n))
        return [_message(r) for r in reversed(list(rows))]

    async def list_threads(self, resource_id: str, n: int) -> list[RawThread]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(LIST_THREADS, (resource_id, n))
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
        rows = await self.db.execute_fetchall(WINDOW, params)
        return [_message(r) for r in rows]
