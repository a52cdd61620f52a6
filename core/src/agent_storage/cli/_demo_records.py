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

from ..errors import BackendError
from ..records import Message, Score, Span, SpanUpdate, Thread
from ..serde import utcnow
from ..storage import Storage
from ._output import Output, message_text

__all__ = ["run_demo"]


async def run_demo(storage: Storage, out: Output) -> dict[str, Any]:
    """Write the demo records, read them back, print them; return what was recalled."""
    suffix = uuid.uuid4().hex[:8]
    user = "demo-user"
    agent = "weather-agent"
    thread_id = f"demo-thread-{suffix}"
    run_id = f"demo-run-{suffix}"
    trace_id = f"demo-trace-{suffix}"
    t0 = utcnow()

    def at(ms: int) -> _dt.datetime:
        return t0 + _dt.timedelta(milliseconds=ms)

    out.line(f"agent-storage demo on {storage.url}")

    # -- 1. conversation memory --------------------------------------------------------
    mem = storage.memory
    await mem.update_resource(
        user, working_memory="# User\n- name: Ada\n- city: Paris\n- units: metric",
        metadata={"plan": "free"},
    )
    await mem.save_thread(Thread(
        id=thread_id, resource_id=user, agent_id=agent, title="Weather in Paris",
        metadata={"channel": "cli-demo"}, created_at=at(0), updated_at=at(0),
    ))
    call = {"id": f"call-{suffix}", "name": "get_weather", "arguments": {"city": "Paris"}}
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

    # -- 2. a workflow run ---------------------------------------------------------------
    wf = storage.workflows
    await wf.persist_snapshot(
        "weather-report", run_id,
        {"status": "running", "context": {"input": {"city": "Paris"}},
         "steps": ["fetch", "summarize"]},
        resource_id=user,
    )
    await wf.update_step_result("weather-report", run_id, "fetch", {"temp_c": 18, "sky": "cloudy"})
    await wf.update_step_result("weather-report", run_id, "summarize", {"text": "18 °C, cloudy"})
    won = await wf.update_state("weather-report", run_id, status="success",
                                result={"report": "18 °C, cloudy"}, expected_status="running")
    lost = await wf.update_state("weather-report", run_id, status="failed",
                                 expected_status="running")

    # -- 3. scores -----------------------------------------------------------------------
    sc = storage.scores
    for scorer, value, reason in (("answer-relevancy", 0.92, "answers the question asked"),
                                  ("tool-call-accuracy", 1.0, "called get_weather for Paris")):
        await sc.save_score(Score(
            id=f"{scorer}-{suffix}", scorer_id=scorer, run_id=run_id, score=value, reason=reason,
            entity_type="agent", entity_id=agent, trace_id=trace_id, resource_id=user,
            thread_id=thread_id, input="What's the weather in Paris today?",
            output="It's 18 °C and cloudy in Paris.",
        ))

    # -- 4. a trace: the agent run, its steps and an event -------------------------------
    obs = storage.observability
    common: dict[str, Any] = {"trace_id": trace_id, "agent_id": agent, "resource_id": user,
                              "thread_id": thread_id}
    await obs.create_spans([
        Span(span_id="root", name="agent.run", span_type="agent_run", started_at=at(0),
             entity_type="agent", entity_id=agent, run_id=run_id,
             input={"text": "What's the weather in Paris today?"}, **common),
        Span(span_id="llm-1", parent_span_id="root", name="llm.generate", span_type="llm",
             started_at=at(1), ended_at=at(3), attributes={"model": "demo-model"}, **common),
        Span(span_id="tool-1", parent_span_id="root", name="tool.get_weather",
             span_type="tool_call", started_at=at(3), ended_at=at(4),
             input={"city": "Paris"}, output={"temp_c": 18}, **common),
        Span(span_id="event-1", parent_span_id="root", name="memory.saved", span_type="event",
             started_at=at(5), is_event=True, attributes={"messages": len(messages)}, **common),
    ])
    await obs.update_spans([SpanUpdate(trace_id=trace_id, span_id="root", ended_at=at(6),
                                       status="ok", output={"text": "It's 18 °C and cloudy."})])

    # -- recall --------------------------------------------------------------------------
    resource = await mem.get_resource(user)
    thread = await mem.get_thread(thread_id, resource_id=user)
    recalled = await mem.list_messages(thread_id, last=10)
    run = await wf.get_run(run_id, workflow_name="weather-report")
    scores = await sc.list_scores(run_id=run_id)
    trace = await obs.get_trace(trace_id)
    if thread is None or run is None or trace is None:
        raise BackendError("the demo records were written but could not be read back")

    out.heading("Conversation")
    out.fields([("thread", thread.id), ("title", thread.title), ("owner", thread.resource_id),
                ("agent", thread.agent_id),
                ("working memory", (resource.working_memory or "").replace("\n", " | ")
                 if resource else None)])
    out.table(["#", "role", "type", "content"],
              [(i, m.role, m.type, message_text(m.content))
               for i, m in enumerate(recalled.items, 1)],
              title=f"Last {len(recalled.items)} messages (recalled with last=10)")

    out.heading("Workflow run")
    out.fields([("workflow", run.workflow_name), ("run", run.run_id), ("status", run.status),
                ("steps", run.snapshot.get("context", {})),
                ("result", run.snapshot.get("result")),
                ("compare-and-set", f"running->success {'won' if won else 'lost'}, "
                                    f"running->failed {'won' if lost else 'refused'}")])

    out.table(["scorer", "score", "reason"],
              [(s.scorer_id, s.score, s.reason) for s in scores.items], title="Scores")

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
    out.line("")
    out.line(f"Recalled {len(recalled.items)} messages, run {run.status}, {len(scores.items)} "
             f"scores, {len(trace.spans)} spans from {storage.url}")
    return {"thread": thread, "messages": recalled.items, "run": run, "scores": scores.items,
            "trace": trace, "resource": resource}
