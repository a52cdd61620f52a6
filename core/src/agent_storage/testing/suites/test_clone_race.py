"""``clone_thread`` racing to one ``new_thread_id``: exactly one clone is made; every other
caller gets ``ValidationError`` ("already exists"), never a driver's unique violation,
and the clone holds exactly one copy of the selected messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_storage import Message, Thread, ValidationError
from agent_storage.testing._helpers import ts, uid

pytestmark = pytest.mark.asyncio

RACERS = 8


class TestCloneRace:
    pytestmark = pytest.mark.asyncio

    async def test_racing_clones_to_one_id_make_one_clone(self, storage: Any) -> None:
        memory = storage.memory
        source = await memory.save_thread(Thread(id=uid("src"), resource_id="u"))
        await memory.save_messages([
            Message(id=uid("cm"), thread_id=source.id, role="user", content=i,
                    created_at=ts(i)) for i in range(5)])
        target = uid("clone")
        results = await asyncio.gather(
            *(memory.clone_thread(source.id, new_thread_id=target) for _ in range(RACERS)),
            return_exceptions=True)
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(made) == 1, results
        assert all(isinstance(e, ValidationError) and "already exists" in str(e)
                   for e in refused), refused
        clone, copies = made[0]
        assert clone.id == target
        page = await memory.list_messages(target, per_page=None)
        assert [m.content for m in page.items] == [0, 1, 2, 3, 4]
        assert [m.id for m in page.items] == [m.id for m in copies]
