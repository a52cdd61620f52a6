"""Datetimes at the ends of the supported range round-trip on PostgreSQL.

asyncpg sends ``datetime.min`` and ``datetime.max`` as ``-infinity`` / ``infinity`` and
hands those back as *naive* ``datetime.min`` / ``datetime.max``; converting a naive value
with ``astimezone`` read it as local time and failed with "year 0 is out of range", which
made the whole thread unreadable. Every time of the supported range (serde's bounds when
it declares them, else Python's) reads back equal and in order, on the direct (asyncpg)
and the SQLAlchemy read paths, and works as a range bound; a row holding ``-infinity`` or
``infinity`` (written by another client) reads back as the aware ``datetime.min``/``max``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from agent_storage import Message, Thread, serde

UTC = _dt.UTC
US = _dt.timedelta(microseconds=1)
LOW: _dt.datetime = getattr(serde, "MIN_DATETIME", _dt.datetime.min.replace(tzinfo=UTC))
HIGH: _dt.datetime = getattr(serde, "MAX_DATETIME", _dt.datetime.max.replace(tzinfo=UTC))
BOUNDS = [LOW, LOW + US, LOW + _dt.timedelta(days=1), HIGH - _dt.timedelta(days=1),
          HIGH - US, HIGH]


async def test_messages_at_the_bounds_read_back(storage: Any) -> None:
    await storage.memory.save_thread(Thread(id="t", resource_id="u"))
    saved = await storage.memory.save_messages([
        Message(id=f"m{n}", thread_id="t", role="user", content=n, created_at=at)
        for n, at in enumerate(BOUNDS)])
    want = [(m.id, m.created_at) for m in saved]
    page = await storage.memory.list_messages("t", per_page=None)
    assert [(m.id, m.created_at) for m in page.items] == want
    assert all(m.created_at.tzinfo is UTC for m in page.items)
    last = await storage.memory.list_messages("t", last=len(BOUNDS))  # direct asyncpg path
    assert [(m.id, m.created_at) for m in last.items] == want
    got = await storage.memory.get_messages([m.id for m in saved])
    assert [(m.id, m.created_at) for m in got] == want
    inside = await storage.memory.list_messages("t", start=LOW, end=HIGH, per_page=None)
    assert inside.total == len(BOUNDS)
    exclusive = await storage.memory.list_messages(
        "t", start=LOW, end=HIGH, start_exclusive=True, end_exclusive=True)
    assert exclusive.total == len(BOUNDS) - 2


async def test_threads_at_the_bounds_read_back(storage: Any) -> None:
    for n, at in enumerate((LOW, HIGH)):
        thread = await storage.memory.save_thread(
            Thread(id=f"edge{n}", resource_id="u", created_at=at, updated_at=at))
        assert await storage.memory.get_thread(thread.id) == thread
    listed = await storage.memory.list_threads(resource_id="u", order_by="updated_at",
                                               direction="asc")
    assert [t.updated_at for t in listed.items] == [LOW, HIGH]


async def test_infinite_timestamps_read_back_as_the_ends_of_time(
    storage: Any, pg_conn: Any
) -> None:
    await storage.memory.save_thread(Thread(id="t", resource_id="u"))
    table = f'"{storage.backend.schema}".{storage.backend.tables.messages.name}'
    for mid, when in (("past", "-infinity"), ("future", "infinity")):
        await pg_conn.execute(
            f"INSERT INTO {table} (id, thread_id, resource_id, role, type, content, "
            f"metadata, created_at) VALUES ($1, 't', 'u', 'user', 'text', '1', '{{}}', "
            f"'{when}')", mid)
    low, high = _dt.datetime.min.replace(tzinfo=UTC), _dt.datetime.max.replace(tzinfo=UTC)
    page = await storage.memory.list_messages("t", per_page=None)
    assert [(m.id, m.created_at) for m in page.items] == [("past", low), ("future", high)]
    last = await storage.memory.list_messages("t", last=2)
    assert [(m.id, m.created_at) for m in last.items] == [("past", low), ("future", high)]
