"""What each call sends to DynamoDB, counted through botocore's event hooks."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest
from agent_storage import (
    AgentConfig,
    Include,
    Message,
    Score,
    Span,
    Thread,
    ThreadNotFoundError,
    ValidationError,
)
from attrs import evolve
from dynamo_testlib import counting

T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)


def at(seconds: float) -> _dt.datetime:
    return T0 + _dt.timedelta(seconds=seconds)


async def seed(store: Any, *, threads: int = 3, per_thread: int = 12) -> None:
    mem = store.memory
    for t in range(threads):
        await mem.save_thread(Thread(id=f"t{t}", resource_id="alice" if t < 2 else "bob",
                                     agent_id="agent-a" if t % 2 else None, title=f"title {t}",
                                     metadata={"n": t}, created_at=at(t), updated_at=at(t)))
        await mem.save_messages([
            Message(id=f"t{t}-m{n}", thread_id=f"t{t}", role="user" if n % 2 else "assistant",
                    content=f"message {n}", created_at=at(100 + n))
            for n in range(per_thread)])
    await store.workflows.persist_snapshot("wf", "r1", {"status": "running"}, resource_id="alice")
    await store.workflows.persist_snapshot("wf", "r2", {"status": "done"})
    await store.scores.save_score(Score(id="s1", scorer_id="sc", run_id="r1", score=0.5,
                                        entity_type="agent", entity_id="a1", trace_id="tr",
                                        span_id="sp", source="test"))
    await store.observability.create_spans([
        Span(trace_id="tr", span_id="root", name="run", span_type="agent", started_at=at(5),
             entity_type="agent", entity_id="a1", agent_id="a1", resource_id="alice"),
        Span(trace_id="tr", span_id="child", parent_span_id="root", name="llm",
             span_type="llm", started_at=at(6)),
    ])
    await store.agents.create_agent(AgentConfig(id="ag", name="n", metadata={"k": 1}))


async def every_listing(store: Any) -> None:
    """Every listing path of DESIGN section 4, with each filter and order."""
    mem = store.memory
    for kw in ({}, {"resource_id": "alice"}, {"agent_id": "agent-a"},
               {"resource_id": "alice", "agent_id": "agent-a"}, {"metadata": {"n": 1}}):
        for order_by in ("created_at", "updated_at", "title"):
            for direction in ("asc", "desc"):
                await mem.list_threads(**kw, order_by=order_by, direction=direction,
                                       per_page=1, page=1)
    await mem.threads().where(resource_id="alice").count()
    async for _ in mem.threads().where(resource_id="alice"):
        pass
    await mem.list_messages("t0")
    await mem.list_messages(["t0", "t1"], per_page=3, page=1)
    await mem.list_messages("t0", last=5)
    await mem.list_messages("t0", start=at(102), end=at(105), roles=["user"], types=["text"])
    await mem.list_messages("t0", resource_id="alice", per_page=0,
                            include=[Include(id="t0-m5", before=2, after=2)])
    await mem.get_messages(["t0-m1", "t1-m2"])
    await mem.stats("alice")
    await mem.stats()
    wf = store.workflows
    for kw2 in ({}, {"workflow_name": "wf"}, {"resource_id": "alice"}, {"status": "done"},
                {"start": at(0), "end": at(10**9)}):
        await wf.list_runs(**kw2, per_page=1, page=1)
    await wf.get_run("r1")
    for kw3 in ({}, {"scorer_id": "sc"}, {"run_id": "r1"}, {"entity_type": "agent",
                "entity_id": "a1"}, {"trace_id": "tr", "span_id": "sp"}, {"source": "test"}):
        await store.scores.list_scores(**kw3, per_page=1, page=1)
    obs = store.observability
    for kw4 in ({}, {"name": "run"}, {"span_type": "agent"}, {"entity_type": "agent",
                "entity_id": "a1"}, {"agent_id": "a1"}, {"resource_id": "alice"},
                {"start": at(0), "end": at(10)}):
        await obs.list_traces(**kw4, per_page=1, page=1)
    await obs.get_trace("tr")
    for kw5 in ({}, {"status": "draft"}, {"metadata": {"k": 1}}):
        await store.agents.list_agents(**kw5, per_page=1, page=1)
    await store.agents.list_agent_versions("ag")


async def test_no_scan_on_any_listing_path(store: Any) -> None:
    await seed(store)
    with counting(store) as log:
        await every_listing(store)
    assert log.ops, "nothing was sent"
    assert "Scan" not in log.ops
    assert set(log.ops) <= {"Query", "GetItem", "BatchGetItem"}


async def test_last_n_recall_is_one_query(store: Any) -> None:
    await seed(store, threads=1, per_thread=60)
    with counting(store) as log:
        page = await store.memory.list_messages("t0", last=20)
    assert [m.id for m in page.items] == [f"t0-m{n}" for n in range(40, 60)]
    assert log.ops == ["Query"]
    params = log.calls[0][1]
    assert params["IndexName"] == "lsi1" and params["ScanIndexForward"] is False
    assert params["Limit"] == 21


async def test_include_window_queries(store: Any) -> None:
    """One Query on gsi1 resolves the id to its item (and thread); each side of the window
    is one more Query on the thread's partition (lsi1)."""
    await seed(store, threads=1, per_thread=30)
    with counting(store) as log:
        page = await store.memory.list_messages(
            "t0", per_page=0, include=[Include(id="t0-m10", before=2, after=2)])
    assert [m.id for m in page.items] == [f"t0-m{n}" for n in range(8, 13)]
    assert log.ops == ["Query", "Query", "Query"]
    assert [p.get("IndexName") for _, p in log.calls] == ["gsi1", "lsi1", "lsi1"]
    assert [p.get("Limit") for _, p in log.calls[1:]] == [2, 2]
    with counting(store) as log:
        await store.memory.list_messages(
            "t0", per_page=0, include=[Include(id="t0-m10", before=3)])
    assert log.ops == ["Query", "Query"]
    with counting(store) as log:
        await store.memory.list_messages("t0", per_page=0, include=["t0-m10"])
    assert log.ops == ["Query"]


