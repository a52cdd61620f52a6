"""The memory domain, specialised for PostgreSQL where it does better than the shared SQL.

``save_messages`` is one statement on the direct asyncpg path (no BEGIN/COMMIT, no checkout
ping: one round trip): the batch goes in as arrays (``unnest ... WITH ORDINALITY``), rows
are inserted in list order (so ``seq`` keeps ties in save order), a missing thread makes it
insert nothing and is reported, and the threads' ``updated_at`` is bumped, all atomically.
A batch of one thread (nearly every call) reads the owner without a lock; a batch of
several locks its threads ``FOR NO KEY UPDATE`` in id order (concurrent batches touching
the same threads queue instead of deadlocking). The INSERT is plain, and becomes the
upsert only when an id already exists (see ``PgMemory._insert_or_upsert``). With
``Retention.max_messages_per_thread`` the same statement (as the upsert) runs in a
transaction with the prune after it: one save path either way.
``list_messages(thread, last=N)`` reads straight from asyncpg rows.

``update_resource`` is one ``INSERT ... ON CONFLICT DO UPDATE`` that merges metadata with
JSONB ``||`` on the locked row: callers racing to create the same resource all keep their
keys (a read-then-write can only lock a row that already exists).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from agent_storage.domains.memory import MessageSelect, Ordered, check_owner
from agent_storage.errors import ThreadNotFoundError
from agent_storage.naming import qualified_name
from agent_storage.records import UNSET, Message, Resource, Thread
from agent_storage.sql.base import Tx
from agent_storage.sql.memory import SqlMemory
from agent_storage.sql.rows import trusted
from agent_storage.sql.tables import native_from_ts
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Boolean, DateTime, Text

from . import _errors, _json
from ._fast import PgPrepared
from ._vectors import PgVectors

if TYPE_CHECKING:
    from .store import PgBackend

__all__ = ["PgMemory"]

_Message = trusted(Message)
_UTC = _dt.UTC
_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"
#: After a save met an existing id, this many calls upsert without trying INSERT first.
_UPSERT_AFTER_CONFLICT = 64


def _table(table: Any) -> str:
    """The quoted, schema-qualified name of a SQLAlchemy Table."""
    return qualified_name(table.name, table.schema)


def _on_conflict(upsert: bool) -> str:
    """The upsert clause of the message INSERTs (see PgMemory._insert_or_upsert)."""
    if not upsert:
        return ""
    return """
                ON CONFLICT (id) DO UPDATE SET
                    thread_id = excluded.thread_id, resource_id = excluded.resource_id,
                    role = excluded.role, type = excluded.type, content = excluded.content,
                    metadata = excluded.metadata, created_at = excluded.created_at"""


def _moved_from(upsert: bool, messages: str, alive: str = "") -> str:
    """The upsert's extra thread condition: the threads its messages are in before the
    statement (a re-save under another thread moves the message, and both threads are
    touched). A plain INSERT cannot move anything (an existing id fails it)."""
    if not upsert:
        return ""
    # quoted, checked identifiers; every value is a bound parameter
    moved = f"SELECT m.thread_id FROM {messages} m WHERE m.id = ANY(:ids)"  # noqa: S608
    return f" OR (t.id IN ({moved}){alive})"


class PgMemory(PgVectors, SqlMemory):
    """SqlMemory with a one-statement ``_save_messages`` and a direct last-N read."""

    _last_prep: PgPrepared | None = None
    _upsert_next = 0  # calls left that upsert directly (see _insert_or_upsert)

    @property
    def _pg(self) -> PgBackend:
        return self.b  # type: ignore[return-value]  # PgMemory is only built by PgBackend

    async def _last_messages(self, thread_id: str, n: int) -> list[Ordered]:
        # The shared statement, run through asyncpg with rows turned into records here:
        # no MessageSelect, parameter dict or generic row decoding on the recall path.
        prep = self._last_prep
        if prep is None or self._ttl("messages") is not None:
            sel = MessageSelect(thread_ids=(thread_id,), order="desc", limit=n)
            if self._ttl("messages") is not None:
                return await self._select_messages(sel)
            stmt, _ = self._message_stmt(sel, count=False)
            prep = self._last_prep = self._pg.prepared_read(stmt)
            if prep is None:  # not on asyncpg (a user-supplied engine on another driver)
                return await self._select_messages(sel)
        rows = await self._pg.fetch_prepared(prep, {"tid": thread_id, "limit": n})
        build, from_ts = _Message, native_from_ts
        return [(r[0], build(id=r[1], thread_id=r[2], resource_id=r[3], role=r[4], type=r[5],
                             content=r[6], metadata=r[7], created_at=from_ts(r[8])))
                for r in rows]

    async def _save_thread(self, thread: Thread) -> Thread:
        # One idempotent statement: on the direct path in autocommit (no ping, BEGIN or
        # COMMIT round trips; W1 "create threads" was 0.31 of raw asyncpg through a
        # transaction).
        row = await self._pg.execute_one(self._save_thread_statement(), self._thread_row(thread))
        return self._thread(row)

    def _single_statement(self, upsert: bool) -> Any:
        """The save of a batch whose messages all belong to one thread (nearly every call):
        the owner is read without a lock (the touch locks the row; a concurrent delete
        fails the insert's foreign key) and no per-thread bookkeeping is needed. Server
        time per W1 batch (EXPLAIN ANALYZE, TIMING OFF): 1.11-1.15x raw asyncpg's INSERT +
        UPDATE, against 1.32-1.46x for the general statement."""
        def build() -> Any:
            threads, messages = _table(self.t.threads), _table(self.t.messages)
            alive = " AND t.updated_at > :cutoff" if self._ttl("threads") is not None else ""
            sql = f"""
            WITH owner AS (
                SELECT t.resource_id FROM {threads} t WHERE t.id = :tid{alive}
            ),
            bad AS (
                SELECT 1 FROM unnest(:rids) AS r(rid) CROSS JOIN owner o
                WHERE r.rid <> o.resource_id LIMIT 1
            ),
            ins AS (
                INSERT INTO {messages}
                    (id, thread_id, resource_id, role, type, content, metadata, created_at)
                SELECT u.id, :tid, o.resource_id, u.role, u.type, u.content, u.metadata,
                       u.created_at
                FROM unnest(:ids, :roles, :types, CAST(:contents AS jsonb[]),
                            CAST(:metas AS jsonb[]), :created)
                         WITH ORDINALITY AS u(id, role, type, content, metadata, created_at,
                                              ord)
                     CROSS JOIN owner o
                WHERE NOT EXISTS (SELECT 1 FROM bad)
                ORDER BY u.ord{_on_conflict(upsert)}
                RETURNING 1
            ),
            touch AS (
                UPDATE {threads} t SET updated_at = :now
                WHERE (t.id = :tid{_moved_from(upsert, messages)}){alive}
                  AND EXISTS (SELECT 1 FROM owner) AND NOT EXISTS (SELECT 1 FROM bad)
                RETURNING 1
            )
            SELECT (SELECT resource_id FROM owner), (SELECT count(*) FROM ins),
                   (SELECT count(*) FROM touch), (SELECT count(*) FROM bad)
            """  # noqa: S608 (quoted, checked identifiers; every value is a bound parameter)
            texts = ARRAY(Text)
            return text(sql).bindparams(
                bindparam("ids", type_=texts), bindparam("roles", type_=texts),
                bindparam("types", type_=texts), bindparam("contents", type_=texts),
                bindparam("metas", type_=texts),
                bindparam("created", type_=ARRAY(DateTime(timezone=True))),
                bindparam("tid", type_=Text), bindparam("rids", type_=texts),
                bindparam("now", type_=DateTime(timezone=True)),
            )

        return self._stmt(("pg_save_single", self._ttl("threads") is not None, upsert), build)

    def _save_statement(self, upsert: bool) -> Any:
        """The one-statement save (CTEs: owner check, insert or upsert, thread bumps).

        Long because it is one SQL statement: its CTEs read top to bottom as the save does."""
        def build() -> Any:
            threads, messages = _table(self.t.threads), _table(self.t.messages)
            alive = " AND t.updated_at > :cutoff" if self._ttl("threads") is not None else ""
            sql = f"""
            WITH input AS (
                SELECT * FROM unnest(:ids, :tids, :rids, :roles, :types,
                                     CAST(:contents AS jsonb[]), CAST(:metas AS jsonb[]),
                                     :created)
                    WITH ORDINALITY AS u(id, thread_id, rid, role, type, content, metadata,
                                         created_at, ord)
            ),
            wanted AS (
                SELECT x.tid, x.ord FROM unnest(:thread_ids) WITH ORDINALITY AS x(tid, ord)
            ),
            owners AS (
                SELECT t.id, t.resource_id FROM {threads} t
                WHERE t.id = ANY(:thread_ids){alive}
                ORDER BY t.id
                FOR NO KEY UPDATE
            ),
            missing AS (
                SELECT w.tid, w.ord FROM wanted w
                WHERE NOT EXISTS (SELECT 1 FROM owners o WHERE o.id = w.tid)
            ),
            bad AS (
                SELECT 1 FROM input i JOIN owners o ON o.id = i.thread_id
                WHERE i.rid <> o.resource_id LIMIT 1
            ),
            ins AS (
                INSERT INTO {messages}
                    (id, thread_id, resource_id, role, type, content, metadata, created_at)
                SELECT i.id, i.thread_id, o.resource_id, i.role, i.type, i.content,
                       i.metadata, i.created_at
                FROM input i JOIN owners o ON o.id = i.thread_id
                WHERE NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM bad)
                ORDER BY i.ord{_on_conflict(upsert)}
                RETURNING 1
            ),
            touch AS (
                UPDATE {threads} t SET updated_at = :now
                WHERE (t.id IN (SELECT o.id FROM owners o)
                       {_moved_from(upsert, messages, alive)})
                  AND NOT EXISTS (SELECT 1 FROM missing) AND NOT EXISTS (SELECT 1 FROM bad)
                RETURNING 1
            )
            SELECT (SELECT array_agg(tid ORDER BY ord) FROM missing),
                   (SELECT array_agg(id) FROM owners),
                   (SELECT array_agg(resource_id) FROM owners),
                   (SELECT count(*) FROM ins), (SELECT count(*) FROM touch),
                   (SELECT count(*) FROM bad)
            """  # noqa: S608 (quoted, checked identifiers; every value is a bound parameter)
            texts = ARRAY(Text)
            return text(sql).bindparams(
                bindparam("ids", type_=texts), bindparam("tids", type_=texts),
                bindparam("roles", type_=texts), bindparam("types", type_=texts),
                bindparam("contents", type_=texts), bindparam("metas", type_=texts),
                bindparam("created", type_=ARRAY(DateTime(timezone=True))),
                bindparam("thread_ids", type_=texts), bindparam("rids", type_=texts),
                bindparam("now", type_=DateTime(timezone=True)),
            )

        return self._stmt(("pg_save_messages", self._ttl("threads") is not None, upsert), build)

    async def _save_messages(self, messages: list[Message], *, now: _dt.datetime) -> list[Message]:
        dumps = _json.dumps
        thread_ids = list(dict.fromkeys(m.thread_id for m in messages))
        single = len(thread_ids) == 1
        params: dict[str, Any] = {
            "ids": [m.id for m in messages],
            "roles": [m.role for m in messages],
            "types": [m.type for m in messages],
            "contents": [dumps(m.content) for m in messages],
            "metas": [dumps(dict(m.metadata)) if m.metadata else "{}" for m in messages],
            "created": [m.created_at for m in messages],
            "rids": [m.resource_id for m in messages],
            "now": now,
        }
        if single:
            params["tid"] = thread_ids[0]
        else:
            params["tids"] = [m.thread_id for m in messages]
            params["thread_ids"] = thread_ids
        cutoff = self._cutoff("threads")
        if cutoff is not None:
            params["cutoff"] = cutoff
        try:
            row = await self._run_save(single, params, thread_ids)
        except Exception as exc:
            # the thread was deleted after the single-thread statement read its owner
            if single and _errors.sqlstate_of(exc) == _FOREIGN_KEY_VIOLATION:
                raise ThreadNotFoundError(
                    f"thread {thread_ids[0]!r} not found; nothing was saved") from None
            raise
        if single:
            if row[0] is None:
                raise ThreadNotFoundError(
                    f"thread {thread_ids[0]!r} not found; nothing was saved")
            owners = {thread_ids[0]: row[0]}
        else:
            missing, owner_ids, owner_resources = row[0], row[1] or [], row[2] or []
            if missing:
                raise ThreadNotFoundError(f"thread {missing[0]!r} not found; nothing was saved")
            owners = dict(zip(owner_ids, owner_resources, strict=True))
        if row[-1]:  # a message names another owner than its thread: nothing was written
            for m in messages:
                check_owner(m, owners[m.thread_id])
        stored = []
        for m in messages:
            owner = owners[m.thread_id]  # a message always belongs to its thread's owner
            if owner != m.resource_id:
                m = _Message(id=m.id, thread_id=m.thread_id, role=m.role, content=m.content,
                             type=m.type, resource_id=owner, metadata=m.metadata,
                             created_at=m.created_at)
            stored.append(m)
        return stored

    async def _run_save(self, single: bool, params: dict[str, Any],
                        thread_ids: list[str]) -> Any:
        """The save statement's result row. With ``Retention.max_messages_per_thread`` the
        same statement (as the upsert) runs in a transaction followed by the prune of its
        threads; otherwise alone, on the direct path (one round trip)."""
        keep = self.b.retention.max_messages_per_thread
        if keep is None:
            return await self._insert_or_upsert(single, params)
        statement = (self._single_statement if single else self._save_statement)(True)

        def run(tx: Tx) -> Any:
            row = tx.first(statement, params)
            if (row[0] is not None) if single else not row[0]:  # nothing missing: saved
                self._prune(tx, thread_ids, keep)
            return row

        return await self.b.transact(run)

    async def _insert_or_upsert(self, single: bool, params: dict[str, Any]) -> Any:
        """Run the save as a plain INSERT, and as the upsert only if an id already exists.

        ``ON CONFLICT DO UPDATE`` inserts speculatively (an index probe and a second WAL
        record per row): 10-15 % of the statement's server time for a 20-message batch,
        paid by every append although agents mostly save new messages. A plain INSERT that
        meets an existing id fails as a whole (one statement: nothing is written) and the
        upsert runs instead; after that, the next calls upsert directly for a while, so a
        caller that keeps re-saving the same ids does not pay two statements each time.
        """
        pg = self._pg
        statement = self._single_statement if single else self._save_statement
        if self._upsert_next > 0:
            self._upsert_next -= 1
        else:
            try:
                return await pg.execute_one(statement(False), params)
            except Exception as exc:
                if _errors.sqlstate_of(exc) != _UNIQUE_VIOLATION:
                    raise
            self._upsert_next = _UPSERT_AFTER_CONFLICT
        return await pg.execute_one(statement(True), params)

    def _resource_statement(self) -> Any:
        expiring = self._ttl("resources") is not None

        def build() -> Any:
            table = _table(self.t.resources)
            # An expired row (Retention.ttl) is replaced as if it were not there.
            stale = "r.updated_at <= :cutoff" if expiring else "false"
            sql = f"""
            INSERT INTO {table} AS r (id, working_memory, metadata, created_at, updated_at)
            VALUES (:id, :wm, CAST(:meta AS jsonb), :now, :now)
            ON CONFLICT (id) DO UPDATE SET
                working_memory = CASE WHEN :set_wm OR {stale} THEN excluded.working_memory
                                      ELSE r.working_memory END,
                metadata = CASE WHEN {stale} THEN excluded.metadata
                                ELSE r.metadata || excluded.metadata END,
                created_at = CASE WHEN {stale} THEN excluded.created_at ELSE r.created_at END,
                updated_at = excluded.updated_at
            RETURNING r.id, r.working_memory, r.metadata, r.created_at, r.updated_at
            """  # noqa: S608 (quoted, checked identifiers; every value is a bound parameter)
            return text(sql).bindparams(
                bindparam("id", type_=Text), bindparam("wm", type_=Text),
                bindparam("meta", type_=Text), bindparam("set_wm", type_=Boolean),
                bindparam("now", type_=DateTime(timezone=True)),
            )

        return self._stmt(("pg_update_resource", expiring), build)

    async def _update_resource(
        self, resource_id: str, *, working_memory: Any, metadata: Any, now: _dt.datetime
    ) -> Resource:
        params: dict[str, Any] = {
            "id": resource_id,
            "wm": None if working_memory is UNSET else working_memory,
            "set_wm": working_memory is not UNSET,
            "meta": _json.dumps({} if metadata is UNSET else dict(metadata)),
            "now": now,
        }
        cutoff = self._cutoff("resources")
        if cutoff is not None:
            params["cutoff"] = cutoff
        backend: Any = self.b  # the PgBackend
        row = await backend.execute_one(self._resource_statement(), params)
        return self._resource(row)
