"""Raw asyncpg baseline: one connection, hand-written SQL, the indexes W1 needs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from ..data import W1Message, W1Thread
from .records import RawMessage, RawThread

SCHEMA = """
CREATE TABLE threads (
    id text PRIMARY KEY,
    resource_id text NOT NULL,
    title text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX threads_resource_updated ON threads (resource_id, updated_at DESC, id);
CREATE TABLE messages (
    id text PRIMARY KEY,
    thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    resource_id text,
    role text NOT NULL,
    type text NOT NULL,
    content jsonb NOT NULL,
    metadata jsonb,
    created_at timestamptz NOT NULL,
    seq bigserial NOT NULL
);
CREATE INDEX messages_thread_created ON messages (thread_id, created_at, seq);
"""

INSERT_THREAD = """
INSERT INTO threads (id, resource_id, title, metadata, created_at, updated_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $5)
"""

# unnest: one statement, 7 array parameters, whatever the batch size
INSERT_MESSAGES = """
INSERT INTO messages (id, thread_id, resource_id, role, type, content, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::timestamptz[])
"""
TOUCH_THREAD = "UPDATE threads SET updated_at = now() WHERE id = $1"

# The same write as a single statement (atomic on its own): one round trip instead of four.
WRITE_CTE = f"""
WITH ins AS ({INSERT_MESSAGES} RETURNING 1)
UPDATE threads SET updated_at = now() WHERE id = $8
"""  # noqa: S608 (constant fragments only)

MSG_COLS = "id, thread_id, resource_id, role, type, content, metadata, created_at"

LAST_N = f"""
SELECT {MSG_COLS} FROM messages WHERE thread_id = $1
ORDER BY created_at DESC, seq DESC LIMIT $2
"""  # noqa: S608 (constant fragments only)

LIST_THREADS = """
SELECT id, resource_id, title, metadata, created_at, updated_at FROM threads
WHERE resource_id = $1 ORDER BY updated_at DESC, id LIMIT $2
"""

_X_COLS = ", ".join(f"x.{c}" for c in MSG_COLS.split(", ")) + ", x.seq"
_M_COLS = _X_COLS.replace("x.", "m.")

# Locate the message by id, then two keyset scans on (thread_id, created_at, seq) in one round
# trip. LATERAL + LIMIT lets the planner walk the index from the message and stop after 2 rows.
WINDOW = f"""
SELECT w.* FROM messages m CROSS JOIN LATERAL (
    (SELECT {_X_COLS} FROM messages x
     WHERE x.thread_id = m.thread_id AND (x.created_at, x.seq) < (m.created_at, m.seq)
     ORDER BY x.created_at DESC, x.seq DESC LIMIT $2)
    UNION ALL
    SELECT {_M_COLS}
    UNION ALL
    (SELECT {_X_COLS} FROM messages x
     WHERE x.thread_id = m.thread_id AND (x.created_at, x.seq) > (m.created_at, m.seq)
     ORDER BY x.created_at, x.seq LIMIT $3)
) w WHERE m.id = $1 ORDER BY w.created_at, w.seq
"""  # noqa: S608 (constant fragments only)


def _message(r: Any) -> RawMessage:
    meta = r[6]
    return RawMessage(
        r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(meta) if meta else {}, r[7]
    )


class RawPg:
    """`write_mode`: "tx" = BEGIN; INSERT unnest; UPDATE; COMMIT. "cte" = one statement."""

    def __init__(self, dsn: str, write_mode: str = "tx") -> None:
        self.name = "asyncpg" if write_mode == "tx" else f"asyncpg-{write_mode}"
        self.dsn = dsn
        self.write_mode = write_mode
        self.conn: asyncpg.Connection | None = None

    async def open(self) -> None:
        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.execute(SCHEMA)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def create_thread(self, t: W1Thread) -> None:
        assert self.conn is not None
        meta = json.dumps({"n": t.n}, separators=(",", ":"))
        await self.conn.execute(INSERT_THREAD, t.id, t.resource_id, t.title, meta, t.created_at)

    async def write(self, msgs: Sequence[W1Message]) -> None:
        conn = self.conn
        assert conn is not None
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        args = (
            [m.id for m in msgs],
            [m.thread_id for m in msgs],
            [m.resource_id for m in msgs],
            [m.role for m in msgs],
            ["text"] * len(msgs),
            [dumps(m.content) for m in msgs],
            [m.created_at for m in msgs],
        )
        if self.write_mode == "cte":
            await conn.execute(WRITE_CTE, *args, msgs[0].thread_id)
            return
        async with conn.transaction():
            await conn.execute(INSERT_MESSAGES, *args)
            await conn.execute(TOUCH_THREAD, msgs[0].thread_id)

    async def last(self, thread_id: str, n: int) -> list[RawMessage]:
        assert self.conn is not None
        rows = await self.conn.fetch(LAST_N, thread_id, n)
        return [_message(r) for r in reversed(rows)]

    async def list_threads(self, resource_id: str, n: int) -> list[RawThread]:
        assert self.conn is not None
        rows = await self.conn.fetch(LIST_THREADS, resource_id, n)
        return [RawThread(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> list[RawMessage]:
        # thread_id deliberately unused: W1 gives only the message id
        assert self.conn is not None
        rows = await self.conn.fetch(WINDOW, message_id, before, after)
        return [_message(r) for r in rows]