def _lookups(ops: list[str], n: int) -> None:
    """``n`` id lookups (gsi1 Queries: where is this message id stored now?)."""
    assert ops.count("Query") == n


async def test_saving_20_messages_is_two_requests_plus_id_lookups(store: Any) -> None:
    """One BatchGetItem (thread, messages) alongside one gsi1 Query per message id (a
    re-save under another thread moves the message: one message per id), then one
    TransactWriteItems."""
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    batch = [Message(id=f"m{n}", thread_id="t", role="user", content={"n": n},
                     created_at=at(n)) for n in range(20)]
    with counting(store) as log:
        await store.memory.save_messages(batch)
    _lookups(log.ops, 20)
    assert [op for op in log.ops if op != "Query"] == ["BatchGetItem", "TransactWriteItems"]
    assert len(log.calls[-1][1]["TransactItems"]) == 21  # 20 puts + the thread bump
    with counting(store) as log:  # re-saving (upsert) costs the same
        await store.memory.save_messages(batch)
    _lookups(log.ops, 20)
    assert [op for op in log.ops if op != "Query"] == ["BatchGetItem", "TransactWriteItems"]
    assert (await store.memory.list_messages("t", per_page=None)).total == 20


async def test_new_messages_naming_their_owner_are_one_write_request(store: Any) -> None:
    """The write path of a chat turn: new messages that carry the thread's resource_id are
    one TransactWriteItems after the id lookups (one gsi1 Query per message, concurrent);
    every assumption is a condition, so a wrong guess costs one request more and writes
    nothing wrong."""
    await store.memory.save_thread(Thread(id="t", resource_id="u", agent_id="a"))
    batch = [Message(id=f"m{n}", thread_id="t", role="user", content=n, resource_id="u",
                     created_at=at(n)) for n in range(20)]
    with counting(store) as log:
        await store.memory.save_messages(batch)
    _lookups(log.ops, 20)
    assert [op for op in log.ops if op != "Query"] == ["TransactWriteItems"]
    thread = await store.memory.get_thread("t")
    by_agent = await store.memory.list_threads(agent_id="a", order_by="updated_at")
    assert by_agent.items == (thread,)
    with counting(store) as log:  # upserts: the lookups find them, the general path runs
        await store.memory.save_messages(batch[:5])
    _lookups(log.ops, 10)
    assert [op for op in log.ops if op != "Query"] == ["BatchGetItem", "TransactWriteItems"]
    wrong = [Message(id="w", thread_id="t", role="user", content=0, resource_id="intruder")]
    with pytest.raises(ValidationError):  # another owner than the thread's: nothing written
        await store.memory.save_messages(wrong)
    saved = await store.memory.save_messages([evolve(wrong[0], resource_id=None)])
    assert saved[0].resource_id == "u"
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == [f"m{n}" for n in range(20)] + ["w"]
    assert all(m.resource_id == "u" for m in page.items)
    stats = await store.memory.stats("u")
    assert stats.message_count == 21 and stats.first_activity == at(0)
    older = [Message(id="old", thread_id="t", role="user", content=0, resource_id="u",
                     created_at=at(-50))]
    await store.memory.save_messages(older)
    assert (await store.memory.stats("u")).first_activity == at(-50)
    with pytest.raises(ThreadNotFoundError):
        await store.memory.save_messages([Message(id="x", thread_id="ghost", role="user",
                                                  content=0, resource_id="u")])


