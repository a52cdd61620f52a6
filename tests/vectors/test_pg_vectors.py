"""PostgreSQL specifics of semantic recall: pgvector's column and HNSW index, the install
hint without the extension, and exact_search on a server without it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from agent_storage import Message, NotSupportedError, Thread, open_store
from agent_storage.embedders import DeterministicTestEmbedder
from vector_pg import execute, fetch

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def _owners(m: Any, owners: int, per: int, text: Callable[[int, int], str]) -> None:
    """Owner ``u<r>`` has thread ``t<r>`` of ``per`` messages ``t<r>-<n>``."""
    for r in range(owners):
        await m.save_thread(Thread(id=f"t{r}", resource_id=f"u{r}"))
        await m.save_messages([Message(id=f"t{r}-{n}", thread_id=f"t{r}", role="user",
                                       content=text(r, n)) for n in range(per)])


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
    await _owners(m, 20, 40, lambda r, n: f"note {n} about topic {r % 3} and more")
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


async def test_pooled_connections_carry_the_search_settings(storage_factory: Any) -> None:
    """A store searching with the index sets pgvector's search settings on every pooled
    connection (a search is then one statement); exact_search stores do not."""
    from sqlalchemy import text

    shown = "SELECT current_setting('hnsw.iterative_scan', true), " \
            "current_setting('hnsw.ef_search', true)"
    hnsw = await storage_factory(embedder=DeterministicTestEmbedder(16))
    async with hnsw.engine.connect() as conn:
        assert tuple((await conn.execute(text(shown))).one()) == ("relaxed_order", "100")
    exact = await storage_factory(embedder=DeterministicTestEmbedder(16), exact_search=True)
    async with exact.engine.connect() as conn:
        settings = tuple((await conn.execute(text(shown))).one())
    assert settings[0] != "relaxed_order"


@pytest.mark.parametrize("top_k", [5, 40])
async def test_an_owner_with_one_percent_of_the_vectors_gets_top_k(storage_factory: Any,
                                                                   top_k: int) -> None:
    """100 owners of 50 messages: the one-statement search (top_k 5, session settings)
    and the SET LOCAL transaction (top_k 40: ef_search 160) both return top_k rows of the
    owner, best first, the message rows matching their scores (exact cosine)."""
    from agent_storage.vectors.backend import check_vector, score

    embedder = DeterministicTestEmbedder(32)
    store = await storage_factory(embedder=embedder)
    m = store.memory
    await _owners(m, 100, 50, lambda r, n: f"word{n % 7} item{n} group{r % 5}")
    query = "word3 item10 group2"  # the text of t42-10
    hits = await m.search_messages(query, resource_id="u42", top_k=top_k)
    assert len(hits) == top_k and {h.message.resource_id for h in hits} == {"u42"}
    q = check_vector(embedder.vector(query), 32)
    for h in hits:
        content = h.message.content
        assert isinstance(content, str)
        assert h.score == score(q, check_vector(embedder.vector(content), 32))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert (hits[0].message.id, hits[0].score) == ("t42-10", 1.0)
