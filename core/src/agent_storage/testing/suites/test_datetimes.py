"""The supported datetime range, the same on every backend: ``serde.MIN_DATETIME`` ..
``serde.MAX_DATETIME`` (0001-01-02T00:00:00Z .. 9999-12-30T23:59:59.999999Z). Anything
inside round-trips exactly (also given in another time zone) and orders correctly;
anything outside is refused up front (``test_bad_input.py``).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from agent_storage import Message, Score, Span, Thread
from agent_storage.serde import MAX_DATETIME, MIN_DATETIME
from agent_storage.testing._helpers import T0

pytestmark = pytest.mark.asyncio(loop_scope="function")

_US = _dt.timedelta(microseconds=1)
#: The bounds, a microsecond inside, and the lowest bound written at +05:00.
EDGES = (MIN_DATETIME, MIN_DATETIME + _US, MAX_DATETIME - _US, MAX_DATETIME)
_PLUS5 = _dt.timezone(_dt.timedelta(hours=5))


class TestDatetimeRange:
    async def test_messages_at_the_bounds_round_trip_and_order(self, storage: Any) -> None:
        mem = storage.memory
        await mem.save_thread(Thread(id="dt-t", resource_id="dt-owner", created_at=MIN_DATETIME,
                                     updated_at=T0))
        batch = [Message(id=f"dt-m{n}", thread_id="dt-t", role="user", content=n, created_at=at)
                 for n, at in enumerate(EDGES)]
        batch.append(Message(id="dt-local", thread_id="dt-t", role="user", content="local",
                             created_at=MIN_DATETIME.astimezone(_PLUS5) + _US * 2))
        await mem.save_messages(batch)
        page = await mem.list_messages("dt-t", per_page=None)
        assert [(m.id, m.created_at) for m in page.items] == [
            ("dt-m0", MIN_DATETIME), ("dt-m1", MIN_DATETIME + _US),
            ("dt-local", MIN_DATETIME + _US * 2),
            ("dt-m2", MAX_DATETIME - _US), ("dt-m3", MAX_DATETIME)]
        assert all(m.created_at.tzinfo is _dt.UTC for m in page.items)
        last = await mem.list_messages("dt-t", last=1)
        assert [m.id for m in last.items] == ["dt-m3"]
        bounded = await mem.list_messages("dt-t", start=MIN_DATETIME, end=MAX_DATETIME,
                                          per_page=None)
        assert len(bounded.items) == 5
        inner = await mem.list_messages("dt-t", start=MIN_DATETIME, end=MAX_DATETIME,
                                        start_exclusive=True, end_exclusive=True, per_page=None)
        assert [m.id for m in inner.items] == ["dt-m1", "dt-local", "dt-m2"]
        thread = await mem.get_thread("dt-t")
        assert thread is not None and thread.created_at == MIN_DATETIME
        stats = await mem.stats("dt-owner")
        assert stats.first_activity == MIN_DATETIME and stats.last_activity == MAX_DATETIME

    async def test_threads_at_the_bounds_round_trip(self, storage: Any) -> None:
        mem = storage.memory
        for n, at in enumerate(EDGES):
            await mem.save_thread(Thread(id=f"dt-t{n}", resource_id="dt-owner", created_at=at,
                                         updated_at=at))
        listed = await mem.list_threads(resource_id="dt-owner", order_by="updated_at",
                                        direction="asc", per_page=None)
        assert [(t.id, t.created_at, t.updated_at) for t in listed.items] == [
            (f"dt-t{n}", at, at) for n, at in enumerate(EDGES)]

    async def test_spans_and_scores_at_the_bounds_round_trip(self, storage: Any) -> None:
        await storage.observability.create_spans([
            Span(trace_id="dt-trace", span_id="root", name="n", span_type="agent",
                 started_at=MIN_DATETIME, ended_at=MAX_DATETIME)])
        span = await storage.observability.get_span("dt-trace", "root")
        assert span is not None
        assert (span.started_at, span.ended_at) == (MIN_DATETIME, MAX_DATETIME)
        for n, at in enumerate((MIN_DATETIME, MAX_DATETIME)):
            await storage.scores.save_score(Score(id=f"dt-s{n}", scorer_id="dt", run_id="dt-run",
                                                  score=1.0, created_at=at))
            got = await storage.scores.get_score(f"dt-s{n}")
            assert got is not None and got.created_at == at
