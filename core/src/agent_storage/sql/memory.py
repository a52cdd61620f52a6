"""The memory domain on SQL: threads, messages (ordered by created_at, seq), resources.

Hot paths (last-N recall, include windows, thread listing, save_messages) use statements
built once per store and shape, with bound parameters only.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    func,
    select,
    true,
    tuple_,
    union_all,
    update,
)

from ..domains.memory import (
    MemoryDomain,
    MessageSelect,
    Ordered,
    ThreadFilter,
    ThreadSelect,
    check_owner,
)
from ..errors import ThreadNotFoundError, ValidationError
from ..records import UNSET, Include, Message, MessageUpdate, Resource, Thread, ThreadStats
from ..vectors._sql import SqlVectors
from ._common import SqlDomain, _first, json_filter
from .base import Tx
from .rows import trusted

__all__ = ["SqlMemory"]

#: The columns save_messages writes, in the order of its row tuples.
_MESSAGE_COLUMNS = ("id", "thread_id", "resource_id", "role", "type", "content", "metadata",
                    "created_at")

_Thread = trusted(Thread)
_Message = trusted(Message)
_Resource = trusted(Resource)


class SqlMemory(SqlVectors, SqlDomain, MemoryDomain):
    """MemoryDomain primitives over SQLAlchemy Core."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        th, ms = self.t.threads, self.t.messages
        self.thread_cols = (th.c.id, th.c.resource_id, th.c.title, th.c.metadata, th.c.agent_id,
                            th.c.created_at, th.c.updated_at)
        self.msg_cols = (ms.c.seq, ms.c.id, ms.c.thread_id, ms.c.resource_id, ms.c.role,
                         ms.c.type, ms.c.content, ms.c.metadata, ms.c.created_at)

    # -- row decoding ----------------------------------------------------------------------

    def _thread(self, r: Any) -> Thread:
        from_ts = self.c.from_ts
        return _Thread(id=r[0], resource_id=r[1], title=r[2], metadata=self.c.from_json(r[3]),
                       agent_id=r[4], created_at=from_ts(r[5]), updated_at=from_ts(r[6]))

    def _ordered(self, rows: Any) -> list[Ordered]:
        from_json, from_ts = self.c.from_json, self.c.from_ts
        return [
            (r[0], _Message(id=r[1], thread_id=r[2], resource_id=r[3], role=r[4], type=r[5],
                            content=from_json(r[6]), metadata=from_json(r[7]),
                            created_at=from_ts(r[8])))
            for r in rows
        ]

    def _thread_row(self, t: Thread) -> dict[str, Any]:
        c = self.c
        return {"id": t.id, "resource_id": t.resource_id, "title": t.title,
                "metadata": c.json(dict(t.metadata)), "agent_id": t.agent_id,
                "created_at": c.ts(t.created_at), "updated_at": c.ts(t.updated_at)}

    def _alive(self, table: Any, entity: str) -> Any:
        """``updated_at > :cutoff_<entity>`` when a TTL applies, else None."""
        if self._ttl(entity) is None:
            return None
        return table.c.updated_at > bindparam(f"cutoff_{entity}")

    def _cutoffs(self) -> dict[str, Any]:
        out = {}
        for entity in ("threads", "messages"):
            cut = self._cutoff(entity)
            if cut is not None:
                out[f"cutoff_{entity}"] = cut
        return out

    # -- threads ---------------------------------------------------------------------------

    async def _get_thread(self, thread_id: str) -> Thread | None:
        th = self.t.threads

        def build() -> Any:
            stmt = select(*self.thread_cols).where(th.c.id == bindparam("id"))
            alive = self._alive(th, "threads")
            return stmt if alive is None else stmt.where(alive)

        stmt = self._stmt("get_thread", build)
        row = _first(await self.b.fetch(stmt, {"id": thread_id, **self._cutoffs()}))
        return None if row is None else self._thread(row)

    def _save_thread_statement(self) -> Any:
        """The thread upsert (an existing thread keeps its created_at), returning the row."""
        th = self.t.threads

        def build() -> Any:
            ins = self.b.insert(th)
            return ins.on_conflict_do_update(
                index_elements=[th.c.id],
                set_={k: ins.excluded[k] for k in
                      ("resource_id", "title", "metadata", "agent_id", "updated_at")},
            ).returning(*self.thread_cols)

        return self._stmt("save_thread", build)

    async def _save_thread(self, thread: Thread) -> Thread:
        stmt = self._save_thread_statement()
        row = self._thread_row(thread)

        def run(tx: Tx) -> Thread:
            return self._thread(tx.first(stmt, row))

        return await self.b.transact(run)

    async def _update_thread(
        self, thread_id: str, *, title: Any, metadata: Any, merge_metadata: bool,
        now: _dt.datetime, resource_id: str | None = None,
    ) -> Thread | None:
        th = self.t.threads
        c = self.c

        def run(tx: Tx) -> Thread | None:
            stmt = select(*self.thread_cols).where(th.c.id == thread_id).with_for_update()
            if resource_id is not None:  # another owner's thread is missing
                stmt = stmt.where(th.c.resource_id == resource_id)
            alive = self._alive(th, "threads")
            if alive is not None:
                stmt = stmt.where(alive)
            row = tx.first(stmt, self._cutoffs())
            if row is None:
                return None
            current = self._thread(row)
            new_title = current.title if title is UNSET else title
            new_meta = dict(current.metadata)
            if metadata is not UNSET:
                new_meta = {**new_meta, **metadata} if merge_metadata else dict(metadata)
            tx.execute(
                update(th).where(th.c.id == thread_id).values(
                    title=new_title, metadata=c.json(new_meta), updated_at=c.ts(now)))
            return _Thread(id=current.id, resource_id=current.resource_id, title=new_title,
                           metadata=new_meta, agent_id=current.agent_id,
                           created_at=current.created_at, updated_at=now)

        return await self.b.transact(run)

    async def _delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        th, ms = self.t.threads, self.t.messages

        def run(tx: Tx) -> None:
            if resource_id is not None and tx.first(
                    select(th.c.id).where(th.c.id == thread_id, th.c.resource_id == resource_id)
                    .with_for_update()) is None:
                return  # another owner's thread (or none): nothing to delete
            tx.execute(delete(ms).where(ms.c.thread_id == thread_id))
            tx.execute(delete(th).where(th.c.id == thread_id))

        await self.b.transact(run)

    def _thread_where(self, flt: ThreadFilter) -> tuple[list[Any], dict[str, Any]]:
        """Conditions with named bind parameters, and their values. A metadata filter
        embeds its own bound values: such statements are never cached by shape."""
        th = self.t.threads
        params = self._thread_params(flt)
        where: list[Any] = []
        if flt.resource_id is not None:
            where.append(th.c.resource_id == bindparam("rid"))
        if flt.agent_id is not None:
            where.append(th.c.agent_id == bindparam("aid"))
        if flt.metadata:
            where.append(json_filter(self.b, th.c.metadata, flt.metadata))
        if "cutoff" in params:
            where.append(th.c.updated_at > bindparam("cutoff"))
        return where, params

    def _thread_params(self, flt: ThreadFilter) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if flt.resource_id is not None:
            params["rid"] = flt.resource_id
        if flt.agent_id is not None:
            params["aid"] = flt.agent_id
        cut = self._cutoff("threads")
        if cut is not None:
            params["cutoff"] = cut
        return params

    def _order_column(self, order_by: str) -> Any:
        th = self.t.threads
        if order_by == "title":
            return func.coalesce(th.c.title, "")
        return {"created_at": th.c.created_at, "updated_at": th.c.updated_at}[order_by]

    async def _select_threads(self, sel: ThreadSelect) -> list[Thread]:
        th = self.t.threads
        flt = sel.filter
        desc = sel.direction == "desc"
        params = self._thread_params(flt)
        if sel.after is not None:
            value, last_id = sel.after
            params["after_v"] = value if sel.order_by == "title" else self.c.ts(value)
            params["after_id"] = last_id
        if sel.limit is not None:
            params["limit"] = sel.limit
        if sel.offset:
            params["offset"] = sel.offset

        def build() -> Any:
            col = self._order_column(sel.order_by)
            conds = self._thread_where(flt)[0]
            if sel.after is not None:
                key = tuple_(col, th.c.id)
                bound = tuple_(bindparam("after_v", type_=col.type),
                               bindparam("after_id", type_=th.c.id.type))
                conds.append(key < bound if desc else key > bound)
            stmt = select(*self.thread_cols).where(*conds)
            if desc:
                stmt = stmt.order_by(col.desc(), th.c.id.desc())
            else:
                stmt = stmt.order_by(col.asc(), th.c.id.asc())
            if sel.limit is not None:
                stmt = stmt.limit(bindparam("limit"))
            if sel.offset:
                stmt = stmt.offset(bindparam("offset"))
            return stmt

        if flt.metadata:
            stmt = build()
        else:
            shape = ("threads", flt.resource_id is not None, flt.agent_id is not None,
                     "cutoff" in params, sel.order_by, desc, sel.after is not None,
                     sel.limit is not None, bool(sel.offset))
            stmt = self._stmt(shape, build)
        rows = await self.b.fetch(stmt, params)
        return [self._thread(r) for r in rows]

    async def _count_threads(self, flt: ThreadFilter) -> int:
        where, params = self._thread_where(flt)

        def build() -> Any:
            return select(func.count()).select_from(self.t.threads).where(*where)

        if flt.metadata:  # the filter embeds its own values: never cached by shape
            stmt = build()
        else:
            stmt = self._stmt(("count_threads", flt.resource_id is not None,
                               flt.agent_id is not None, "cutoff" in params), build)
        return int((await self.b.fetch(stmt, params))[0][0])

    # -- messages: reads -------------------------------------------------------------------

    def _message_stmt(self, sel: MessageSelect, *, count: bool) -> tuple[Any, dict[str, Any]]:
        """The statement for ``sel`` (built once per shape) and its parameters.

        Long because every filter of MessageSelect maps to one bound predicate here, and
        the statement cache needs the whole shape decided in one place."""
        ms = self.t.messages
        one = len(sel.thread_ids) == 1
        ttl = self._ttl("messages") is not None
        shape = (
            "count" if count else "select", one, sel.resource_id is not None,
            sel.start is not None and (sel.start_exclusive, ), sel.end is not None and
            (sel.end_exclusive, ), sel.roles is not None, sel.types is not None,
            sel.message_ids is not None, ttl,
            None if count else (sel.order, bool(sel.offset), sel.limit is not None),
        )

        def build() -> Any:
            where = [ms.c.thread_id == bindparam("tid") if one
                     else ms.c.thread_id.in_(bindparam("tids", expanding=True))]
            if sel.resource_id is not None:
                where.append(ms.c.resource_id == bindparam("rid"))
            if sel.start is not None:
                where.append(ms.c.created_at > bindparam("start") if sel.start_exclusive
                             else ms.c.created_at >= bindparam("start"))
            if sel.end is not None:
                where.append(ms.c.created_at < bindparam("end") if sel.end_exclusive
                             else ms.c.created_at <= bindparam("end"))
            if sel.roles is not None:
                where.append(ms.c.role.in_(bindparam("roles", expanding=True)))
            if sel.types is not None:
                where.append(ms.c.type.in_(bindparam("types", expanding=True)))
            if sel.message_ids is not None:
                where.append(ms.c.id.in_(bindparam("ids", expanding=True)))
            if ttl:
                where.append(ms.c.created_at > bindparam("cutoff"))
            if count:
                return select(func.count()).select_from(ms).where(*where)
            stmt = select(*self.msg_cols).where(*where)
            if sel.order == "desc":
                stmt = stmt.order_by(ms.c.created_at.desc(), ms.c.seq.desc())
            else:
                stmt = stmt.order_by(ms.c.created_at.asc(), ms.c.seq.asc())
            if sel.limit is not None:
                stmt = stmt.limit(bindparam("limit", literal_execute=False))
            if sel.offset:
                stmt = stmt.offset(bindparam("offset"))
            return stmt

        stmt = self._stmt(shape, build)
        params: dict[str, Any] = {}
        if one:
            params["tid"] = sel.thread_ids[0]
        else:
            params["tids"] = list(sel.thread_ids)
        if sel.resource_id is not None:
            params["rid"] = sel.resource_id
        if sel.start is not None:
            params["start"] = self.c.ts(sel.start)
        if sel.end is not None:
            params["end"] = self.c.ts(sel.end)
        if sel.roles is not None:
            params["roles"] = list(sel.roles)
        if sel.types is not None:
            params["types"] = list(sel.types)
        if sel.message_ids is not None:
            params["ids"] = list(sel.message_ids)
        if ttl:
            params["cutoff"] = self._cutoff("messages")
        if not count:
            if sel.limit is not None:
                params["limit"] = sel.limit
            if sel.offset:
                params["offset"] = sel.offset
        return stmt, params

    async def _select_messages(self, sel: MessageSelect) -> list[Ordered]:
        if sel.limit == 0 or (sel.message_ids is not None and not sel.message_ids):
            return []
        stmt, params = self._message_stmt(sel, count=False)
        rows = await self.b.fetch(stmt, params)
        return self._ordered(rows)

    async def _count_messages(self, sel: MessageSelect) -> int:
        if sel.message_ids is not None and not sel.message_ids:
            return 0
        stmt, params = self._message_stmt(sel, count=True)
        return int((await self.b.fetch(stmt, params))[0][0])

    def _window_stmt(self, n: int, owner: bool) -> Any:
        """UNION ALL of, per include i: up to ``before_i`` older rows, the row, up to
        ``after_i`` newer rows, each a keyset scan of (thread_id, created_at, seq) from
        the anchor. Never a window function over the thread."""
        ms = self.t.messages
        ttl = self._ttl("messages") is not None
        arms = []
        for i in range(n):
            a_where = [ms.c.id == bindparam(f"id{i}")]
            if owner:
                a_where.append(ms.c.resource_id == bindparam("rid"))
            if ttl:
                a_where.append(ms.c.created_at > bindparam("cutoff"))
            if self.b.lateral_windows:
                arms.append(self._lateral_window(i, a_where, ttl))
                continue
            anchor = select(ms.c.thread_id, ms.c.created_at, ms.c.seq).where(
                *a_where).subquery(f"anc{i}")
            for side in ("before", "after"):
                x = ms.alias(f"{side[:3]}{i}")
                inner = (self._window_side(x, anchor, side, ttl, i).add_columns(
                    *[x.c[c.name] for c in self.msg_cols]).select_from(anchor)
                    .join(x, true()).subquery(f"w{side[:3]}{i}"))
                arms.append(select(*inner.c))
            arms.append(select(*self.msg_cols).where(*a_where))
        return union_all(*arms)

    def _window_side(self, x: Any, anchor: Any, side: str, ttl: bool, i: int) -> Any:
        """The rows of ``x`` before/after ``anchor`` in its thread, nearest first, limited
        by ``:{side}{i}`` (the caller adds the columns)."""
        key, at = tuple_(x.c.created_at, x.c.seq), tuple_(anchor.c.created_at, anchor.c.seq)
        where = [x.c.thread_id == anchor.c.thread_id, key < at if side == "before" else key > at]
        if ttl:
            where.append(x.c.created_at > bindparam("cutoff"))
        order = ((x.c.created_at.desc(), x.c.seq.desc()) if side == "before"
                 else (x.c.created_at.asc(), x.c.seq.asc()))
        return select().where(*where).order_by(*order).limit(bindparam(f"{side}{i}"))

    def _lateral_window(self, i: int, a_where: list[Any], ttl: bool) -> Any:
        """With ``lateral_windows`` (PostgreSQL): the anchor row is found once (one
        probe of the id key) and both sides are LATERAL subqueries with their LIMIT
        inside, so each walks the thread index from the anchor and stops. As a plain
        join with the anchor, the planner read the whole side of the thread and sorted
        it (W1 D per-call time at 200,000 messages was 1.5-1.6x that at 20,000; the
        anchor was looked up three times)."""
        ms = self.t.messages
        anchor = select(*self.msg_cols).where(*a_where).subquery(f"anc{i}")
        before, after = (
            self._window_side(x, anchor, side, ttl, i).add_columns(
                *[x.c[c.name] for c in self.msg_cols])
            for side, x in (("before", ms.alias(f"bef{i}")), ("after", ms.alias(f"aft{i}"))))
        row = select(*[anchor.c[c.name] for c in self.msg_cols]).correlate(anchor)
        window = union_all(before, row, after).lateral(f"w{i}")
        return select(*window.c).select_from(anchor).join(window, true())

    async def _select_windows(
        self, includes: Sequence[Include], *, resource_id: str | None
    ) -> list[Ordered]:
        if not includes:
            return []
        stmt = self._stmt(("windows", len(includes), resource_id is not None),
                          lambda: self._window_stmt(len(includes), resource_id is not None))
        params: dict[str, Any] = {}
        for i, inc in enumerate(includes):
            params[f"id{i}"] = inc.id
            params[f"before{i}"] = inc.before
            params[f"after{i}"] = inc.after
        if resource_id is not None:
            params["rid"] = resource_id
        if self._ttl("messages") is not None:
            params["cutoff"] = self._cutoff("messages")
        rows = await self.b.fetch(stmt, params)
        return self._ordered(rows)

    async def _get_messages(self, ids: Sequence[str]) -> list[Ordered]:
        ms = self.t.messages
        where = [ms.c.id.in_(list(ids))]
        cut = self._cutoff("messages")
        if cut is not None:
            where.append(ms.c.created_at > cut)
        rows = await self.b.fetch(select(*self.msg_cols).where(*where))
        return self._ordered(rows)

    # -- messages: writes ------------------------------------------------------------------

    def _upsert_messages(self) -> Any:
        ms = self.t.messages

        def build() -> Any:
            ins = self.b.insert(ms)
            return ins.on_conflict_do_update(
                index_elements=[ms.c.id],
                set_={k: ins.excluded[k] for k in ("thread_id", "resource_id", "role", "type",
                                                   "content", "metadata", "created_at")},
            )

        return self._stmt("upsert_messages", build)

    def _insert_messages(self) -> Any:
        """The upsert without its ON CONFLICT clause (see ``Tx.insert_many``)."""
        return self._stmt("insert_messages", lambda: self.b.insert(self.t.messages))

    def _owners(self, tx: Tx, thread_ids: Sequence[str]) -> dict[str, str]:
        """thread id -> resource_id for the (visible) threads among ``thread_ids``."""
        th = self.t.threads

        def build() -> Any:
            stmt = select(th.c.id, th.c.resource_id).where(
                th.c.id.in_(bindparam("ids", expanding=True)))
            alive = self._alive(th, "threads")
            return stmt if alive is None else stmt.where(alive)

        stmt = self._stmt("owners", build)
        rows = tx.rows(stmt, {"ids": list(thread_ids), **self._cutoffs()})
        return {r[0]: r[1] for r in rows}

    def _claim(self, tx: Tx, thread_ids: Sequence[str], now: _dt.datetime,
               message_ids: Sequence[str]) -> dict[str, str]:
        """Bump updated_at of the (visible) threads among ``thread_ids`` and of the threads
        the messages ``message_ids`` are in now (a re-save under another thread moves the
        message: both threads are touched), and return thread id -> resource_id for them:
        the existence check and the touch in one statement (the caller raises, and so
        rolls back, when one of ``thread_ids`` is missing)."""
        th, ms = self.t.threads, self.t.messages

        def build() -> Any:
            moved_from = th.c.id.in_(select(ms.c.thread_id).where(
                ms.c.id.in_(bindparam("mids", expanding=True))).scalar_subquery())
            stmt = update(th).where(th.c.id.in_(bindparam("ids", expanding=True)) | moved_from)
            alive = self._alive(th, "threads")
            if alive is not None:
                stmt = stmt.where(alive)
            return stmt.values(updated_at=bindparam("now")).returning(th.c.id, th.c.resource_id)

        stmt = self._stmt("claim", build)
        rows = tx.rows(stmt, {"ids": list(thread_ids), "mids": list(message_ids),
                              "now": self.c.ts(now), **self._cutoffs()})
        return {r[0]: r[1] for r in rows}

    def _touch(self, tx: Tx, thread_ids: Sequence[str],
                     now: _dt.datetime) -> None:
        th = self.t.threads
        stmt = self._stmt("touch", lambda: update(th).where(
            th.c.id.in_(bindparam("ids", expanding=True))).values(updated_at=bindparam("now")))
        tx.execute(stmt, {"ids": list(thread_ids), "now": self.c.ts(now)})

    def _prune(self, tx: Tx, thread_ids: Sequence[str], keep: int) -> None:
        """Delete the oldest messages beyond ``keep`` in each thread (same transaction)."""
        ms = self.t.messages

        def build() -> Any:
            x = ms.alias("keep")
            doomed = (select(x.c.seq).where(x.c.thread_id == bindparam("tid"))
                      .order_by(x.c.created_at.desc(), x.c.seq.desc())
                      .offset(bindparam("keep")))
            return delete(ms).where(ms.c.thread_id == bindparam("tid"), ms.c.seq.in_(doomed))

        stmt = self._stmt("prune", build)
        for tid in thread_ids:
            tx.execute(stmt, {"tid": tid, "keep": keep})

    async def _save_messages(self, messages: list[Message], *, now: _dt.datetime) -> list[Message]:
        return await self.b.transact(lambda tx: self._write_messages(tx, messages, now))

    def _write_messages(self, tx: Tx, messages: list[Message], now: _dt.datetime
                        ) -> list[Message]:
        """The body of ``_save_messages`` in an open transaction (vectors add to it)."""
        thread_ids = list(dict.fromkeys(m.thread_id for m in messages))
        c = self.c
        json, ts = c.json, c.ts
        upsert, insert = self._upsert_messages(), self._insert_messages()
        keep = self.b.retention.max_messages_per_thread
        owners = self._claim(tx, thread_ids, now, [m.id for m in messages])
        missing = [t for t in thread_ids if t not in owners]
        if missing:
            raise ThreadNotFoundError(f"thread {missing[0]!r} not found; nothing was saved")
        stored = list(messages)
        rows = []
        for i, m in enumerate(messages):
            owner = owners[m.thread_id]  # a message always belongs to its thread's owner
            if owner != m.resource_id:
                check_owner(m, owner)  # raises (rolling back) if it names another
                stored[i] = m = _Message(
                    id=m.id, thread_id=m.thread_id, role=m.role, content=m.content,
                    type=m.type, resource_id=owner, metadata=m.metadata,
                    created_at=m.created_at)
            metadata = m.metadata
            rows.append((m.id, m.thread_id, owner, m.role, m.type, json(m.content),
                         json(metadata if type(metadata) is dict else dict(metadata)),
                         ts(m.created_at)))
        tx.insert_many(upsert, _MESSAGE_COLUMNS, rows, plain=insert)
        if keep is not None:
            self._prune(tx, thread_ids, keep)
        return stored

    def _bulk_threads_statement(self) -> Any:
        """The thread upsert without RETURNING, for executemany (bulk loads)."""
        th = self.t.threads

        def build() -> Any:
            ins = self.b.insert(th)
            return ins.on_conflict_do_update(
                index_elements=[th.c.id],
                set_={k: ins.excluded[k] for k in
                      ("resource_id", "title", "metadata", "agent_id", "updated_at")},
            )

        return self._stmt("bulk_threads", build)

    async def _bulk_save_threads(
        self, chunk: Sequence[tuple[Thread, Sequence[Message]]]
    ) -> None:
        """The whole chunk in one transaction: one executemany of the thread upserts, one
        of the message upserts (plain INSERT first where the backend can), no per-thread
        touch (threads carry their own updated_at)."""
        threads = {t.id: t for t, _ in chunk}  # a thread repeats once per page: last wins
        thread_rows = [self._thread_row(t) for t in threads.values()]
        json, ts = self.c.json, self.c.ts
        rows = [
            (m.id, t.id, t.resource_id, m.role, m.type, json(m.content),
             json(m.metadata if type(m.metadata) is dict else dict(m.metadata)),
             ts(m.created_at))
            for t, messages in chunk for m in messages
        ]
        stmt = self._bulk_threads_statement()
        upsert, insert = self._upsert_messages(), self._insert_messages()
        keep = self.b.retention.max_messages_per_thread

        def run(tx: Tx) -> None:
            tx.executemany(stmt, thread_rows)
            if rows:
                tx.insert_many(upsert, _MESSAGE_COLUMNS, rows, plain=insert)
                if keep is not None:
                    self._prune(tx, list(threads), keep)

        await self.b.transact(run)

    async def _update_messages(
        self, updates: list[MessageUpdate], *, now: _dt.datetime, resource_id: str | None = None
    ) -> list[Ordered]:
        ms = self.t.messages
        c = self.c
        by_id = {u.id: u for u in updates}
        scope = resource_id  # (the loop below has its own resource_id)

        def run(tx: Tx) -> list[Ordered]:
            stmt = select(*self.msg_cols).where(ms.c.id.in_(list(by_id))).with_for_update()
            if scope is not None:  # another owner's message is an unknown id
                stmt = stmt.where(ms.c.resource_id == scope)
            cut = self._cutoff("messages")
            if cut is not None:
                stmt = stmt.where(ms.c.created_at > cut)
            current = self._ordered(tx.rows(stmt))
            targets = {u.thread_id for u in updates if u.thread_id is not UNSET}
            owners = self._owners(tx, sorted(targets)) if targets else {}
            if scope is not None:  # another owner's thread is missing
                owners = {t: o for t, o in owners.items() if o == scope}
            missing = sorted(targets - set(owners))
            if missing:
                raise ThreadNotFoundError(f"thread {missing[0]!r} not found; nothing was updated")
            touched: set[str] = set()
            result: list[Ordered] = []
            rows = []
            for seq, m in current:
                u = by_id[m.id]
                thread_id, resource_id = m.thread_id, m.resource_id
                if u.thread_id is not UNSET and u.thread_id != m.thread_id:
                    thread_id, resource_id = u.thread_id, owners[u.thread_id]
                new = _Message(
                    id=m.id, thread_id=thread_id, resource_id=resource_id,
                    role=m.role if u.role is UNSET else u.role,
                    type=m.type if u.type is UNSET else u.type,
                    content=m.content if u.content is UNSET else u.content,
                    metadata=dict(m.metadata) if u.metadata is UNSET
                    else {**m.metadata, **u.metadata},
                    created_at=m.created_at,
                )
                touched.update((m.thread_id, thread_id))
                result.append((seq, new))
                rows.append({"b_id": m.id, "thread_id": thread_id, "resource_id": resource_id,
                             "role": new.role, "type": new.type, "content": c.json(new.content),
                             "metadata": c.json(dict(new.metadata))})
            if rows:
                upd = self._stmt("update_message", lambda: update(ms).where(
                    ms.c.id == bindparam("b_id")).values(
                        {k: bindparam(k) for k in ("thread_id", "resource_id", "role", "type",
                                                   "content", "metadata")}))
                tx.executemany(upd, rows)
                self._touch(tx, sorted(touched), now)
            return result

        return await self.b.transact(run)

    async def _delete_messages(
        self, ids: Sequence[str], *, now: _dt.datetime, resource_id: str | None = None
    ) -> int:
        ms = self.t.messages
        scoped = resource_id is not None

        # The count is what this DELETE removed (RETURNING), never a count read before
        # it: a concurrent delete of the same ids would be counted by both callers. With
        # an owner scope, another owner's messages are not deleted (the same statement).
        def build() -> Any:
            where: list[Any] = [ms.c.id.in_(bindparam("ids", expanding=True))]
            if scoped:
                where.append(ms.c.resource_id == bindparam("rid"))
            return delete(ms).where(*where).returning(ms.c.thread_id)

        stmt = self._stmt(("delete_messages", scoped), build)
        params: dict[str, Any] = {"ids": list(ids)}
        if scoped:
            params["rid"] = resource_id

        def run(tx: Tx) -> int:
            gone = tx.rows(stmt, params)
            if gone:
                self._touch(tx, sorted({r[0] for r in gone}), now)
            return len(gone)

        return await self.b.transact(run)

    async def _create_thread_with_messages(
        self, thread: Thread, messages: list[Message]
    ) -> tuple[Thread, list[Message]]:
        th, ms = self.t.threads, self.t.messages
        c = self.c
        rows = [{"id": m.id, "thread_id": m.thread_id, "resource_id": m.resource_id,
                 "role": m.role, "type": m.type, "content": c.json(m.content),
                 "metadata": c.json(dict(m.metadata)), "created_at": c.ts(m.created_at)}
                for m in messages]

        # A clone racing to the same new id finds it taken here, inside the transaction:
        # that caller gets "already exists" (not a unique violation), nothing is written.
        create = self._stmt("create_thread", lambda: self.b.insert(th).on_conflict_do_nothing(
            index_elements=[th.c.id]).returning(th.c.id))

        def run(tx: Tx) -> tuple[Thread, list[Message]]:
            if tx.first(create, self._thread_row(thread)) is None:
                raise ValidationError(f"new_thread_id: thread {thread.id!r} already exists")
            if rows:
                tx.executemany(ms.insert(), rows)
            return thread, messages

        return await self.b.transact(run)

    # -- resources -------------------------------------------------------------------------

    def _resource(self, r: Any) -> Resource:
        return _Resource(id=r[0], working_memory=r[1], metadata=self.c.from_json(r[2]),
                         created_at=self.c.from_ts(r[3]), updated_at=self.c.from_ts(r[4]))

    def _resource_cols(self) -> tuple[Any, ...]:
        rs = self.t.resources
        return (rs.c.id, rs.c.working_memory, rs.c.metadata, rs.c.created_at, rs.c.updated_at)

    async def _get_resource(self, resource_id: str) -> Resource | None:
        rs = self.t.resources
        stmt = select(*self._resource_cols()).where(rs.c.id == resource_id)
        cut = self._cutoff("resources")
        if cut is not None:
            stmt = stmt.where(rs.c.updated_at > cut)
        row = _first(await self.b.fetch(stmt))
        return None if row is None else self._resource(row)

    async def _save_resource(self, resource: Resource) -> Resource:
        rs = self.t.resources
        c = self.c
        ins = self.b.insert(rs)
        stmt = ins.on_conflict_do_update(
            index_elements=[rs.c.id],
            set_={k: ins.excluded[k] for k in ("working_memory", "metadata", "updated_at")},
        ).returning(*self._resource_cols())
        row = {"id": resource.id, "working_memory": resource.working_memory,
               "metadata": c.json(dict(resource.metadata)), "created_at": c.ts(resource.created_at),
               "updated_at": c.ts(resource.updated_at)}

        def run(tx: Tx) -> Resource:
            return self._resource(tx.first(stmt, row))

        return await self.b.transact(run)

    async def _update_resource(
        self, resource_id: str, *, working_memory: Any, metadata: Any, now: _dt.datetime
    ) -> Resource:
        rs = self.t.resources
        c = self.c

        def run(tx: Tx) -> Resource:
            # Create the row first (a no-op when it exists), then lock it: racing callers
            # on a missing resource then all merge into one row instead of replacing it.
            created = tx.execute(self.b.insert(rs).values(
                id=resource_id, working_memory=None, metadata=c.json({}),
                created_at=c.ts(now), updated_at=c.ts(now),
            ).on_conflict_do_nothing(index_elements=[rs.c.id]))
            row = tx.first(select(*self._resource_cols()).where(
                rs.c.id == resource_id).with_for_update())
            cur = self._resource(row)
            ttl = self._ttl("resources")
            # An expired row is invisible: start from an empty resource.
            fresh = created > 0 or (ttl is not None and cur.updated_at <= now - ttl)
            base_memory = None if fresh else cur.working_memory
            base_meta: dict[str, Any] = {} if fresh else dict(cur.metadata)
            new = _Resource(
                id=resource_id,
                working_memory=base_memory if working_memory is UNSET else working_memory,
                metadata=base_meta if metadata is UNSET else {**base_meta, **metadata},
                created_at=now if fresh else cur.created_at, updated_at=now)
            tx.execute(update(rs).where(rs.c.id == resource_id).values(
                working_memory=new.working_memory, metadata=c.json(dict(new.metadata)),
                created_at=c.ts(new.created_at), updated_at=c.ts(now)))
            return new

        return await self.b.transact(run)

    # -- stats -----------------------------------------------------------------------------

    async def _stats(self, resource_id: str | None) -> ThreadStats:
        th, ms = self.t.threads, self.t.messages
        t_where: list[Any] = []
        if resource_id is not None:
            t_where.append(th.c.resource_id == resource_id)
        cut_t, cut_m = self._cutoff("threads"), self._cutoff("messages")
        if cut_t is not None:
            t_where.append(th.c.updated_at > cut_t)
        m_where = list(t_where)
        if cut_m is not None:
            m_where.append(ms.c.created_at > cut_m)
        threads = select(func.count(), func.min(th.c.created_at),
                         func.max(th.c.updated_at)).where(*t_where).subquery("ts")
        msgs = (select(func.count(), func.min(ms.c.created_at), func.max(ms.c.created_at))
                .select_from(ms.join(th, ms.c.thread_id == th.c.id)).where(*m_where)
                .subquery("ms"))
        tc, mc = list(threads.c), list(msgs.c)
        stmt = select(tc[0], tc[1], tc[2], mc[0], mc[1], mc[2]).select_from(
            threads.join(msgs, true()))
        r = (await self.b.fetch(stmt))[0]
        thread_count, message_count = int(r[0]), int(r[3])
        firsts = [self.c.from_ts(v) for v in (r[1], r[4]) if v is not None]
        lasts = [self.c.from_ts(v) for v in (r[2], r[5]) if v is not None]
        return ThreadStats(
            thread_count=thread_count, message_count=message_count,
            messages_per_thread=message_count / thread_count if thread_count else 0.0,
            first_activity=min(firsts) if firsts else None,
            last_activity=max(lasts) if lasts else None,
        )

