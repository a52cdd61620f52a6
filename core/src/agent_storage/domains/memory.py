"""The memory domain: threads, messages and resources (working memory).

Public methods validate and normalise their arguments, then call the backend's
primitives (the ``_``-prefixed abstract methods below). A backend implements only the
primitives; the conformance kit (:mod:`agent_storage.testing`) checks the whole contract.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Final

from attrs import evolve, field, frozen

from ..errors import ThreadNotFoundError, ValidationError
from ..records import (
    UNSET,
    Include,
    Message,
    MessageUpdate,
    Page,
    Resource,
    Thread,
    ThreadStats,
)
from ..serde import check_id, check_json, check_text, utcnow
from ..vectors._domain import VectorMemory
from ._base import (
    Domain,
    check_direction,
    check_page,
    fetch_page,
    id_list,
    metadata_filter,
    opt_id,
    opt_time,
    public,
    str_set,
)

__all__ = [
    "THREAD_ORDER_FIELDS",
    "CloneRequest",
    "MemoryDomain",
    "MessageSelect",
    "ThreadFilter",
    "ThreadQuery",
    "ThreadSelect",
    "check_owner",
]

#: Fields ``list_threads``/``threads().order_by`` accept; ``title`` sorts NULL as ''.
THREAD_ORDER_FIELDS: Final = ("created_at", "updated_at", "title")


@frozen(kw_only=True)
class ThreadFilter:
    """Which threads: every given field must match (metadata: top-level key equality)."""

    resource_id: str | None = None
    agent_id: str | None = None
    metadata: Mapping[str, Any] | None = None


@frozen(kw_only=True)
class ThreadSelect:
    """A thread listing for ``_select_threads``.

    Rows are ordered by (``order_by``, ``id``), both in ``direction``; ``title`` sorts as
    ``coalesce(title, '')``. ``after`` is a keyset cursor (order value, id): only rows
    strictly after it in that order. ``limit`` None means no limit.
    """

    filter: ThreadFilter
    order_by: str = "created_at"
    direction: str = "desc"
    offset: int = 0
    limit: int | None = None
    after: tuple[Any, str] | None = None


@frozen(kw_only=True)
class MessageSelect:
    """A message listing for ``_select_messages``/``_count_messages``.

    ``thread_ids`` (one or more), optional owner, inclusive/exclusive time bounds, role and
    type filters. Rows are ordered by (created_at, save order) in ``order``, then ``offset``
    and ``limit`` (None = all) apply. Expired messages (Retention.ttl) are excluded.
    """

    thread_ids: tuple[str, ...]
    resource_id: str | None = None
    start: _dt.datetime | None = None
    end: _dt.datetime | None = None
    start_exclusive: bool = False
    end_exclusive: bool = False
    roles: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    message_ids: tuple[str, ...] | None = None
    order: str = "asc"
    offset: int = 0
    limit: int | None = None


@frozen(kw_only=True)
class CloneRequest:
    """Arguments of ``clone_thread`` after validation."""

    source_thread_id: str
    new_thread_id: str
    resource_id: str | None
    title: str | None
    metadata: Mapping[str, Any] | None
    message_limit: int | None
    start: _dt.datetime | None
    end: _dt.datetime | None
    message_ids: tuple[str, ...] | None


#: A message with its position in save order; backends return these so that core can
#: merge pages and include windows in (created_at, save order).
Ordered = tuple[int, Message]


def check_owner(message: Message, owner: str) -> None:
    """For ``_save_messages``: refuse (ValidationError) a message that names another owner
    than ``owner``, its thread's; an unset ``resource_id`` is filled in by the caller."""
    if message.resource_id is not None and message.resource_id != owner:
        raise ValidationError(
            f"message {message.id!r}: resource_id {message.resource_id!r} is not the owner of "
            f"thread {message.thread_id!r}; leave it unset to take the thread's owner"
        )


def _sort_key(item: Ordered) -> tuple[_dt.datetime, int]:
    return item[1].created_at, item[0]


