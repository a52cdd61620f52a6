"""Semantic recall: vectors follow their messages; search_messages and recall.

Every case uses :class:`~agent_storage.embedders.DeterministicTestEmbedder` (hashed word
features, written for tests): texts sharing words score high, and the same text always
gets the same vector.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import pytest

from agent_storage import (
    ConfigurationError,
    EmbedderMismatchError,
    EmbeddingError,
    Message,
    MessageUpdate,
    Retention,
    ThreadNotFoundError,
    ValidationError,
)
from agent_storage.embedders import DeterministicTestEmbedder
from agent_storage.testing._helpers import ids, make_thread, ts

# A backend without vectors (e.g. one built on the generic record store) declares no
# "vectors" capability and these cases are skipped for it, with the reason.
pytestmark = [pytest.mark.asyncio(loop_scope="function"),
              pytest.mark.agent_storage_requires("vectors")]

NAME = "My name is Ada Lovelace"
QUESTION = "What's my name?"


#: Dimensions of the kit's embedder: at this size no filler word shares a hashed dimension
#: with "name" (scores of fillers against QUESTION are exactly 0).
DIMS = 128
_TOPICS = ("weather sunny", "football match", "cooking pasta", "train tickets", "garden roses",
           "coffee beans", "mountain hike")
_WHEN = ("today", "tomorrow", "later", "again")


def _filler(n: int) -> str:
    return f"{_TOPICS[n % len(_TOPICS)]} {_WHEN[n // len(_TOPICS) % len(_WHEN)]}"


def _msg(thread_id: str, n: int, content: Any, *, id: str | None = None,
         role: str = "user") -> Message:
    return Message(id=id or f"{thread_id}-{n:03d}", thread_id=thread_id, role=role,
                   content=content, created_at=ts(n))


async def _open(storage_factory: Any, dims: int = DIMS, **options: Any) -> Any:
    return await storage_factory(embedder=DeterministicTestEmbedder(dims), **options)


async def _seed(store: Any, thread_id: str = "t1", resource_id: str = "u1", count: int = 10,
                name_at: int | None = 3, start: int = 0) -> list[Message]:
    if await store.memory.get_thread(thread_id) is None:
        await store.memory.save_thread(make_thread(id=thread_id, resource_id=resource_id))
    batch = [_msg(thread_id, start + n, NAME if n == name_at else _filler(start + n))
             for n in range(count)]
    saved: list[Message] = await store.memory.save_messages(batch)
    return saved


class TestVectorSearch:
    async def test_finds_the_message_sharing_words_best_first(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store)
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=3)
        assert hits[0].message.id == "t1-003"
        assert hits[0].message.content == NAME and hits[0].message.resource_id == "u1"
        assert len(hits) == 3
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert 0.3 < hits[0].score <= 1.0

    async def test_score_is_cosine_similarity(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, count=1, name_at=0)
        embedder = DeterministicTestEmbedder(DIMS)
        q = embedder.vector(QUESTION)
        m = embedder.vector(NAME)
        cosine = sum(a * b for a, b in zip(q, m, strict=True))
        hits = await store.memory.search_messages(q, resource_id="u1")
        assert hits[0].score == pytest.approx(cosine, abs=1e-5)
        same = await store.memory.search_messages(NAME, thread_id="t1")
        assert same[0].score == pytest.approx(1.0, abs=1e-5)

    async def test_results_never_cross_the_owner(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", "u1", name_at=None)
        await _seed(store, "t2", "u2", name_at=0)
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=20)
        assert hits and {h.message.resource_id for h in hits} == {"u1"}
        assert "t2-000" not in [h.message.id for h in hits]
        other = await store.memory.search_messages(QUESTION, resource_id="u2", top_k=1)
        assert [h.message.id for h in other] == ["t2-000"]

    async def test_thread_scope(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", "u1", name_at=None)
        await _seed(store, "t2", "u1", name_at=0)
        hits = await store.memory.search_messages(QUESTION, thread_id="t1", top_k=20)
        assert hits and {h.message.thread_id for h in hits} == {"t1"}
        both = await store.memory.search_messages(QUESTION, thread_id="t2", resource_id="u2")
        assert both == []  # thread t2 belongs to u1

    async def test_top_k_and_min_score(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, count=12)
        assert len(await store.memory.search_messages(QUESTION, resource_id="u1", top_k=2)) == 2
        strong = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=10,
                                                    min_score=0.3)
        assert [h.message.id for h in strong] == ["t1-003"]
        assert await store.memory.search_messages("zebra xylophone", resource_id="u1",
                                                  min_score=0.99) == []

    async def test_ties_later_saved_first(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
        for n in range(3):  # identical text, three separate saves
            await store.memory.save_messages([_msg("t1", n, "same words here")])
        hits = await store.memory.search_messages("same words here", resource_id="u1")
        assert [h.message.id for h in hits] == ["t1-002", "t1-001", "t1-000"]
        assert len({h.score for h in hits}) == 1

    async def test_structured_content_embeds_its_text_parts(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
        await store.memory.save_messages([
            _msg("t1", 0, [{"type": "text", "text": NAME}, {"type": "image", "url": "x"}]),
            _msg("t1", 1, {"tool": "lookup", "args": {"q": "my name"}}),  # no text part
        ])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=5)
        assert [h.message.id for h in hits] == ["t1-000"]

    async def test_embed_text_hook_chooses_the_text(self, storage_factory: Any) -> None:
        store = await _open(storage_factory,
                            embed_text=lambda m: m.metadata.get("summary"))
        await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
        await store.memory.save_messages([
            Message(id="a", thread_id="t1", role="user", content="unrelated words",
                    metadata={"summary": NAME}),
            Message(id="b", thread_id="t1", role="user", content=NAME),
        ])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=5)
        assert [h.message.id for h in hits] == ["a"]

    async def test_a_scope_is_required(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        with pytest.raises(ValidationError, match="scope"):
            await store.memory.search_messages(QUESTION)

    async def test_bad_arguments(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store)
        m = store.memory
        for kwargs in ({"top_k": 0}, {"top_k": True}, {"top_k": 10_001},
                       {"min_score": 2}, {"min_score": "x"}):
            with pytest.raises(ValidationError):
                await m.search_messages(QUESTION, resource_id="u1", **kwargs)
        with pytest.raises(ValidationError):
            await m.search_messages("  ", resource_id="u1")
        with pytest.raises(ValidationError):
            await m.search_messages(QUESTION, resource_id="")

    @pytest.mark.parametrize("vector", [
        [float("nan")] + [0.1] * (DIMS - 1), [float("inf")] + [0.1] * (DIMS - 1), [0.0] * DIMS,
        [0.1] * (DIMS - 1), [0.1] * (DIMS + 1), ["a"] * DIMS,
    ], ids=["nan", "inf", "zero", "short", "long", "text"])
    async def test_bad_query_vectors(self, storage_factory: Any, vector: list[Any]) -> None:
        store = await _open(storage_factory)
        await _seed(store)
        with pytest.raises(EmbeddingError):
            await store.memory.search_messages(vector, resource_id="u1")

    async def test_without_an_embedder(self, storage: Any) -> None:
        with pytest.raises(ConfigurationError, match="embedder"):
            await storage.memory.search_messages(QUESTION, resource_id="u1")


class _BadEmbedder(DeterministicTestEmbedder):
    def __init__(self, bad: Any, dimensions: int = DIMS) -> None:
        super().__init__(dimensions)
        self.bad = bad

    async def embed(self, texts: Sequence[str]) -> Any:
        vectors = await super().embed(texts)
        if self.bad == "count":
            return vectors[:-1]
        if self.bad == "raise":
            raise RuntimeError("embedding service down")
        if self.bad == "cancel":
            raise asyncio.CancelledError
        vectors[-1] = self.bad
        return vectors


class TestVectorsFollowMessages:
    @pytest.mark.parametrize("bad", [[math.nan] * DIMS, [0.0] * DIMS, [0.5] * 3, "count"],
                             ids=["nan", "zero", "wrong-length", "wrong-count"])
    async def test_bad_embeddings_store_nothing(self, storage_factory: Any, bad: Any) -> None:
        store = await storage_factory(embedder=_BadEmbedder(bad))
        await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
        with pytest.raises(EmbeddingError):
            await store.memory.save_messages([_msg("t1", 0, NAME), _msg("t1", 1, "other")])
        assert (await store.memory.list_messages("t1")).items == ()

    async def test_embedder_failure_or_cancellation_stores_nothing(
            self, storage_factory: Any) -> None:
        for bad, error in (("raise", RuntimeError), ("cancel", asyncio.CancelledError)):
            store = await storage_factory(embedder=_BadEmbedder(bad))
            await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
            with pytest.raises((error, Exception)):
                await store.memory.save_messages([_msg("t1", 0, NAME)])
            assert (await store.memory.list_messages("t1")).items == ()

    async def test_missing_thread_stores_neither(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, name_at=None)
        with pytest.raises(ThreadNotFoundError):
            await store.memory.save_messages([_msg("t1", 50, NAME), _msg("nope", 51, NAME)])
        assert await store.memory.search_messages(QUESTION, resource_id="u1",
                                                  min_score=0.3) == []

    async def test_deleted_messages_and_threads_are_never_returned(
            self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", name_at=3)
        await _seed(store, "t2", name_at=0)
        await store.memory.delete_messages(["t1-003"])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=30)
        assert "t1-003" not in ids(h.message for h in hits)
        await store.memory.delete_thread("t2")
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=30)
        assert {h.message.thread_id for h in hits} == {"t1"}
        # a new message reusing a deleted id gets its own vector, not the old one's
        await store.memory.save_messages([_msg("t1", 3, "garden roses", id="t1-003")])
        best = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=1)
        assert best[0].score < 0.3

    async def test_retention_prunes_vectors(self, storage_factory: Any) -> None:
        store = await _open(storage_factory,
                            retention=Retention(max_messages_per_thread=5))
        await _seed(store, count=10, name_at=2)
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=20)
        assert sorted(ids(h.message for h in hits)) == [f"t1-{n:03d}" for n in range(5, 10)]

    async def test_expired_messages_are_never_returned(self, storage_factory: Any) -> None:
        store = await _open(storage_factory, retention=Retention(ttl={"messages": 3600}))
        await store.memory.save_thread(make_thread(id="t1", resource_id="u1"))
        old = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=2)
        await store.memory.save_messages([
            Message(id="old", thread_id="t1", role="user", content=NAME, created_at=old),
            Message(id="new", thread_id="t1", role="user", content="garden roses"),
        ])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=5)
        assert ids(h.message for h in hits) == ["new"]

    async def test_update_reembeds_changed_text(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, name_at=None)
        await store.memory.update_messages([MessageUpdate(id="t1-005", content=NAME)])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=1)
        assert hits[0].message.id == "t1-005" and hits[0].message.content == NAME
        await store.memory.update_messages([MessageUpdate(id="t1-005", metadata={"k": 1})])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=1)
        assert hits[0].message.id == "t1-005" and hits[0].message.metadata == {"k": 1}
        await store.memory.update_messages([MessageUpdate(id="t1-005", content="garden")])
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=1)
        assert hits[0].score < 0.3

    async def test_moved_message_follows_its_new_owner(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", "u1", name_at=3)
        await store.memory.save_thread(make_thread(id="t9", resource_id="u9"))
        await store.memory.update_messages([MessageUpdate(id="t1-003", thread_id="t9")])
        mine = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=30)
        assert "t1-003" not in ids(h.message for h in mine)
        theirs = await store.memory.search_messages(QUESTION, resource_id="u9")
        assert ids(h.message for h in theirs) == ["t1-003"]

    async def test_clone_carries_vectors(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", "u1", name_at=3)
        embedder = store.backend.options.embedder
        before = embedder.calls
        clone = await store.memory.clone_thread("t1", new_thread_id="c1", resource_id="u2")
        assert embedder.calls == before  # carried, not re-embedded
        hits = await store.memory.search_messages(QUESTION, resource_id="u2", top_k=1)
        assert hits[0].message.thread_id == clone[0].id and hits[0].message.content == NAME

    async def test_one_embed_call_per_save(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        embedder = store.backend.options.embedder
        await _seed(store, count=25)
        assert embedder.calls == 1 and len(embedder.texts) == 25


class TestRecall:
    async def test_last_messages_plus_hits_with_neighbours(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "old", "u1", count=20, name_at=10)
        await _seed(store, "now", "u1", count=6, name_at=None, start=100)
        r = await store.memory.recall("now", QUESTION, last=3, top_k=1, message_range=2)
        assert [h.message.id for h in r.hits] == ["old-010"]
        assert ids(r.messages) == ["old-008", "old-009", "old-010", "old-011", "old-012",
                                   "now-103", "now-104", "now-105"]
        assert r.hits[0].score > 0.3

    async def test_neighbours_stop_at_thread_edges(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "old", "u1", count=5, name_at=0)
        await _seed(store, "now", "u1", count=2, name_at=None, start=100)
        r = await store.memory.recall("now", QUESTION, last=1, top_k=1, message_range=2)
        assert ids(r.messages) == ["old-000", "old-001", "old-002", "now-101"]
        await _seed(store, "end", "u2", count=5, name_at=4)
        r = await store.memory.recall("end", QUESTION, last=0, top_k=1, message_range=3,
                                      scope="thread")
        assert ids(r.messages) == ["end-001", "end-002", "end-003", "end-004"]

    async def test_deduplicates_and_stays_chronological(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "t1", "u1", count=10, name_at=8)
        r = await store.memory.recall("t1", QUESTION, last=4, top_k=2, message_range=1)
        assert ids(r.messages) == sorted(set(ids(r.messages)))
        assert ids(r.messages)[-4:] == ["t1-006", "t1-007", "t1-008", "t1-009"]
        # the best match is already among the last messages: hits are earlier ones
        assert "t1-008" not in ids(h.message for h in r.hits) and len(r.hits) == 2
        assert {h.message.id for h in r.hits} <= set(ids(r.messages))
        assert len(r.messages) == len(set(ids(r.messages)))

    async def test_thread_scope_and_owner(self, storage_factory: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store, "old", "u1", count=5, name_at=2)
        await _seed(store, "now", "u1", count=5, name_at=None, start=100)
        await _seed(store, "x", "u2", count=5, name_at=1)
        r = await store.memory.recall("now", QUESTION, last=2, top_k=3, scope="thread",
                                      min_score=0.3)
        assert r.hits == () and ids(r.messages) == ["now-103", "now-104"]
        r = await store.memory.recall("now", QUESTION, last=0, top_k=10, message_range=0)
        assert {h.message.resource_id for h in r.hits} == {"u1"}
        with pytest.raises(ThreadNotFoundError):
            await store.memory.recall("now", QUESTION, resource_id="u2")
        with pytest.raises(ThreadNotFoundError):
            await store.memory.recall("missing", QUESTION)
        with pytest.raises(ValidationError):
            await store.memory.recall("now", QUESTION, scope="everything")
        with pytest.raises(ValidationError):
            await store.memory.recall("now", QUESTION, message_range=-1)


class TestEmbedderRecord:
    @pytest.mark.agent_storage_requires("persistent")
    async def test_another_model_or_size_is_refused(
            self, storage_factory: Any, reopen_store: Any) -> None:
        store = await _open(storage_factory)
        await _seed(store)
        other = reopen_store(store, embedder=DeterministicTestEmbedder(16))
        with pytest.raises(EmbedderMismatchError, match=str(DIMS)):
            await other.memory.search_messages(QUESTION, resource_id="u1")
        renamed = reopen_store(store, embedder=DeterministicTestEmbedder(DIMS, model="m2"))
        with pytest.raises(EmbedderMismatchError, match="m2"):
            await renamed.memory.save_messages([_msg("t1", 99, NAME)])
        assert len((await store.memory.list_messages("t1")).items) == 10

    @pytest.mark.agent_storage_requires("persistent")
    async def test_embed_missing(self, storage_factory: Any, reopen_store: Any) -> None:
        plain = await storage_factory()
        await _seed(plain, "t1", "u1", count=30, name_at=7)
        await _seed(plain, "t2", "u2", count=5, name_at=None)
        embedder = DeterministicTestEmbedder(DIMS)
        store = reopen_store(plain, embedder=embedder)
        seen: list[tuple[int, int]] = []
        done = await store.memory.embed_missing(resource_id="u1", batch_size=8,
                                                progress=lambda a, b: seen.append((a, b)))
        assert done == 30 and embedder.calls == 4 and seen[-1] == (30, 30)
        hits = await store.memory.search_messages(QUESTION, resource_id="u1", top_k=1)
        assert hits[0].message.id == "t1-007"
        assert await store.memory.embed_missing(resource_id="u1") == 0  # resumable, idempotent
        assert await store.memory.embed_missing() == 5
        # text changed while no embedder was set: re-embedded
        await plain.memory.update_messages([MessageUpdate(id="t2-001", content=NAME)])
        assert await store.memory.embed_missing() == 1
        hits = await store.memory.search_messages(QUESTION, resource_id="u2", top_k=1)
        assert hits[0].message.id == "t2-001"


