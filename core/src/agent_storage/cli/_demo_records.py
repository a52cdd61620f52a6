"""``agent-storage demo``: record what an agent produces in one turn, then recall it.

Writes a conversation (resource with working memory, thread, messages including a tool
call and its result), a workflow run (snapshot, step results, a compare-and-set status
change), scores and a trace (root span, child spans, an event), then reads everything back
through the public API and prints what came back. Ids carry a per-run suffix so running
the demo twice on one file adds a second set instead of failing.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any

from attrs import frozen

from ..errors import BackendError
from ..records import Message, Score, Span, SpanUpdate, Thread
from ..serde import utcnow
from ..storage import Storage
from ._output import Output, message_text

__all__ = ["run_demo"]


@frozen(kw_only=True)
class _Ids:
    """The ids of one demo run (a per-run suffix: running twice adds a second set)."""

    suffix: str
    t0: _dt.datetime
    user: str = "demo-user"
    agent: str = "weather-agent"

    @property
    def thread(self) -> str:
        return f"demo-thread-{self.suffix}"

    @property
    def run(self) -> str:
        return f"demo-run-{self.suffix}"

    @property
    def trace(self) -> str:
        return f"demo-trace-{self.suffix}"

    def at(self, ms: int) -> _dt.datetime:
        return self.t0 + _dt.timedelta(milliseconds=ms)


async def run_demo(storage: Storage, out: Output) -> dict[str, Any]:
    """Write the demo records, read them back, print them; return what was recalled."""
    ids = _Ids(suffix=uuid.uuid4().hex[:8], t0=utcnow())
    out.line(f"agent-storage demo on {storage.url}")
    count = await _write_conversation(storage, ids)
    cas = await _write_run(storage, ids)
    await _write_scores(storage, ids)
    await _write_trace(storage, ids, count)
    recalled = await _recall(storage, ids)
    _print_conversation(out, recalled)
    _print_run_scores_trace(out, recalled, cas)
    out.line("")
    out.line(f"Recalled {len(recalled['messages'])} messages, run {recalled['run'].status}, "
             f"{len(recalled['scores'])} scores, {len(recalled['trace'].spans)} spans from "
             f"{storage.url}")
    return recalled


async def _write_conversation(storage: Storage, ids: _Ids) -> int:
    """A user with working memory, a thread, and a turn with a tool call and its result."""
    mem, thread_id, at = storage.memory, ids.thread, ids.at
    await mem.update_resource(
        ids.user, working_memory="# User\n- name: Ada\n- city: Paris\n- units: metric",
        metadata={"plan": "free"},
    )
    await mem.save_thread(Thread(
        id=thread_id, resource_id=ids.user, agent_id=ids.agent, title="Weather in Paris",
        metadata={"channel": "cli-demo"}, created_at=at(0), updated_at=at(0),
    ))
    call = {"id": f"call-{ids.suffix}", "name": "get_weather", "arguments": {"city": "Paris"}}
    messages = [
        Message(id=f"{thread_id}-1", thread_id=thread_id, role="system",
                content={"text": "You are a helpful weather assistant."}, created_at=at(1)),
        Message(id=f"{thread_id}-2", thread_id=thread_id, role="user",
                content={"text": "What's the weather in Paris today?"}, created_at=at(2)),
        Message(id=f"{thread_id}-3", thread_id=thread_id, role="assistant", type="tool-call",
                content={"tool_calls": [call]}, created_at=at(3)),
        Message(id=f"{thread_id}-4", thread_id=thread_id, role="tool", type="tool-result",
                content={"tool_call_id": call["id"], "result": {"temp_c": 18, "sky": "cloudy"}},
                created_at=at(4)),
        Message(id=f"{thread_id}-5", thread_id=thread_id, role="assistant",
                content={"text": "It's 18 °C and cloudy in Paris."}, created_at=at(5),
                metadata={"model": "demo-model", "tokens": 42}),
    ]
    await mem.save_messages(messages)
    return len(messages)


async def _write_run(storage: Storage, ids: _Ids) -> tuple[bool, bool]:
    """A workflow run: snapshot, two step results, then a compare-and-set won and one lost."""
    wf = storage.workflows
    await wf.persist_snapshot(
        "weather-report", ids.run,
        {"status": "running", "context": {"input": {"city": "Paris"}},
         "steps": ["fetch", "summarize"]},
        resource_id=ids.user,
    )
    await wf.update_step_result("weather-report", ids.run, "fetch",
                                {"temp_c": 18, "sky": "cloudy"})
    await wf.update_step_result("weather-report", ids.run, "summarize",
                                {"text": "18 °C, cloudy"})
    won = await wf.update_state("weather-report", ids.run, status="success",
                                result={"report": "18 °C, cloudy"}, expected_status="running")
    lost = await wf.update_state("weather-report", ids.run, status="failed",
                                 expected_status="running")
    return bool(won), bool(lost)


async def _write_scores(storage: Storage, ids: _Ids) -> None:
    for scorer, value, reason in (("answer-relevancy", 0.92, "answers the question asked"),
                                  ("tool-call-accuracy", 1.0, "called get_weather for Paris")):
        await storage.scores.save_score(Score(
            id=f"{scorer}-{ids.suffix}", scorer_id=scorer, run_id=ids.run, score=value,
            reason=reason, entity_type="agent", entity_id=ids.agent, trace_id=ids.trace,
            resource_id=ids.user, thread_id=ids.thread,
            input="What's the weather in Paris today?", output="It's 18 °C and cloudy in Paris.",
        ))


async def _write_trace(storage: Storage, ids: _Ids, messages: int) -> None:
    """The agent run as a trace: root span, an LLM call, a tool call and an event."""
    obs, at = storage.observability, ids.at
    common: dict[str, Any] = {"trace_id": ids.trace, "agent_id": ids.agent,
                              "resource_id": ids.user, "thread_id": ids.thread}
    await obs.create_spans([
        Span(span_id="root", name="agent.run", span_type="agent_run", started_at=at(0),
             entity_type="agent", entity_id=ids.agent, run_id=ids.run,
             input={"text": "What's the weather in Paris today?"}, **common),
        Span(span_id="llm-1", parent_span_id="root", name="llm.generate", span_type="llm",
             started_at=at(1), ended_at=at(3), attributes={"model": "demo-model"}, **common),
        Span(span_id="tool-1", parent_span_id="root", name="tool.get_weather",
             span_type="tool_call", started_at=at(3), ended_at=at(4),
             input={"city": "Paris"}, output={"temp_c": 18}, **common),
        Span(span_id="event-1", parent_span_id="root", name="memory.saved", span_type="event",
             started_at=at(5), is_event=True, attributes={"messages": messages}, **common),
    ])
    await obs.update_spans([SpanUpdate(trace_id=ids.trace, span_id="root", ended_at=at(6),
                                       status="ok", output={"text": "It's 18 °C and cloudy."})])


async def _recall(storage: Storage, ids: _Ids) -> dict[str, Any]:
    """Everything read back through the public API."""
    mem = storage.memory
    resource = await mem.get_resource(ids.user)
    thread = await mem.get_thread(ids.thread, resource_id=ids.user)
    recalled = await mem.list_messages(ids.thread, last=10)
    run = await storage.workflows.get_run(ids.run, workflow_name="weather-report")
    scores = await storage.scores.list_scores(run_id=ids.run)
    trace = await storage.observability.get_trace(ids.trace)
    if thread is None or run is None or trace is None:
        raise BackendError("the demo records were written but could not be read back")
    return {"thread": thread, "messages": recalled.items, "run": run, "scores": scores.items,
            "trace": trace, "resource": resource}


def _print_conversation(out: Output, recalled: dict[str, Any]) -> None:
    thread, resource, messages = recalled["thread"], recalled["resource"], recalled["messages"]
    out.heading("Conversation")
    out.fields([("thread", thread.id), ("title", thread.title), ("owner", thread.resource_id),
                ("agent", thread.agent_id),
                ("working memory", (resource.working_memory or "").replace("\n", " | ")
                 if resource else None)])
    out.table(["#", "role", "type", "content"],
              [(i, m.role, m.type, message_text(m.content)) for i, m in enumerate(messages, 1)],
              title=f"Last {len(messages)} messages (recalled with last=10)")


def _print_run_scores_trace(out: Output, recalled: dict[str, Any],
                            cas: tuple[bool, bool]) -> None:
    run, trace, (won, lost) = recalled["run"], recalled["trace"], cas
    out.heading("Workflow run")
    out.fields([("workflow", run.workflow_name), ("run", run.run_id), ("status", run.status),
                ("steps", run.snapshot.get("context", {})),
                ("result", run.snapshot.get("result")),
                ("compare-and-set", f"running->success {'won' if won else 'lost'}, "
                                    f"running->failed {'won' if lost else 'refused'}")])
    out.table(["scorer", "score", "reason"],
              [(s.scorer_id, s.score, s.reason) for s in recalled["scores"]], title="Scores")
    by_id = {s.span_id: s for s in trace.spans}

    def depth(span: Span) -> int:
        n = 0
        while span.parent_span_id and span.parent_span_id in by_id and n < 32:
            span, n = by_id[span.parent_span_id], n + 1
        return n

    out.table(
        ["span", "type", "ms", "status"],
        [("  " * depth(s) + s.name + (" (event)" if s.is_event else ""), s.span_type,
          int((s.ended_at - s.started_at).total_seconds() * 1000) if s.ended_at else None,
          s.status) for s in trace.spans],
        title=f"Trace {trace.trace_id}",
    )