class MemoryDomain(VectorMemory, Domain):
    """Threads, messages and resources."""

    name = "memory"

    # -- threads -----------------------------------------------------------------------

    @public
    async def get_thread(self, thread_id: str, *, resource_id: str | None = None) -> Thread | None:
        """The thread, or None. With ``resource_id``, a thread owned by another is None."""
        check_id(thread_id, "thread_id")
        owner = opt_id(resource_id, "resource_id")
        await self._ready()
        thread = await self._get_thread(thread_id)
        if thread is None or (owner is not None and thread.resource_id != owner):
            return None
        return thread

    @public
    async def save_thread(self, thread: Thread) -> Thread:
        """Insert or replace ``thread``; an existing thread keeps its ``created_at``."""
        if not isinstance(thread, Thread):
            raise ValidationError(f"save_thread: expected Thread, got {type(thread).__name__}")
        await self._ready()
        return await self._save_thread(thread)

    @public
    async def update_thread(
        self,
        thread_id: str,
        *,
        title: str | Any | None = UNSET,
        metadata: Mapping[str, Any] | Any = UNSET,
        merge_metadata: bool = False,
        resource_id: str | None = None,
    ) -> Thread:
        """Change title and/or metadata; bumps ``updated_at``. ThreadNotFoundError if missing.

        With ``resource_id``, a thread owned by another is missing (checked in the same
        transaction as the change); without it the call is administrative.
        """
        check_id(thread_id, "thread_id")
        owner = opt_id(resource_id, "resource_id")
        if title is not UNSET and title is not None:
            check_text(title, "title")
        if metadata is not UNSET:
            if not isinstance(metadata, Mapping):
                raise ValidationError("metadata: expected a dict")
            check_json(metadata, "metadata")
        await self._ready()
        thread = await self._update_thread(
            thread_id, title=title, metadata=metadata, merge_metadata=merge_metadata,
            now=utcnow(), resource_id=owner,
        )
        if thread is None:
            raise ThreadNotFoundError(f"thread {thread_id!r} not found")
        return thread

    @public
    async def delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        """Delete a thread and its messages; a missing id is a no-op.

        With ``resource_id``, a thread owned by another is left alone (a no-op, as if
        missing; checked in the same transaction as the delete).
        """
        check_id(thread_id, "thread_id")
        owner = opt_id(resource_id, "resource_id")
        await self._ready()
        await self._delete_thread(thread_id, resource_id=owner)

    @public
    async def list_threads(
        self,
        *,
        resource_id: str | None = None,
        agent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        order_by: str = "created_at",
        direction: str = "desc",
        page: int = 0,
        per_page: int | None = 100,
    ) -> Page[Thread]:
        """One page of threads, ties broken on id so pages never repeat or skip a row."""
        flt = ThreadFilter(
            resource_id=opt_id(resource_id, "resource_id"),
            agent_id=opt_id(agent_id, "agent_id"),
            metadata=metadata_filter(metadata),
        )
        order_by = _order_field(order_by)
        direction = check_direction(direction)
        offset, limit = check_page(page, per_page)
        await self._ready()
        return await self._thread_page(flt, order_by, direction, offset, limit, page)

    def threads(self) -> ThreadQuery:
        """A fluent, immutable thread query (see :class:`ThreadQuery`)."""
        return ThreadQuery(domain=self)

    @public
    async def select_threads(self, sel: ThreadSelect) -> list[Thread]:
        """The threads ``sel`` selects (filter, order, offset, limit, keyset cursor): what
        :class:`ThreadQuery` runs. Its fields are checked like ``list_threads``' arguments."""
        flt = sel.filter
        sel = evolve(sel, filter=ThreadFilter(
            resource_id=opt_id(flt.resource_id, "resource_id"),
            agent_id=opt_id(flt.agent_id, "agent_id"),
            metadata=metadata_filter(flt.metadata)),
            order_by=_order_field(sel.order_by), direction=check_direction(sel.direction))
        for name, value in (("limit", sel.limit), ("offset", sel.offset)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValidationError(f"{name}: expected an int >= 0, got {value!r}")
        await self._ready()
        return await self._select_threads(sel)

    @public
    async def count_threads(self, flt: ThreadFilter) -> int:
        """How many threads match ``flt`` (what ``ThreadQuery.count`` starts from)."""
        flt = ThreadFilter(resource_id=opt_id(flt.resource_id, "resource_id"),
                           agent_id=opt_id(flt.agent_id, "agent_id"),
                           metadata=metadata_filter(flt.metadata))
        await self._ready()
        return await self._count_threads(flt)

    async def _thread_page(
        self,
        flt: ThreadFilter,
        order_by: str,
        direction: str,
        offset: int,
        limit: int | None,
        page: int,
    ) -> Page[Thread]:
        return await fetch_page(
            lambda n: self._select_threads(ThreadSelect(
                filter=flt, order_by=order_by, direction=direction, offset=offset, limit=n,
            )),
            lambda: self._count_threads(flt),
            offset=offset, limit=limit, page=page,
        )

    # -- messages ----------------------------------------------------------------------

    @public
    async def list_messages(
        self,
        thread_id: str | Sequence[str],
        *,
        resource_id: str | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        start_exclusive: bool = False,
        end_exclusive: bool = False,
        roles: Iterable[str] | None = None,
        types: Iterable[str] | None = None,
        include: Iterable[Include | str] = (),
        order: str = "asc",
        page: int = 0,
        per_page: int | None = 40,
        last: int | None = None,
        with_total: bool | None = None,
    ) -> Page[Message]:
        """Messages of one or more threads, by (created_at, save order).

        ``last=N``: the newest N in chronological order (the recall path; ``page`` and
        ``per_page`` are ignored). ``include``: windows of messages around given ids, in
        their own threads, added to the page, de-duplicated and sorted; ``per_page=0``
        returns only the windows. ``has_more`` is True only when a message of the listing
        after this page (before it, for ``last=N``) is not already in the returned items,
        so a window that reaches the end does not announce another page. ``with_total``
        defaults to True for paged listings and to False for ``last=N`` and ``per_page=0``
        (counting a whole thread on every turn is what made peers slow); ``total`` counts
        only the filtered messages (the listing, not the windows).
        """
        if (last is not None and type(thread_id) is str and type(last) is int and last > 0
                and resource_id is None and start is None and end is None and roles is None
                and types is None and include == () and order == "asc" and not with_total):
            return await self._recall(thread_id, last, page, per_page)
        sel = MessageSelect(
            thread_ids=_thread_ids(thread_id),
            resource_id=opt_id(resource_id, "resource_id"),
            start=opt_time(start, "start"),
            end=opt_time(end, "end"),
            start_exclusive=bool(start_exclusive),
            end_exclusive=bool(end_exclusive),
            roles=str_set(roles, "roles"),
            types=str_set(types, "types"),
        )
        order = check_direction(order, "order")
        includes = _includes(include)
        if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
            raise ValidationError(f"last: expected an int >= 1 or None, got {last!r}")
        offset, limit = check_page(page, per_page, allow_zero=True)
        if with_total is None:
            with_total = last is None and limit != 0
        await self._ready()
        windows = (await self._select_windows(includes, resource_id=sel.resource_id)
                   if includes else [])
        shown = {m.id for _, m in windows}
        if last is not None:
            rows, has_more, ends_here = await self._listing(sel, "desc", 0, last, shown)
            rows.sort(key=_sort_key)
            page, limit, offset = 0, last, 0
            if order == "desc":
                rows.reverse()
        else:
            rows, has_more, ends_here = await self._listing(sel, order, offset, limit, shown)
        total = None
        if with_total:
            if last is None and limit != 0 and ends_here and (offset == 0 or rows):
                total = offset + len(rows)  # the last page tells the total without a COUNT
            else:
                total = await self._count_messages(sel)
        if windows:
            rows = _merged(rows, windows, order)
        return Page(items=tuple(m for _, m in rows), total=total, page=page, per_page=limit,
                    has_more=has_more)

    async def _recall(self, thread_id: str, last: int, page: Any, per_page: Any) -> Page[Message]:
        """``list_messages(thread_id, last=N)``, the call agents make on every turn: only
        the checks it needs, and the backend's fastest path."""
        check_id(thread_id, "thread_id")
        check_page(page, per_page, allow_zero=True)
        await self._ready()
        newest = await self._last_messages(thread_id, last + 1)
        has_more = len(newest) > last
        return Page(items=tuple(m for _, m in reversed(newest[:last])), total=None,
                    page=0, per_page=last, has_more=has_more)

    async def _listing(
        self, sel: MessageSelect, order: str, offset: int, limit: int | None, shown: set[str]
    ) -> tuple[list[Ordered], bool, bool]:
        """One page of ``sel`` in ``order``: (rows, has_more, ends_here).

        ``shown`` are ids the response holds anyway (include windows): ``has_more`` is True
        only if a row after the page is not among them. Fetching ``limit + 1 + len(shown)``
        rows decides it: if that many came back, one past the page is not shown.
        ``ends_here``: no row at all follows the page."""
        if limit == 0:
            return [], False, True
        fetched = await self._select_messages(evolve(
            sel, order=order, offset=offset,
            limit=None if limit is None else limit + 1 + len(shown)))
        if limit is None:
            return fetched, False, True
        beyond = fetched[limit:]
        has_more = any(m.id not in shown for _, m in beyond)
        return fetched[:limit], has_more, not beyond

    @public
    async def get_messages(self, message_ids: Iterable[str]) -> list[Message]:
        """The messages with these ids, chronological; unknown ids are skipped."""
        ids = id_list(message_ids, "message_ids")
        if not ids:
            return []
        await self._ready()
        return [m for _, m in sorted(await self._get_messages(ids), key=_sort_key)]

    @public
    async def save_messages(self, messages: Iterable[Message]) -> list[Message]:
        """Upsert messages, all or nothing, in list order.

        Every thread must exist (ThreadNotFoundError, nothing written). An unset
        ``resource_id`` is filled from the thread; a message naming another owner than its
        thread's is refused (ValidationError, nothing written). Re-saving an id under
        another thread moves the message (one message per id) and bumps both threads.
        Bumps each thread's ``updated_at`` and applies ``Retention.max_messages_per_thread``
        in the same transaction.
        """
        batch = list(messages)
        seen: set[str] = set()
        for m in batch:
            if not isinstance(m, Message):
                raise ValidationError(f"save_messages: expected Message, got {type(m).__name__}")
            if m.id in seen:
                raise ValidationError(f"save_messages: message id {m.id!r} appears twice")
            seen.add(m.id)
        if not batch:
            return []
        if self._storage is not None:
            batch = self._storage.before_save_messages(batch)
        vectors = self._vector_config()
        if vectors is not None:  # embedded before, stored in, the transaction
            return await self._save_embedded(vectors, batch)
        await self._ready()
        return await self._save_messages(batch, now=utcnow())

    @public
    async def update_messages(
        self, updates: Iterable[MessageUpdate], *, resource_id: str | None = None
    ) -> list[Message]:
        """Apply partial updates; metadata merges; moving a message bumps both threads.

        Unknown message ids are skipped; a target thread that does not exist raises
        ThreadNotFoundError and nothing is written. With ``resource_id``, messages of
        another owner count as unknown and a target thread of another owner as missing
        (checked in the same transaction as the change).
        """
        owner = opt_id(resource_id, "resource_id")
        items = list(updates)
        for u in items:
            if not isinstance(u, MessageUpdate):
                raise ValidationError(
                    f"update_messages: expected MessageUpdate, got {type(u).__name__}"
                )
        if len({u.id for u in items}) != len(items):
            raise ValidationError("update_messages: a message id appears twice")
        if not items:
            return []
        await self._ready()
        updated = sorted(
            await self._update_messages(items, now=utcnow(), resource_id=owner), key=_sort_key)
        vectors = self._vector_config()
        if vectors is not None:  # text changed: its vector follows (see docs/recall.md)
            changed = {u.id for u in items if u.content is not UNSET}
            await self._reembed(vectors, [m for _, m in updated if m.id in changed])
        return [m for _, m in updated]

    @public
    async def delete_messages(
        self, message_ids: Iterable[str], *, resource_id: str | None = None
    ) -> int:
        """Delete messages by id; returns how many this call deleted. Bumps their threads'
        updated_at. With ``resource_id``, messages of another owner are left alone and not
        counted (checked in the same transaction as the delete)."""
        ids = id_list(message_ids, "message_ids")
        owner = opt_id(resource_id, "resource_id")
        if not ids:
            return 0
        await self._ready()
        return await self._delete_messages(ids, now=utcnow(), resource_id=owner)

    @public
    async def clone_thread(
        self,
        source_thread_id: str,
        *,
        new_thread_id: str | None = None,
        resource_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message_limit: int | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        message_ids: Iterable[str] | None = None,
        source_resource_id: str | None = None,
    ) -> tuple[Thread, list[Message]]:
        """Copy a thread and (a selection of) its messages under fresh ids, atomically.

        ``message_limit`` keeps the newest N of the selection. The clone's metadata holds
        ``{"clone": {"source_thread_id": ..., "cloned_at": ...}}`` merged with ``metadata``.
        ``resource_id`` names the clone's owner (default: the source's). With
        ``source_resource_id``, a source thread owned by another is missing
        (ThreadNotFoundError) and only messages of that owner are copied.
        """
        check_id(source_thread_id, "source_thread_id")
        source_owner = opt_id(source_resource_id, "source_resource_id")
        req = _clone_request(source_thread_id, new_thread_id, resource_id, title, metadata,
                             message_limit, start, end, message_ids)
        await self._ready()
        source = await self._get_thread(source_thread_id)
        if source is None or (source_owner is not None and source.resource_id != source_owner):
            raise ThreadNotFoundError(f"thread {source_thread_id!r} not found")
        if req.new_thread_id == source_thread_id or await self._get_thread(req.new_thread_id):
            raise ValidationError(f"new_thread_id: thread {req.new_thread_id!r} already exists")
        sel = MessageSelect(
            thread_ids=(source_thread_id,),
            resource_id=source_owner,
            start=req.start,
            end=req.end,
            message_ids=req.message_ids,
        )
        if req.message_limit is not None:
            picked = sorted(
                await self._select_messages(evolve(sel, order="desc", limit=req.message_limit)),
                key=_sort_key,
            )
        else:
            picked = await self._select_messages(sel)
        thread, copies = _clone_records(source, req, picked)
        created = await self._create_thread_with_messages(thread, copies)
        if copies and self._vector_config() is not None:
            await self._copy_vectors([(m.id, c.id) for (_, m), c in zip(picked, copies,
                                                                        strict=True)])
        return created

    # -- resources ---------------------------------------------------------------------

    @public
    async def get_resource(self, resource_id: str) -> Resource | None:
        check_id(resource_id, "resource_id")
        await self._ready()
        return await self._get_resource(resource_id)

    @public
    async def save_resource(self, resource: Resource) -> Resource:
        """Insert or replace; an existing resource keeps its ``created_at``."""
        if not isinstance(resource, Resource):
            raise ValidationError(
                f"save_resource: expected Resource, got {type(resource).__name__}"
            )
        await self._ready()
        return await self._save_resource(resource)

    @public
    async def update_resource(
        self,
        resource_id: str,
        *,
        working_memory: str | Any | None = UNSET,
        metadata: Mapping[str, Any] | Any = UNSET,
    ) -> Resource:
        """Update working memory and/or merge metadata; creates the resource if missing."""
        check_id(resource_id, "resource_id")
        if working_memory is not UNSET and working_memory is not None:
            check_text(working_memory, "working_memory")
        if metadata is not UNSET:
            if not isinstance(metadata, Mapping):
                raise ValidationError("metadata: expected a dict")
            check_json(metadata, "metadata")
        await self._ready()
        return await self._update_resource(
            resource_id, working_memory=working_memory, metadata=metadata, now=utcnow()
        )

    @public
    async def stats(self, resource_id: str | None = None) -> ThreadStats:
        """Thread and message counts and first/last activity, in one query."""
        owner = opt_id(resource_id, "resource_id")
        await self._ready()
        return await self._stats(owner)

    # -- primitives: what a backend implements -------------------------------------------

    @abstractmethod
    async def _get_thread(self, thread_id: str) -> Thread | None:
        """The stored thread, or None when it is missing or expired (Retention.ttl on
        ``updated_at``). No owner check: core compares ``resource_id`` itself."""

    @abstractmethod
    async def _save_thread(self, thread: Thread) -> Thread:
        """Upsert; keep created_at of an existing row; return the stored thread."""

    @abstractmethod
    async def _update_thread(
        self,
        thread_id: str,
        *,
        title: Any,
        metadata: Any,
        merge_metadata: bool,
        now: _dt.datetime,
        resource_id: str | None = None,
    ) -> Thread | None:
        """Atomically (row-locked read-modify-write: concurrent merge_metadata calls keep
        every key) apply title/metadata unless UNSET (merge or replace); set
        updated_at=now. Return None when the thread is missing, or when ``resource_id`` is
        given and the thread has another owner (checked in the same transaction)."""

    @abstractmethod
    async def _delete_thread(self, thread_id: str, *, resource_id: str | None = None) -> None:
        """Delete the thread and its messages in one transaction; with ``resource_id``,
        only if the thread has that owner (checked in the same transaction)."""

    @abstractmethod
    async def _select_threads(self, sel: ThreadSelect) -> list[Thread]:
        """Live threads matching ``sel.filter`` (metadata: :func:`metadata_matches`), in
        ``sel``'s order (see :class:`ThreadSelect`: order value then id, keyset cursor
        ``after``), then ``offset``/``limit``. Expired threads are excluded."""

    @abstractmethod
    async def _count_threads(self, flt: ThreadFilter) -> int:
        """How many live (unexpired) threads match ``flt``."""

    @abstractmethod
    async def _select_messages(self, sel: MessageSelect) -> list[Ordered]:
        """Rows matching ``sel``, ordered and limited as it says, as (save_seq, message)."""

    async def _last_messages(self, thread_id: str, n: int) -> list[Ordered]:
        """The newest ``n`` messages of one thread, newest first (created_at, then save
        order): ``list_messages(..., last=N)``. Backends may override it with a faster path;
        this default is ``_select_messages``."""
        return await self._select_messages(
            MessageSelect(thread_ids=(thread_id,), order="desc", limit=n))

    @abstractmethod
    async def _count_messages(self, sel: MessageSelect) -> int:
        """How many rows match ``sel``'s filters (order/offset/limit ignored)."""

    @abstractmethod
    async def _select_windows(
        self, includes: Sequence[Include], *, resource_id: str | None
    ) -> list[Ordered]:
        """For each include: the message plus ``before`` older and ``after`` newer
        messages of its own thread (by created_at, save order). Unknown ids (or ids not
        owned by ``resource_id``) contribute nothing. Duplicates allowed; core de-dups."""

    @abstractmethod
    async def _get_messages(self, ids: Sequence[str]) -> list[Ordered]:
        """The live messages with these ids as (save_seq, message), any order (core sorts);
        unknown and expired ids are skipped."""

    @abstractmethod
    async def _save_messages(self, messages: list[Message], *, now: _dt.datetime) -> list[Message]:
        """One atomic write: check threads exist (ThreadNotFoundError, nothing written; an
        expired thread counts as missing), fill an unset resource_id with the thread's
        owner (a message naming another owner: ValidationError, nothing written), upsert
        in list order (ties keep list order), set each thread's updated_at=now, prune
        beyond Retention.max_messages_per_thread (oldest first, by (created_at, seq)).
        Re-saving an existing id keeps its ORIGINAL seq (an upsert never touches seq) and
        may move it to another thread or created_at (one message per id); both the old
        and the new thread get updated_at=now. Return the messages as stored, in input
        order (including any pruned by the limit in this same call)."""

    @abstractmethod
    async def _update_messages(
        self, updates: list[MessageUpdate], *, now: _dt.datetime, resource_id: str | None = None
    ) -> list[Ordered]:
        """Atomic; skip unknown ids; metadata merges; moving a message changes its
        thread_id and resource_id (target thread's owner) and bumps old and new threads'
        updated_at; any other change bumps its thread's updated_at. Every target thread_id
        given must exist (even for unknown message ids), else ThreadNotFoundError and
        nothing is written. With ``resource_id``: a message whose resource_id differs is
        an unknown id, a target thread of another owner is missing (same transaction)."""

    @abstractmethod
    async def _delete_messages(
        self, ids: Sequence[str], *, now: _dt.datetime, resource_id: str | None = None
    ) -> int:
        """Delete; bump the affected threads' updated_at; return the number THIS call
        deleted (a row a concurrent call deleted first is not counted: two concurrent
        deletes of one id report 1 in total). With ``resource_id``, only messages with
        that resource_id are deleted (checked in the same transaction)."""

    @abstractmethod
    async def _create_thread_with_messages(
        self, thread: Thread, messages: list[Message]
    ) -> tuple[Thread, list[Message]]:
        """Insert a new thread and its messages (in list order) in one transaction."""

    async def _bulk_save_threads(
        self, chunk: Sequence[tuple[Thread, Sequence[Message]]]
    ) -> None:
        """Bulk-load hook (``copy_store``, ``agent-storage copy``): write each thread as given
        (upsert by id; its own ``created_at``/``updated_at`` kept) and its messages (upsert
        by id, in list order, ``resource_id`` = the thread's owner), leaving every thread's
        ``updated_at`` as in its record. A thread may appear in several entries (one per
        page of its messages). Every write is an idempotent upsert, so a rerun resumes.

        This default writes thread by thread through the ordinary primitives; a backend
        overrides it to write the whole chunk in one transaction (all or nothing) with its
        bulk path (executemany, COPY)."""
        for thread, messages in chunk:
            await self._save_thread(thread)
            if messages:
                await self._save_messages(list(messages), now=thread.updated_at)

    @abstractmethod
    async def _get_resource(self, resource_id: str) -> Resource | None:
        """The stored resource, or None when missing or expired (TTL on ``updated_at``)."""

    @abstractmethod
    async def _save_resource(self, resource: Resource) -> Resource:
        """Upsert, keeping created_at of an existing row."""

    @abstractmethod
    async def _update_resource(
        self, resource_id: str, *, working_memory: Any, metadata: Any, now: _dt.datetime
    ) -> Resource:
        """Atomic read-modify-write: create if missing; working_memory replaced unless
        UNSET; metadata merged (shallow) unless UNSET; updated_at=now. Concurrent calls
        on a resource that does not exist yet must all survive (insert-if-missing, then
        lock and merge)."""

    @abstractmethod
    async def _stats(self, resource_id: str | None) -> ThreadStats:
        """Over the owner's live threads (all threads if None), in one query:
        thread_count; message_count = messages of those threads; messages_per_thread =
        message_count / thread_count (0.0 when no thread); first_activity =
        min(thread.created_at, message.created_at); last_activity = max(thread.updated_at,
        message.created_at); both None when there is no thread."""


@frozen(kw_only=True)
class ThreadQuery:
    """A fluent, immutable thread query; every builder method returns a new query.

    >>> q = storage.memory.threads().where(resource_id="u1").order_by("updated_at").limit(10)
    >>> threads = await q.all()
    >>> async for thread in storage.memory.threads().where(resource_id="u1"):
    ...     ...   # streams every match by keyset pagination, in bounded memory
    """

    domain: MemoryDomain
    filter: ThreadFilter = ThreadFilter()
    order_field: str = "created_at"
    direction: str = "desc"
    limit_n: int | None = None
    offset_n: int = 0
    batch_size: int = field(default=500)
    after_thread: Thread | None = None

    def where(
        self,
        *,
        resource_id: str | None = None,
        agent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ThreadQuery:
        changes = {
            "resource_id": opt_id(resource_id, "resource_id"),
            "agent_id": opt_id(agent_id, "agent_id"),
            "metadata": metadata_filter(metadata),
        }
        given: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return evolve(self, filter=evolve(self.filter, **given))

    def order_by(self, field_name: str, direction: str = "desc") -> ThreadQuery:
        return evolve(
            self, order_field=_order_field(field_name), direction=check_direction(direction)
        )

    def limit(self, n: int | None) -> ThreadQuery:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValidationError(f"limit: expected an int >= 0 or None, got {n!r}")
        return evolve(self, limit_n=n)

    def offset(self, n: int) -> ThreadQuery:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValidationError(f"offset: expected an int >= 0, got {n!r}")
        return evolve(self, offset_n=n)

    def after(self, thread: Thread | None) -> ThreadQuery:
        """Keyset cursor: only threads strictly after ``thread`` in this query's order (its
        order field's value, then id), so the next page costs the same as the first and
        never repeats or skips a row when threads are added meanwhile. None clears it.
        Honoured by ``all``, ``first`` and ``async for``; ``count`` and ``page`` ignore it."""
        if thread is not None and not isinstance(thread, Thread):
            raise ValidationError(f"after: expected a Thread or None, got {type(thread).__name__}")
        return evolve(self, after_thread=thread)

    def _cursor(self) -> tuple[Any, str] | None:
        t = self.after_thread
        return None if t is None else (_order_value(t, self.order_field), t.id)

    def _select(self, **changes: Any) -> ThreadSelect:
        base = ThreadSelect(
            filter=self.filter,
            order_by=self.order_field,
            direction=self.direction,
            offset=self.offset_n,
            limit=self.limit_n,
            after=self._cursor(),
        )
        return evolve(base, **changes)

    async def all(self) -> list[Thread]:
        return await self.domain.select_threads(self._select())

    async def first(self) -> Thread | None:
        rows = await self.domain.select_threads(self._select(limit=1))
        return rows[0] if rows else None

    async def count(self) -> int:
        """Matching threads, honouring offset and limit."""
        total = await self.domain.count_threads(self.filter)
        total = max(0, total - self.offset_n)
        return total if self.limit_n is None else min(total, self.limit_n)

    async def page(self, n: int, size: int) -> Page[Thread]:
        """Page ``n`` (0-based) of ``size`` rows of this query (its limit/offset ignored)."""
        flt = self.filter
        return await self.domain.list_threads(
            resource_id=flt.resource_id, agent_id=flt.agent_id, metadata=flt.metadata,
            order_by=self.order_field, direction=self.direction, page=n, per_page=size)

    async def __aiter__(self) -> AsyncIterator[Thread]:
        remaining = self.limit_n
        after = self._cursor()
        offset = self.offset_n
        while remaining is None or remaining > 0:
            size = self.batch_size if remaining is None else min(self.batch_size, remaining)
            rows = await self.domain.select_threads(
                self._select(offset=offset, limit=size, after=after))
            for thread in rows:
                yield thread
            if len(rows) < size:
                return
            offset = 0  # the cursor replaces the offset after the first batch
            last = rows[-1]
            after = (_order_value(last, self.order_field), last.id)
            if remaining is not None:
                remaining -= len(rows)


def _order_value(thread: Thread, field_name: str) -> Any:
    value = getattr(thread, field_name)
    return (value or "") if field_name == "title" else value


def _order_field(value: Any) -> str:
    if isinstance(value, str) and value in THREAD_ORDER_FIELDS:
        return value
    raise ValidationError(f"order_by: {value!r} is not one of {list(THREAD_ORDER_FIELDS)}")


def _thread_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (check_id(value, "thread_id"),)
    ids = id_list(value, "thread_id")
    if not ids:
        raise ValidationError("thread_id: expected at least one thread id")
    return ids


def _merged(rows: list[Ordered], windows: list[Ordered], order: str) -> list[Ordered]:
    """The page's rows plus the include windows, each message once, in ``order``."""
    merged = {m.id: (seq, m) for seq, m in rows}
    for seq, m in windows:
        merged.setdefault(m.id, (seq, m))
    out = sorted(merged.values(), key=_sort_key)
    if order == "desc":
        out.reverse()
    return out


def _includes(values: Any) -> tuple[Include, ...]:
    if values is None:
        return ()
    result = []
    for item in values:
        if isinstance(item, str):
            item = Include(id=item)
        if not isinstance(item, Include):
            raise ValidationError(f"include: expected Include or id, got {type(item).__name__}")
        result.append(item)
    return tuple(result)


def _clone_request(
    source_thread_id: str, new_thread_id: str | None, resource_id: str | None,
    title: str | None, metadata: Mapping[str, Any] | None, message_limit: int | None,
    start: _dt.datetime | None, end: _dt.datetime | None, message_ids: Iterable[str] | None,
) -> CloneRequest:
    """clone_thread's arguments checked (ValidationError before anything is read)."""
    if message_limit is not None and (
        isinstance(message_limit, bool)
        or not isinstance(message_limit, int)
        or message_limit < 0
    ):
        raise ValidationError(f"message_limit: expected an int >= 0, got {message_limit!r}")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValidationError("metadata: expected a dict")
        check_json(metadata, "metadata")
    return CloneRequest(
        source_thread_id=source_thread_id,
        new_thread_id=check_id(new_thread_id, "new_thread_id")
        if new_thread_id is not None
        else str(uuid.uuid4()),
        resource_id=opt_id(resource_id, "resource_id"),
        title=None if title is None else check_text(title, "title"),
        metadata=metadata,
        message_limit=message_limit,
        start=opt_time(start, "start"),
        end=opt_time(end, "end"),
        message_ids=None if message_ids is None else id_list(message_ids, "message_ids"),
    )


def _clone_records(source: Thread, req: CloneRequest, picked: Sequence[tuple[Any, Message]]
                   ) -> tuple[Thread, list[Message]]:
    """The clone thread (its metadata records the source) and its messages under fresh ids."""
    now = utcnow()
    owner = req.resource_id or source.resource_id
    clone_meta = {
        **source.metadata,
        **(req.metadata or {}),
        "clone": {
            "source_thread_id": source.id,
            "cloned_at": now.isoformat(),
            "message_count": len(picked),
        },
    }
    thread = Thread(
        id=req.new_thread_id,
        resource_id=owner,
        title=req.title if req.title is not None else source.title,
        metadata=clone_meta,
        agent_id=source.agent_id,
        created_at=now,
        updated_at=now,
    )
    copies = [
        evolve(m, id=str(uuid.uuid4()), thread_id=thread.id, resource_id=owner)
        for _, m in picked
    ]
    return thread, copies
