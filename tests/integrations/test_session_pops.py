"""The openai-agents promise "two concurrent pops never return the same item", on every
backend (issue 11 item 14: PostgreSQL counted a delete another transaction made, so two
racing ``pop_item()`` calls both returned the newest item and the older one stayed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agent_storage import Storage
from agent_storage.integrations.openai_agents import AgentStorageSession

BACKENDS = ("memory", "sqlite", "pg", "dynamodb")


def _item(n: int) -> dict[str, Any]:
    return {"role": "user", "content": str(n)}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_racing_pops_return_each_item_once(
    backend: str, storage_for: Callable[..., Awaitable[Storage]]
) -> None:
    store = await storage_for(backend)
    session = AgentStorageSession("s1", store)
    await session.add_items([_item(i) for i in range(9)])
    for _round in range(3):  # two sessions on one id, popping at once, three times
        other = AgentStorageSession("s1", store)
        popped = await asyncio.gather(session.pop_item(), other.pop_item())
        got = [p["content"] for p in popped if p is not None]
        assert len(got) == len(set(got)) == 2, popped
    # every pop took a distinct item, newest first, and the three oldest are left
    assert await session.get_items() == [_item(i) for i in range(3)]
