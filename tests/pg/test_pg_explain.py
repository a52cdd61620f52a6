"""EXPLAIN the statements the store really sends, on the W1 shape (20,000 messages).

The statements and their parameters are captured from the engine while the public calls
run, then EXPLAINed with the same parameters on an ANALYZEd schema. The recall paths must
never scan the messages table sequentially, and the listings must use their indexes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent_storage import Include, Message, Thread

RESOURCES, THREADS_PER_RESOURCE, MESSAGES_PER_THREAD = 50, 4, 100
FILLER_THREADS = 10_000
WORKFLOWS, RUNS_PER_WORKFLOW = 20, 100
T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


class Capture:
    """Records (statement, parameters) of every statement the engine runs while on."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.items: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._hook)

    def _hook(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        if self.on:
            self.items.append((statement, parameters))

    @contextmanager
    def __call__(self) -> Iterator[list[tuple[str, Any]]]:
        self.items = []
        self.on = True
        try:
            yield self.items
        finally:
            self.on = False


async def explain(engine: Any, statement: str, parameters: Any) -> dict[str, Any]:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        text = await raw.driver_connection.fetchval(
            "EXPLAIN (FORMAT JSON) " + statement, *(parameters or ()))
    # the engine's connections decode json themselves; a bare asyncpg one returns text
    document = json.loads(text) if isinstance(text, str) else text
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def summary(plan: dict[str, Any]) -> str:
    parts = []
    for node in nodes(plan):
        if "Relation Name" in node or "Index Name" in node:
            where = node.get("Relation Name", "")
            index = f" using {node['Index Name']}" if "Index Name" in node else ""
            parts.append(f"{node['Node Type']} on {where}{index}".replace(" on  using", " using"))
    return "; ".join(parts) or plan["Node Type"]


async def _build(store: Any) -> list[str]:
    memory = store.memory
    thread_ids = []
    for r in range(RESOURCES):
        for k in range(THREADS_PER_RESOURCE):
            n = r * THREADS_PER_RESOURCE + k
            thread_ids.append(f"thread-{n:03d}")
    await asyncio.gather(*(
        memory.save_thread(Thread(id=tid, resource_id=f"user-{i // THREADS_PER_RESOURCE:02d}",
                                  title=f"t{i}", created_at=T0, updated_at=T0))
        for i, tid in enumerate(thread_ids)))

    async def fill(i: int, tid: str) -> None:
        base = T0 + _dt.timedelta(hours=i)
        await memory.save_messages([
            Message(id=f"msg-{i:03d}-{j:03d}", thread_id=tid, role=("user", "assistant")[j % 2],
                    content={"parts": [{"type": "text", "text": "x" * 250}]},
                    created_at=base + _dt.timedelta(seconds=j))
            for j in range(MESSAGES_PER_THREAD)])

    for chunk in range(0, len(thread_ids), 20):
        await asyncio.gather(*(fill(i, tid) for i, tid in enumerate(thread_ids)
                               if chunk <= i < chunk + 20))

    # Threads of other users, only so that the table is not a few pages that a sequential
    # scan reads as cheaply as the index (with 200 rows the planner's choice flipped with
    # the table's physical layout between runs).
    threads = store.backend.tables.threads
    others = [{"id": f"other-{n:05d}", "resource_id": f"other-{n // 4:04d}", "title": None,
               "metadata": {}, "agent_id": None, "created_at": T0, "updated_at": T0}
              for n in range(FILLER_THREADS)]
    # Runs only need to exist for the plan: one multi-row insert instead of 2,000 calls.
    runs = store.backend.tables.workflow_runs
    rows = [{"workflow_name": f"wf-{w:02d}", "run_id": f"run-{w:02d}-{k:03d}",
             "resource_id": f"user-{k % RESOURCES:02d}", "status": "running",
             "snapshot": {"status": "running", "context": {}},
             "created_at": T0 + _dt.timedelta(minutes=k), "updated_at": T0}
            for w in range(WORKFLOWS) for k in range(RUNS_PER_WORKFLOW)]
    async with store.engine.begin() as conn:
        await conn.execute(threads.insert(), others)
        await conn.execute(runs.insert(), rows)
    return thread_ids


async def test_recall_and_listings_use_indexes(storage_factory: Any, pg_conn: Any) -> None:
    store = await storage_factory()
    schema = store.backend.options.schema
    thread_ids = await _build(store)
    assert (await store.memory.stats()).message_count == 20_000
    for logical in ("threads", "messages", "workflow_runs"):
        await pg_conn.execute(f'ANALYZE "{schema}".agent_storage_{logical}')

    capture = Capture(store.engine)
    paths: dict[str, tuple[str, list[tuple[str, Any]]]] = {}
    with capture() as items:
        page = await store.memory.list_messages(thread_ids[77], last=20)
    assert [m.id for m in page.items] == [f"msg-077-{j:03d}" for j in range(80, 100)]
    paths["last-N recall"] = ("agent_storage_messages", list(items))
    with capture() as items:
        page = await store.memory.list_messages(
            thread_ids[5], per_page=0,
            include=[Include(id="msg-005-050", before=2, after=2),
                     Include(id="msg-150-000", before=2, after=2)])
    assert [m.id for m in page.items] == [
        "msg-005-048", "msg-005-049", "msg-005-050", "msg-005-051", "msg-005-052",
        "msg-150-000", "msg-150-001", "msg-150-002"]
    paths["include windows"] = ("agent_storage_messages", list(items))
    with capture() as items:
        threads = await store.memory.list_threads(resource_id="user-07", order_by="updated_at",
                                                  per_page=10)
    assert len(threads.items) == THREADS_PER_RESOURCE
    paths["threads by resource"] = ("agent_storage_threads", list(items))
    with capture() as items:
        runs = await store.workflows.list_runs(workflow_name="wf-03", per_page=10)
    assert len(runs.items) == 10 and runs.has_more
    paths["runs by workflow"] = ("agent_storage_workflow_runs", list(items))

    problems, report = [], []
    for label, (table, statements) in paths.items():
        relevant = [(s, p) for s, p in statements if table in s and s.lstrip().upper().startswith(
            ("SELECT", "WITH"))]
        if not relevant:
            problems.append(f"{label}: no SELECT on {table} captured")
        for statement, parameters in relevant:
            plan = await explain(store.engine, statement, parameters)
            report.append(f"{label}: {summary(plan)}")
            on_table = [n for n in nodes(plan) if n.get("Relation Name") == table]
            if any(n["Node Type"] == "Seq Scan" for n in on_table):
                problems.append(f"{label}: Seq Scan on {table}: {summary(plan)}")
            if not any(n["Node Type"] in INDEX_SCANS for n in on_table):
                problems.append(f"{label}: no index scan on {table}: {summary(plan)}")
    print("\n".join(report))
    assert not problems, "\n".join(problems + report)
