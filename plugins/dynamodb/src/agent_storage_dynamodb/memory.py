"""The memory domain on DynamoDB: threads, messages (in their thread's item collection),
resources.

Request counts on the hot paths (measured by tests/dynamodb/test_requests.py):
``save_messages`` of new messages naming their thread's owner = 1 TransactWriteItems;
otherwise (upserts, no resource_id, several threads) 1 BatchGetItem + 1
TransactWriteItems; ``list_messages(last=N)`` = 1 Query on ``lsi1``; ``list_threads`` of
a resource = 1 Query on a GSI; an include window = 1 Query on ``gsi1`` (id -> message) plus
one Query per side, run concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent_storage.domains.memory import (
    MemoryDomain,
    MessageSelect,
    Ordered,
    ThreadFilter,
    ThreadSelect,
    check_owner,
)
from agent_storage.errors import ThreadNotFoundError, ValidationError
from agent_storage.records import (
    UNSET,
    Include,
    Message,
    MessageUpdate,
    Resource,
    Thread,
    ThreadStats,
)
from agent_storage.serde import dumps, loads
from attrs import evolve

from ._part import Conflict, Part, key_of
from .client import TxCanceled, is_condition_failed
from .expr import Expr, Item, N, Projection, S, and_all, check_item_size
from .keys import ENTITIES, TITLE_KEY_CHARS, dec, from_ts, index_def, index_pk, render, ts

if TYPE_CHECKING:
    from .store import DynamoBackend

#: Thread listing index per (filter family, order field).
THREAD_INDEXES = {
    "resource": {"created_at": "gsi1", "updated_at": "gsi2", "title": "gsi3"},
    "agent": {"created_at": "gsi4", "updated_at": "gsi5", "title": "gsi6"},
    "all": {"created_at": "gsi7", "updated_at": "gsi8", "title": "gsi9"},
}
#: Thread index sort keys that embed created_at (kept on upsert).
THREAD_CREATED_KEYS = ("gsi1sk", "gsi4sk", "gsi7sk")
#: Thread attributes maintained by message writes (kept when a thread is rewritten).
THREAD_COUNTERS = ("mseq", "mcount", "mfirst", "mlast", "rev")
#: Messages fetched concurrently by id (one GSI Query each).
LOOKUP_CONCURRENCY = 16
#: What a listed thread is built from (``thread_row``): gsi7sk is ``{created_at}#{id}``,
#: gsi8sk ``{updated_at}#{id}`` (every thread is in the "all threads" indexes).
THREAD_FIELDS = Projection("gsi7sk", "gsi8sk", "resource_id", "title", "metadata", "agent_id")
#: The same for a listing by resource, whose partition holds only that resource's threads.
RESOURCE_THREAD_FIELDS = Projection("gsi7sk", "gsi8sk", "title", "metadata", "agent_id")
#: What a listed message is built from (``message_row``; its thread is the one queried,
#: created_at and seq are read from the lsi1 sort key).
MESSAGE_FIELDS = Projection("id", "osk", "resource_id", "role", "type", "content", "metadata")
#: A message found by id: also its thread.
FOUND_FIELDS = Projection(*MESSAGE_FIELDS.attrs, "thread_id")
#: The centre of an include window: also its key (pk, sk) in the thread's partition.
CENTRE_FIELDS = Projection(*FOUND_FIELDS.attrs, "pk", "sk")
#: Where a message id is stored now (a re-save under another thread moves it).
WHERE_FIELDS = Projection("pk", "sk", "thread_id", "seq")


def _title_key(title: str | None) -> str:
    return (title or "")[:TITLE_KEY_CHARS]


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _kk(key: Mapping[str, Any]) -> tuple[str, str]:
    return key["pk"]["S"], key["sk"]["S"]


def _owned_by(op: dict[str, Any], owner: str | None) -> dict[str, Any]:
    """A Put/Delete operation made conditional on the stored item's resource_id."""
    if owner is None:
        return op
    e = Expr()
    return {**op, "ConditionExpression": f"{e.n('resource_id')} = {e.s(owner)}", **e.params()}


