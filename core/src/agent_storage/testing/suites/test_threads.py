"""Threads: CRUD, ownership, listing (the sort matrix, stable pages) and fluent queries."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest

from agent_storage import Thread, ThreadNotFoundError, ValidationError
from agent_storage.testing._helpers import (
    T0,
    ids,
    make_messages,
    make_thread,
    save_thread_with_messages,
    ts,
    uid,
)

ORDER_FIELDS = ("created_at", "updated_at", "title")
DIRECTIONS = ("asc", "desc")
SPECIAL_TEXTS = (
    "quote ' double \" backslash \\ percent % underscore _",
    "'; DROP TABLE threads; --",
    "unicode: żółć 中文 日本語 한국어",
    "emoji: 🤖🧠💬👩🏽‍💻",
    "rtl: مرحبا بالعالم שלום",
    "newline\nand\ttab",
    "json-looking: {\"a\": 1}",
)


def _order_key(thread: Thread, field: str) -> tuple[Any, str]:
    value = getattr(thread, field)
    return ((value or "") if field == "title" else value), thread.id


def _expected(threads: list[Thread], field: str, direction: str) -> list[str]:
    return ids(sorted(threads, key=lambda t: _order_key(t, field), reverse=direction == "desc"))


async def _matrix_threads(storage: Any, resource_id: str = "user-1") -> list[Thread]:
    """Six threads whose created_at, updated_at and title orders all differ."""
    created = [3, 0, 5, 1, 4, 2]
    updated = [10, 14, 11, 15, 12, 13]
    titles = ["delta", "alpha", None, "charlie", "echo", "bravo"]
    saved = []
    for n in range(6):
        saved.append(await storage.memory.save_thread(Thread(
            id=f"t{n}", resource_id=resource_id, title=titles[n],
            created_at=ts(created[n]), updated_at=ts(updated[n]),
        )))
    return saved


async def _tied_threads(storage: Any, count: int, resource_id: str = "user-1") -> list[Thread]:
    """``count`` threads with identical timestamps and titles: only the id breaks ties."""
    saved = []
    for n in range(count):
        saved.append(await storage.memory.save_thread(Thread(
            id=f"tie-{n:03d}-{uid('x')}", resource_id=resource_id, title="same",
            created_at=T0, updated_at=T0,
        )))
    return saved


class TestThreadCrud:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_save_and_get_round_trips_every_field(self, storage: Any) -> None:
        thread = Thread(
            id="t-1", resource_id="user-1", title="Trip planning",
            metadata={"topic": "travel", "tags": ["a", "b"], "nested": {"n": 1, "f": 1.5,
                                                                       "ok": True, "none": None}},
            agent_id="agent-7", created_at=ts(0), updated_at=ts(5),
        )
        await storage.memory.save_thread(thread)
        got = await storage.memory.get_thread("t-1")
        assert got == thread

    async def test_save_returns_the_stored_thread(self, storage: Any) -> None:
        thread = make_thread(title="x", created_at=ts(1), updated_at=ts(1))
        stored = await storage.memory.save_thread(thread)
        assert stored == thread

    async def test_get_missing_thread_is_none(self, storage: Any) -> None:
        assert await storage.memory.get_thread("no-such-thread") is None

    async def test_resave_keeps_created_at_and_replaces_the_rest(self, storage: Any) -> None:
        await storage.memory.save_thread(Thread(id="t", resource_id="u", title="one",
                                                metadata={"a": 1}, created_at=ts(0),
                                                updated_at=ts(0)))
        stored = await storage.memory.save_thread(Thread(id="t", resource_id="u", title="two",
                                                         metadata={"b": 2}, created_at=ts(100),
                                                         updated_at=ts(100)))
        got = await storage.memory.get_thread("t")
        assert got is not None and stored == got
        assert got.created_at == ts(0)
        assert got.title == "two" and dict(got.metadata) == {"b": 2}
        page = await storage.memory.list_threads(resource_id="u")
        assert ids(page.items) == ["t"]  # an upsert, not a second row

    async def test_ownership_check_on_get(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="mine", resource_id="alice"))
        assert (await storage.memory.get_thread("mine", resource_id="alice")) is not None
        assert await storage.memory.get_thread("mine", resource_id="mallory") is None

    async def test_update_title(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", title="old", metadata={"k": 1}))
        updated = await storage.memory.update_thread("t", title="new")
        assert updated.title == "new" and dict(updated.metadata) == {"k": 1}
        assert await storage.memory.get_thread("t") == updated

    async def test_update_title_to_none_clears_it(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", title="old"))
        updated = await storage.memory.update_thread("t", title=None)
        assert updated.title is None
        got = await storage.memory.get_thread("t")
        assert got is not None and got.title is None

    async def test_update_metadata_replaces_by_default(self, storage: Any) -> None:
        await storage.memory.save_thread(
            make_thread(id="t", title="keep", metadata={"a": 1, "b": 1}))
        updated = await storage.memory.update_thread("t", metadata={"b": 2, "c": 3})
        assert dict(updated.metadata) == {"b": 2, "c": 3}
        assert updated.title == "keep"

    async def test_update_metadata_merge_is_shallow(self, storage: Any) -> None:
        await storage.memory.save_thread(
            make_thread(id="t", metadata={"a": 1, "b": 1, "deep": {"x": 1, "y": 1}}))
        updated = await storage.memory.update_thread(
            "t", metadata={"b": 2, "deep": {"x": 2}}, merge_metadata=True)
        assert dict(updated.metadata) == {"a": 1, "b": 2, "deep": {"x": 2}}
        got = await storage.memory.get_thread("t")
        assert got is not None and dict(got.metadata) == dict(updated.metadata)

    async def test_update_bumps_updated_at_and_keeps_created_at(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", created_at=ts(0), updated_at=ts(0)))
        updated = await storage.memory.update_thread("t", title="x")
        assert updated.created_at == ts(0)
        assert updated.updated_at > ts(0)

    async def test_update_missing_thread_raises_and_creates_nothing(self, storage: Any) -> None:
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.update_thread("ghost", title="x")
        assert await storage.memory.get_thread("ghost") is None

    async def test_delete_cascades_to_messages(self, storage: Any) -> None:
        thread, saved = await save_thread_with_messages(storage, 5)
        await storage.memory.delete_thread(thread.id)
        assert await storage.memory.get_thread(thread.id) is None
        assert await storage.memory.get_messages(ids(saved)) == []
        page = await storage.memory.list_messages(thread.id)
        assert page.items == () and page.total == 0

    async def test_delete_leaves_other_threads_alone(self, storage: Any) -> None:
        doomed, _ = await save_thread_with_messages(storage, 3)
        kept, kept_messages = await save_thread_with_messages(storage, 3)
        await storage.memory.delete_thread(doomed.id)
        assert await storage.memory.get_thread(kept.id) is not None
        assert ids(await storage.memory.get_messages(ids(kept_messages))) == ids(kept_messages)

    async def test_delete_missing_thread_is_a_no_op(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.delete_thread("ghost")
        assert await storage.memory.get_thread("t") is not None

    async def test_saving_messages_bumps_updated_at(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", created_at=ts(0), updated_at=ts(0)))
        await storage.memory.save_messages(make_messages("t", 2))
        got = await storage.memory.get_thread("t")
        assert got is not None
        assert got.updated_at > ts(0) and got.created_at == ts(0)

    async def test_json_metadata_is_not_double_encoded(self, storage: Any) -> None:
        metadata = {"as_text": '{"a": 1}', "obj": {"a": 1}, "list": [1, "2", {"3": 3}],
                    "num": 1.25, "int": 7, "flag": False, "nothing": None, "empty": {}}
        await storage.memory.save_thread(make_thread(id="t", metadata=metadata))
        got = await storage.memory.get_thread("t")
        assert got is not None
        assert dict(got.metadata) == metadata
        assert isinstance(got.metadata["obj"], dict) and isinstance(got.metadata["as_text"], str)
        listed = (await storage.memory.list_threads()).items[0]
        assert dict(listed.metadata) == metadata

    async def test_large_metadata_round_trips(self, storage: Any) -> None:
        metadata = {f"key{n}": "v" * 100 + str(n) for n in range(800)}  # ~85 KB
        await storage.memory.save_thread(make_thread(id="t", metadata=metadata))
        got = await storage.memory.get_thread("t")
        assert got is not None and dict(got.metadata) == metadata

    @pytest.mark.parametrize("text", SPECIAL_TEXTS)
    async def test_special_characters_round_trip(self, storage: Any, text: str) -> None:
        thread = make_thread(id="t", title=text, metadata={text: text, "k": [text]})
        await storage.memory.save_thread(thread)
        got = await storage.memory.get_thread("t")
        assert got is not None and got.title == text and dict(got.metadata) == dict(thread.metadata)
        page = await storage.memory.list_threads(resource_id=thread.resource_id)
        assert page.items[0].title == text

    async def test_timestamps_keep_the_instant_and_microseconds(self, storage: Any) -> None:
        import datetime as dt

        india = dt.timezone(dt.timedelta(hours=5, minutes=30))
        created = dt.datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=india)
        updated = dt.datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=dt.UTC)
        await storage.memory.save_thread(make_thread(id="t", created_at=created,
                                                     updated_at=updated))
        got = await storage.memory.get_thread("t")
        assert got is not None
        assert got.created_at == created and got.updated_at == updated
        assert got.created_at.utcoffset() == dt.timedelta(0)
        assert got.created_at.microsecond == 123456

    async def test_ids_with_separators_and_unicode(self, storage: Any) -> None:
        # Single-table designs build keys from ids: separators must not leak between records.
        owner = "user#1/ü:x"
        tricky = ["a#b", "a", "a#", "thread/1:2", "ünï 💬", "THREAD#a"]
        for tid in tricky:
            await storage.memory.save_thread(Thread(id=tid, resource_id=owner, title=tid))
            await storage.memory.save_messages(make_messages(tid, 2))
        for tid in tricky:
            got = await storage.memory.get_thread(tid, resource_id=owner)
            assert got is not None and got.title == tid
            page = await storage.memory.list_messages(tid)
            assert [m.thread_id for m in page.items] == [tid, tid]
        listed = await storage.memory.list_threads(resource_id=owner, per_page=None)
        assert sorted(ids(listed.items)) == sorted(tricky)
        assert (await storage.memory.list_threads(resource_id="user#1")).items == ()

    async def test_concurrent_title_updates_all_complete(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", created_at=ts(0), updated_at=ts(0)))
        titles = [f"title {n}" for n in range(10)]
        results = await asyncio.gather(
            *(storage.memory.update_thread("t", title=t) for t in titles))
        assert sorted(r.title for r in results) == sorted(titles)
        got = await storage.memory.get_thread("t")
        assert got is not None and got.title in titles and got.updated_at > ts(0)

    async def test_concurrent_metadata_merges_keep_every_key(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", metadata={"base": 0}))
        await asyncio.gather(*(
            storage.memory.update_thread("t", metadata={f"k{n}": n}, merge_metadata=True)
            for n in range(10)))
        got = await storage.memory.get_thread("t")
        assert got is not None
        assert dict(got.metadata) == {"base": 0, **{f"k{n}": n for n in range(10)}}


class TestThreadValidation:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_save_thread_refuses_a_non_thread(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.memory.save_thread({"id": "t", "resource_id": "u"})
        assert (await storage.memory.list_threads()).items == ()

    async def test_update_with_non_json_metadata_changes_nothing(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", title="same", metadata={"a": 1}))
        before = await storage.memory.get_thread("t")
        with pytest.raises(ValidationError):
            await storage.memory.update_thread("t", metadata={"bad": object()})
        with pytest.raises(ValidationError):
            await storage.memory.update_thread("t", metadata={"nan": float("nan")})
        with pytest.raises(ValidationError):
            await storage.memory.update_thread("t", metadata=["not", "a", "dict"])
        assert await storage.memory.get_thread("t") == before

    @pytest.mark.parametrize("bad", ["nul\x00byte", "lone \ud800 surrogate"])
    async def test_update_with_unstorable_text_changes_nothing(
        self, storage: Any, bad: str
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t", title="same"))
        before = await storage.memory.get_thread("t")
        with pytest.raises(ValidationError):
            await storage.memory.update_thread("t", title=bad)
        with pytest.raises(ValidationError):
            await storage.memory.update_thread("t", metadata={"k": bad})
        assert await storage.memory.get_thread("t") == before

    @pytest.mark.parametrize("kwargs", [
        {"order_by": "id"},
        {"order_by": "created_at; DROP TABLE threads"},
        {"order_by": None},
        {"direction": "sideways"},
        {"direction": "asc; --"},
        {"page": -1},
        {"per_page": 0},
        {"per_page": -5},
        {"page": 1, "per_page": None},
        {"page": "1"},
        {"per_page": True},
    ])
    async def test_bad_listing_arguments_raise_validation_error(
        self, storage: Any, kwargs: dict[str, Any]
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        with pytest.raises(ValidationError) as info:
            await storage.memory.list_threads(**kwargs)
        assert isinstance(info.value, ValueError)
        assert ids((await storage.memory.list_threads()).items) == ["t"]

    async def test_direction_is_case_insensitive(self, storage: Any) -> None:
        threads = await _matrix_threads(storage)
        page = await storage.memory.list_threads(order_by="created_at", direction="ASC")
        assert ids(page.items) == _expected(threads, "created_at", "asc")


class TestThreadRecords:
    """Records refuse bad input before any store sees it."""

    def test_records_refuse_unstorable_input(self) -> None:
        import datetime as dt

        with pytest.raises(ValidationError):
            Thread(id="t", resource_id="u", created_at=dt.datetime(2024, 1, 1))  # naive
        with pytest.raises(ValidationError):
            Thread(id="t", resource_id="u", title="a\x00b")
        with pytest.raises(ValidationError):
            Thread(id="", resource_id="u")
        with pytest.raises(ValidationError):
            Thread(id="t", resource_id="u", metadata={"x": {1, 2}})


class TestListThreads:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_list_by_resource(self, storage: Any) -> None:
        for n in range(3):
            await storage.memory.save_thread(make_thread(id=f"a{n}", resource_id="alice"))
        await storage.memory.save_thread(make_thread(id="b0", resource_id="bob"))
        page = await storage.memory.list_threads(resource_id="alice")
        assert sorted(ids(page.items)) == ["a0", "a1", "a2"]
        assert page.total == 3 and page.has_more is False
        everyone = await storage.memory.list_threads()
        assert sorted(ids(everyone.items)) == ["a0", "a1", "a2", "b0"]

    async def test_list_by_agent_and_metadata(self, storage: Any) -> None:
        await storage.memory.save_thread(
            make_thread(id="x", agent_id="a1", metadata={"k": "v", "n": 1}))
        await storage.memory.save_thread(make_thread(id="y", agent_id="a1", metadata={"k": "w"}))
        await storage.memory.save_thread(make_thread(id="z", agent_id="a2", metadata={"k": "v"}))
        assert sorted(ids((await storage.memory.list_threads(agent_id="a1")).items)) == ["x", "y"]
        by_meta = await storage.memory.list_threads(metadata={"k": "v"})
        assert sorted(ids(by_meta.items)) == ["x", "z"]
        both = await storage.memory.list_threads(agent_id="a1", metadata={"k": "v", "n": 1})
        assert ids(both.items) == ["x"]
        assert (await storage.memory.list_threads(metadata={"n": "1"})).items == ()

    async def test_list_of_nothing(self, storage: Any) -> None:
        page = await storage.memory.list_threads(resource_id="nobody")
        assert page.items == () and page.total == 0 and page.has_more is False
        assert page.page == 0 and page.per_page == 100

    async def test_default_order_is_created_at_desc(self, storage: Any) -> None:
        threads = await _matrix_threads(storage)
        page = await storage.memory.list_threads()
        assert ids(page.items) == _expected(threads, "created_at", "desc")

    @pytest.mark.parametrize("field", ORDER_FIELDS)
    @pytest.mark.parametrize("direction", DIRECTIONS)
    async def test_sort_matrix(self, storage: Any, field: str, direction: str) -> None:
        threads = await _matrix_threads(storage)
        page = await storage.memory.list_threads(resource_id="user-1", order_by=field,
                                                 direction=direction)
        assert ids(page.items) == _expected(threads, field, direction)

    @pytest.mark.parametrize("field", ORDER_FIELDS)
    @pytest.mark.parametrize("direction", DIRECTIONS)
    async def test_pages_are_stable_with_identical_timestamps(
        self, storage: Any, field: str, direction: str
    ) -> None:
        threads = await _tied_threads(storage, 23)
        seen: list[str] = []
        for n in range(4):
            page = await storage.memory.list_threads(order_by=field, direction=direction,
                                                     page=n, per_page=7)
            seen.extend(ids(page.items))
            assert page.has_more is (n < 3)
        assert len(seen) == len(set(seen)) == 23
        assert seen == sorted(ids(threads), reverse=direction == "desc")

    async def test_paginated_totals(self, storage: Any) -> None:
        for n in range(25):
            await storage.memory.save_thread(make_thread(id=f"t{n:02d}", created_at=ts(n)))
        sizes, seen = [], []
        for n in range(3):
            page = await storage.memory.list_threads(order_by="created_at", direction="asc",
                                                     page=n, per_page=10)
            assert page.total == 25 and page.page == n and page.per_page == 10
            assert page.has_more is (n < 2)
            sizes.append(len(page.items))
            seen.extend(ids(page.items))
        assert sizes == [10, 10, 5]
        assert seen == [f"t{n:02d}" for n in range(25)]
        beyond = await storage.memory.list_threads(page=5, per_page=10)
        assert beyond.items == () and beyond.has_more is False and beyond.total == 25

    async def test_per_page_none_returns_everything(self, storage: Any) -> None:
        for n in range(130):  # more than the default page of 100
            await storage.memory.save_thread(make_thread(id=f"t{n:03d}", created_at=ts(n)))
        page = await storage.memory.list_threads(per_page=None)
        assert len(page.items) == 130 and page.total == 130
        assert page.has_more is False and page.per_page is None
        default = await storage.memory.list_threads()
        assert len(default.items) == 100 and default.has_more is True and default.total == 130

    async def test_title_sort_puts_missing_titles_first_ascending(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="b", title="b"))
        await storage.memory.save_thread(make_thread(id="none", title=None))
        await storage.memory.save_thread(make_thread(id="empty", title=""))
        await storage.memory.save_thread(make_thread(id="a", title="a"))
        page = await storage.memory.list_threads(order_by="title", direction="asc")
        assert ids(page.items) == ["empty", "none", "a", "b"]  # '' ties broken on id

    async def test_updated_at_order_follows_new_messages(self, storage: Any) -> None:
        for n in range(3):
            await storage.memory.save_thread(make_thread(id=f"t{n}", created_at=ts(n),
                                                         updated_at=ts(n)))
        await storage.memory.save_messages(make_messages("t0", 1))
        page = await storage.memory.list_threads(order_by="updated_at", direction="desc")
        assert ids(page.items) == ["t0", "t2", "t1"]


class TestThreadQuery:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_where_order_by_limit_all(self, storage: Any) -> None:
        threads = await _matrix_threads(storage, resource_id="alice")
        await storage.memory.save_thread(make_thread(id="other", resource_id="bob"))
        q = storage.memory.threads().where(resource_id="alice").order_by("updated_at", "asc")
        assert ids(await q.limit(3).all()) == _expected(threads, "updated_at", "asc")[:3]
        assert ids(await q.all()) == _expected(threads, "updated_at", "asc")

    async def test_offset(self, storage: Any) -> None:
        threads = await _matrix_threads(storage)
        q = storage.memory.threads().order_by("title", "asc")
        assert ids(await q.offset(2).limit(2).all()) == _expected(threads, "title", "asc")[2:4]
        assert ids(await q.offset(4).all()) == _expected(threads, "title", "asc")[4:]
        assert await q.offset(10).all() == []

    async def test_first(self, storage: Any) -> None:
        threads = await _matrix_threads(storage)
        first = await storage.memory.threads().order_by("created_at", "asc").first()
        assert first is not None and first.id == _expected(threads, "created_at", "asc")[0]
        assert await storage.memory.threads().where(resource_id="nobody").first() is None

    async def test_count_honours_filter_offset_and_limit(self, storage: Any) -> None:
        await _matrix_threads(storage, resource_id="alice")
        await storage.memory.save_thread(make_thread(id="other", resource_id="bob"))
        q = storage.memory.threads().where(resource_id="alice")
        assert await q.count() == 6
        assert await q.limit(4).count() == 4
        assert await q.offset(5).count() == 1
        assert await storage.memory.threads().count() == 7
        assert await q.where(metadata={"nope": 1}).count() == 0

    async def test_page(self, storage: Any) -> None:
        threads = await _matrix_threads(storage)
        q = storage.memory.threads().order_by("created_at", "asc").limit(1)  # page ignores limit
        first, last = await q.page(0, 4), await q.page(1, 4)
        expected = _expected(threads, "created_at", "asc")
        assert ids(first.items) == expected[:4] and first.has_more is True and first.total == 6
        assert ids(last.items) == expected[4:] and last.has_more is False and last.total == 6

    async def test_queries_are_immutable(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="a", resource_id="alice"))
        await storage.memory.save_thread(make_thread(id="b", resource_id="bob"))
        base = storage.memory.threads()
        narrowed = base.where(resource_id="alice")
        limited = base.limit(1)
        assert await base.count() == 2 and await narrowed.count() == 1
        assert len(await base.all()) == 2 and len(await limited.all()) == 1

    @pytest.mark.parametrize("direction", DIRECTIONS)
    async def test_streaming_more_rows_than_a_batch_with_identical_timestamps(
        self, storage: Any, direction: str
    ) -> None:
        threads = await _tied_threads(storage, 17)
        q = attrs.evolve(storage.memory.threads().order_by("updated_at", direction), batch_size=4)
        streamed = [t.id async for t in q]
        assert streamed == sorted(ids(threads), reverse=direction == "desc")

    async def test_streaming_by_title_with_missing_titles(self, storage: Any) -> None:
        made = []
        for n in range(11):
            made.append(await storage.memory.save_thread(make_thread(
                id=f"t{n:02d}", title=None if n % 3 else f"title {n % 2}", created_at=T0,
                updated_at=T0)))
        q = attrs.evolve(storage.memory.threads().order_by("title", "asc"), batch_size=3)
        assert [t.id async for t in q] == _expected(made, "title", "asc")

    async def test_streaming_honours_where_offset_and_limit(self, storage: Any) -> None:
        alice = await _tied_threads(storage, 12, resource_id="alice")
        await _tied_threads(storage, 5, resource_id="bob")
        q = attrs.evolve(storage.memory.threads().where(resource_id="alice")
                         .order_by("created_at", "asc").offset(2).limit(7), batch_size=3)
        assert [t.id async for t in q] == sorted(ids(alice))[2:9]

    async def test_all_without_a_limit_is_not_capped(self, storage: Any) -> None:
        for n in range(120):
            await storage.memory.save_thread(make_thread(id=f"t{n:03d}", created_at=ts(n)))
        everything = await storage.memory.threads().order_by("created_at", "asc").all()
        assert ids(everything) == [f"t{n:03d}" for n in range(120)]
        assert await storage.memory.threads().count() == 120

    async def test_streaming_default_batch_reads_everything(self, storage: Any) -> None:
        threads = [await storage.memory.save_thread(make_thread(id=f"t{n:02d}", created_at=ts(n)))
                   for n in range(30)]
        assert [t.id async for t in storage.memory.threads()] == ids(threads)[::-1]

    @pytest.mark.parametrize("build", [
        lambda q: q.order_by("id"),
        lambda q: q.order_by("created_at", "up"),
        lambda q: q.limit(-1),
        lambda q: q.offset(-1),
        lambda q: q.where(resource_id=""),
        lambda q: q.where(metadata={"k": {"nested": 1}}),
    ])
    async def test_bad_builder_arguments_raise_validation_error(
        self, storage: Any, build: Any
    ) -> None:
        with pytest.raises(ValidationError):
            build(storage.memory.threads())

    @pytest.mark.parametrize(("n", "size"), [(-1, 10), (0, 0), (0, -1)])
    async def test_bad_page_arguments(self, storage: Any, n: int, size: int) -> None:
        with pytest.raises(ValidationError):
            await storage.memory.threads().page(n, size)
