"""NUL characters and lone surrogates: PostgreSQL stores neither in text or JSONB.

agent-storage refuses them up front with a typed ValidationError (the same choice on every
backend); these tests also prove no driver exception leaks when a value slips past record
validation, and that every other awkward string round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agent_storage import (
    AgentConfig,
    Message,
    MessageUpdate,
    Resource,
    Span,
    SpanUpdate,
    Thread,
    ValidationError,
)
from agent_storage.serde import utcnow
from agent_storage.sql.rows import trusted

BAD = ["a\x00b", "\x00", "x\ud800y", "\udfff", "ok\udc80"]


def _driver_frames(exc: BaseException) -> list[str]:
    """Modules of every exception in the chain that came from a driver."""
    found, seen = [], set()
    item: BaseException | None = exc
    todo = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        module = type(item).__module__
        if module.startswith(("asyncpg", "sqlalchemy")):
            found.append(f"{module}.{type(item).__name__}")
        todo += [item.__cause__, item.__context__]
    return found


def _calls(store: Any, bad: str) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    m, w = store.memory, store.workflows
    return [
        ("update_thread title", lambda: m.update_thread("t", title=bad)),
        ("update_thread metadata value", lambda: m.update_thread("t", metadata={"k": bad})),
        ("update_thread metadata key", lambda: m.update_thread("t", metadata={bad: 1})),
        ("update_resource", lambda: m.update_resource("r", working_memory=bad)),
        ("get_thread", lambda: m.get_thread(bad)),
        ("list_messages", lambda: m.list_messages(bad)),
        ("list_threads", lambda: m.list_threads(resource_id=bad)),
        ("list_threads metadata", lambda: m.list_threads(metadata={"k": bad})),
        ("update_messages", lambda: m.update_messages([MessageUpdate(id="m0", content=bad)])),
        ("persist_snapshot", lambda: w.persist_snapshot("wf", "run", {"x": [bad]})),
        ("update_step_result", lambda: w.update_step_result("wf", "run", "step", {"o": bad})),
        ("update_state", lambda: w.update_state("wf", "run", status="done", result=bad)),
        ("update_spans", lambda: store.observability.update_spans(
            [SpanUpdate(trace_id="tr", span_id="sp", attributes={"a": bad})])),
        ("update_agent", lambda: store.agents.update_agent("ag", instructions=bad)),
    ]


@pytest.mark.parametrize("bad", BAD, ids=["nul-inside", "nul-only", "high-surrogate",
                                          "low-surrogate", "trailing-surrogate"])
async def test_bad_text_is_a_typed_error_and_nothing_changes(storage: Any, bad: str) -> None:
    await storage.memory.save_thread(Thread(id="t", resource_id="r", title="kept"))
    await storage.memory.save_messages([Message(id="m0", thread_id="t", role="user",
                                                content="kept")])
    await storage.workflows.persist_snapshot("wf", "run", {"status": "running"})
    await storage.observability.create_spans([
        Span(trace_id="tr", span_id="sp", name="n", span_type="agent", started_at=utcnow())])
    await storage.agents.create_agent(AgentConfig(id="ag", name="a"))
    for label, call in _calls(storage, bad):
        with pytest.raises(ValidationError) as info:
            await call()
        assert not _driver_frames(info.value), label
    for build in (
        lambda: Thread(id="t2", resource_id="r", title=bad),
        lambda: Message(id="m1", thread_id="t", role="user", content={"nested": [bad]}),
        lambda: Message(id="m1", thread_id="t", role="user", content="x", metadata={bad: 1}),
        lambda: Resource(id="r", working_memory=bad),
        lambda: AgentConfig(id="a2", name="a", instructions=bad),
    ):
        with pytest.raises(ValidationError):
            build()
    thread = await storage.memory.get_thread("t")
    assert thread is not None and thread.title == "kept" and thread.metadata == {}
    messages = await storage.memory.list_messages("t")
    assert [m.content for m in messages.items] == ["kept"]
    assert await storage.memory.get_resource("r") is None
    run = await storage.workflows.get_run("run")
    assert run is not None and run.status == "running" and "context" not in run.snapshot


@pytest.mark.parametrize("bad", ["a\x00b", "x\ud800y"])
async def test_a_value_that_skips_validation_still_fails_typed(storage: Any, bad: str) -> None:
    """A record built without validators reaches the driver: the refusal is still typed."""
    now = utcnow()
    make = trusted(Thread)
    thread = make(id="t", resource_id="r", title=bad, metadata={}, agent_id=None,
                  created_at=now, updated_at=now)
    with pytest.raises(ValidationError) as info:
        await storage.memory.save_thread(thread)
    assert info.value.__cause__ is not None  # the driver error is kept as the cause
    json_thread = make(id="t", resource_id="r", title=None, metadata={"k": bad}, agent_id=None,
                       created_at=now, updated_at=now)
    with pytest.raises(ValidationError):
        await storage.memory.save_thread(json_thread)
    assert await storage.memory.get_thread("t") is None


TRICKY = [
    "\\u0000", "\\x00", "back\\slash", "quote ' and \" both", "'; DROP TABLE x; --",
    "emoji 🦀🧪", "\u2028\u2029", "\uffff\ufffe", "\U0010ffff", "e\u0301", "\x01\x1f\x7f",
    "tab\tnew\nline\rcr", "$1 $$ :name %s %(x)s ?", "",
]


async def test_awkward_but_valid_text_round_trips_exactly(storage: Any) -> None:
    title = "|".join(TRICKY)
    meta = {text or "empty": text for text in TRICKY}
    await storage.memory.save_thread(Thread(id="t", resource_id="r", title=title, metadata=meta))
    messages = [Message(id=f"m{i}", thread_id="t", role="user", content=text,
                        metadata={"k": text}) for i, text in enumerate(TRICKY)]
    messages.append(Message(id="json", thread_id="t", role="tool",
                            content={"parts": TRICKY, "nested": {"deep": meta}}))
    await storage.memory.save_messages(messages)
    thread = await storage.memory.get_thread("t")
    assert thread is not None and thread.title == title and thread.metadata == meta
    got = await storage.memory.get_messages([m.id for m in messages])
    assert {m.id: (m.content, dict(m.metadata)) for m in got} == {
        m.id: (m.content, dict(m.metadata)) for m in messages}
    await storage.memory.update_resource("r", working_memory=title)
    resource = await storage.memory.get_resource("r")
    assert resource is not None and resource.working_memory == title
