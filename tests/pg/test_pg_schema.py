"""Schemas and physical names: isolation, index-name prefixes, identifier limits."""

from __future__ import annotations

from typing import Any

import pytest
from agent_storage import IndexSpec, Message, Score, Span, Thread, open_store
from agent_storage.errors import InvalidIdentifierError, InvalidIndexSpecError
from agent_storage.naming import LOGICAL_TABLES
from agent_storage.records import AgentConfig, Resource
from pg_cluster import free_port

T_ID = "shared-thread"


async def _fill(store: Any, tag: str) -> None:
    """The same ids in every store, with values that say which store wrote them."""
    await store.memory.save_thread(Thread(id=T_ID, resource_id="user-1", title=tag))
    await store.memory.save_messages([
        Message(id=f"m{i}", thread_id=T_ID, role="user", content=f"{tag}-{i}") for i in range(3)
    ])
    await store.memory.save_resource(Resource(id="user-1", working_memory=tag))
    await store.workflows.persist_snapshot("wf", "run-1", {"status": "running", "tag": tag})
    await store.scores.save_score(Score(id="s1", scorer_id="sc", run_id="run-1", score=1.0,
                                        reason=tag))
    from agent_storage.serde import utcnow

    await store.observability.create_spans([
        Span(trace_id="tr", span_id="sp", name="root", span_type="agent", started_at=utcnow(),
             status=tag)
    ])
    await store.agents.create_agent(AgentConfig(id="ag", name="agent", instructions=tag))


async def test_two_schemas_in_one_database_never_see_each_other(storage_factory: Any) -> None:
    a = await storage_factory()
    b = await storage_factory()
    await _fill(a, "A")
    await _fill(b, "B")
    for store, tag in ((a, "A"), (b, "B")):
        thread = await store.memory.get_thread(T_ID)
        assert thread is not None and thread.title == tag
        page = await store.memory.list_messages(T_ID, per_page=None)
        assert [m.content for m in page.items] == [f"{tag}-{i}" for i in range(3)]
        assert (await store.memory.list_threads(resource_id="user-1")).total == 1
        resource = await store.memory.get_resource("user-1")
        assert resource is not None and resource.working_memory == tag
        run = await store.workflows.get_run("run-1")
        assert run is not None and run.snapshot["tag"] == tag
        score = await store.scores.get_score("s1")
        assert score is not None and score.reason == tag
        trace = await store.observability.get_trace("tr")
        assert trace is not None and [s.status for s in trace.spans] == [tag]
        agent = await store.agents.get_agent("ag")
        assert agent is not None and agent.instructions == tag
        stats = await store.memory.stats()
        assert (stats.thread_count, stats.message_count) == (1, 3)
    # deleting in one schema leaves the other alone
    await a.memory.delete_thread(T_ID)
    await a.workflows.delete_run("wf", "run-1")
    await a.agents.delete_agent("ag")
    assert await a.memory.get_thread(T_ID) is None
    assert (await b.memory.list_messages(T_ID, per_page=None)).total == 3
    assert await b.workflows.get_run("run-1") is not None
    assert await b.agents.get_agent("ag") is not None


async def test_schema_is_created_and_holds_every_table(storage_factory: Any, pg_conn: Any) -> None:
    store = await storage_factory()
    schema = store.backend.options.schema
    rows = await pg_conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
    names = {r["table_name"] for r in rows}
    expected = {f"agent_storage_{t}" for t in LOGICAL_TABLES} | {"agent_storage_migrations"}
    assert expected <= names
    # nothing leaked into public
    leaked = await pg_conn.fetchval("SELECT to_regclass('public.agent_storage_threads')")
    assert leaked is None


async def _our_indexes(conn: Any, schema: str) -> list[str]:
    """Indexes created by the store (not the ones backing primary keys / unique keys)."""
    rows = await conn.fetch(
        """
        SELECT i.relname FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = $1
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        schema,
    )
    return sorted(r["relname"] for r in rows)


async def test_index_names_carry_the_schema_prefix(storage_factory: Any, pg_conn: Any) -> None:
    spec = IndexSpec(name="idx_threads_status", table="threads", columns=("title",))
    store = await storage_factory(schema="custom_schema", indexes=[spec])
    names = await _our_indexes(pg_conn, "custom_schema")
    assert "custom_schema_idx_threads_status" in names
    assert len(names) > 1 and all(n.startswith("custom_schema_") for n in names)
    listed = {info.name for info in await store.indexes.list()}
    assert "custom_schema_idx_threads_status" in listed
    stats = await store.indexes.describe("custom_schema_idx_threads_status")
    assert stats.table.endswith("threads") and stats.size_bytes and stats.size_bytes > 0


async def test_public_schema_index_names_are_not_prefixed(storage_factory: Any,
                                                           pg_conn: Any) -> None:
    import uuid

    prefix = f"p{uuid.uuid4().hex[:8]}"
    spec = IndexSpec(name=f"{prefix}_by_title", table="threads", columns=("title",))
    await storage_factory(schema="public", table_prefix=prefix, indexes=[spec])
    try:
        names = await _our_indexes(pg_conn, "public")
        assert f"{prefix}_by_title" in names
        assert not any(n.startswith("public_") for n in names)
        tables = await pg_conn.fetchval(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name LIKE $1", f"{prefix}\\_%")
        assert tables == len(LOGICAL_TABLES) + 1
    finally:
        for logical in (*reversed(LOGICAL_TABLES), "migrations"):
            await pg_conn.execute(f'DROP TABLE IF EXISTS public."{prefix}_{logical}" CASCADE')


def _unreachable() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"


def test_over_long_and_bad_identifiers_are_refused_before_connecting() -> None:
    url = _unreachable()  # nothing listens: a connection attempt would raise something else
    with pytest.raises(InvalidIdentifierError, match="63"):
        open_store(url, schema="s" * 64, fresh=True)
    with pytest.raises(InvalidIdentifierError, match="63"):
        # 50 + len("_workflow_runs") = 64 bytes once prefixed
        open_store(url, table_prefix="p" * 50, fresh=True)
    with pytest.raises(InvalidIdentifierError, match="63"):
        # 40 + 1 + 23 = 64 bytes after the schema prefix
        open_store(url, schema="s" * 40, skip_default_indexes=True, fresh=True,
                   indexes=[IndexSpec(name="i" * 23, table="threads", columns=("title",))])
    with pytest.raises(InvalidIdentifierError, match="63"):
        # the default index names are checked too: they carry the schema prefix
        open_store(url, schema="s" * 60, fresh=True)
    for bad in ('a"; DROP TABLE x; --', "has space", "1starts_with_digit", "ünïcode"):
        with pytest.raises(InvalidIdentifierError):
            open_store(url, schema=bad, fresh=True)
    with pytest.raises(InvalidIndexSpecError):
        IndexSpec(name="i" * 64, table="threads", columns=("title",))


async def test_exactly_63_bytes_is_accepted(storage_factory: Any, pg_conn: Any) -> None:
    schema = "s" * 40
    name = "i" * 22  # 40 + 1 + 22 = 63
    store = await storage_factory(schema=schema, skip_default_indexes=True, indexes=[
        IndexSpec(name=name, table="threads", columns=("title",))])
    assert await _our_indexes(pg_conn, schema) == [f"{schema}_{name}"]
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