async def test_listing_10_threads_of_a_user_is_one_query(store: Any) -> None:
    for n in range(10):
        await store.memory.save_thread(Thread(id=f"t{n}", resource_id="u", created_at=at(n),
                                              updated_at=at(n)))
    await store.memory.save_thread(Thread(id="other", resource_id="v"))
    with counting(store) as log:
        page = await store.memory.list_threads(resource_id="u", order_by="updated_at",
                                               per_page=10)
    assert [t.id for t in page.items] == [f"t{n}" for n in range(9, -1, -1)]
    assert page.total == 10 and page.has_more is False
    assert log.ops == ["Query"]
    assert log.calls[0][1]["IndexName"] == "gsi2"


async def test_get_thread_and_stats_are_single_requests(store: Any) -> None:
    await seed(store, threads=3, per_thread=5)
    with counting(store) as log:
        await store.memory.get_thread("t0")
        stats = await store.memory.stats("alice")
    assert log.ops == ["GetItem", "Query"]
    assert (stats.thread_count, stats.message_count) == (2, 10)


async def test_every_page_is_followed_past_one_megabyte(store: Any) -> None:
    """1,500 messages of ~1.1 KB (> 1.6 MB): DynamoDB returns at most 1 MB per Query, so
    a listing must follow LastEvaluatedKey; nothing may be dropped, in either order."""
    await store.memory.save_thread(Thread(id="big", resource_id="u"))
    body = "x" * 1100
    for start in range(0, 1500, 99):
        await store.memory.save_messages([
            Message(id=f"m{n:05d}", thread_id="big", role="user", content=body,
                    created_at=at(n)) for n in range(start, min(start + 99, 1500))])
    expected = [f"m{n:05d}" for n in range(1500)]
    for order, wanted in (("asc", expected), ("desc", expected[::-1])):
        with counting(store) as log:
            page = await store.memory.list_messages("big", per_page=None, order=order)
        assert [m.id for m in page.items] == wanted
        assert page.total == 1500
        assert log.ops.count("Query") >= 2, "one Query cannot return 1.6 MB"
        assert all("ExclusiveStartKey" in p for _, p in log.calls[1:])
    with counting(store) as log:
        counted = await store.memory.list_messages("big", per_page=10, page=120)
    assert [m.id for m in counted.items] == expected[1200:1210] and counted.total == 1500
    assert set(log.ops) == {"Query"}
    threads = await store.memory.list_threads(resource_id="u")
    assert [t.id for t in threads.items] == ["big"]
    assert (await store.memory.stats("u")).message_count == 1500
