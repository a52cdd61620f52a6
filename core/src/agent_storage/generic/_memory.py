"""The memory domain over a record store: threads, messages (with save order), resources."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from attrs import evolve

from .._matching import metadata_matches
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
from ..serde import parse_datetime
from ._base import Ops, Part, count, decode, encode, take
from ._contract import Item, Put
from ._keys import TOP, after, enc, next_stamp, num, prefix_range, ts

__all__ = ["GenericMemory"]


def _thread_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    tid, owner, title = v["id"], v["resource_id"], v["title"] or ""
    return {
        "key": enc(tid),
        "created_at": enc(v["created_at"], tid), "updated_at": enc(v["updated_at"], tid),
        "title": enc(title, tid),
        "resource.created_at": enc(owner, v["created_at"], tid),
        "resource.updated_at": enc(owner, v["updated_at"], tid),
        "resource.title": enc(owner, title, tid),
    }


def _message_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    return {"key": enc(v["id"]), "thread": enc(v["thread_id"], v["created_at"], num(v["seq"]))}


def _ordered(item: Item) -> Ordered:
    return item.value["seq"], decode(item.value, Message)


def _owned(item: Item, owner: str | None) -> bool:
    """Whether a thread or message record is in the owner scope (None: any owner)."""
    return owner is None or item.value["resource_id"] == owner


def _sort_key(row: Ordered) -> tuple[_dt.datetime, int]:
    return row[1].created_at, row[0]


class GenericMemory(Part, MemoryDomain):
    """Threads (ordered by each listing order, also per owner), messages (per thread by
    (created_at, seq)) and resources, as records."""

    orders = {"threads": _thread_orders, "messages": _message_orders,
              "resources": lambda v: {"key": enc(v["id"])}}

    async def _live(self, collection: str, key: str, entity: str, clock: str) -> Item | None:
        return self._fresh(await self.backend.get(collection, key), entity, clock)

    def _fresh(self, item: Item | None, entity: str, clock: str) -> Item | None:
        """``item`` unless it is missing or expired (Retention.ttl of ``entity``)."""
        cutoff = self.cutoff(entity)
        if item is None or (cutoff is not None and item.value[clock] < ts(cutoff)):
            return None
        return item

    async def _thread_item(self, thread_id: str) -> Item | None:
        return await self._live("threads", enc(thread_id), "threads", "updated_at")

    def _bump(self, item: Item, now: _dt.datetime) -> Put:
        return self.put("threads", {**item.value, "updated_at": ts(now)}, item.version)

    async def _bumps(self, thread_ids: Mapping[str, None], known: Mapping[str, Item],
                     now: _dt.datetime) -> Ops:
        ops: Ops = []
        for tid in thread_ids:
            item = known.get(tid) or await self.backend.get("threads", enc(tid))
            if item is not None:
                ops.append(self._bump(item, now))
        return ops

    # -- threads --------------------------------------------------------------------------

    async def _get_thread(self, thread_id: str) -> Thread | None:
        item = await self._thread_item(thread_id)
        return None if item is None else decode(item.value, Thread)

    async def _save_thread(self, thread: Thread) -> Thread:
        async def build() -> tuple[Ops, Thread]:
            old = await self.backend.get("threads", enc(thread.id))
            live = self._fresh(old, "threads", "updated_at")
            stored = thread if live is None else evolve(
                thread, created_at=parse_datetime(live.value["created_at"]))
            return [self.put("threads", encode(stored), old.version if old else 0)], stored
        return await self.transact(build)

    async def _update_thread(self, thread_id: str, *, title: Any, metadata: Any,
                             merge_metadata: bool, now: _dt.datetime,
                             resource_id: str | None = None) -> Thread | None:
        async def build() -> tuple[Ops, Thread | None]:
            item = await self._thread_item(thread_id)
            if item is None or not _owned(item, resource_id):
                return [], None
            thread = decode(item.value, Thread)
            changes: dict[str, Any] = {"updated_at": now}
            if title is not UNSET:
                changes["title"] = title
            if metadata is not UNSET:
                changes["metadata"] = {**thread.metadata, **metadata} if merge_metadata \
                    else metadata
            new = evolve(thread, **changes)
            return [self.put("threads", encode(new), item.version)], new
        return await self.transact(build)

    async def _delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        async def build() -> tuple[Ops, None]:
            item = await self.backend.get("threads", enc(thread_id))
            if item is None or not _owned(item, resource_id):
                return [], None
            ops: Ops = [self.delete("threads", item)]
            start, stop = prefix_range(enc(thread_id))
            ops += [self.delete("messages", m)
                    async for m in self.each("messages", "thread", start, stop)]
            return ops, None
        await self.transact(build)

    async def _threads(self, flt: ThreadFilter, order: str = "created_at",
                       desc: bool = True, cursor: tuple[Any, str] | None = None,
                       ) -> AsyncGenerator[Item, None]:
        prefix = "" if flt.resource_id is None else enc(flt.resource_id)
        start, stop = prefix_range(prefix)
        if cursor is not None:
            value = cursor[0]
            text = ts(value) if isinstance(value, _dt.datetime) else (value or "")
            key = prefix + enc(text, cursor[1])
            start, stop = (start, key) if desc else (after(key), stop)
        cutoff = self.cutoff("threads")
        name = order if flt.resource_id is None else f"resource.{order}"
        async for item in self.each("threads", name, start, stop, reverse=desc):
            v = item.value
            if ((cutoff is None or v["updated_at"] >= ts(cutoff))
                    and (flt.agent_id is None or v["agent_id"] == flt.agent_id)
                    and metadata_matches(v["metadata"], flt.metadata)):
                yield item

    async def _select_threads(self, sel: ThreadSelect) -> list[Thread]:
        items = await take(self._threads(sel.filter, sel.order_by, sel.direction == "desc",
                                         sel.after), sel.offset, sel.limit)
        return [decode(item.value, Thread) for item in items]

    async def _count_threads(self, flt: ThreadFilter) -> int:
        return await count(self._threads(flt))

    # -- messages: reading ------------------------------------------------------------------

    def _range(self, thread_id: str, sel: MessageSelect) -> tuple[str, str]:
        p = enc(thread_id)
        start, stop = prefix_range(p)
        if sel.start is not None:
            start = p + enc(ts(sel.start))
            start = after(start) if sel.start_exclusive else start
        cutoff = self.cutoff("messages")
        if cutoff is not None:
            start = max(start, p + enc(ts(cutoff)))
        if sel.end is not None:
            stop = p + enc(ts(sel.end))
            stop = stop if sel.end_exclusive else after(stop)
        return start, stop

    @staticmethod
    def _wanted(v: Mapping[str, Any], sel: MessageSelect) -> bool:
        return ((sel.resource_id is None or v["resource_id"] == sel.resource_id)
                and (sel.roles is None or v["role"] in sel.roles)
                and (sel.types is None or v["type"] in sel.types))

    async def _matching(self, sel: MessageSelect, enough: int | None) -> list[Ordered]:
        """Matching messages in ``sel.order``: at most ``enough`` of each thread."""
        rows: list[Ordered] = []
        if sel.message_ids is not None:
            for mid in sel.message_ids:
                item = await self._live("messages", enc(mid), "messages", "created_at")
                if item is not None and item.value["thread_id"] in sel.thread_ids:
                    start, stop = self._range(item.value["thread_id"], sel)
                    key = _message_orders(item.value)["thread"]
                    if start <= str(key) < stop and self._wanted(item.value, sel):
                        rows.append(_ordered(item))
        else:
            for tid in sel.thread_ids if enough != 0 else ():
                found = 0
                start, stop = self._range(tid, sel)
                async for item in self.each("messages", "thread", start, stop,
                                            reverse=sel.order == "desc", first=enough):
                    if self._wanted(item.value, sel):
                        rows.append(_ordered(item))
                        found += 1
                        if found == enough:
                            break
        rows.sort(key=_sort_key, reverse=sel.order == "desc")
        return rows

    async def _select_messages(self, sel: MessageSelect) -> list[Ordered]:
        end = None if sel.limit is None else sel.offset + sel.limit
        return (await self._matching(sel, end))[sel.offset:end]

    async def _count_messages(self, sel: MessageSelect) -> int:
        return len(await self._matching(sel, None))

    async def _select_windows(self, includes: Sequence[Include], *,
                              resource_id: str | None) -> list[Ordered]:
        out: list[Ordered] = []
        for inc in includes:
            item = await self._live("messages", enc(inc.id), "messages", "created_at")
            if item is None or (resource_id is not None
                                and item.value["resource_id"] != resource_id):
                continue
            key = str(_message_orders(item.value)["thread"])
            low, high = self._range(item.value["thread_id"], MessageSelect(thread_ids=()))
            out.append(_ordered(item))
            if inc.before:
                out += map(_ordered, await self.backend.scan(
                    "messages", "thread", start=low, stop=key, reverse=True, limit=inc.before))
            if inc.after:
                out += map(_ordered, await self.backend.scan(
                    "messages", "thread", start=after(key), stop=high, limit=inc.after))
        return out

    async def _get_messages(self, ids: Sequence[str]) -> list[Ordered]:
        items = [await self._live("messages", enc(i), "messages", "created_at") for i in ids]
        return [_ordered(item) for item in items if item is not None]

    # -- messages: writing ------------------------------------------------------------------

    async def _owners(self, thread_ids: Sequence[str],
                      owner: str | None = None) -> dict[str, Item]:
        """The live thread of each id; ThreadNotFoundError if one is missing (or, with
        ``owner``, has another owner)."""
        found: dict[str, Item] = {}
        for tid in dict.fromkeys(thread_ids):
            item = await self._thread_item(tid)
            if item is None or not _owned(item, owner):
                raise ThreadNotFoundError(f"thread {tid!r} not found")
            found[tid] = item
        return found

    async def _save_messages(self, messages: list[Message], *,
                             now: _dt.datetime) -> list[Message]:
        async def build() -> tuple[Ops, list[Message]]:
            threads = await self._owners([m.thread_id for m in messages])
            touched: dict[str, None] = {}
            writes: dict[str, tuple[Item | None, dict[str, Any]]] = {}
            stored: list[Message] = []
            for m in messages:
                old = await self.backend.get("messages", enc(m.id))
                if old is not None:
                    touched[old.value["thread_id"]] = None
                touched[m.thread_id] = None
                check_owner(m, threads[m.thread_id].value["resource_id"])  # nothing written yet
                copy = evolve(m, resource_id=threads[m.thread_id].value["resource_id"])
                seq = old.value["seq"] if old is not None else next_stamp()
                writes[m.id] = (old, encode(copy, seq=seq))
                stored.append(copy)
            ops = await self._prune(touched, writes)
            ops += await self._bumps(touched, threads, now)
            return ops, stored
        return await self.transact(build)

    async def _prune(self, touched: Mapping[str, None],
                     writes: dict[str, tuple[Item | None, dict[str, Any]]]) -> Ops:
        """The message writes, minus the oldest beyond max_messages_per_thread (deleted)."""
        limit = self.backend.options.retention.max_messages_per_thread
        dropped: set[str] = set()
        ops: Ops = []
        for tid in touched if limit is not None else ():
            start, stop = prefix_range(enc(tid))
            keys: dict[str, tuple[str | None, Item | None]] = {
                i.value["id"]: (_message_orders(i.value)["thread"], i)
                async for i in self.each("messages", "thread", start, stop)
                if i.value["id"] not in writes}
            keys.update({mid: (_message_orders(v)["thread"], None)
                         for mid, (_, v) in writes.items() if v["thread_id"] == tid})
            oldest = sorted(keys, key=lambda mid: str(keys[mid][0]))
            for mid in oldest[:max(0, len(oldest) - int(limit or 0))]:
                dropped.add(mid)
                item = keys[mid][1] if mid not in writes else writes[mid][0]
                if item is not None:
                    ops.append(self.delete("messages", item))
        for mid, (old, value) in writes.items():
            if mid not in dropped:
                ops.append(self.put("messages", value, old.version if old else 0))
        return ops

    async def _update_messages(self, updates: list[MessageUpdate], *, now: _dt.datetime,
                               resource_id: str | None = None) -> list[Ordered]:
        async def build() -> tuple[Ops, list[Ordered]]:
            targets = await self._owners([u.thread_id for u in updates
                                          if u.thread_id is not UNSET], resource_id)
            ops: Ops = []
            out: list[Ordered] = []
            touched: dict[str, None] = {}
            for u in updates:
                item = await self._live("messages", enc(u.id), "messages", "created_at")
                if item is None or not _owned(item, resource_id):
                    continue
                seq, m = _ordered(item)
                changes: dict[str, Any] = {name: getattr(u, name) for name in
                                           ("content", "role", "type")
                                           if getattr(u, name) is not UNSET}
                if u.metadata is not UNSET:
                    changes["metadata"] = {**m.metadata, **u.metadata}
                if u.thread_id is not UNSET:
                    changes["thread_id"] = u.thread_id
                    changes["resource_id"] = targets[u.thread_id].value["resource_id"]
                new = evolve(m, **changes)
                ops.append(self.put("messages", encode(new, seq=seq), item.version))
                if changes:
                    touched.update({m.thread_id: None, new.thread_id: None})
                out.append((seq, new))
            return ops + await self._bumps(touched, targets, now), out
        return await self.transact(build)

    async def _delete_messages(self, ids: Sequence[str], *, now: _dt.datetime,
                               resource_id: str | None = None) -> int:
        cutoff = self.cutoff("messages")

        async def build() -> tuple[Ops, int]:
            ops: Ops = []
            touched: dict[str, None] = {}
            count = 0
            for mid in ids:
                item = await self.backend.get("messages", enc(mid))
                if item is None or not _owned(item, resource_id):
                    continue
                ops.append(self.delete("messages", item))
                touched[item.value["thread_id"]] = None
                count += cutoff is None or item.value["created_at"] >= ts(cutoff)
            return ops + await self._bumps(touched, {}, now), count
        return await self.transact(build)

    async def _create_thread_with_messages(
        self, thread: Thread, messages: list[Message]
    ) -> tuple[Thread, list[Message]]:
        async def build() -> tuple[Ops, tuple[Thread, list[Message]]]:
            old = await self.backend.get("threads", enc(thread.id))
            if self._fresh(old, "threads", "updated_at") is not None:
                raise ValidationError(f"thread {thread.id!r} already exists")
            ops: Ops = [self.put("threads", encode(thread), old.version if old else 0)]
            start, stop = prefix_range(enc(thread.id))  # messages of an expired namesake
            ops += [self.delete("messages", m)
                    async for m in self.each("messages", "thread", start, stop)]
            for m in messages:
                if await self.backend.get("messages", enc(m.id)) is not None:
                    raise ValidationError("clone_thread: a message id is already taken")
                ops.append(self.put("messages", encode(m, seq=next_stamp()), 0))
            return ops, (thread, messages)
        return await self.transact(build)

    # -- resources --------------------------------------------------------------------------

    async def _get_resource(self, resource_id: str) -> Resource | None:
        item = await self._live("resources", enc(resource_id), "resources", "updated_at")
        return None if item is None else decode(item.value, Resource)

    async def _save_resource(self, resource: Resource) -> Resource:
        async def build() -> tuple[Ops, Resource]:
            old = await self.backend.get("resources", enc(resource.id))
            live = self._fresh(old, "resources", "updated_at")
            stored = resource if live is None else evolve(
                resource, created_at=parse_datetime(live.value["created_at"]))
            return [self.put("resources", encode(stored), old.version if old else 0)], stored
        return await self.transact(build)

    async def _update_resource(self, resource_id: str, *, working_memory: Any, metadata: Any,
                               now: _dt.datetime) -> Resource:
        async def build() -> tuple[Ops, Resource]:
            old = await self.backend.get("resources", enc(resource_id))
            live = self._fresh(old, "resources", "updated_at")
            res = (Resource(id=resource_id, created_at=now, updated_at=now) if live is None
                   else decode(live.value, Resource))
            changes: dict[str, Any] = {"updated_at": now}
            if working_memory is not UNSET:
                changes["working_memory"] = working_memory
            if metadata is not UNSET:
                changes["metadata"] = {**res.metadata, **metadata}
            new = evolve(res, **changes)
            return [self.put("resources", encode(new), old.version if old else 0)], new
        return await self.transact(build)

    async def _stats(self, resource_id: str | None) -> ThreadStats:
        count = threads = 0
        first: str = TOP
        last: str = ""
        async for item in self._threads(ThreadFilter(resource_id=resource_id)):
            threads += 1
            first = min(first, item.value["created_at"])
            last = max(last, item.value["updated_at"])
            start, stop = self._range(item.value["id"], MessageSelect(thread_ids=()))
            async for m in self.each("messages", "thread", start, stop):
                count += 1
                first, last = min(first, m.value["created_at"]), max(last, m.value["created_at"])
        return ThreadStats(
            thread_count=threads, message_count=count,
            messages_per_thread=count / threads if threads else 0.0,
            first_activity=parse_datetime(first) if threads else None,
            last_activity=parse_datetime(last) if threads else None,
        )
