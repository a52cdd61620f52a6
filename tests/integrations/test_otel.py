"""OpenTelemetry SDK spans, through a real TracerProvider and BatchSpanProcessor, land in
the observability domain and read back like native traces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from agent_storage.integrations.otel import AgentStorageSpanExporter
from agent_storage.sync import SyncStorage
from agent_storage.sync import open_store as open_sync
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

BACKENDS = ("memory", "sqlite", "pg", "dynamodb")


@pytest.fixture
def traced(url_factory: Callable[[str], str], close_sync_stores: None,
           request: pytest.FixtureRequest) -> Iterator[tuple[TracerProvider, SyncStorage]]:
    store = open_sync(url_factory(request.param), fresh=True)
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-planner"}))
    # The SDK drops spans (with a "Queue full" warning) when its queue overflows; the
    # 10,000 spans are made faster than any exporter writes, so the queue holds them all.
    provider.add_span_processor(BatchSpanProcessor(AgentStorageSpanExporter(store),
                                                   max_queue_size=10_000,
                                                   max_export_batch_size=512))
    yield provider, store
    provider.shutdown()
    store.close()


@pytest.mark.parametrize("traced", BACKENDS, indirect=True)
def test_nested_genai_spans_and_an_error(traced: tuple[TracerProvider, SyncStorage]) -> None:
    provider, store = traced
    tracer = provider.get_tracer("trip-agent", "1.2")
    with tracer.start_as_current_span("invoke_agent planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
            "gen_ai.conversation.id": "thread-7", "user.id": "user-1"}) as root:
        with tracer.start_as_current_span("chat gpt-x", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-x",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", '
                                         '"content": "Lisbon?"}]}]'}) as llm:
            llm.add_event("gen_ai.choice", {"index": 0})
            llm.set_status(Status(StatusCode.OK))
        with pytest.raises(RuntimeError), tracer.start_as_current_span(
                "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool"}):
            raise RuntimeError("hotel API down")
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert provider.force_flush()

    trace = store.observability.get_trace(trace_id)
    assert trace is not None
    by_name = {s.name: s for s in trace.spans}
    agent, chat = by_name["invoke_agent planner"], by_name["chat gpt-x"]
    tool, event = by_name["execute_tool search"], by_name["gen_ai.choice"]
    assert agent.parent_span_id is None and agent.span_type == "agent"
    assert (agent.agent_id, agent.thread_id, agent.resource_id) == ("planner", "thread-7", "user-1")
    assert chat.parent_span_id == agent.span_id and chat.span_type == "llm"
    assert chat.status == "ok" and chat.attributes["gen_ai.usage.input_tokens"] == 12
    assert chat.input == [{"role": "user", "parts": [{"type": "text", "content": "Lisbon?"}]}]
    assert chat.metadata["otel"]["kind"] == "client"
    assert chat.metadata["otel"]["resource"]["service.name"] == "trip-planner"
    assert event.is_event and event.parent_span_id == chat.span_id
    assert tool.span_type == "tool" and tool.status == "error"
    assert tool.error["type"] == "RuntimeError" and tool.error["message"] == "hotel API down"
    assert all(s.ended_at is not None and s.ended_at >= s.started_at for s in trace.spans)

    roots = store.observability.list_traces(span_type="agent")
    assert [r.span_id for r in roots.items] == [agent.span_id]
    assert store.observability.list_traces(name="chat gpt-x").items == ()  # not a root


@pytest.mark.slow
@pytest.mark.parametrize("traced", ["sqlite", "pg"], indirect=True)
def test_ten_thousand_spans_none_lost_and_shutdown_flushes(
    traced: tuple[TracerProvider, SyncStorage],
) -> None:
    provider, store = traced
    tracer = provider.get_tracer("load")
    trace_ids = []
    for t in range(100):
        with tracer.start_as_current_span(f"run-{t}") as root:
            trace_ids.append(format(root.get_span_context().trace_id, "032x"))
            for s in range(99):
                with tracer.start_as_current_span(f"step-{s}"):
                    pass
    provider.shutdown()  # no force_flush: shutdown must export what is queued

    counts = [len(store.observability.get_trace(t).spans) for t in trace_ids]  # type: ignore[union-attr]
    assert sum(counts) == 10_000 and set(counts) == {100}
    assert store.observability.list_traces(per_page=None).total == 100
