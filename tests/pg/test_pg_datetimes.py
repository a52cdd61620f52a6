"""Datetimes at the ends of Python's range round-trip on PostgreSQL.

asyncpg sends ``datetime.min`` and ``datetime.max`` as ``-infinity`` / ``infinity`` and
hands those back as *naive* ``datetime.min`` / ``datetime.max``; converting a naive value
with ``astimezone`` read it as local time and failed with "year 0 is out of range", which
made the whole thread unreadable. Everything a record accepts reads back equal, in order,
on the direct (asyncpg) and the SQLAlchemy read paths, and works as a range bound.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest
from agent_storage import Message, Thread, ValidationError

UTC = _dt.UTC
US = _dt.timedelta(microseconds=1)
LOW = _dt.datetime.min.replace(tzinfo=UTC)
HIGH = _dt.datetime.max.replace(tzinfo=UTC)
#: the ends of the range and their neighbours (the infinities and the values next to them)
BOUNDS = [LOW, LOW + US, _dt.datetime(1, 1, 2, tzinfo=UTC), _dt.datetime(9999, 12, 30, tzinfo=UTC),
          HIGH - US, HIGH]


async def _save(storage: Any, at: _dt.datetime, tid: str, mid: str) -> Message | None:
    """Save a message at ``at``; None when the store refuses the time up front."""
    try:
        [saved] = await storage.memory.save_messages(
            [Message(id=mid, thread_id=tid, role="user", content=mid, created_at=at)])
    except ValidationError:
        return None
    return saved


async def test_messages_at_the_bounds_read_back(storage: Any) -> None:
    await storage.memory.save_thread(Thread(id="t", resource_id="u"))
    kept = []
    for n, at in enumerate(BOUNDS):
        saved = await _save(storage, at, "t", f"m{n}")
        if saved is not None:
            kept.append(saved)
    assert kept, "no time at the ends of the range is accepted"
    page = await storage.memory.list_messages("t", per_page=None)
    assert [(m.id, m.created_at) for m in page.items] == [(m.id, m.created_at) for m in kept]
    assert all(m.created_at.tzinfo is UTC for m in page.items)
    last = await storage.memory.list_messages("t", last=len(kept))  # the direct asyncpg path
    assert [m.created_at for m in last.items] == [m.created_at for m in kept]
    got = await storage.memory.get_messages([m.id for m in kept])
    assert [m.created_at for m in got] == [m.created_at for m in kept]
    # the bounds work as range bounds too
    first, final = kept[0].created_at, kept[-1].created_at
    inside = await storage.memory.list_messages("t", start=first, end=final, per_page=None)
    assert inside.total == len(kept)
    exclusive = await storage.memory.list_messages(
        "t", start=first, end=final, start_exclusive=True, end_exclusive=True)
    assert exclusive.total == len(kept) - 2


@pytest.mark.parametrize("at", [LOW, HIGH], ids=["min", "max"])
async def test_threads_at_the_bounds_read_back(storage: Any, at: _dt.datetime) -> None:
    try:
        thread = await storage.memory.save_thread(
            Thread(id="edge", resource_id="u", created_at=at, updated_at=at))
    except ValidationError:
        pytest.skip("outside the supported range")  # refused up front: nothing to read
    got = await storage.memory.get_thread("edge")
    assert got == thread and got is not None and got.created_at.tzinfo is UTC
    listed = await storage.memory.list_threads(resource_id="u", order_by="updated_at")
    assert [t.updated_at for t in listed.items] == [at]
