"""Resources (working memory), stats, and retention (per-thread limit and ttl)."""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

import pytest

from agent_storage import Include, Resource, Retention, Thread, ValidationError
from agent_storage.serde import utcnow
from agent_storage.testing._helpers import (
    ids,
    make_message,
    make_messages,
    make_thread,
    save_thread_with_messages,
    ts,
)


class TestResources:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_get_missing_is_none(self, storage: Any) -> None:
        assert await storage.memory.get_resource("nobody") is None

    async def test_save_and_get_round_trip(self, storage: Any) -> None:
        resource = Resource(id="user-1", working_memory="# Name\nAda", metadata={"plan": "pro",
                            "prefs": {"lang": "en", "tags": ["a"]}}, created_at=ts(0),
                            updated_at=ts(1))
        assert await storage.memory.save_resource(resource) == resource
        assert await storage.memory.get_resource("user-1") == resource

    async def test_resave_keeps_created_at(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", working_memory="a", created_at=ts(0),
                                                    updated_at=ts(0)))
        stored = await storage.memory.save_resource(
            Resource(id="r", working_memory="b", created_at=ts(50), updated_at=ts(50)))
        got = await storage.memory.get_resource("r")
        assert got == stored and got.created_at == ts(0) and got.working_memory == "b"

    async def test_update_working_memory_only(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", working_memory="old",
                                                    metadata={"k": 1}))
        updated = await storage.memory.update_resource("r", working_memory="new")
        assert updated.working_memory == "new" and dict(updated.metadata) == {"k": 1}
        assert await storage.memory.get_resource("r") == updated

    async def test_update_metadata_only_merges(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", working_memory="keep",
                                                    metadata={"a": 1, "b": 1}))
        updated = await storage.memory.update_resource("r", metadata={"b": 2, "c": 3})
        assert dict(updated.metadata) == {"a": 1, "b": 2, "c": 3}
        assert updated.working_memory == "keep"

    async def test_metadata_merge_is_shallow(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", metadata={"deep": {"x": 1, "y": 1}}))
        updated = await storage.memory.update_resource("r", metadata={"deep": {"x": 2}})
        assert dict(updated.metadata) == {"deep": {"x": 2}}

    async def test_update_creates_a_missing_resource(self, storage: Any) -> None:
        created = await storage.memory.update_resource("new", working_memory="hello")
        assert created.id == "new" and created.working_memory == "hello"
        assert dict(created.metadata) == {}
        assert await storage.memory.get_resource("new") == created

    async def test_update_creates_with_metadata_only(self, storage: Any) -> None:
        created = await storage.memory.update_resource("new", metadata={"k": "v"})
        assert created.working_memory is None and dict(created.metadata) == {"k": "v"}
        assert await storage.memory.get_resource("new") == created

    async def test_update_with_nothing_still_creates(self, storage: Any) -> None:
        created = await storage.memory.update_resource("bare")
        assert created.working_memory is None and dict(created.metadata) == {}
        assert await storage.memory.get_resource("bare") is not None

    async def test_empty_string_is_not_none(self, storage: Any) -> None:
        await storage.memory.update_resource("r", working_memory="")
        got = await storage.memory.get_resource("r")
        assert got is not None and got.working_memory == ""

    async def test_none_clears_working_memory(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", working_memory="something"))
        updated = await storage.memory.update_resource("r", working_memory=None)
        assert updated.working_memory is None
        got = await storage.memory.get_resource("r")
        assert got is not None and got.working_memory is None

    async def test_empty_metadata_update_keeps_metadata(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", metadata={"k": 1}))
        updated = await storage.memory.update_resource("r", metadata={})
        assert dict(updated.metadata) == {"k": 1}

    async def test_large_working_memory(self, storage: Any) -> None:
        text = "## Notes\n" + "The user likes long answers. " * 5000  # ~145 KB
        await storage.memory.update_resource("r", working_memory=text)
        got = await storage.memory.get_resource("r")
        assert got is not None and got.working_memory == text

    @pytest.mark.parametrize("text", [
        "żółć 中文 🤖 مرحبا שלום", "'; DROP TABLE resources; --", '{"json": "looking"}',
    ])
    async def test_special_characters(self, storage: Any, text: str) -> None:
        await storage.memory.update_resource("r", working_memory=text, metadata={text: text})
        got = await storage.memory.get_resource("r")
        assert got is not None and got.working_memory == text and dict(got.metadata) == {text: text}

    async def test_update_bumps_updated_at_and_keeps_created_at(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", created_at=ts(0), updated_at=ts(0)))
        updated = await storage.memory.update_resource("r", working_memory="x")
        assert updated.created_at == ts(0) and updated.updated_at > ts(0)

    async def test_concurrent_metadata_updates_keep_every_key(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", metadata={"base": True}))
        await asyncio.gather(*(
            storage.memory.update_resource("r", metadata={f"k{n}": n}) for n in range(12)))
        got = await storage.memory.get_resource("r")
        assert got is not None
        assert dict(got.metadata) == {"base": True, **{f"k{n}": n for n in range(12)}}

    async def test_concurrent_creates_of_one_resource(self, storage: Any) -> None:
        results = await asyncio.gather(*(
            storage.memory.update_resource("r", working_memory=f"v{n}", metadata={f"k{n}": n})
            for n in range(8)))
        got = await storage.memory.get_resource("r")
        assert got is not None
        assert got.working_memory in {r.working_memory for r in results}
        assert dict(got.metadata) == {f"k{n}": n for n in range(8)}

    async def test_resources_outlive_their_threads(self, storage: Any) -> None:
        await storage.memory.update_resource("user-1", working_memory="remember me")
        thread, _ = await save_thread_with_messages(storage, 2, resource_id="user-1")
        await storage.memory.delete_thread(thread.id)
        got = await storage.memory.get_resource("user-1")
        assert got is not None and got.working_memory == "remember me"

    async def test_bad_input_changes_nothing(self, storage: Any) -> None:
        await storage.memory.save_resource(Resource(id="r", working_memory="same",
                                                    metadata={"k": 1}))
        before = await storage.memory.get_resource("r")
        with pytest.raises(ValidationError):
            await storage.memory.update_resource("r", working_memory="nul\x00")
        with pytest.raises(ValidationError):
            await storage.memory.update_resource("r", metadata={"k": float("inf")})
        with pytest.raises(ValidationError):
            await storage.memory.update_resource("r", working_memory=42)
        with pytest.raises(ValidationError):
            await storage.memory.update_resource("")
        with pytest.raises(ValidationError):
            await storage.memory.save_resource({"id": "r"})
        assert await storage.memory.get_resource("r") == before


class TestStats:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_empty_store(self, storage: Any) -> None:
        stats = await storage.memory.stats()
        assert (stats.thread_count, stats.message_count) == (0, 0)
        assert stats.messages_per_thread == 0
        assert stats.first_activity is None and stats.last_activity is None

    async def test_counts_and_average(self, storage: Any) -> None:
        await save_thread_with_messages(storage, 3, resource_id="alice")
        await save_thread_with_messages(storage, 6, resource_id="alice")
        await save_thread_with_messages(storage, 0, resource_id="alice")
        await save_thread_with_messages(storage, 10, resource_id="bob")
        alice = await storage.memory.stats("alice")
        assert (alice.thread_count, alice.message_count) == (3, 9)
        assert alice.messages_per_thread == pytest.approx(3.0)
        everyone = await storage.memory.stats()
        assert (everyone.thread_count, everyone.message_count) == (4, 19)
        assert everyone.messages_per_thread == pytest.approx(19 / 4)

    async def test_unknown_resource(self, storage: Any) -> None:
        await save_thread_with_messages(storage, 2, resource_id="alice")
        stats = await storage.memory.stats("nobody")
        assert (stats.thread_count, stats.message_count, stats.messages_per_thread) == (0, 0, 0)
        assert stats.first_activity is None and stats.last_activity is None

    async def test_first_and_last_activity(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="old", resource_id="alice",
                                                     created_at=ts(10), updated_at=ts(10)))
        await storage.memory.save_thread(make_thread(id="new", resource_id="alice",
                                                     created_at=ts(20), updated_at=ts(20)))
        await storage.memory.save_messages([make_message("new", 30), make_message("new", 40)])
        await storage.memory.save_thread(make_thread(id="other", resource_id="bob",
                                                     created_at=ts(1), updated_at=ts(1)))
        stats = await storage.memory.stats("alice")
        # Activity spans the resource's threads and messages: the first is the oldest
        # thread (or message) and the last is at least the newest message.
        assert stats.first_activity == ts(10)
        assert stats.last_activity is not None and stats.last_activity >= ts(40)
        assert stats.first_activity.tzinfo is not None and stats.last_activity.tzinfo is not None

    async def test_deleted_messages_leave_the_counts(self, storage: Any) -> None:
        thread, saved = await save_thread_with_messages(storage, 5, resource_id="alice")
        await storage.memory.delete_messages(ids(saved[:2]))
        assert (await storage.memory.stats("alice")).message_count == 3
        await storage.memory.delete_thread(thread.id)
        stats = await storage.memory.stats("alice")
        assert (stats.thread_count, stats.message_count) == (0, 0)

    async def test_bad_resource_id(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.memory.stats("")


class TestRetention:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_per_thread_limit_prunes_the_oldest_in_the_same_call(
        self, storage_factory: Any
    ) -> None:
        store = await storage_factory(retention=Retention(max_messages_per_thread=5))
        await store.memory.save_thread(make_thread(id="t"))
        await store.memory.save_messages(make_messages("t", 3))
        await store.memory.save_messages(make_messages("t", 4, start=3))
        page = await store.memory.list_messages("t")
        assert [m.content for m in page.items] == [f"message {n}" for n in range(2, 7)]
        assert page.total == 5
        assert await store.memory.get_messages(["t-m0000", "t-m0001"]) == []

    async def test_one_batch_larger_than_the_limit(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(max_messages_per_thread=3))
        await store.memory.save_thread(make_thread(id="t"))
        await store.memory.save_messages(make_messages("t", 8))
        page = await store.memory.list_messages("t")
        assert ids(page.items) == [f"t-m{n:04d}" for n in (5, 6, 7)]

    async def test_the_limit_is_per_thread(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(max_messages_per_thread=2))
        await store.memory.save_thread(make_thread(id="a"))
        await store.memory.save_thread(make_thread(id="b"))
        await store.memory.save_messages(make_messages("a", 4) + make_messages("b", 1))
        assert len((await store.memory.list_messages("a")).items) == 2
        assert len((await store.memory.list_messages("b")).items) == 1

    async def test_pruning_follows_created_at_then_save_order(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(max_messages_per_thread=3))
        await store.memory.save_thread(make_thread(id="t"))
        at = ts(0)
        batch = [make_message("t", n, at=at) for n in (4, 2, 0, 3, 1)]
        await store.memory.save_messages(batch)
        assert ids((await store.memory.list_messages("t")).items) == ids(batch)[-3:]
        # an older message arriving late is the oldest: it is pruned at once
        await store.memory.save_messages([make_message("t", 9, at=ts(-100))])
        assert ids((await store.memory.list_messages("t")).items) == ids(batch)[-3:]

    async def test_no_limit_keeps_everything(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages(make_messages("t", 60))
        assert (await storage.memory.list_messages("t", per_page=None)).total == 60

    @pytest.mark.agent_storage_requires("ttl")
    async def test_ttl_hides_expired_messages(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(ttl={"messages": _dt.timedelta(days=1)}))
        await store.memory.save_thread(make_thread(id="t"))
        now = utcnow()
        await store.memory.save_messages([
            make_message("t", 0, at=now - _dt.timedelta(days=3)),
            make_message("t", 1, at=now - _dt.timedelta(days=2)),
            make_message("t", 2, at=now - _dt.timedelta(minutes=5)),
            make_message("t", 3, at=now - _dt.timedelta(minutes=1)),
        ])
        page = await store.memory.list_messages("t")
        assert ids(page.items) == ["t-m0002", "t-m0003"] and page.total == 2
        assert ids((await store.memory.list_messages("t", last=3)).items) == ["t-m0002", "t-m0003"]
        assert ids(await store.memory.get_messages(["t-m0000", "t-m0003"])) == ["t-m0003"]
        window = await store.memory.list_messages(
            "t", per_page=0, include=[Include(id="t-m0002", before=2)])
        assert ids(window.items) == ["t-m0002"]

    @pytest.mark.agent_storage_requires("ttl")
    async def test_ttl_hides_expired_threads(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(ttl={"threads": _dt.timedelta(hours=1)}))
        now = utcnow()
        await store.memory.save_thread(Thread(id="stale", resource_id="u",
                                              created_at=now - _dt.timedelta(days=1),
                                              updated_at=now - _dt.timedelta(hours=2)))
        await store.memory.save_thread(Thread(id="fresh", resource_id="u",
                                              created_at=now - _dt.timedelta(days=1),
                                              updated_at=now - _dt.timedelta(minutes=1)))
        assert await store.memory.get_thread("stale") is None
        assert await store.memory.get_thread("fresh") is not None
        page = await store.memory.list_threads(resource_id="u")
        assert ids(page.items) == ["fresh"] and page.total == 1
        assert [t.id for t in await store.memory.threads().all()] == ["fresh"]

    @pytest.mark.agent_storage_requires("ttl")
    async def test_ttl_hides_expired_resources(self, storage_factory: Any) -> None:
        store = await storage_factory(
            retention=Retention(ttl={"resources": _dt.timedelta(hours=1)}))
        now = utcnow()
        await store.memory.save_resource(Resource(id="stale",
                                                  updated_at=now - _dt.timedelta(hours=3)))
        await store.memory.save_resource(Resource(id="fresh", updated_at=now))
        assert await store.memory.get_resource("stale") is None
        assert await store.memory.get_resource("fresh") is not None

    @pytest.mark.agent_storage_requires("ttl")
    async def test_ttl_of_one_entity_leaves_the_others(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(ttl={"messages": _dt.timedelta(days=1)}))
        old = utcnow() - _dt.timedelta(days=30)
        await store.memory.save_thread(Thread(id="t", resource_id="u", created_at=old,
                                              updated_at=old))
        await store.memory.save_resource(Resource(id="u", created_at=old, updated_at=old))
        assert await store.memory.get_thread("t") is not None
        assert await store.memory.get_resource("u") is not None
