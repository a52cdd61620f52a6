"""The index API on PostgreSQL: CONCURRENTLY, every method, opclasses, storage parameters,
partial and JSON-path indexes, statistics, and cleanup after a failed concurrent build."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from agent_storage import AgentStorageError, IndexSpec, Message, Thread


@contextmanager
def statements(store: Any) -> Iterator[list[tuple[str, bool]]]:
    """(statement, ran inside a transaction) for everything the engine runs meanwhile."""
    from sqlalchemy import event

    seen: list[tuple[str, bool]] = []

    def hook(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        autocommit = context.execution_options.get("isolation_level") == "AUTOCOMMIT"
        seen.append((" ".join(statement.split()), not autocommit))

    event.listen(store.engine.sync_engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", hook)


async def _definition(pg_conn: Any, schema: str, name: str) -> str | None:
    value: str | None = await pg_conn.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2", schema, name)
    return value


async def test_create_is_concurrent_by_default_outside_a_transaction(storage: Any) -> None:
    with statements(storage) as seen:
        info = await storage.indexes.create(IndexSpec(name="by_agent", table="threads",
                                                      columns=("agent_id",)))
    creates = [(s, tx) for s, tx in seen if s.startswith("CREATE")]
    assert len(creates) == 1
    sql, in_tx = creates[0]
    assert sql.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS") and not in_tx
    assert info.name == f"{storage.backend.schema}_by_agent"
    with statements(storage) as seen:
        await storage.indexes.drop("by_agent")
    drops = [(s, tx) for s, tx in seen if s.startswith("DROP")]
    assert drops == [(f'DROP INDEX CONCURRENTLY IF EXISTS "{storage.backend.schema}".'
                      f'"{info.name}"', False)]


async def test_concurrent_false_builds_inside_a_transaction(storage: Any) -> None:
    with statements(storage) as seen:
        await storage.indexes.create(IndexSpec(name="plain", table="threads",
                                               columns=("agent_id",), concurrent=False))
    creates = [(s, tx) for s, tx in seen if s.startswith("CREATE")]
    assert len(creates) == 1
    sql, in_tx = creates[0]
    assert "CONCURRENTLY" not in sql and in_tx


@pytest.mark.parametrize(("spec", "expected"), [
    (dict(columns=("metadata",), method="gin", opclass="jsonb_path_ops"),
     ["USING gin", "jsonb_path_ops"]),
    (dict(columns=("created_at",), method="brin", storage={"pages_per_range": 32}),
     ["USING brin", "pages_per_range='32'"]),
    (dict(columns=("resource_id",), method="hash"), ["USING hash"]),
    (dict(columns=("title",), method="spgist"), ["USING spgist"]),
    (dict(columns=("resource_id", "created_at DESC"), storage={"fillfactor": 70}),
     ["USING btree", "created_at DESC", "fillfactor='70'"]),
    (dict(columns=("title",), unique=True, where="agent_id IS NOT NULL AND title <> ''"),
     ["CREATE UNIQUE INDEX", "WHERE ((agent_id IS NOT NULL) AND (title <> ''::text))"]),
    (dict(columns=("metadata->'a'->>'b'",)), ["(((metadata -> 'a'::text) ->> 'b'::text))"]),
])
async def test_methods_opclasses_storage_and_predicates(storage: Any, pg_conn: Any,
                                                         spec: dict[str, Any],
                                                         expected: list[str]) -> None:
    info = await storage.indexes.create(IndexSpec(name="custom", table="threads", **spec))
    definition = await _definition(pg_conn, storage.backend.schema, info.name)
    assert definition is not None
    for part in expected:
        assert part in definition, definition
    assert info.method == spec.get("method", "btree")
    listed = {i.name: i for i in await storage.indexes.list("threads")}
    assert listed[info.name] == info
    stats = await storage.indexes.describe("custom")
    assert stats.method == info.method and stats.size_bytes is not None


async def test_listed_columns_are_written_as_in_a_spec(storage: Any) -> None:
    info = await storage.indexes.create(IndexSpec(
        name="paths", table="threads",
        columns=("resource_id", "metadata->>'topic'", "metadata->'a'->>'b'", "updated_at DESC"),
        where="metadata->>'topic' IS NOT NULL"))
    assert info.columns == ("resource_id", "metadata->>'topic'", "metadata->'a'->>'b'",
                            "updated_at")
    assert info.where is not None and "topic" in info.where


async def test_a_failed_concurrent_build_leaves_no_invalid_index(storage: Any,
                                                                 pg_conn: Any) -> None:
    await storage.memory.save_thread(Thread(id="a", resource_id="r", title="same"))
    await storage.memory.save_thread(Thread(id="b", resource_id="r", title="same"))
    spec = IndexSpec(name="uq_title", table="threads", columns=("title",), unique=True)
    with pytest.raises(AgentStorageError):
        await storage.indexes.create(spec)  # duplicates: the concurrent build fails
    physical = f"{storage.backend.schema}_uq_title"
    leftover = await pg_conn.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2", storage.backend.schema, physical)
    assert leftover == 0
    await storage.memory.update_thread("b", title="other")
    info = await storage.indexes.create(spec)  # really built now, not a no-op
    assert info.unique and await _definition(pg_conn, storage.backend.schema, physical)


async def test_an_invalid_index_left_by_a_crash_is_replaced(storage: Any, pg_conn: Any) -> None:
    """An INVALID index of that name (a build killed mid-way) is dropped and rebuilt."""
    schema = storage.backend.schema
    physical = f"{schema}_by_title"
    await pg_conn.execute(f'CREATE INDEX "{physical}" ON "{schema}".agent_storage_threads (title)')
    await pg_conn.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
        f"'\"{schema}\".\"{physical}\"'::regclass")
    assert all(i.name != physical for i in await storage.indexes.list())  # not listed
    info = await storage.indexes.create(IndexSpec(name="by_title", table="threads",
                                                  columns=("title",)))
    valid = await pg_conn.fetchval(
        f"SELECT indisvalid FROM pg_index WHERE indexrelid = '\"{schema}\".\"{physical}\"'"
        "::regclass")
    assert info.name == physical and valid is True


async def test_describe_counts_scans_from_the_statistics_views(storage: Any,
                                                               pg_conn: Any) -> None:
    await storage.memory.save_thread(Thread(id="t", resource_id="r"))
    await storage.memory.save_messages([
        Message(id=f"m{i}", thread_id="t", role="user", content=i, type=f"type{i % 50}")
        for i in range(2000)])
    await storage.indexes.create(IndexSpec(name="by_type", table="messages", columns=("type",)))
    await pg_conn.execute(f'ANALYZE "{storage.backend.schema}".agent_storage_messages')
    before = await storage.indexes.describe("by_type")
    assert before.size_bytes and before.size_bytes > 8192 and before.scans == 0
    async with storage.engine.connect() as conn:
        from sqlalchemy import text

        table = f'"{storage.backend.schema}".agent_storage_messages'
        for _ in range(3):
            await conn.execute(text(f"SELECT id FROM {table} WHERE type = 'type7'"))
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        await conn.commit()
    for _ in range(50):  # usage counts are published asynchronously (about a second)
        after = await storage.indexes.describe("by_type")
        if after.scans:
            break
        await asyncio.sleep(0.2)
    assert after.scans is not None and after.scans >= 3
    assert after.tuples_read is not None and after.tuples_read >= 3 * 40
