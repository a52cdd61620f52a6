"""Framework integrations against the real packages, offline: openai-agents and langchain-core.

The language model is the only stand-in (a subclass of each framework's own model base
class returning canned replies); sessions, runners and histories are the real ones.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import agent_storage
import pytest
from agent_storage import Message, Thread, ThreadNotFoundError, sync

DOCS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"

if os.environ.get("CI") != "true":  # under CI the extras are installed: never skip there
    pytest.importorskip("agents")
    pytest.importorskip("langchain_core.messages")

from agent_storage.integrations.langchain import AgentStorageChatMessageHistory  # noqa: E402
from agent_storage.integrations.openai_agents import AgentStorageSession, item_role  # noqa: E402
from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.items import ModelResponse  # noqa: E402
from agents.memory.session import Session  # noqa: E402
from agents.models.interface import Model  # noqa: E402
from agents.usage import Usage  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from openai.types.responses import (  # noqa: E402
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

set_tracing_disabled(True)  # the SDK would otherwise try to upload traces


def _sqlite_ready() -> bool:
    if os.environ.get("CI") == "true":
        return True
    return importlib.util.find_spec("agent_storage_sqlite.store") is not None


requires_sqlite = pytest.mark.skipif(not _sqlite_ready(), reason="SQLite backend not written yet")


@pytest.fixture
async def storage():
    s = agent_storage.open_store("memory://", fresh=True)
    yield s
    await s.close()


# -- openai-agents -----------------------------------------------------------------------------


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def test_session_satisfies_the_sdk_protocol(storage):
    session = AgentStorageSession("s1", storage, resource_id="u1")
    assert isinstance(session, Session)
    assert await session.get_items() == []
    assert await session.pop_item() is None


async def test_session_round_trips_items_in_order(storage):
    session = AgentStorageSession("s1", storage, resource_id="u1", title="Chat")
    items = [
        _user("hi"),
        {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "hello", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "developer", "content": "be brief"},
    ]
    await session.add_items(items[:3])
    await session.add_items(items[3:])
    assert await session.get_items() == items
    assert await session.get_items(limit=2) == items[-2:]
    assert await session.get_items(limit=0) == []
    # Stored as a thread of messages: role and type are queryable.
    page = await storage.memory.list_messages("s1", per_page=None)
    assert [(m.role, m.type) for m in page.items] == [
        ("user", "message"), ("assistant", "message"), ("assistant", "function_call"),
        ("tool", "function_call_output"), ("assistant", "reasoning"), ("system", "message"),
    ]
    thread = await storage.memory.get_thread("s1")
    assert thread.resource_id == "u1" and thread.title == "Chat"
    assert await storage.memory.list_messages("s1", types=["function_call_output"],
                                              per_page=None) is not None


async def test_pop_item_removes_the_newest(storage):
    session = AgentStorageSession("s1", storage)
    await session.add_items([_user(str(i)) for i in range(4)])
    assert await session.pop_item() == _user("3")
    assert await session.pop_item() == _user("2")
    assert await session.get_items() == [_user("0"), _user("1")]


async def test_concurrent_pops_never_return_the_same_item(storage):
    session = AgentStorageSession("s1", storage)
    await session.add_items([_user(str(i)) for i in range(10)])
    popped = await asyncio.gather(*(session.pop_item() for _ in range(12)))
    got = [p["content"] for p in popped if p is not None]
    assert sorted(got, key=int) == [str(i) for i in range(10)]
    assert popped.count(None) == 2


async def test_clear_session_then_reuse(storage):
    session = AgentStorageSession("s1", storage, resource_id="u1")
    await session.add_items([_user("a")])
    await session.clear_session()
    assert await session.get_items() == []
    assert await storage.memory.get_thread("s1") is None
    await session.add_items([_user("b")])
    assert await session.get_items() == [_user("b")]
    # Another Session object clearing behind this one's back: the next add recreates.
    await AgentStorageSession("s1", storage, resource_id="u1").clear_session()
    await session.add_items([_user("c")])
    assert await session.get_items() == [_user("c")]


async def test_session_settings_limit_is_the_default(storage):
    session = AgentStorageSession("s1", storage, session_settings={"limit": 2})
    await session.add_items([_user(str(i)) for i in range(5)])
    assert await session.get_items() == [_user("3"), _user("4")]
    assert len(await session.get_items(limit=4)) == 4


async def test_session_respects_ownership(storage):
    await storage.memory.save_thread(Thread(id="s1", resource_id="alice"))
    await storage.memory.save_messages([Message(id="m", thread_id="s1", role="user",
                                                content={"role": "user", "content": "secret"})])
    mallory = AgentStorageSession("s1", storage, resource_id="mallory")
    assert await mallory.get_items() == []
    assert await mallory.pop_item() is None
    with pytest.raises(ThreadNotFoundError):
        await mallory.add_items([_user("x")])
    with pytest.raises(ThreadNotFoundError):
        await mallory.clear_session()
    assert len((await storage.memory.list_messages("s1")).items) == 1


def test_item_role_mapping():
    assert item_role({"role": "user"}) == "user"
    assert item_role({"role": "developer"}) == "system"
    assert item_role({"type": "computer_call_output"}) == "tool"
    assert item_role({"type": "file_search_call"}) == "assistant"


class ScriptedModel(Model):
    """An offline model: replays canned outputs and records the input it was given."""

    def __init__(self, outputs: list[list[Any]]) -> None:
        self.outputs = list(outputs)
        self.inputs: list[Any] = []

    async def get_response(self, system_instructions, input, model_settings, tools,
                           output_schema, handoffs, tracing, *, previous_response_id=None,
                           conversation_id=None, prompt=None, **kwargs):
        self.inputs.append(input)
        return ModelResponse(output=self.outputs.pop(0), usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):  # pragma: no cover - not used
        raise NotImplementedError


def _text(text: str, n: int) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id=f"msg_{n}", type="message", role="assistant", status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])])


@function_tool
def city_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def test_real_runner_uses_the_session_across_turns(storage):
    model = ScriptedModel([
        [ResponseFunctionToolCall(type="function_call", call_id="c1", name="city_weather",
                                  arguments='{"city": "Paris"}', id="fc_1")],
        [_text("It is sunny in Paris.", 1)],
        [_text("You asked about Paris.", 2)],
    ])
    agent = Agent(name="assistant", instructions="Be brief.", model=model, tools=[city_weather])
    session = AgentStorageSession("conv-1", storage, resource_id="user-1")

    first = await Runner.run(agent, "Weather in Paris?", session=session)
    assert first.final_output == "It is sunny in Paris."
    second = await Runner.run(agent, "What did I ask?", session=session)
    assert second.final_output == "You asked about Paris."

    # The second turn's model input was the history read back from the store.
    history_in = model.inputs[2]
    assert history_in[0]["content"] == "Weather in Paris?"
    assert any(i.get("type") == "function_call_output" and "sunny in Paris" in i["output"]
               for i in history_in)
    stored = await storage.memory.list_messages("conv-1", per_page=None)
    roles = [m.role for m in stored.items]
    assert roles[0] == "user" and "tool" in roles and roles[-1] == "assistant"
    assert len(stored.items) == len(await session.get_items())


async def test_session_over_a_sync_store_runs_on_its_loop():
    store = sync.open_store("memory://", fresh=True)
    try:
        session = AgentStorageSession("s", store)
        await session.add_items([_user("from async")])
        assert await session.get_items() == [_user("from async")]
        # The same data through the blocking facade.
        assert store.memory.list_messages("s").items[0].content == _user("from async")
    finally:
        store.close()


# -- langchain-core ---------------------------------------------------------------------------


def test_history_blocking_round_trip():
    store = sync.open_store("memory://", fresh=True)
    try:
        history = AgentStorageChatMessageHistory("chat-1", store, resource_id="u1")
        assert history.messages == []
        msgs = [
            SystemMessage("You are terse."),
            HumanMessage("What is 2+2?", id="h1"),
            AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 2}, "id": "call1"}]),
            ToolMessage("4", tool_call_id="call1"),
            AIMessage("4", response_metadata={"model": "x"}),
        ]
        history.add_messages(msgs[:2])
        history.add_message(msgs[2])
        history.add_messages(msgs[3:])
        assert history.messages == msgs
        stored = store.memory.list_messages("chat-1", per_page=None).items
        assert [(m.role, m.type) for m in stored] == [
            ("system", "system"), ("user", "human"), ("assistant", "ai"), ("tool", "tool"),
            ("assistant", "ai"),
        ]
        assert stored[2].content["data"]["tool_calls"][0]["args"] == {"a": 2, "b": 2}
        history.add_user_message("again")
        history.add_ai_message("sure")
        assert [m.content for m in history.messages[-2:]] == ["again", "sure"]
        assert AgentStorageChatMessageHistory("chat-1", store, resource_id="u1",
                                              limit=2).messages == history.messages[-2:]
        history.clear()
        assert history.messages == []
        assert store.memory.get_thread("chat-1") is None
    finally:
        store.close()


async def test_history_async_methods_on_an_async_store(storage):
    history = AgentStorageChatMessageHistory("chat-2", storage, resource_id="u1")
    await history.aadd_messages([HumanMessage("hi"), AIMessage("hello")])
    assert [m.content for m in await history.aget_messages()] == ["hi", "hello"]
    with pytest.raises(agent_storage.ConfigurationError, match="async"):
        history.messages  # noqa: B018 - blocking access needs a sync store
    await history.aclear()
    assert await history.aget_messages() == []


async def test_history_async_methods_on_a_sync_store():
    store = sync.open_store("memory://", fresh=True)
    try:
        history = AgentStorageChatMessageHistory("chat-3", store)
        await history.aadd_messages([HumanMessage("one")])
        history.add_messages([AIMessage("two")])  # blocking and async share the same data
        assert [m.content for m in await history.aget_messages()] == ["one", "two"]
        await history.aclear()
        assert history.messages == []
    finally:
        store.close()


def test_history_respects_ownership():
    store = sync.open_store("memory://", fresh=True)
    try:
        AgentStorageChatMessageHistory("c", store, resource_id="alice").add_user_message("hi")
        bob = AgentStorageChatMessageHistory("c", store, resource_id="bob")
        assert bob.messages == []
        with pytest.raises(ThreadNotFoundError):
            bob.add_user_message("x")
        with pytest.raises(ThreadNotFoundError):
            bob.clear()
    finally:
        store.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_runnable_with_message_history_real_chain():
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables.history import RunnableWithMessageHistory

    store = sync.open_store("memory://", fresh=True)
    try:
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")])
        model = FakeListChatModel(responses=["Paris.", "You asked about France."])
        chain = RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: AgentStorageChatMessageHistory(session_id, store, resource_id="u"),
            input_messages_key="question", history_messages_key="history",
        )
        config = {"configurable": {"session_id": "lc-1"}}
        assert chain.invoke({"question": "Capital of France?"}, config=config).content == "Paris."
        reply = asyncio.run(chain.ainvoke({"question": "What did I ask?"}, config=config))
        assert reply.content == "You asked about France."
        history = AgentStorageChatMessageHistory("lc-1", store, resource_id="u").messages
        assert [type(m).__name__ for m in history] == [
            "HumanMessage", "AIMessage", "HumanMessage", "AIMessage"]
        assert history[0].content == "Capital of France?"
    finally:
        store.close()


# -- the docs page's snippets run as written ------------------------------------------------


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_docs_have_a_snippet_per_integration():
    text = "\n".join(_blocks(DOCS))
    assert "AgentStorageSession" in text and "AgentStorageChatMessageHistory" in text


@requires_sqlite
@pytest.mark.parametrize("index", range(len(_blocks(DOCS)) if DOCS.exists() else 0))
def test_docs_snippet_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets write sqlite:///agent.db here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # offline: no model calls
    code = _blocks(DOCS)[index]
    # the tracing block replaces the SDK's uploading processor with ours: tracing on for it
    set_tracing_disabled("AgentStorageTracingProcessor" not in code)
    try:
        exec(compile(code, f"{DOCS.name}[{index}]", "exec"), {"__name__": "__main__"})
    finally:
        set_tracing_disabled(True)
        sync.close_all()
        asyncio.run(agent_storage.close_all())
