"""Deletes report what they deleted themselves, also when callers race.

Two callers deleting the same rows at once: together they report exactly the rows that
existed (each caller counts the rows its own statement removed, never a count read before
the delete, which both callers would see). This is what makes "two concurrent pops never
return the same item" hold for session adapters built on ``delete_messages``.

Every backend: memory (one critical section), SQLite/PostgreSQL (``DELETE ... RETURNING``),
DynamoDB (conditional deletes in a transaction, or DeleteItem with ALL_OLD one by one).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_storage import Message, Span, Thread
from agent_storage.testing._helpers import T0, ts, uid

pytestmark = pytest.mark.asyncio(loop_scope="function")

RACERS = 2
ROWS = 10


class TestConcurrentDeletes:
    @pytest.mark.parametrize("round_", range(3))
    async def test_racing_delete_messages_count_each_row_once(
        self, storage: Any, round_: int
    ) -> None:
        thread = await storage.memory.save_thread(Thread(id=uid("dt"), resource_id="u"))
        saved = await storage.memory.save_messages([
            Message(id=uid("dm"), thread_id=thread.id, role="user", content=i,
                    created_at=ts(i)) for i in range(ROWS)])
        ids = [m.id for m in saved]
        counts = await asyncio.gather(
            *(storage.memory.delete_messages(ids) for _ in range(RACERS)))
        assert sum(counts) == ROWS, counts
        assert (await storage.memory.list_messages(thread.id)).total == 0
        assert await storage.memory.delete_messages(ids) == 0

    async def test_racing_delete_of_the_newest_message_counts_it_once(
        self, storage: Any
    ) -> None:
        # the shape of a session's pop_item: read the newest, delete it
        thread = await storage.memory.save_thread(Thread(id=uid("dt"), resource_id="u"))
        await storage.memory.save_messages([
            Message(id=uid("dm"), thread_id=thread.id, role="user", content=i,
                    created_at=ts(i)) for i in range(3)])
        newest = (await storage.memory.list_messages(thread.id, last=1)).items[0]
        counts = await asyncio.gather(
            *(storage.memory.delete_messages([newest.id]) for _ in range(4)))
        assert sorted(counts) == [0, 0, 0, 1]

    async def test_racing_delete_traces_count_each_span_once(self, storage: Any) -> None:
        if storage.get_domain("observability") is None:
            pytest.skip("observability is disabled")
        trace = uid("trace")
        await storage.observability.create_spans([
            Span(trace_id=trace, span_id=f"s{i}", name="s", span_type="tool", started_at=T0)
            for i in range(ROWS)])
        counts = await asyncio.gather(
            *(storage.observability.delete_traces([trace]) for _ in range(RACERS)))
        assert sum(counts) == ROWS, counts
        assert await storage.observability.get_trace(trace) is None