def _delete_args(op: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction's Delete operation as DeleteItem arguments of Table.delete."""
    return {("key" if name == "Key" else name): value for name, value in op.items()}


def _existing(op: dict[str, Any], owner: str | None) -> dict[str, Any]:
    """A Delete operation that fails unless the item is still there (and owner's)."""
    e = Expr()
    cond = f"attribute_exists({e.n('pk')})"
    if owner is not None:
        cond += f" AND {e.n('resource_id')} = {e.s(owner)}"
    return {**op, "ConditionExpression": cond, **e.params()}


def _owned(item: Mapping[str, Any] | None, owner: str | None) -> bool:
    """Whether a stored thread or message belongs to ``owner`` (None: no scope)."""
    if owner is None:
        return True
    return item is not None and "resource_id" in item and item["resource_id"]["S"] == owner


class DynamoMemory(Part, MemoryDomain):
    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    # -- codecs --------------------------------------------------------------------------

    def thread_key(self, thread_id: str) -> Item:
        item, _ = self.keyed("thread", self.values(id=thread_id))
        return key_of(item)

    def thread_item(self, t: Thread) -> tuple[Item, list[str]]:
        item, absent = self.keyed("thread", self.values(
            id=t.id, resource_id=t.resource_id, agent_id=t.agent_id, created_at=t.created_at,
            updated_at=t.updated_at, title=_title_key(t.title)))
        item.update(et=S("thread"), id=S(t.id), resource_id=S(t.resource_id),
                    metadata=S(dumps(t.metadata)), created_at=self.when(t.created_at),
                    updated_at=self.when(t.updated_at))
        self.set_optional(item, absent, t, ("title", "agent_id"))
        self.set_ttl(item, absent, "threads", t.updated_at)
        return item, absent

    def thread_from(self, item: Mapping[str, Any]) -> Thread:
        return Thread(
            id=item["id"]["S"], resource_id=item["resource_id"]["S"],
            title=self.s(item, "title"), metadata=loads(item["metadata"]["S"]),
            agent_id=self.s(item, "agent_id"), created_at=self.time(item, "created_at"),
            updated_at=self.time(item, "updated_at"),
        )

    def thread_row(self, item: Mapping[str, Any], resource_id: str | None) -> Thread:
        """A thread from its :data:`THREAD_FIELDS` (``resource_id`` None: from the item)."""
        created, _, enc_id = item["gsi7sk"]["S"].partition("#")
        updated = item["gsi8sk"]["S"].partition("#")[0]
        title, agent = item.get("title"), item.get("agent_id")
        return Thread(
            id=dec(enc_id), resource_id=resource_id or item["resource_id"]["S"],
            title=None if title is None else title["S"], metadata=loads(item["metadata"]["S"]),
            agent_id=None if agent is None else agent["S"], created_at=from_ts(created),
            updated_at=from_ts(updated),
        )

    def message_key(self, thread_id: str, message_id: str) -> Item:
        item, _ = self.keyed("message", self.values(thread_id=thread_id, id=message_id))
        return key_of(item)

    def message_item(self, m: Message, seq: int) -> Item:
        item, _ = self.keyed("message", self.values(
            thread_id=m.thread_id, id=m.id, created_at=m.created_at, seq=seq))
        item.update(et=S("message"), id=S(m.id), thread_id=S(m.thread_id), role=S(m.role),
                    type=S(m.type), content=S(dumps(m.content)), metadata=S(dumps(m.metadata)),
                    created_at=self.when(m.created_at), seq=N(seq))
        if m.resource_id is not None:
            item["resource_id"] = S(m.resource_id)
        ttl = self.ttl_value("messages", m.created_at)
        if ttl is not None:
            item[self.ttl_attr] = ttl
        return item

    def message_from(self, item: Mapping[str, Any]) -> Ordered:
        return int(item["seq"]["N"]), Message(
            id=item["id"]["S"], thread_id=item["thread_id"]["S"], role=item["role"]["S"],
            content=loads(item["content"]["S"]), type=item["type"]["S"],
            resource_id=self.s(item, "resource_id"), metadata=loads(item["metadata"]["S"]),
            created_at=self.time(item, "created_at"),
        )

    @staticmethod
    def message_row(item: Mapping[str, Any], thread_id: str) -> Ordered:
        """A message from its :data:`MESSAGE_FIELDS` (osk = ``{created_at}#{seq}``)."""
        at, _, seq = item["osk"]["S"].partition("#")
        resource = item.get("resource_id")
        return int(seq), Message(
            id=item["id"]["S"], thread_id=thread_id, role=item["role"]["S"],
            content=loads(item["content"]["S"]), type=item["type"]["S"],
            resource_id=None if resource is None else resource["S"],
            metadata=loads(item["metadata"]["S"]), created_at=from_ts(at),
        )

    def resource_item(self, r: Resource) -> tuple[Item, list[str]]:
        item, absent = self.keyed("resource", self.values(id=r.id))
        item.update(et=S("resource"), id=S(r.id), metadata=S(dumps(r.metadata)),
                    created_at=self.when(r.created_at), updated_at=self.when(r.updated_at))
        if r.working_memory is None:
            absent.append("working_memory")
        else:
            item["working_memory"] = S(r.working_memory)
        self.set_ttl(item, absent, "resources", r.updated_at)
        return item, absent

    def resource_from(self, item: Mapping[str, Any]) -> Resource:
        return Resource(id=item["id"]["S"], working_memory=self.s(item, "working_memory"),
                        metadata=loads(item["metadata"]["S"]),
                        created_at=self.time(item, "created_at"),
                        updated_at=self.time(item, "updated_at"))

    # -- threads -------------------------------------------------------------------------

    async def _get_thread(self, thread_id: str) -> Thread | None:
        item = await self.table.get(self.thread_key(thread_id))
        return self.thread_from(item) if item is not None and self.alive(item) else None

    def _thread_created_keys(self, stored: Item) -> Item:
        item, _ = self.thread_item(self.thread_from(stored))
        return {k: item[k] for k in THREAD_CREATED_KEYS if k in item}

    async def _save_thread(self, thread: Thread) -> Thread:
        item, absent = self.thread_item(thread)
        check_item_size(item, f"thread {thread.id!r}")
        stored = await self.upsert_keep_created(item, absent, self._thread_created_keys)
        return self.thread_from(stored)

    async def _update_thread(
        self, thread_id: str, *, title: Any, metadata: Any, merge_metadata: bool,
        now: _dt.datetime, resource_id: str | None = None,
    ) -> Thread | None:
        async def attempt() -> Thread | None:
            current = await self.table.get(self.thread_key(thread_id))
            if current is None or not self.alive(current) or not _owned(current, resource_id):
                return None  # the rewrite below is conditional on the revision read here
            thread = self.thread_from(current)
            changes: dict[str, Any] = {"updated_at": now}
            if title is not UNSET:
                changes["title"] = title
            if metadata is not UNSET:
                changes["metadata"] = ({**thread.metadata, **metadata} if merge_metadata
                                       else dict(metadata))
            new = evolve(thread, **changes)
            await self._rewrite_thread(current, new)
            return new

        return await self.cas_loop(attempt)

    async def _rewrite_thread(self, current: Item, new: Thread) -> None:
        """Replace a thread item read as ``current``; Conflict if it changed meanwhile."""
        item, _ = self.thread_item(new)
        for name in THREAD_COUNTERS:
            if name in current:
                item[name] = current[name]
        rev = int(current.get("rev", {"N": "0"})["N"])
        item["rev"] = N(rev + 1)
        e = Expr()
        cond = (f"{e.n('rev')} = {e.num(rev)}" if "rev" in current
                else f"attribute_exists({e.n('pk')}) AND attribute_not_exists({e.n('rev')})")
        try:
            await self.table.put(item, f"thread {new.id!r}", ConditionExpression=cond,
                                 **e.params())
        except Exception as exc:
            if is_condition_failed(exc):
                raise Conflict from exc
            raise

    async def _delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        thread_key = self.thread_key(thread_id)
        if resource_id is not None and not _owned(await self.table.get(thread_key),
                                                  resource_id):
            return  # another owner's thread (or none)
        keys = await self._partition_keys(thread_key["pk"]["S"])
        head: dict[str, Any] = {"Key": thread_key}
        if resource_id is not None:  # the owner is a condition of the delete itself
            e = Expr()
            head.update(ConditionExpression=f"{e.n('resource_id')} = {e.s(resource_id)}",
                        **e.params())
        try:
            if len(keys) <= 100:
                await self.table.transact([{"Delete": head if _kk(k) == _kk(thread_key)
                                            else {"Key": k}} for k in keys])
                return
            # Too many for one transaction: the thread goes first (so nothing can be added
            # to it and it leaves every listing at once), then its messages in batches; a
            # retry of delete_thread finishes an interrupted run.
            await self.table.delete(**_delete_args(head))
        except TxCanceled:
            if resource_id is None:
                raise
            return  # the owner changed after the read: another owner's thread
        except Exception as exc:
            if resource_id is None or not is_condition_failed(exc):
                raise
            return
        await self.table.batch_write([{"DeleteRequest": {"Key": k}} for k in keys
                                      if _kk(k) != _kk(thread_key)])

    async def _partition_keys(self, pk: str) -> list[Item]:
        e = Expr()
        params = {"KeyConditionExpression": f"{e.n('pk')} = {e.s(pk)}",
                  "ProjectionExpression": f"{e.n('pk')}, {e.n('sk')}",
                  "ConsistentRead": True, **e.params()}
        return [key_of(i) for i in await self.table.query(params)]

    def _thread_query(self, flt: ThreadFilter, order_by: str, direction: str,
                      after: tuple[Any, str] | None) -> tuple[dict[str, Any], Any, bool]:
        family = "resource" if flt.resource_id else "agent" if flt.agent_id else "all"
        index = THREAD_INDEXES[family][order_by]
        idx = index_def(index)
        e = Expr()
        partition = index_pk("thread", index, self.values(resource_id=flt.resource_id,
                                                            agent_id=flt.agent_id))
        cond = f"{e.n(idx.pk)} = {e.s(partition)}"
        if after is not None:
            value, last_id = after
            if order_by == "title":
                value = _title_key(value)
            sort = render(ENTITIES["thread"].access(index).sk,
                          self.values(id=last_id, **{order_by: value}))
            cond += f" AND {e.n(idx.sk)} {'>' if direction == 'asc' else '<'} {e.s(sort or '')}"
        filters = [self.ttl_filter(e)]
        if family == "resource" and flt.agent_id:
            filters.append(f"{e.n('agent_id')} = {e.s(flt.agent_id)}")
        params = {"IndexName": index, "KeyConditionExpression": cond,
                  "FilterExpression": and_all(filters), "ScanIndexForward": direction == "asc",
                  **e.params()}
        pred = None
        if flt.metadata:
            wanted = dict(flt.metadata)

            def pred(item: Item) -> bool:
                meta = loads(item["metadata"]["S"])
                return all(k in meta and _json_equal(meta[k], v) for k, v in wanted.items())

        return params, pred, len(filters) > 1

    async def _select_threads(self, sel: ThreadSelect) -> list[Thread]:
        params, pred, selective = self._thread_query(sel.filter, sel.order_by, sel.direction,
                                                     sel.after)
        owner = sel.filter.resource_id
        items = await self.table.query(
            params, offset=sel.offset, limit=sel.limit, pred=pred, selective=selective,
            project=THREAD_FIELDS if owner is None else RESOURCE_THREAD_FIELDS)
        return [self.thread_row(i, owner) for i in items]

    async def _count_threads(self, flt: ThreadFilter) -> int:
        params, pred, _ = self._thread_query(flt, "created_at", "desc", None)
        return await self.table.count(params, pred=pred)

    # -- messages: reads -----------------------------------------------------------------

    def _message_query(self, thread_id: str, sel: MessageSelect,
                       order: str) -> tuple[dict[str, Any], Any, bool] | None:
        """Query on ``lsi1`` for one thread; None when nothing can match."""
        e = Expr()
        cond = f"{e.n('pk')} = {e.s(self.thread_key(thread_id)['pk']['S'])}"
        lo = None if sel.start is None else ts(sel.start) + ("#~" if sel.start_exclusive else "#")
        hi = None if sel.end is None else ts(sel.end) + ("#" if sel.end_exclusive else "#~")
        if lo is not None and hi is not None:
            if lo > hi:
                return None
            cond += f" AND {e.n('osk')} BETWEEN {e.s(lo)} AND {e.s(hi)}"
        elif lo is not None:
            cond += f" AND {e.n('osk')} >= {e.s(lo)}"
        elif hi is not None:
            cond += f" AND {e.n('osk')} <= {e.s(hi)}"
        filters = [self.ttl_filter(e)]
        if sel.resource_id is not None:
            filters.append(f"{e.n('resource_id')} = {e.s(sel.resource_id)}")
        for attr, wanted in (("role", sel.roles), ("type", sel.types)):
            if wanted is not None:
                if not wanted:
                    return None
                filters.append(e.in_list(attr, sorted(set(wanted))))
        pred = None
        if sel.message_ids is not None:
            if not sel.message_ids:
                return None
            if len(sel.message_ids) <= 90:
                filters.append(e.in_list("id", sel.message_ids))
            else:
                chosen = set(sel.message_ids)

                def pred(item: Item) -> bool:
                    return item["id"]["S"] in chosen

        params = {"IndexName": "lsi1", "KeyConditionExpression": cond,
                  "FilterExpression": and_all(filters), "ScanIndexForward": order == "asc",
                  "ConsistentRead": True, **e.params()}
        return params, pred, len(filters) > 1

    async def _select_messages(self, sel: MessageSelect) -> list[Ordered]:
        limit = sel.limit
        if len(sel.thread_ids) == 1:
            query = self._message_query(sel.thread_ids[0], sel, sel.order)
            if query is None:
                return []
            params, pred, selective = query
            items = await self.table.query(params, offset=sel.offset, limit=limit, pred=pred,
                                           selective=selective, project=MESSAGE_FIELDS)
            tid = sel.thread_ids[0]
            return [self.message_row(i, tid) for i in items]
        # Several threads: each contributes at most offset + limit rows; merge in order.
        need = None if limit is None else sel.offset + limit

        async def one(tid: str) -> list[Ordered]:
            query = self._message_query(tid, sel, sel.order)
            if query is None:
                return []
            params, pred, selective = query
            items = await self.table.query(params, limit=need, pred=pred, selective=selective,
                                           project=MESSAGE_FIELDS)
            return [self.message_row(i, tid) for i in items]

        rows = [r for part in await asyncio.gather(*(one(t) for t in sel.thread_ids))
                for r in part]
        rows.sort(key=lambda r: (r[1].created_at, r[0]), reverse=sel.order == "desc")
        end = None if need is None else need
        return rows[sel.offset:end]

    async def _count_messages(self, sel: MessageSelect) -> int:
        async def one(tid: str) -> int:
            query = self._message_query(tid, sel, "asc")
            if query is None:
                return 0
            params, pred, _ = query
            return await self.table.count(params, pred=pred)

        return sum(await asyncio.gather(*(one(t) for t in sel.thread_ids)))

    async def _lookup(self, message_id: str, project: Projection | None = None) -> Item | None:
        """The stored item of a message id, through gsi1 (id -> item); only the
        ``project`` attributes if given."""
        e = Expr()
        partition = index_pk("message", "gsi1", self.values(id=message_id))
        params = {"IndexName": "gsi1",
                  "KeyConditionExpression": f"{e.n('gsi1pk')} = {e.s(partition)}",
                  "FilterExpression": self.ttl_filter(e), **e.params()}
        items = await self.table.query(params, limit=1, project=project)
        return items[0] if items else None

    async def _lookup_many(self, ids: Sequence[str],
                           project: Projection | None = None) -> list[Item | None]:
        gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def one(mid: str) -> Item | None:
            async with gate:
                return await self._lookup(mid, project)

        return list(await asyncio.gather(*(one(m) for m in ids)))

    def _found_row(self, item: Item) -> Ordered:
        return self.message_row(item, item["thread_id"]["S"])

    async def _get_messages(self, ids: Sequence[str]) -> list[Ordered]:
        return [self._found_row(i) for i in await self._lookup_many(ids, FOUND_FIELDS)
                if i is not None]

    async def _select_windows(
        self, includes: Sequence[Include], *, resource_id: str | None
    ) -> list[Ordered]:
        async def window(inc: Include) -> list[Ordered]:
            item = await self._lookup(inc.id, CENTRE_FIELDS)
            if item is None:
                return []
            if resource_id is not None and self.s(item, "resource_id") != resource_id:
                return []
            # Each side reads lsi1 from the centre message's own position: its LSI key
            # (pk, sk, osk) is the ExclusiveStartKey. osk values are unique within a
            # thread (seq is), so this returns what `osk < / > centre` would; moto walks
            # the skipped messages far more cheaply this way than by testing a range
            # condition on each.
            start = {"pk": item["pk"], "sk": item["sk"], "osk": item["osk"]}
            sides = []
            for count, forward in ((inc.before, False), (inc.after, True)):
                if count:
                    e = Expr()
                    params = {"IndexName": "lsi1",
                              "KeyConditionExpression": f"{e.n('pk')} = {e.v(item['pk'])}",
                              "ExclusiveStartKey": start,
                              "FilterExpression": self.ttl_filter(e),
                              "ScanIndexForward": forward, "ConsistentRead": True,
                              **e.params()}
                    sides.append(self.table.query(params, limit=count,
                                                  project=MESSAGE_FIELDS))
            tid = item["thread_id"]["S"]
            rows = [self.message_row(item, tid)]
            for part in await asyncio.gather(*sides):
                rows.extend(self.message_row(i, tid) for i in part)
            return rows

        if len(includes) == 1:  # the usual case: no task to schedule
            return await window(includes[0])
        parts = await asyncio.gather(*(window(i) for i in includes))
        return [row for part in parts for row in part]

    # -- messages: writes ----------------------------------------------------------------

    def _thread_bump(self, stored: Item, now: _dt.datetime, *, count_delta: int = 0,
                     seq_high: int | None = None, created: Sequence[_dt.datetime] = (),
                     owner: str | None = None) -> dict[str, Any]:
        """An Update operation: updated_at=now (and the index keys and TTL that follow it),
        message counters; conditional on the thread still existing (and, with ``owner``,
        still being owned by it)."""
        thread = self.thread_from(stored)
        before, _ = self.thread_item(thread)
        after, _ = self.thread_item(evolve(thread, updated_at=now))
        e = Expr()
        sets = [f"{e.n(k)} = {e.v(v)}" for k, v in after.items() if before.get(k) != v]
        if seq_high is not None:
            sets.append(f"{e.n('mseq')} = {e.num(seq_high)}")
        if created:
            first, last = self.dt(stored, "mfirst"), self.dt(stored, "mlast")
            lo, hi = min(created), max(created)
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
            sets.append(f"{e.n('mfirst')} = {e.v(self.when(first))}")
            sets.append(f"{e.n('mlast')} = {e.v(self.when(last))}")
        expr = "SET " + ", ".join(sets) if sets else ""
        expr += f" ADD {e.n('rev')} {e.num(1)}"
        if count_delta:
            expr += f", {e.n('mcount')} {e.num(count_delta)}"
        cond = f"attribute_exists({e.n('pk')})"
        if owner is not None:
            cond += f" AND {e.n('resource_id')} = {e.s(owner)}"
        return {"Update": {"Key": key_of(stored), "UpdateExpression": expr.strip(),
                           "ConditionExpression": cond, **e.params()}}

    def _next_seq(self, stored: Item, now: _dt.datetime) -> int:
        """Seqs grow with time (microseconds x 1000) and never go below the thread's last."""
        last = int(stored.get("mseq", {"N": "0"})["N"])
        return max(int(now.timestamp() * 1_000_000) * 1000, last + 1)

    async def _save_messages(self, messages: list[Message], *, now: _dt.datetime) -> list[Message]:
        saved = await self._save_new(messages, now)
        if saved is not None:
            return saved
        return await self.cas_loop(lambda: self._save_once(messages, now))

    async def _save_new(self, messages: list[Message], now: _dt.datetime) -> list[Message] | None:
        """The common case in ONE request: new messages of one thread that already name
        the thread's owner. Every assumption is a condition of the transaction (each
        message is new; the thread exists, is owned by that resource, has no later seq
        and no older message); if one does not hold, nothing was written and None sends
        the call down the general path (read, then write)."""
        tid, owner = messages[0].thread_id, messages[0].resource_id
        if (owner is None or self.backend.options.retention.max_messages_per_thread
                or len(messages) > 99
                or any(m.thread_id != tid or m.resource_id != owner for m in messages)):
            return None
        base = int(now.timestamp() * 1_000_000) * 1000
        items = [self.message_item(m, base + n) for n, m in enumerate(messages)]
        for m, item in zip(messages, items, strict=True):
            check_item_size(item, f"message {m.id!r}")
        # An id stored anywhere (this thread: an upsert; another: a move) takes the
        # general path. The transaction's conditions only see this thread's partition.
        if any(await self._lookup_many([m.id for m in messages], WHERE_FIELDS)):
            return None
        ops: list[dict[str, Any]] = []
        for item in items:
            e = Expr()
            ops.append({"Put": {"Item": item,
                                "ConditionExpression": f"attribute_not_exists({e.n('pk')})",
                                **e.params()}})
        if not self.table.transaction_fits(ops):
            return None
        # agent_id only decides whether gsi5pk exists; gsi5sk alone is not indexed
        probe = Thread(id=tid, resource_id=owner, agent_id="-", created_at=now, updated_at=now)
        bumped, _ = self.thread_item(probe)
        e = Expr()
        sets = [f"{e.n(k)} = {e.v(bumped[k])}"
                for k in ("updated_at", "gsi2sk", "gsi5sk", "gsi8sk", self.ttl_attr)
                if k in bumped]
        lo = self.when(min(m.created_at for m in messages))
        sets += [f"{e.n('mseq')} = {e.num(base + len(messages) - 1)}",
                 f"{e.n('mfirst')} = if_not_exists({e.n('mfirst')}, {e.v(lo)})"]
        expr = (f"SET {', '.join(sets)} ADD {e.n('rev')} {e.num(1)}, "
                f"{e.n('mcount')} {e.num(len(messages))}")
        mseq, mfirst = e.n("mseq"), e.n("mfirst")
        cond = (f"attribute_exists({e.n('pk')}) AND {e.n('resource_id')} = {e.s(owner)} "
                f"AND (attribute_not_exists({mseq}) OR {mseq} < {e.num(base)}) "
                f"AND (attribute_not_exists({mfirst}) OR {mfirst} <= {e.v(lo)})")
        ttl = e.n(self.ttl_attr)  # an expired thread is a missing thread
        cond += f" AND (attribute_not_exists({ttl}) OR {ttl} > {e.num(int(now.timestamp()))})"
        ops.append({"Update": {"Key": self.thread_key(tid), "UpdateExpression": expr,
                               "ConditionExpression": cond, **e.params()}})
        try:
            await self.table.transact(ops, what="message")
        except TxCanceled:
            return None
        return list(messages)

    async def _save_once(self, messages: list[Message], now: _dt.datetime) -> list[Message]:
        """One attempt at the batch save: read the threads and the messages' current places,
        then write the puts, prunes, moved-from deletes and thread bumps together
        (``_write_with_bumps``).

        Long because the write's items are built in one pass, in the order they commit."""
        tids = list(dict.fromkeys(m.thread_id for m in messages))
        tkeys = {tid: self.thread_key(tid) for tid in tids}
        mkeys = [self.message_key(m.thread_id, m.id) for m in messages]
        read, where = await asyncio.gather(
            self.table.batch_get([*tkeys.values(), *mkeys]),
            self._lookup_many([m.id for m in messages], WHERE_FIELDS))
        got = {_kk(i): i for i in read}
        moved = {m.id: i for m, i, key in zip(messages, where, mkeys, strict=True)
                 if i is not None and i["thread_id"]["S"] != m.thread_id and _kk(key) not in got}
        threads: dict[str, Item] = {}
        for tid, key in tkeys.items():
            item = got.get(_kk(key))
            if item is None or not self.alive(item):
                raise ThreadNotFoundError(f"thread {tid!r} not found")
            threads[tid] = item
        next_seq = {tid: self._next_seq(threads[tid], now) for tid in tids}
        stored: list[Message] = []
        writes: list[tuple[Message, int, Item | None]] = []
        for m, key in zip(messages, mkeys, strict=True):
            owner = threads[m.thread_id]["resource_id"]["S"]
            check_owner(m, owner)  # nothing was written yet
            m = evolve(m, resource_id=owner) if m.resource_id != owner else m
            old = got.get(_kk(key))
            if old is not None:
                seq = int(old["seq"]["N"])  # an upsert keeps its place among equal times
            else:
                seq = next_seq[m.thread_id]
                next_seq[m.thread_id] += 1
            stored.append(m)
            writes.append((m, seq, old))
        items = {m.id: self.message_item(m, seq) for m, seq, _ in writes}
        for m in stored:
            check_item_size(items[m.id], f"message {m.id!r}")
        pruned = await self._prune_plan(tids, writes, items)
        ops: list[tuple[str, int, dict[str, Any]]] = []  # (thread, count delta, operation)
        for m, seq, old in writes:
            if m.id in pruned["skip"]:
                continue
            e = Expr()
            cond = (f"attribute_not_exists({e.n('pk')})" if old is None
                    else f"{e.n('seq')} = {e.num(seq)}")
            ops.append((m.thread_id, 1 if old is None else 0,
                        {"Put": {"Item": items[m.id], "ConditionExpression": cond,
                                 **e.params()}}))
        for tid, key in pruned["delete"]:
            ops.append((tid, -1, {"Delete": {"Key": key}}))
        sources = {t: i for t, i in (await self._move_sources(moved, ops)).items()
                   if t not in threads}
        order = [*tids, *sources]
        place = {t: n for n, t in enumerate(order)}
        ops.sort(key=lambda op: place.get(op[0], len(order)))
        threads.update(sources)

        def bumps(chunk: Sequence[tuple[str, int, Any]]) -> list[dict[str, Any]]:
            return [self._thread_bump(
                threads[tid], now, count_delta=sum(d for t, d, _ in chunk if t == tid),
                seq_high=next_seq[tid] - 1 if tid in next_seq else None,
                created=[m.created_at for m, _, _ in writes if m.thread_id == tid])
                for tid in order]

        await self._write_with_bumps(ops, bumps, "save_messages", thread_for=order)
        return stored

    async def _move_sources(self, moved: Mapping[str, Item],
                            ops: list[tuple[str, int, dict[str, Any]]]) -> dict[str, Item]:
        """Re-saved messages stored in another thread (``moved``: id -> that item) leave
        it: a Delete of the old copy (conditional on it being unchanged) joins ``ops``.
        Returns the live source threads (id -> item), which get bumped too."""
        for item in moved.values():
            e = Expr()
            ops.append((item["thread_id"]["S"], -1, {"Delete": {
                "Key": key_of(item), "ConditionExpression": f"{e.n('seq')} = {e.v(item['seq'])}",
                **e.params()}}))
        tids = sorted({i["thread_id"]["S"] for i in moved.values()})
        if not tids:
            return {}
        found = await self.table.batch_get([self.thread_key(t) for t in tids])
        return {i["id"]["S"]: i for i in found if self.alive(i)}

    async def _prune_plan(self, tids: Sequence[str], writes: Sequence[tuple[Message, int, Any]],
                          items: Mapping[str, Item]) -> dict[str, Any]:
        """Retention.max_messages_per_thread: which batch messages not to write and which
        stored messages to delete, so each thread keeps its newest N (one Query each)."""
        plan: dict[str, Any] = {"skip": set(), "delete": []}
        keep = self.backend.options.retention.max_messages_per_thread
        if keep is None:
            return plan
        for tid in tids:
            batch = {m.id: (items[m.id]["osk"]["S"], m.id, old) for m, _, old in writes
                     if m.thread_id == tid}
            e = Expr()
            params = {"IndexName": "lsi1",
                      "KeyConditionExpression": f"{e.n('pk')} = "
                                                f"{e.s(self.thread_key(tid)['pk']['S'])}",
                      "ProjectionExpression": ", ".join(e.n(a) for a in ("pk", "sk", "osk", "id")),
                      "ScanIndexForward": False, "ConsistentRead": True, **e.params()}
            stored = await self.table.query(params)
            rows: list[tuple[str, str, Item | None]] = [
                (i["osk"]["S"], i["id"]["S"], key_of(i)) for i in stored
                if i["id"]["S"] not in batch]
            rows += [(osk, mid, None) for osk, mid, _ in batch.values()]
            rows.sort(key=lambda r: r[0], reverse=True)
            for _osk, mid, key in rows[keep:]:
                if key is not None:
                    plan["delete"].append((tid, key))
                else:
                    plan["skip"].add(mid)
                    old = batch[mid][2]
                    if old is not None:
                        plan["delete"].append((tid, key_of(old)))
        return plan

    async def _write_with_bumps(
        self, ops: Sequence[tuple[str, int, dict[str, Any]]],
        bumps: Callable[[Sequence[tuple[str, int, Any]]], list[dict[str, Any]]],
        what: str, *, thread_for: Sequence[str],
    ) -> None:
        """Item writes ``(thread, count delta, operation)`` plus one bump per thread in
        ``thread_for`` (built by ``bumps(chunk)`` from the chunk's count deltas).

        One transaction when it fits (<= 100 items, <= 4 MB). Above that,
        ``batch_mode="atomic"`` (the default) refuses with ValidationError before writing
        anything; ``batch_mode="chunked"`` writes consecutive transactions, each with its
        own thread bumps (each chunk atomic, the call as a whole not).
        """
        whole = [op for _, _, op in ops] + bumps(ops)
        if self.table.transaction_fits(whole):
            chunks = [list(ops)]
        elif self.backend.batch_mode == "chunked":
            room = 100 - len(thread_for)
            chunks = [list(ops[i:i + room]) for i in range(0, len(ops), room)]
            while any(not self.table.transaction_fits([o for _, _, o in c] + bumps(c))
                      for c in chunks) and room > 1:
                room //= 2  # big items: fewer per transaction (4 MB)
                chunks = [list(ops[i:i + room]) for i in range(0, len(ops), room)]
        else:
            raise ValidationError(
                f"{what}: {len(ops)} item writes plus {len(thread_for)} thread updates do not "
                "fit in one DynamoDB transaction (at most 100 items and 4 MB); split the call "
                "(99 messages for one thread fit) or open the store with batch_mode='chunked' "
                "to write it as several transactions"
            )
        for chunk in chunks:
            tx = [op for _, _, op in chunk]
            first_bump = len(tx)
            tx += bumps(chunk)
            try:
                await self.table.transact(tx, what="message")
            except TxCanceled as exc:
                for index in range(first_bump, len(tx)):
                    if exc.failed(index):
                        tid = thread_for[index - first_bump]
                        raise ThreadNotFoundError(f"thread {tid!r} not found") from exc.cause
                if any(r == "ConditionalCheckFailed" for r in exc.reasons):
                    raise Conflict from exc.cause
                raise

    async def _update_messages(
        self, updates: list[MessageUpdate], *, now: _dt.datetime, resource_id: str | None = None
    ) -> list[Ordered]:
        return await self.cas_loop(lambda: self._update_once(updates, now, resource_id))

    async def _update_once(
        self, updates: list[MessageUpdate], now: _dt.datetime, owner: str | None
    ) -> list[Ordered]:
        """One attempt of update_messages; with ``owner``, every message write is
        conditional on the message's resource_id and every target thread's bump on its
        owner (Conflict: a concurrent change; read again)."""
        found = await self._lookup_many([u.id for u in updates])
        pairs = [(u, i) for u, i in zip(updates, found, strict=True)
                 if i is not None and _owned(i, owner)]
        if not pairs:
            return []
        old_threads = {i["thread_id"]["S"] for _, i in pairs}
        targets = {u.thread_id for u, _ in pairs if u.thread_id is not UNSET}
        tids = sorted(old_threads | targets)
        got = {_kk(i): i for i in await self.table.batch_get([self.thread_key(t) for t in tids])}
        threads = {t: got[_kk(self.thread_key(t))] for t in tids
                   if _kk(self.thread_key(t)) in got and self.alive(got[_kk(self.thread_key(t))])}
        for target in targets:
            if target not in threads or not _owned(threads[target], owner):
                raise ThreadNotFoundError(f"thread {target!r} not found")
        next_seq = {t: self._next_seq(threads[t], now) for t in threads}
        ops: list[tuple[str, int, dict[str, Any]]] = []
        touched: set[str] = set()
        result: list[Ordered] = []
        for u, item in pairs:
            seq, old = self.message_from(item)
            changes: dict[str, Any] = {}
            for name in ("content", "role", "type"):
                if getattr(u, name) is not UNSET:
                    changes[name] = getattr(u, name)
            if u.metadata is not UNSET:
                changes["metadata"] = {**old.metadata, **u.metadata}
            touched.add(old.thread_id)
            if u.thread_id is not UNSET and u.thread_id != old.thread_id:
                target = u.thread_id
                changes["thread_id"] = target
                changes["resource_id"] = threads[target]["resource_id"]["S"]
                seq = next_seq[target]
                next_seq[target] += 1
                ops.append((old.thread_id, -1,
                            {"Delete": _owned_by({"Key": key_of(item)}, owner)}))
                touched.add(target)
                new = evolve(old, **changes)
                ops.append((target, 1, {"Put": {"Item": self.message_item(new, seq)}}))
            else:
                new = evolve(old, **changes)
                ops.append((old.thread_id, 0, {"Put": _owned_by(
                    {"Item": self.message_item(new, seq)}, owner)}))
            check_item_size(ops[-1][2]["Put"]["Item"], f"message {new.id!r}")
            result.append((seq, new))
        bump_tids = [t for t in tids if t in touched and t in threads]

        def bumps(chunk: Sequence[tuple[str, int, Any]]) -> list[dict[str, Any]]:
            return [self._thread_bump(
                threads[t], now, count_delta=sum(d for x, d, _ in chunk if x == t),
                seq_high=next_seq[t] - 1 if t in targets else None,
                owner=owner if t in targets else None) for t in bump_tids]

        await self._write_with_bumps(ops, bumps, "update_messages", thread_for=bump_tids)
        return result

    async def _delete_messages(
        self, ids: Sequence[str], *, now: _dt.datetime, resource_id: str | None = None
    ) -> int:
        return await self.cas_loop(lambda: self._delete_once(ids, now, resource_id))

    async def _delete_once(self, ids: Sequence[str], now: _dt.datetime, owner: str | None) -> int:
        """One attempt of delete_messages. Every Delete is conditional on the item still
        existing (and on its owner): the count is what THIS call deleted, so two
        concurrent deletes of one message report it once (Conflict: read again)."""
        found = [i for i in await self._lookup_many(ids) if i is not None and _owned(i, owner)]
        if not found:
            return 0
        tids = sorted({i["thread_id"]["S"] for i in found})
        got = {_kk(i): i for i in await self.table.batch_get([self.thread_key(t) for t in tids])}
        threads = {t: got[_kk(self.thread_key(t))] for t in tids if _kk(self.thread_key(t)) in got}
        deletes = [(i["thread_id"]["S"], -1, {"Delete": _existing({"Key": key_of(i)}, owner)})
                   for i in found]

        def bumps(chunk: Sequence[tuple[str, int, Any]]) -> list[dict[str, Any]]:
            return [self._thread_bump(threads[t], now,
                                      count_delta=sum(d for x, d, _ in chunk if x == t))
                    for t in threads]

        if self.table.transaction_fits([op for _, _, op in deletes] + bumps(deletes)):
            try:
                await self._write_with_bumps(deletes, bumps, "delete_messages",
                                             thread_for=list(threads))
            except ThreadNotFoundError:
                raise Conflict from None  # the thread (and its messages) went meanwhile
            return len(found)
        # Too many for one transaction: one DeleteItem each, reporting what it removed
        # (ALL_OLD), then the thread bumps.
        gone = await self.delete_each([_delete_args(op["Delete"]) for _, _, op in deletes])
        removed: dict[str, int] = {}
        for (tid, _, _), deleted in zip(deletes, gone, strict=True):
            if deleted:
                removed[tid] = removed.get(tid, 0) + 1
        for tid, count in removed.items():
            if tid in threads:
                try:
                    await self.table.transact(
                        [self._thread_bump(threads[tid], now, count_delta=-count)])
                except TxCanceled:
                    pass  # the thread was deleted meanwhile
        return sum(removed.values())

    async def _create_thread_with_messages(
        self, thread: Thread, messages: list[Message]
    ) -> tuple[Thread, list[Message]]:
        base = int(thread.created_at.timestamp() * 1_000_000) * 1000
        items = [self.message_item(m, base + n) for n, m in enumerate(messages)]
        for m, item in zip(messages, items, strict=True):
            check_item_size(item, f"message {m.id!r}")
        head, _ = self.thread_item(thread)
        head["mseq"] = N(base + len(messages))
        head["mcount"] = N(len(messages))
        head["rev"] = N(1)
        if messages:
            head["mfirst"] = self.when(min(m.created_at for m in messages))
            head["mlast"] = self.when(max(m.created_at for m in messages))
        check_item_size(head, f"thread {thread.id!r}")
        e = Expr()
        create = {"Put": {"Item": head,
                          "ConditionExpression": f"attribute_not_exists({e.n('pk')})",
                          **e.params()}}
        puts = [{"Put": {"Item": i}} for i in items]
        try:
            if self.table.transaction_fits([create, *puts]):
                await self.table.transact([create, *puts])
            elif self.backend.batch_mode == "chunked":
                await self.table.transact([create])
                await self.table.batch_write([{"PutRequest": {"Item": i}} for i in items])
            else:
                raise ValidationError(
                    f"clone_thread: {len(messages)} messages do not fit in one DynamoDB "
                    "transaction (99 messages, 4 MB); pass message_limit or open the store "
                    "with batch_mode='chunked'"
                )
        except TxCanceled as exc:
            if exc.failed(0):
                raise ValidationError(
                    f"new_thread_id: thread {thread.id!r} already exists") from exc.cause
            raise
        return thread, messages

    # -- resources -----------------------------------------------------------------------

    async def _get_resource(self, resource_id: str) -> Resource | None:
        item, _ = self.keyed("resource", self.values(id=resource_id))
        stored = await self.table.get(key_of(item))
        return self.resource_from(stored) if stored is not None and self.alive(stored) else None

    async def _save_resource(self, resource: Resource) -> Resource:
        item, absent = self.resource_item(resource)
        check_item_size(item, f"resource {resource.id!r}")
        return self.resource_from(await self.upsert_keep_created(item, absent, lambda _: {}))

    async def _update_resource(
        self, resource_id: str, *, working_memory: Any, metadata: Any, now: _dt.datetime
    ) -> Resource:
        key_item, _ = self.keyed("resource", self.values(id=resource_id))
        key = key_of(key_item)

        async def attempt() -> Resource:
            current = await self.table.get(key)
            if current is not None and self.alive(current):
                res = self.resource_from(current)
                changes: dict[str, Any] = {"updated_at": now}
                if working_memory is not UNSET:
                    changes["working_memory"] = working_memory
                if metadata is not UNSET:
                    changes["metadata"] = {**res.metadata, **metadata}
                new = evolve(res, **changes)
            else:
                new = Resource(
                    id=resource_id,
                    working_memory=None if working_memory is UNSET else working_memory,
                    metadata={} if metadata is UNSET else dict(metadata),
                    created_at=now, updated_at=now,
                )
            item, _ = self.resource_item(new)
            e = Expr()
            if current is None:
                cond = f"attribute_not_exists({e.n('pk')})"
                item["rev"] = N(1)
            elif "rev" in current:
                rev = int(current["rev"]["N"])
                cond = f"{e.n('rev')} = {e.num(rev)}"
                item["rev"] = N(rev + 1)
            else:
                cond = f"attribute_exists({e.n('pk')}) AND attribute_not_exists({e.n('rev')})"
                item["rev"] = N(1)
            try:
                await self.table.put(item, f"resource {resource_id!r}",
                                     ConditionExpression=cond, **e.params())
            except Exception as exc:
                if is_condition_failed(exc):
                    raise Conflict from exc
                raise
            return new

        return await self.cas_loop(attempt)

    # -- stats ---------------------------------------------------------------------------

    async def _stats(self, resource_id: str | None) -> ThreadStats:
        params, _, _ = self._thread_query(ThreadFilter(resource_id=resource_id),
                                          "created_at", "asc", None)
        e_names = dict(params.get("ExpressionAttributeNames", {}))
        wanted = ("created_at", "updated_at", "mcount", "mfirst", "mlast")
        for n, attr in enumerate(wanted):
            e_names[f"#p{n}"] = attr
        params = dict(params, ExpressionAttributeNames=e_names,
                      ProjectionExpression=", ".join(f"#p{n}" for n in range(len(wanted))))
        items = await self.table.query(params)
        if not items:
            return ThreadStats(thread_count=0, message_count=0, messages_per_thread=0.0)
        messages = sum(int(i.get("mcount", {"N": "0"})["N"]) for i in items)
        firsts = [d for i in items for d in (self.dt(i, "created_at"), self.dt(i, "mfirst")) if d]
        lasts = [d for i in items for d in (self.dt(i, "updated_at"), self.dt(i, "mlast")) if d]
        return ThreadStats(thread_count=len(items), message_count=messages,
                           messages_per_thread=messages / len(items),
                           first_activity=min(firsts), last_activity=max(lasts))
