"""The adapters refuse a non-JSON item as the frameworks' own sessions do (TypeError, which
``json.dumps`` raises) while staying agent-storage's ValidationError; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_storage import ValidationError
from agent_storage.errors import NotJSONError
from agent_storage.integrations.langchain import AgentStorageChatMessageHistory
from agent_storage.integrations.openai_agents import AgentStorageSession
from langchain_core.messages import AIMessage, HumanMessage


async def test_openai_agents_session_non_json_items(tmp_path: Path) -> None:
    session = AgentStorageSession("s1", f"sqlite:///{tmp_path}/a.db")
    await session.add_items([{"role": "user", "content": "kept"}])
    for bad in ([{"role": "user", "content": object()}], ["not a dict"],
                [{"role": "user", "content": "ok"}, {"type": "x", "data": {1, 2}}]):
        with pytest.raises(TypeError) as caught:
            await session.add_items(bad)  # type: ignore[arg-type]
        assert isinstance(caught.value, ValidationError)
        assert isinstance(caught.value, NotJSONError)
    assert await session.get_items() == [{"role": "user", "content": "kept"}]


def test_langchain_history_non_json_message(tmp_path: Path, close_sync_stores: None) -> None:
    history = AgentStorageChatMessageHistory("h1", f"sqlite:///{tmp_path}/b.db")
    history.add_messages([HumanMessage("kept")])
    with pytest.raises(TypeError) as caught:
        history.add_messages([HumanMessage("lost"),
                              AIMessage("x", additional_kwargs={"tool": object()})])
    assert isinstance(caught.value, ValidationError)
    assert [m.content for m in history.messages] == ["kept"]
