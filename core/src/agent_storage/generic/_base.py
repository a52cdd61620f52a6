"""What the generic domains share: record access, ordered iteration, optimistic writes."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .._translate import translate_error
from .._trusted import trusted
from .._ttl import ttl_cutoff
from ..errors import AgentStorageError, TransientBackendError
from ..records import AgentConfig
from ..retry import RetryPolicy
from ..serde import format_datetime, from_wire, parse_datetime
from ._contract import Delete, Item, Put
from ._keys import after, next_stamp

if TYPE_CHECKING:
    from ._contract import RecordBackend

__all__ = ["Ops", "Part", "count", "decode", "encode", "take"]

T = TypeVar("T")
R = TypeVar("R")
Ops = list[Put | Delete]
OrderFn = Callable[[dict[str, Any]], Mapping[str, str | None]]

#: A conflicting optimistic write is redone after a short random pause, up to 200 times
#: (then TransientBackendError): writers of one record take turns within milliseconds.
CONFLICTS = RetryPolicy(attempts=200, base=0.0005, cap=0.05)
BATCH = 256


#: Record fields stored as ISO text; ``tools`` is stored as a list; ``config`` nests a record.
_DATES = frozenset({"created_at", "updated_at", "started_at", "ended_at"})
_PLANS: dict[type, tuple[tuple[str, ...], Callable[..., Any]]] = {}


def _plan(cls: type) -> tuple[tuple[str, ...], Callable[..., Any]]:
    found = _PLANS.get(cls)
    if found is None:
        found = _PLANS[cls] = (tuple(a.name for a in attrs.fields(cls)), trusted(cls))
    return found


def _out(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATES:
        return format_datetime(value)
    if name == "tools":
        return list(value)
    if name == "config":
        return encode(value)
    return value


def encode(record: Any, **extra: Any) -> dict[str, Any]:
    """A record as the JSON object stored for it (plus core's own ``extra`` fields).
    JSON fields are not copied: the record store copies (or serialises) what it keeps."""
    value = {name: _out(name, getattr(record, name)) for name in _plan(type(record))[0]}
    value.update(extra)
    return value


def decode(value: Mapping[str, Any], cls: type[T]) -> T:
    """The record stored as ``value`` (extra fields ignored), built without re-running
    the validators: it was validated before it was written."""
    names, build = _plan(cls)
    if not all(name in value for name in names):  # written by an older version
        return from_wire(value, cls)
    fields: dict[str, Any] = {}
    for name in names:
        item = value[name]
        if item is not None and name in _DATES:
            item = parse_datetime(item)
        elif name == "tools":
            item = tuple(item)
        elif name == "config":
            item = decode(item, AgentConfig)
        fields[name] = item
    return build(**fields)  # type: ignore[no-any-return]


async def take(rows: AsyncGenerator[T, None], offset: int, limit: int | None) -> list[T]:
    """Rows ``offset`` to ``offset + limit`` (None = to the end) of an async generator,
    which is closed at once (an abandoned one would live until the event loop runs its
    finaliser: a loop of calls that never suspends would pile them up)."""
    taken: list[T] = []
    async with aclosing(rows):
        if limit == 0:
            return []
        async for row in rows:
            taken.append(row)
            if limit is not None and len(taken) >= offset + limit:
                break
    return taken[offset:]


async def count(rows: AsyncIterator[Any]) -> int:
    return sum([1 async for _ in rows])


class _Conflict(Exception):
    """A conditional write found a record changed since it was read."""


class Part:
    """Base of the generic domain classes: the backend, its options, and helpers.

    Subclasses declare ``orders``: collection -> function from a stored value to its order
    keys (``key`` included); :meth:`put` stamps them on every write.
    """

    orders: Mapping[str, OrderFn] = {}

    def __init__(self, backend: RecordBackend) -> None:
        self.backend = backend

    def _translate_error(self, exc: BaseException) -> AgentStorageError:
        return translate_error(exc, self.backend.error_rules)

    def cutoff(self, entity: str) -> _dt.datetime | None:
        return ttl_cutoff(self.backend.options, entity)

    def put(self, collection: str, value: dict[str, Any], expect: int | None) -> Put:
        keys = self.orders[collection](value)
        return Put(collection=collection, key=str(keys["key"]), value=value,
                   version=next_stamp(), expect=expect,
                   orders={k: v for k, v in keys.items() if v is not None})

    @staticmethod
    def delete(collection: str, item: Item | None, key: str | None = None) -> Delete:
        """Delete ``item`` if unchanged (or ``key`` unconditionally)."""
        if item is None:
            return Delete(collection=collection, key=str(key))
        return Delete(collection=collection, key=item.key, expect=item.version)

    def each(
        self, collection: str, order: str, start: str, stop: str, *, reverse: bool = False,
        first: int | None = None,
    ) -> AsyncIterator[Item]:
        """Every record in ``[start, stop)`` of ``order``, in batches (keyset paging);
        ``first``: how many the caller expects to need (the first batch's size)."""
        return _Scan(self, collection, order, start, stop, reverse,
                     BATCH if first is None else max(1, min(first, BATCH)))

    async def transact(self, build: Callable[[], Awaitable[tuple[Ops, R]]]) -> R:
        """Run ``build`` (reads, then the ops to write and the result) until its write
        commits: optimistic concurrency, retried with :data:`CONFLICTS` on a conflict.
        ``build`` may raise to abort with nothing written."""

        async def attempt() -> R:
            ops, result = await build()
            if ops and not await self.backend.write(ops):
                raise _Conflict
            return result

        try:
            return await CONFLICTS.run(attempt, retry_if=lambda exc: isinstance(exc, _Conflict))
        except _Conflict:
            raise TransientBackendError(
                "too many concurrent writers on the same records; retry") from None

class _Scan:
    """:meth:`Part.each` as a plain async iterator (not a generator: dropping one early
    frees it at once, with no finaliser to schedule)."""

    def __init__(self, part: Part, collection: str, order: str, start: str, stop: str,
                 reverse: bool, size: int) -> None:
        self.part, self.collection, self.order = part, collection, order
        self.start, self.stop, self.reverse, self.size = start, stop, reverse, size
        self.batch: list[Item] = []
        self.done = False

    def __aiter__(self) -> _Scan:
        return self

    async def __anext__(self) -> Item:
        if not self.batch:
            if self.done:
                raise StopAsyncIteration
            self.batch = await self.part.backend.scan(
                self.collection, self.order, start=self.start, stop=self.stop,
                reverse=self.reverse, limit=self.size)
            self.done = len(self.batch) < self.size
            self.size = BATCH
            if self.batch and not self.done:
                last = str(self.part.orders[self.collection](self.batch[-1].value)[self.order])
                if self.reverse:
                    self.stop = last
                else:
                    self.start = after(last)
            self.batch.reverse()  # pop() from the end
            if not self.batch:
                raise StopAsyncIteration
        return self.batch.pop()
