"""Memory domain of the in-memory backend: threads, messages, resources.

Messages are kept twice: by id (``State.messages``: id -> (seq, Message)) and, per thread,
as a list of ``(created_at, seq, id)`` keys kept sorted with :mod:`bisect`, so last-N,
ranges and windows cost O(log n + k) per thread.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ...domains.memory import (
    MemoryDomain,
    MessageSelect,
    Ordered,
    ThreadFilter,
    ThreadSelect,
    check_owner,
)
from ...errors import ThreadNotFoundError, ValidationError
from ...records import UNSET, Include, Message, MessageUpdate, Resource, Thread, ThreadStats
from ._state import State, clone, json_copy, metadata_matches, ttl_cutoff
from .vectors import MemoryVectors

if TYPE_CHECKING:
    from ..memory import MemoryBackend

R = TypeVar("R")
Key = tuple[_dt.datetime, int, str]
_setattr = object.__setattr__


def _replace(record: R, **changes: Any) -> R:
    """A shallow copy of a stored record with fields replaced (values already valid)."""
    new = object.__new__(type(record))
    for a in attrs.fields(type(record)):  # type: ignore[arg-type]
        _setattr(new, a.name, changes[a.name] if a.name in changes else getattr(record, a.name))
    return new


def _remove_key(keys: list[Key], key: Key) -> None:
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        del keys[i]


class MemoryMemory(MemoryVectors, MemoryDomain):
    def __init__(self, backend: MemoryBackend, state: State) -> None:
        self._backend = backend
        self._st = state

    # -- visibility (Retention.ttl) -----------------------------------------------------

    def _cutoff(self, entity: str) -> _dt.datetime | None:
        return ttl_cutoff(self._backend.options, entity)

    def _live_thread(
        self, thread_id: str, cutoff: Any = UNSET, owner: str | None = None
    ) -> Thread | None:
        """The visible thread; with ``owner``, a thread of another owner is None."""
        thread = self._st.threads.get(thread_id)
        if cutoff is UNSET:
            cutoff = self._cutoff("threads")
        if thread is None or (cutoff is not None and thread.updated_at < cutoff):
            return None
        if owner is not None and thread.resource_id != owner:
            return None
        return thread

    def _live_resource(self, resource_id: str) -> Resource | None:
        resource = self._st.resources.get(resource_id)
        cutoff = self._cutoff("resources")
        if resource is None or (cutoff is not None and resource.updated_at < cutoff):
            return None
        return resource

    def _bump(self, thread_ids: Iterable[str], now: _dt.datetime) -> None:
        for tid in thread_ids:
            thread = self._st.threads.get(tid)
            if thread is not None:
                self._st.threads[tid] = _replace(thread, updated_at=now)

    # -- threads ------------------------------------------------------------------------

    async def _get_thread(self, thread_id: str) -> Thread | None:
        with self._st.lock:
            thread = self._live_thread(thread_id)
            return None if thread is None else clone(thread)

    async def _save_thread(self, thread: Thread) -> Thread:
        with self._st.lock:
            old = self._live_thread(thread.id)
            stored = clone(thread)
            if old is not None:
                stored = _replace(stored, created_at=old.created_at)
            self._st.threads[thread.id] = stored
            return clone(stored)

    async def _update_thread(
        self, thread_id: str, *, title: Any, metadata: Any, merge_metadata: bool,
        now: _dt.datetime, resource_id: str | None = None,
    ) -> Thread | None:
        with self._st.lock:
            thread = self._live_thread(thread_id, owner=resource_id)
            if thread is None:
                return None
            changes: dict[str, Any] = {"updated_at": now}
            if title is not UNSET:
                changes["title"] = title
            if metadata is not UNSET:
                new = json_copy(metadata)
                changes["metadata"] = {**thread.metadata, **new} if merge_metadata else new
            stored = _replace(thread, **changes)
            self._st.threads[thread_id] = stored
            return clone(stored)

    async def _delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        with self._st.lock:
            thread = self._st.threads.get(thread_id)
            if resource_id is not None and (thread is None or thread.resource_id != resource_id):
                return
            self._st.threads.pop(thread_id, None)
            for _, _, mid in self._st.by_thread.pop(thread_id, []):
                self._st.messages.pop(mid, None)

    def _matching_threads(self, flt: ThreadFilter) -> list[Thread]:
        cutoff = self._cutoff("threads")
        return [
            t for t in self._st.threads.values()
            if (cutoff is None or t.updated_at >= cutoff)
            and (flt.resource_id is None or t.resource_id == flt.resource_id)
            and (flt.agent_id is None or t.agent_id == flt.agent_id)
            and metadata_matches(t.metadata, flt.metadata)
        ]

    async def _select_threads(self, sel: ThreadSelect) -> list[Thread]:
        with self._st.lock:
            rows = self._matching_threads(sel.filter)
        field = sel.order_by

        def key(t: Thread) -> tuple[Any, str]:
            value = getattr(t, field)
            return ((value or "") if field == "title" else value), t.id

        desc = sel.direction == "desc"
        rows.sort(key=key, reverse=desc)
        if sel.after is not None:
            after = (sel.after[0] or "") if field == "title" else sel.after[0], sel.after[1]
            rows = [t for t in rows if (key(t) < after if desc else key(t) > after)]
        end = None if sel.limit is None else sel.offset + sel.limit
        return [clone(t) for t in rows[sel.offset:end]]

    async def _count_threads(self, flt: ThreadFilter) -> int:
        with self._st.lock:
            return len(self._matching_threads(flt))

    # -- messages: reading --------------------------------------------------------------

    def _keys_in_order(self, sel: MessageSelect) -> Iterator[Key]:
        """Keys of the selected threads within the time bounds, in ``sel.order``."""
        desc = sel.order == "desc"
        if sel.message_ids is not None:
            wanted = set(sel.thread_ids)
            keys = sorted(
                (m.created_at, seq, m.id)
                for seq, m in (self._st.messages.get(i, (0, None)) for i in sel.message_ids)
                if m is not None and m.thread_id in wanted
            )
            if sel.start is not None or sel.end is not None:
                keys = [k for k in keys if self._in_bounds(k[0], sel)]
            return iter(reversed(keys) if desc else keys)
        runs: list[Iterator[Key]] = []
        for tid in sel.thread_ids:
            keys = self._st.by_thread.get(tid, [])
            if not keys:
                continue
            lo, hi = 0, len(keys)
            if sel.start is not None:
                probe = (sel.start, float("inf")) if sel.start_exclusive else (sel.start,)
                lo = bisect.bisect_left(keys, probe)  # type: ignore[arg-type]
            if sel.end is not None:
                probe = (sel.end,) if sel.end_exclusive else (sel.end, float("inf"))
                hi = bisect.bisect_left(keys, probe)  # type: ignore[arg-type]
            idx = range(hi - 1, lo - 1, -1) if desc else range(lo, hi)
            runs.append(map(keys.__getitem__, idx))  # binds this thread's list now
        if len(runs) == 1:
            return runs[0]
        return heapq.merge(*runs, reverse=desc)

    @staticmethod
    def _in_bounds(at: _dt.datetime, sel: MessageSelect) -> bool:
        if sel.start is not None and (at <= sel.start if sel.start_exclusive else at < sel.start):
            return False
        return not (sel.end is not None and (at >= sel.end if sel.end_exclusive else at > sel.end))

    def _matches(self, m: Message, sel: MessageSelect, cutoff: _dt.datetime | None) -> bool:
        return (
            (cutoff is None or m.created_at >= cutoff)
            and (sel.resource_id is None or m.resource_id == sel.resource_id)
            and (sel.roles is None or m.role in sel.roles)
            and (sel.types is None or m.type in sel.types)
        )

    def _iter_selected(self, sel: MessageSelect) -> Iterator[Ordered]:
        cutoff = self._cutoff("messages")
        for _, seq, mid in self._keys_in_order(sel):
            m = self._st.messages[mid][1]
            if self._matches(m, sel, cutoff):
                yield seq, m

    async def _select_messages(self, sel: MessageSelect) -> list[Ordered]:
        with self._st.lock:
            rows: list[Ordered] = []
            skip = sel.offset
            for item in self._iter_selected(sel):
                if skip:
                    skip -= 1
                    continue
                if sel.limit is not None and len(rows) >= sel.limit:
                    break
                rows.append(item)
            return [(seq, clone(m)) for seq, m in rows]

    async def _count_messages(self, sel: MessageSelect) -> int:
        with self._st.lock:
            return sum(1 for _ in self._iter_selected(sel))

    async def _select_windows(
        self, includes: Sequence[Include], *, resource_id: str | None
    ) -> list[Ordered]:
        cutoff = self._cutoff("messages")
        out: list[Ordered] = []
        with self._st.lock:
            for inc in includes:
                entry = self._st.messages.get(inc.id)
                if entry is None:
                    continue
                seq, m = entry
                if (cutoff is not None and m.created_at < cutoff) or (
                    resource_id is not None and m.resource_id != resource_id
                ):
                    continue
                keys = self._st.by_thread[m.thread_id]
                at = bisect.bisect_left(keys, (m.created_at, seq, m.id))
                picked = [at]
                picked += self._walk(keys, range(at - 1, -1, -1), inc.before, cutoff)
                picked += self._walk(keys, range(at + 1, len(keys)), inc.after, cutoff)
                for i in picked:
                    s, msg = self._st.messages[keys[i][2]]
                    out.append((s, clone(msg)))
        return out

    def _walk(
        self, keys: list[Key], idx: range, count: int, cutoff: _dt.datetime | None
    ) -> list[int]:
        """Up to ``count`` positions along ``idx`` holding visible messages."""
        found: list[int] = []
        for i in idx:
            if len(found) >= count:
                break
            if cutoff is None or keys[i][0] >= cutoff:
                found.append(i)
        return found

    async def _get_messages(self, ids: Sequence[str]) -> list[Ordered]:
        cutoff = self._cutoff("messages")
        with self._st.lock:
            out = []
            for mid in ids:
                entry = self._st.messages.get(mid)
                if entry is not None and (cutoff is None or entry[1].created_at >= cutoff):
                    out.append((entry[0], clone(entry[1])))
            return out

    # -- messages: writing --------------------------------------------------------------

    def _put(self, message: Message, seq: int) -> None:
        """Store ``message`` (a private copy) under ``seq``, replacing an older version."""
        old = self._st.messages.get(message.id)
        if old is not None:
            seq_old, msg_old = old
            _remove_key(self._st.by_thread[msg_old.thread_id],
                        (msg_old.created_at, seq_old, message.id))
        bisect.insort(self._st.by_thread.setdefault(message.thread_id, []),
                      (message.created_at, seq, message.id))
        self._st.messages[message.id] = (seq, message)

    def _prune(self, thread_ids: Iterable[str]) -> None:
        limit = self._backend.options.retention.max_messages_per_thread
        if limit is None:
            return
        for tid in thread_ids:
            keys = self._st.by_thread.get(tid, [])
            excess = len(keys) - limit
            if excess > 0:
                for _, _, mid in keys[:excess]:
                    del self._st.messages[mid]
                del keys[:excess]

    async def _save_messages(self, messages: list[Message], *, now: _dt.datetime) -> list[Message]:
        with self._st.lock:
            cutoff = self._cutoff("threads")
            owners: dict[str, str] = {}
            for m in messages:  # validate everything before the first change
                if m.thread_id not in owners:
                    thread = self._live_thread(m.thread_id, cutoff)
                    if thread is None:
                        raise ThreadNotFoundError(f"thread {m.thread_id!r} not found")
                    owners[m.thread_id] = thread.resource_id
            for m in messages:
                check_owner(m, owners[m.thread_id])
            touched: dict[str, None] = {}
            stored: list[Message] = []
            for m in messages:
                copy = clone(m)
                _setattr(copy, "resource_id", owners[m.thread_id])
                old = self._st.messages.get(m.id)
                if old is not None:
                    touched[old[1].thread_id] = None  # a re-save keeps its save order
                self._put(copy, old[0] if old is not None else self._st.next_seq())
                touched[m.thread_id] = None
                stored.append(copy)
            self._bump(touched, now)
            self._prune(touched)
            return [clone(m) for m in stored]

    async def _update_messages(
        self, updates: list[MessageUpdate], *, now: _dt.datetime, resource_id: str | None = None
    ) -> list[Ordered]:
        with self._st.lock:
            targets: dict[str, Thread] = {}
            for u in updates:
                if u.thread_id is not UNSET and u.thread_id not in targets:
                    thread = self._live_thread(u.thread_id, owner=resource_id)
                    if thread is None:
                        raise ThreadNotFoundError(f"thread {u.thread_id!r} not found")
                    targets[u.thread_id] = thread
            cutoff = self._cutoff("messages")
            changed: list[tuple[int, Message, dict[str, Any]]] = []
            for u in updates:  # build every new version before storing any
                entry = self._st.messages.get(u.id)
                if entry is None or (cutoff is not None and entry[1].created_at < cutoff):
                    continue
                if resource_id is not None and entry[1].resource_id != resource_id:
                    continue  # another owner's message is an unknown id
                seq, m = entry
                changes: dict[str, Any] = {
                    name: json_copy(getattr(u, name)) for name in ("content", "role", "type")
                    if getattr(u, name) is not UNSET
                }
                if u.metadata is not UNSET:
                    changes["metadata"] = {**m.metadata, **json_copy(u.metadata)}
                if u.thread_id is not UNSET:
                    changes["thread_id"] = u.thread_id
                    changes["resource_id"] = targets[u.thread_id].resource_id
                changed.append((seq, m, changes))
            touched: dict[str, None] = {}
            out: list[Ordered] = []
            for seq, m, changes in changed:
                new = _replace(m, **changes)
                self._put(new, seq)
                if changes:
                    touched[m.thread_id] = None
                    touched[new.thread_id] = None
                out.append((seq, clone(new)))
            self._bump(touched, now)
            return out

    async def _delete_messages(
        self, ids: Sequence[str], *, now: _dt.datetime, resource_id: str | None = None
    ) -> int:
        cutoff = self._cutoff("messages")
        with self._st.lock:
            touched: dict[str, None] = {}
            count = 0
            for mid in ids:
                entry = self._st.messages.get(mid)
                if entry is None or (resource_id is not None
                                     and entry[1].resource_id != resource_id):
                    continue
                del self._st.messages[mid]
                seq, m = entry
                _remove_key(self._st.by_thread[m.thread_id], (m.created_at, seq, mid))
                touched[m.thread_id] = None
                if cutoff is None or m.created_at >= cutoff:
                    count += 1
            self._bump(touched, now)
            return count

    async def _create_thread_with_messages(
        self, thread: Thread, messages: list[Message]
    ) -> tuple[Thread, list[Message]]:
        with self._st.lock:
            if self._live_thread(thread.id) is not None:
                raise ValidationError(f"thread {thread.id!r} already exists")
            ids = {m.id for m in messages}
            if len(ids) != len(messages) or any(i in self._st.messages for i in ids):
                raise ValidationError("clone_thread: a message id is already taken")
            self._st.threads[thread.id] = clone(thread)
            for _, _, mid in self._st.by_thread.pop(thread.id, []):  # of an expired namesake
                self._st.messages.pop(mid, None)
            for m in messages:
                self._put(clone(m), self._st.next_seq())
            return clone(thread), [clone(m) for m in messages]

    # -- resources ----------------------------------------------------------------------

    async def _get_resource(self, resource_id: str) -> Resource | None:
        with self._st.lock:
            found = self._live_resource(resource_id)
            return None if found is None else clone(found)

    async def _save_resource(self, resource: Resource) -> Resource:
        with self._st.lock:
            old = self._live_resource(resource.id)
            stored = clone(resource)
            if old is not None:
                stored = _replace(stored, created_at=old.created_at)
            self._st.resources[resource.id] = stored
            return clone(stored)

    async def _update_resource(
        self, resource_id: str, *, working_memory: Any, metadata: Any, now: _dt.datetime
    ) -> Resource:
        with self._st.lock:
            old = self._live_resource(resource_id)
            if old is None:
                old = Resource(id=resource_id, created_at=now, updated_at=now)
            changes: dict[str, Any] = {"updated_at": now}
            if working_memory is not UNSET:
                changes["working_memory"] = working_memory
            if metadata is not UNSET:
                changes["metadata"] = {**old.metadata, **json_copy(metadata)}
            stored = _replace(old, **changes)
            self._st.resources[resource_id] = stored
            return clone(stored)

    async def _stats(self, resource_id: str | None) -> ThreadStats:
        with self._st.lock:
            threads = self._matching_threads(ThreadFilter(resource_id=resource_id))
            cutoff = self._cutoff("messages")
            count = 0
            first: _dt.datetime | None = None
            last: _dt.datetime | None = None
            for t in threads:
                first = t.created_at if first is None else min(first, t.created_at)
                last = t.updated_at if last is None else max(last, t.updated_at)
                keys = self._st.by_thread.get(t.id, [])
                if cutoff is not None:
                    keys = keys[bisect.bisect_left(keys, (cutoff,)):]  # type: ignore[arg-type]
                if keys:
                    count += len(keys)
                    first = min(first, keys[0][0])
                    last = max(last, keys[-1][0])
            return ThreadStats(
                thread_count=len(threads), message_count=count,
                messages_per_thread=count / len(threads) if threads else 0.0,
                first_activity=first, last_activity=last,
            )
