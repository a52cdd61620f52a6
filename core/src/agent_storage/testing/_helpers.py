"""Small builders shared by the conformance suites (public to suite authors, not to users).

Timestamps are explicit and far apart (one second) so ordering assertions never depend on
the clock; ``T0`` is fixed so date-range cases can name exact bounds.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..records import Message, Resource, Thread

if TYPE_CHECKING:
    from ..storage import Storage

__all__ = [
    "T0",
    "ids",
    "make_message",
    "make_messages",
    "make_thread",
    "reopen",
    "save_thread_with_messages",
    "ts",
    "uid",
]

#: A fixed, timezone-aware origin for test timestamps.
T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)

_ROLES = ("user", "assistant")


def ts(seconds: float) -> _dt.datetime:
    """``T0`` plus ``seconds``."""
    return T0 + _dt.timedelta(seconds=seconds)


def uid(prefix: str = "id") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ids(items: Iterable[Any]) -> list[str]:
    """The ``id`` of each record, in order."""
    return [item.id for item in items]


def make_thread(
    *, id: str | None = None, resource_id: str = "user-1", **fields: Any
) -> Thread:
    return Thread(id=id or uid("thread"), resource_id=resource_id, **fields)


def make_message(
    thread_id: str, n: int = 0, *, id: str | None = None, at: _dt.datetime | None = None,
    **fields: Any,
) -> Message:
    """Message number ``n`` of a thread: alternating roles, created at ``ts(n)``."""
    fields.setdefault("role", _ROLES[n % 2])
    fields.setdefault("content", f"message {n}")
    return Message(id=id or f"{thread_id}-m{n:04d}", thread_id=thread_id,
                   created_at=at if at is not None else ts(n), **fields)


def make_messages(
    thread_id: str, count: int, *, start: int = 0, same_time: _dt.datetime | None = None,
    **fields: Any,
) -> list[Message]:
    """``count`` messages numbered from ``start``; all at ``same_time`` if given."""
    return [make_message(thread_id, n, at=same_time, **fields) for n in range(start, start + count)]


async def save_thread_with_messages(
    storage: Storage, count: int, *, resource_id: str = "user-1", thread_id: str | None = None,
    **thread_fields: Any,
) -> tuple[Thread, list[Message]]:
    """Save a thread and ``count`` messages created one second apart; return the thread
    as stored after the messages, and the messages."""
    thread = await storage.memory.save_thread(
        make_thread(id=thread_id, resource_id=resource_id, **thread_fields)
    )
    if not count:
        return thread, []
    saved = await storage.memory.save_messages(make_messages(thread.id, count))
    bumped = await storage.memory.get_thread(thread.id)  # saving bumped updated_at
    assert bumped is not None
    return bumped, saved


def make_resource(*, id: str | None = None, **fields: Any) -> Resource:
    return Resource(id=id or uid("resource"), **fields)


def reopen(store: Storage, **overrides: Any) -> Storage:
    """Another (uncached) Storage on ``store``'s default URL and options, plus ``overrides``.

    For single-URL stores: a composite mapping's per-domain routes are not reproduced.
    """
    from .. import open_store

    backend = store.backend
    options = backend.options.given()
    extra = options.pop("extra", {}) or {}
    return open_store(backend.url.render(hide_password=False), fresh=True,
                      **{**options, **extra, **overrides})


def sorted_by_time(messages: Sequence[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: m.created_at)
