"""The openai-agents session used from five threads, each with its own event loop, as the
SDK's own session tests do (issue 11 item 15): no hang, no "database is locked", nothing
lost, on a URL-opened store (the cached one) over SQLite and over named memory."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import uuid
from pathlib import Path

import pytest
from agent_storage import close_all

if importlib.util.find_spec("agents") is None and os.environ.get("CI") != "true":
    pytest.skip("needs the openai-agents SDK", allow_module_level=True)

from agent_storage.integrations.openai_agents import AgentStorageSession


@pytest.fixture(params=["sqlite", "memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    return f"memory://sessions{uuid.uuid4().hex[:8]}"


def test_one_session_from_five_threads_each_with_its_own_loop(url: str) -> None:
    session = AgentStorageSession("shared", url)
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    async def turn(n: int) -> None:
        await session.get_items()
        await asyncio.to_thread(barrier.wait, 120)  # all five loops are alive together
        await session.add_items([{"role": "user", "content": f"from thread {n}"},
                                 {"role": "assistant", "content": f"reply {n}"}])
        assert len(await session.get_items(limit=2)) == 2

    def target(n: int) -> None:
        try:
            asyncio.run(turn(n))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(n,), daemon=True) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    assert errors == []

    async def history() -> list[str]:
        items = await session.get_items()
        popped = await session.pop_item()
        await close_all()
        return [item["content"] for item in items] + [popped["content"] if popped else ""]

    contents = asyncio.run(history())
    assert sorted(contents[:-1]) == sorted(
        [f"from thread {n}" for n in range(5)] + [f"reply {n}" for n in range(5)])
    assert contents[-1] == contents[-2]


async def test_a_non_json_item_is_both_a_type_error_and_a_validation_error() -> None:
    # the frameworks' own sessions raise TypeError for such items; ours must satisfy both
    from agent_storage import ValidationError
    from agent_storage.integrations.langchain import AgentStorageChatMessageHistory
    from langchain_core.messages import HumanMessage

    url = f"memory://nonjson{uuid.uuid4().hex[:8]}"
    session = AgentStorageSession("s", url)
    for kind in (TypeError, ValidationError):
        with pytest.raises(kind):
            await session.add_items([{"role": "user", "content": {1, 2}}])
    history = AgentStorageChatMessageHistory("h", url)
    for kind in (TypeError, ValidationError):
        with pytest.raises(kind):
            await history.aadd_messages([HumanMessage(content="hi", additional_kwargs={"x": {1}})])
    assert await session.get_items() == [] and await history.aget_messages() == []
    await close_all()
