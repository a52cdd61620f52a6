"""``copy_store`` carries message vectors between stores of the same model, without
calling an embedder; two models are refused before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_storage import Message, Storage, Thread, open_store
from agent_storage.copy import copy_store
from agent_storage.embedders import DeterministicTestEmbedder
from agent_storage.vectors import EmbedderMismatchError

pytestmark = pytest.mark.asyncio(loop_scope="function")

TEXTS = ["My name is Ada", "garden roses bloom", "the train leaves at nine",
         "blue whales sing", "Ada likes tea"]


async def _seed(store: Storage) -> None:
    await store.memory.save_thread(Thread(id="t1", resource_id="u"))
    await store.memory.save_thread(Thread(id="t2", resource_id="u"))
    await store.memory.save_messages(
        [Message(id=f"a{n}", thread_id="t1", role="user", content=t)
         for n, t in enumerate(TEXTS)]
        + [Message(id=f"b{n}", thread_id="t2", role="user", content=t + " again")
           for n, t in enumerate(TEXTS)])


async def _hits(store: Storage, query: str) -> list[tuple[str, float]]:
    found = await store.memory.search_messages(query, resource_id="u", top_k=10)
    return [(h.message.id, h.score) for h in found]


def _url(kind: str, tmp_path: Path, name: str) -> str:
    return "memory://" if kind == "memory" else f"sqlite:///{tmp_path / name}.db"


@pytest.mark.parametrize(("src_kind", "dst_kind"),
                         [("memory", "sqlite"), ("sqlite", "memory"), ("sqlite", "sqlite")])
async def test_copy_carries_vectors_without_embedding(tmp_path: Path, src_kind: str,
                                                      dst_kind: str) -> None:
    seeding = DeterministicTestEmbedder(32)
    copying = DeterministicTestEmbedder(32)
    async with open_store(_url(src_kind, tmp_path, "src"), fresh=True,
                          embedder=seeding) as src, \
            open_store(_url(dst_kind, tmp_path, "dst"), fresh=True, embedder=copying) as dst:
        await _seed(src)
        await copy_store(src, dst, batch_size=3)
        assert copying.calls == 0  # copied, not re-embedded
        for query in ("what is my name", "roses", "whales"):
            copying.calls = 0
            assert await _hits(dst, query) == await _hits(src, query)
        # Every message has a vector in the destination: nothing left to embed.
        assert await dst.memory.embed_missing() == 0


async def test_copy_refuses_two_models_before_writing(tmp_path: Path) -> None:
    async with open_store("memory://", fresh=True, embedder=DeterministicTestEmbedder(32)) as src, \
            open_store(f"sqlite:///{tmp_path / 'dst.db'}", fresh=True,
                       embedder=DeterministicTestEmbedder(16)) as dst:
        await _seed(src)
        with pytest.raises(EmbedderMismatchError, match="never mixed"):
            await copy_store(src, dst)
        assert (await dst.memory.stats()).message_count == 0


async def test_destination_without_embedder_gets_messages_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dst.db'}"
    async with open_store("memory://", fresh=True, embedder=DeterministicTestEmbedder(32)) as src, \
            open_store(url, fresh=True) as dst:
        await _seed(src)
        report = await copy_store(src, dst)
        assert report["messages"].copied == 10
    embedder = DeterministicTestEmbedder(32)
    async with open_store(url, fresh=True, embedder=embedder) as later:
        assert await later.memory.embed_missing() == 10  # the documented way to add them


async def test_pg_round_trip_keeps_vectors(storage_factory: Any, tmp_path: Path) -> None:
    embedder = DeterministicTestEmbedder(32)
    src = await storage_factory(embedder=embedder)
    await _seed(src)
    copying = DeterministicTestEmbedder(32)
    async with open_store(f"sqlite:///{tmp_path / 'mid.db'}", fresh=True,
                          embedder=copying) as mid:
        await copy_store(src, mid)
        back = await storage_factory(embedder=copying)
        await copy_store(mid, back)
        assert copying.calls == 0
        want = await _hits(src, "what is my name")
        assert await _hits(back, "what is my name") == want
        # pgvector scores in float32, SQLite's exact search in float64: same order, and
        # scores equal to the last rounded digit.
        got = await _hits(mid, "what is my name")
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=2e-6)
