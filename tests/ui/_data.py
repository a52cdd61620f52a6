"""What the UI tests add to the demo's store, through the public API only."""

from __future__ import annotations

import datetime as dt

from agent_storage import AgentConfig, Message, Score, Span, Thread, open_store
from agent_storage.storage import Storage

PAGING_USER = "paging-user"
PAGING_THREADS = 60  # more than two pages of 25
BIG_THREAD = "big-thread"
BIG_MESSAGES = 130  # three pages of 50
HOSTILE_THREAD = "hostile-thread"
HOSTILE_TEXT = "<script>window.__pwned = 1</script><b>not bold</b> & <img src=x>"
DEEP_TRACE = "deep-trace"
#: span id -> (parent, depth) of the deep trace
DEEP_SPANS = {
    "run": (None, 0),
    "plan": ("run", 1),
    "llm-a": ("plan", 2),
    "act": ("run", 1),
    "tool-a": ("act", 2),
    "http": ("tool-a", 3),
    "tool-b": ("act", 2),
    "done": ("run", 1),
}
AGENT_ID = "travel-agent"

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def paging_thread_ids() -> list[str]:
    """Newest first, as the threads page lists them."""
    return [f"paging-{i:02d}" for i in reversed(range(PAGING_THREADS))]


async def fill(url: str) -> None:
    async with open_store(url) as storage:
        await _threads(storage)
        await _trace(storage)
        await _agent_and_scores(storage)


async def _threads(storage: Storage) -> None:
    mem = storage.memory
    for i in range(PAGING_THREADS):
        at = T0 + dt.timedelta(minutes=i)
        await mem.save_thread(Thread(id=f"paging-{i:02d}", resource_id=PAGING_USER,
                                     title=f"Paging thread {i:02d}", created_at=at, updated_at=at))
    await mem.save_thread(Thread(id=BIG_THREAD, resource_id="big-user", title="A long chat",
                                 created_at=T0, updated_at=T0))
    await mem.save_messages([
        Message(id=f"big-{i:03d}", thread_id=BIG_THREAD, role="user" if i % 2 else "assistant",
                content=f"message number {i}", created_at=T0 + dt.timedelta(seconds=i))
        for i in range(BIG_MESSAGES)])
    await mem.save_thread(Thread(id=HOSTILE_THREAD, resource_id="mallory",
                                 title="<i>hostile</i> title", created_at=T0, updated_at=T0))
    await mem.update_resource("mallory", working_memory="<script>alert(1)</script>")
    await mem.save_messages([
        Message(id="hostile-1", thread_id=HOSTILE_THREAD, role="user", content=HOSTILE_TEXT,
                created_at=T0),
        Message(id="hostile-2", thread_id=HOSTILE_THREAD, role="assistant", type="tool-call",
                content={"tool_calls": [{"name": "<svg onload=alert(1)>", "arguments": {}}]},
                created_at=T0 + dt.timedelta(seconds=1)),
    ])


async def _trace(storage: Storage) -> None:
    def at(ms: int) -> dt.datetime:
        return T0 + dt.timedelta(milliseconds=ms)

    times = {"run": (0, 900), "plan": (10, 200), "llm-a": (20, 190), "act": (210, 800),
             "tool-a": (220, 500), "http": (250, 480), "tool-b": (510, 790), "done": (850, 850)}
    types = {"run": "agent_run", "plan": "workflow_step", "llm-a": "llm", "act": "workflow_step",
             "tool-a": "tool_call", "http": "http", "tool-b": "tool_call", "done": "event"}
    await storage.observability.create_spans([
        Span(trace_id=DEEP_TRACE, span_id=sid, parent_span_id=parent, name=f"deep.{sid}",
             span_type=types[sid], started_at=at(times[sid][0]),
             ended_at=None if sid == "done" else at(times[sid][1]), is_event=sid == "done",
             attributes={"note": "<b>attr</b>", "n": i},
             error={"message": "timeout"} if sid == "tool-b" else None)
        for i, (sid, (parent, _)) in enumerate(DEEP_SPANS.items())])


async def _agent_and_scores(storage: Storage) -> None:
    agents = storage.agents
    await agents.create_agent(AgentConfig(
        id=AGENT_ID, name="travel", instructions="Plan trips.", model={"name": "small-model"},
        tools=("search_hotels",)))
    await agents.update_agent(AGENT_ID, change_message="bigger model, one more tool",
                              model={"name": "large-model"},
                              tools=("search_hotels", "book_hotel"))
    for i in range(40):
        await storage.scores.save_score(Score(
            id=f"spread-{i}", scorer_id="helpfulness", run_id=f"eval-run-{i % 4}",
            score=(i * 37 % 100) / 100, reason="sampled", source="test"))
