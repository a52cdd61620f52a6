"""DynamoDB's message vectors leave the store with ``copy_store`` (``_read_vectors``: the
stored float32 vectors and digests, read back by message id) and arrive without being
embedded again; a message without text has no vector to carry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agent_storage import Message, Storage, Thread, open_store
from agent_storage.copy import copy_store
from agent_storage.embedders import DeterministicTestEmbedder

pytestmark = pytest.mark.asyncio(loop_scope="function")

TEXTS = ["My name is Ada", "garden roses bloom", "the train leaves at nine",
         "blue whales sing", "Ada likes tea"]


async def _hits(store: Storage, query: str) -> list[tuple[str, float]]:
    found = await store.memory.search_messages(query, resource_id="u", top_k=20)
    return [(h.message.id, h.score) for h in found]


@pytest.mark.parametrize("direction", ["from_dynamodb", "to_dynamodb"])
async def test_copy_carries_vectors_without_embedding(
    storage_factory: Callable[..., Awaitable[Storage]], direction: str,
) -> None:
    seeding, copying = DeterministicTestEmbedder(24), DeterministicTestEmbedder(24)
    dynamo = await storage_factory(embedder=seeding if direction == "from_dynamodb"
                                   else copying)
    async with open_store("memory://", fresh=True,
                          embedder=copying if direction == "from_dynamodb"
                          else seeding) as mem:
        src, dst = (dynamo, mem) if direction == "from_dynamodb" else (mem, dynamo)
        await src.memory.save_thread(Thread(id="t1", resource_id="u"))
        await src.memory.save_thread(Thread(id="t2", resource_id="u"))
        await src.memory.save_messages(
            [Message(id=f"a{n}", thread_id="t1", role="user", content=t)
             for n, t in enumerate(TEXTS)]
            + [Message(id="img", thread_id="t1", role="user",
                       content=[{"type": "image", "url": "x"}])]  # no text: no vector
            + [Message(id=f"b{n}", thread_id="t2", role="assistant", content=t + " again")
               for n, t in enumerate(TEXTS)])
        await copy_store(src, dst, batch_size=4)
        assert copying.calls == 0  # carried, not re-embedded
        for query in ("what is my name", "roses", "whales"):
            got, want = await _hits(dst, query), await _hits(src, query)
            # same hits and scores (equal scores rank by save order, which a copy
            # need not keep across threads)
            assert sorted(got) == sorted(want)
            assert [s for _, s in got] == [s for _, s in want]
        assert len(await _hits(dst, "whales")) == 10  # the image message has none
        assert await dst.memory.embed_missing() == 0  # every vector arrived, digests too


async def test_read_vectors_returns_what_was_stored(
    storage_factory: Callable[..., Awaitable[Storage]],
) -> None:
    """The primitive itself: (id, unit float32 vector, digest of the text) for each id
    that has a vector, in the order asked; unknown ids and text-less messages skipped."""
    from agent_storage.vectors.backend import check_vector, digest

    embedder = DeterministicTestEmbedder(16)
    store = await storage_factory(embedder=embedder)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    await store.memory.save_messages([
        Message(id="x", thread_id="t", role="user", content="hello vector"),
        Message(id="y", thread_id="t", role="user", content=[{"type": "image"}]),
        Message(id="z", thread_id="t", role="user", content="second text")])
    backend: Any = store.backend
    rows = await backend.domain("memory")._read_vectors(["z", "nope", "y", "x"])
    assert [(mid, dig) for mid, _, dig in rows] == [("z", digest("second text")),
                                                   ("x", digest("hello vector"))]
    assert rows[1][1] == check_vector(embedder.vector("hello vector"), 16)
