"""What the generic domains share: record access, ordered iteration, optimistic writes."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._translate import translate_error
from .._ttl import ttl_cutoff
from ..errors import AgentStorageError, TransientBackendError
from ..serde import from_wire, to_wire
from ._contract import Delete, Item, Put
from ._keys import after, next_stamp

if TYPE_CHECKING:
    from ._contract import RecordBackend

__all__ = ["Ops", "Part", "count", "decode", "encode", "take"]

T = TypeVar("T")
R = TypeVar("R")
Ops = list[Put | Delete]
OrderFn = Callable[[dict[str, Any]], Mapping[str, str | None]]

#: Optimistic writes retried this often before the call fails as TransientBackendError.
MAX_ATTEMPTS = 200
BATCH = 256


def encode(record: Any, **extra: Any) -> dict[str, Any]:
    """A record as the JSON object stored for it (plus core's own ``extra`` fields)."""
    value: dict[str, Any] = to_wire(record)
    value.update(extra)
    return value


def decode(value: Mapping[str, Any], cls: type[T]) -> T:
    """The record stored as ``value`` (extra fields ignored)."""
    return from_wire(value, cls)


async def take(rows: AsyncIterator[T], offset: int, limit: int | None) -> list[T]:
    """Rows ``offset`` to ``offset + limit`` (None = to the end) of an async iterator."""
    taken: list[T] = []
    async for row in rows:
        if limit is not None and len(taken) >= offset + limit:
            break
        taken.append(row)
    return taken[offset:]


async def count(rows: AsyncIterator[Any]) -> int:
    return sum([1 async for _ in rows])


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

    async def each(
        self, collection: str, order: str, start: str, stop: str, *, reverse: bool = False,
    ) -> AsyncIterator[Item]:
        """Every record in ``[start, stop)`` of ``order``, in batches (keyset paging)."""
        while True:
            batch = await self.backend.scan(collection, order, start=start, stop=stop,
                                            reverse=reverse, limit=BATCH)
            for item in batch:
                yield item
            if len(batch) < BATCH:
                return
            last = str(self.orders[collection](batch[-1].value)[order])
            if reverse:
                stop = last
            else:
                start = after(last)

    async def transact(self, build: Callable[[], Awaitable[tuple[Ops, R]]]) -> R:
        """Run ``build`` (reads, then the ops to write and the result) until its write
        commits: optimistic concurrency. ``build`` may raise to abort with nothing written."""
        for attempt in range(MAX_ATTEMPTS):
            ops, result = await build()
            if not ops or await self.backend.write(ops):
                return result
            await asyncio.sleep(random.random() * min(0.05, 0.0005 * 2 ** min(attempt, 10)))
        raise TransientBackendError("too many concurrent writers on the same records; retry")
