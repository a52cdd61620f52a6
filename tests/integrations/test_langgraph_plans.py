"""Checkpoint reads are index-backed: EXPLAIN of every statement they send on PostgreSQL
(no sequential scan of the messages table), and only Query/GetItem-style requests on
DynamoDB (never a Scan)."""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Awaitable, Callable

import pytest
from agent_storage import Message, Storage, Thread
from agent_storage.integrations.langgraph import AgentStorageSaver
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
CONFIG = {"configurable": {"thread_id": "graph-thread", "checkpoint_ns": ""}}


async def _checkpoints(saver: AgentStorageSaver, n: int) -> list[str]:
    """n checkpoints on one thread, two channels (one changing every step), one write each."""
    ids, parent = [], dict(CONFIG)
    for step in range(n):
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=step))
        cp["channel_values"] = {"messages": ["m"] * step, "topic": "lisbon"}
        cp["channel_versions"] = {"messages": step + 1, "topic": 1}
        new = {"messages": step + 1, **({"topic": 1} if step == 0 else {})}
        parent = await saver.aput(parent, cp, {"source": "loop", "step": step}, new)
        await saver.aput_writes(parent, [("messages", "next")], f"task-{step}")
        ids.append(cp["id"])
    return ids


async def _read_paths(saver: AgentStorageSaver, ids: list[str]) -> None:
    latest = await saver.aget_tuple(CONFIG)
    assert latest is not None and latest.checkpoint["id"] == ids[-1]
    assert latest.checkpoint["channel_values"]["topic"] == "lisbon"
    assert latest.pending_writes == [(f"task-{len(ids) - 1}", "messages", "next")]
    listed = [t.checkpoint["id"] async for t in saver.alist(CONFIG, limit=5)]
    assert listed == ids[::-1][:5]
    by_id = {**CONFIG["configurable"], "checkpoint_id": ids[3]}
    older = await saver.aget_tuple({"configurable": by_id})
    assert older is not None and older.checkpoint["channel_values"]["messages"] == ["m"] * 3


async def _filler(store: Storage, threads: int, per_thread: int) -> None:
    """Other conversations, so the messages table is not a few pages a scan reads cheaply."""
    memory = store.memory

    async def fill(i: int) -> None:
        tid = f"other-{i:04d}"
        await memory.save_thread(Thread(id=tid, resource_id=f"user-{i % 50}"))
        await memory.save_messages([
            Message(id=f"{tid}-{j:03d}", thread_id=tid, role="user", content="x" * 200,
                    created_at=T0 + _dt.timedelta(seconds=j)) for j in range(per_thread)])

    for start in range(0, threads, 20):
        await asyncio.gather(*(fill(i) for i in range(start, min(start + 20, threads))))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pg"])
async def test_pg_checkpoint_reads_use_indexes(
    backend: str, storage_for: Callable[[str], Awaitable[Storage]],
) -> None:
    from sqlalchemy import text
    from test_pg_explain import INDEX_SCANS, Capture, explain, nodes, summary

    store = await storage_for(backend)
    await _filler(store, threads=200, per_thread=100)
    saver = AgentStorageSaver(store)
    ids = await _checkpoints(saver, 40)
    table = "agent_storage_messages"
    async with store.engine.begin() as conn:
        await conn.execute(text(f'ANALYZE "{store.backend.options.schema}".{table}'))

    capture = Capture(store.engine)
    with capture() as items:
        await _read_paths(saver, ids)
    selects = [(s, p) for s, p in items if table in s
               and s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) >= 4
    problems, report = [], []
    for statement, parameters in selects:
        plan = await explain(store.engine, statement, parameters)
        report.append(summary(plan))
        on_table = [n for n in nodes(plan) if n.get("Relation Name") == table]
        if any(n["Node Type"] == "Seq Scan" for n in on_table):
            problems.append(f"Seq Scan: {summary(plan)}\n{statement}")
        if not any(n["Node Type"] in INDEX_SCANS for n in on_table):
            problems.append(f"no index scan: {summary(plan)}\n{statement}")
    print("\n".join(report))
    assert not problems, "\n".join(problems + report)


@pytest.mark.parametrize("backend", ["dynamodb"])
async def test_dynamodb_checkpoint_reads_query_never_scan(
    backend: str, storage_for: Callable[[str], Awaitable[Storage]],
) -> None:
    from dynamo_testlib import counting

    store = await storage_for(backend)
    saver = AgentStorageSaver(store)
    ids = await _checkpoints(saver, 12)
    with counting(store) as log:  # the resume read: one Query (values inline or in it)
        latest = await saver.aget_tuple(CONFIG)
    assert latest is not None and latest.pending_writes and log.ops == ["Query"], log.ops
    with counting(store) as log:
        await _read_paths(saver, ids)
        await saver.adelete_for_runs(["no-such-run"])
        await saver.aprune(["graph-thread"], strategy="keep_latest")
    assert "Scan" not in log.ops, log.ops
    assert "Query" in log.ops
    assert [t.checkpoint["id"] async for t in saver.alist(CONFIG)] == [ids[-1]]


