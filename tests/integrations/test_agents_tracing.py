"""openai-agents traces and spans, made by the SDK's own tracing API (no model call),
stored by AgentStorageTracingProcessor and read back like native traces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from agent_storage import ConfigurationError, Storage
from agent_storage.integrations.openai_agents import AgentStorageTracingProcessor
from agent_storage.sync import SyncStorage
from agent_storage.sync import open_store as open_sync
from agents import (
    agent_span,
    custom_span,
    function_span,
    generation_span,
    set_tracing_disabled,
    trace,
)
from agents.tracing import SpanError, set_trace_processors


@pytest.fixture
def processor(tmp_path: object, close_sync_stores: None) -> Iterator[AgentStorageTracingProcessor]:
    proc = AgentStorageTracingProcessor(open_sync(f"sqlite:///{tmp_path}/traces.db"))
    set_trace_processors([proc])
    set_tracing_disabled(False)  # global: another test module may have turned it off
    yield proc
    set_tracing_disabled(True)
    set_trace_processors([])
    proc.shutdown()


def test_sdk_trace_and_spans_are_stored(processor: AgentStorageTracingProcessor) -> None:
    with trace("Trip planner", group_id="thread-7", metadata={"user": "u1"}) as t:
        with agent_span(name="planner", tools=["search"]):
            with generation_span(input=[{"role": "user", "content": "Lisbon?"}],
                                 output=[{"role": "assistant", "content": "Sure"}],
                                 model="gpt-x"):
                pass
            with function_span(name="search", input='{"city": "Lisbon"}') as fn:
                fn.set_error(SpanError(message="hotel API down", data={"status": 503}))
        with custom_span(name="post-process", data={"n": 1}):
            pass
    processor.force_flush()

    sync = SyncStorage(processor.storage)
    stored = sync.observability.get_trace(t.trace_id)
    assert stored is not None
    by_name = {s.name: s for s in stored.spans}
    root = by_name["Trip planner"]
    assert root.parent_span_id is None and root.span_type == "workflow"
    assert root.thread_id == "thread-7"
    assert root.metadata["openai_agents"]["metadata"] == {"user": "u1"}
    agent, gen = by_name["planner"], by_name["generation"]
    assert agent.parent_span_id == root.span_id and agent.agent_id == "planner"
    assert gen.parent_span_id == agent.span_id and gen.span_type == "llm"
    assert gen.output == [{"role": "assistant", "content": "Sure"}]
    assert gen.attributes["model"] == "gpt-x"
    tool = by_name["search"]
    assert tool.span_type == "tool" and tool.status == "error"
    assert tool.error == {"message": "hotel API down", "data": {"status": 503}}
    assert by_name["post-process"].parent_span_id == root.span_id
    listed = sync.observability.list_traces(span_type="workflow")
    assert [s.trace_id for s in listed.items] == [t.trace_id]


async def test_async_storage_is_refused(url_factory: Callable[[str], str]) -> None:
    from agent_storage import open_store

    store: Storage = open_store(url_factory("memory"))
    with pytest.raises(ConfigurationError, match="sync"):
        AgentStorageTracingProcessor(store)
