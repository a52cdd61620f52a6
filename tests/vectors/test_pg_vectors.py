"""PostgreSQL specifics of semantic recall: pgvector's column and HNSW index, the install
hint without the extension, and exact_search on a server without it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agent_storage import Message, NotSupportedError, Thread, open_store
from agent_storage.embedders import DeterministicTestEmbedder
from vector_pg import execute, fetch

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_vector_column_and_hnsw_index(storage_factory: Any) -> None:
    store = await storage_factory(embedder=DeterministicTestEmbedder(48), table_prefix="rc")
    schema = store.backend.options.schema
    async with store.engine.connect() as conn:
        from sqlalchemy import text

        column = (await conn.execute(text(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relname = 'rc_vectors' AND a.attname = 'embedding'"),
            {"s": schema})).scalar_one()
        index = (await conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = :s "
            "AND indexname = 'rc_vectors_hnsw_idx'"), {"s": schema})).scalar_one()
    assert column == "vector(48)"
    assert "USING hnsw (embedding vector_cosine_ops)" in index
    assert "m='16'" in index and "ef_construction='64'" in index
    assert f"{schema}.rc_vectors" in index


async def test_search_uses_the_index_and_finds_the_owner_s_rows(storage_factory: Any) -> None:
    """An owner holding 1% of the vectors still gets top_k hits (iterative index scan)."""
    embedder = DeterministicTestEmbedder(64)
    store = await storage_factory(embedder=embedder)
    m = store.memory
    for r in range(20):
        await m.save_thread(Thread(id=f"t{r}", resource_id=f"u{r}"))
        await m.save_messages([Message(id=f"t{r}-{n}", thread_id=f"t{r}", role="user",
                                       content=f"note {n} about topic {r % 3} and more")
                               for n in range(40)])
    hits = await m.search_messages("note about topic", resource_id="u7", top_k=5)
    assert len(hits) == 5 and {h.message.resource_id for h in hits} == {"u7"}


async def test_without_pgvector_init_says_how_to_install(plain_pg_url: str) -> None:
    if await fetch(plain_pg_url, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"):
        pytest.skip("this server offers pgvector")  # never in CI: its 5432 has none
    schema = f"v{uuid.uuid4().hex[:12]}"
    store = open_store(plain_pg_url, fresh=True, schema=schema,
                       embedder=DeterministicTestEmbedder(16))
    try:
        with pytest.raises(NotSupportedError, match=r"pgvector.*exact_search=True"):
            await store.init()
    finally:
        await store.close()
    exact = open_store(plain_pg_url, fresh=True, schema=schema, exact_search=True,
                       embedder=DeterministicTestEmbedder(16))
    try:
        await exact.memory.save_thread(Thread(id="t", resource_id="u"))
        await exact.memory.save_messages([Message(id="a", thread_id="t", role="user",
                                                  content="hello vector world")])
        hits = await exact.memory.search_messages("vector world", thread_id="t")
        assert [h.message.id for h in hits] == ["a"]
    finally:
        await exact.close()
        await execute(plain_pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
