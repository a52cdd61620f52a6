"""Messages: listing (last-N, include windows, filters, pages), save, update, delete, clone."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from agent_storage import (
    Include,
    Message,
    MessageUpdate,
    Thread,
    ThreadNotFoundError,
    ValidationError,
)
from agent_storage.testing._helpers import (
    T0,
    ids,
    make_message,
    make_messages,
    make_thread,
    save_thread_with_messages,
    ts,
)


def _mid(thread_id: str, n: int) -> str:
    return f"{thread_id}-m{n:04d}"


def _mids(thread_id: str, numbers: Any) -> list[str]:
    return [_mid(thread_id, n) for n in numbers]


async def _seed(storage: Any, count: int = 10, thread_id: str = "t", resource_id: str = "user-1",
                **thread_fields: Any) -> list[Message]:
    """Thread ``thread_id`` with messages n=0..count-1 created at ts(n), alternating roles."""
    _, saved = await save_thread_with_messages(storage, count, thread_id=thread_id,
                                               resource_id=resource_id, **thread_fields)
    return saved


class TestListMessages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_default_order_is_chronological(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        # saved out of order: the list follows created_at, not save order
        await storage.memory.save_messages([make_message("t", n) for n in (3, 1, 4, 0, 2)])
        page = await storage.memory.list_messages("t")
        assert ids(page.items) == _mids("t", range(5))
        assert page.total == 5 and page.has_more is False and page.per_page == 40

    async def test_explicit_desc(self, storage: Any) -> None:
        await _seed(storage, 5)
        page = await storage.memory.list_messages("t", order="desc")
        assert ids(page.items) == _mids("t", reversed(range(5)))

    async def test_messages_read_back_with_every_field(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", resource_id="owner"))
        message = Message(id="m1", thread_id="t", role="tool", type="tool-result",
                          content={"call_id": "c1", "result": [1, 2.5, "x", None, True]},
                          metadata={"model": "m", "usage": {"tokens": 12}}, created_at=ts(3))
        await storage.memory.save_messages([message])
        got = (await storage.memory.list_messages("t")).items[0]
        expected = Message(id="m1", thread_id="t", role="tool", type="tool-result",
                           content=message.content, metadata=message.metadata,
                           resource_id="owner", created_at=ts(3))
        assert got == expected
        assert await storage.memory.get_messages(["m1"]) == [expected]

    async def test_empty_thread(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        page = await storage.memory.list_messages("t")
        assert page.items == () and page.total == 0 and page.has_more is False

    async def test_unknown_thread_lists_nothing(self, storage: Any) -> None:
        page = await storage.memory.list_messages("ghost")
        assert page.items == () and page.total == 0 and page.has_more is False

    @pytest.mark.parametrize("thread_id", ["", [], [""], None, 42])
    async def test_empty_or_bad_thread_id_is_refused(self, storage: Any, thread_id: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.memory.list_messages(thread_id)

    async def test_several_threads_merge_chronologically(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="a"))
        await storage.memory.save_thread(make_thread(id="b"))
        await storage.memory.save_thread(make_thread(id="c"))
        await storage.memory.save_messages([make_message("a", n) for n in (0, 2, 4)])
        await storage.memory.save_messages([make_message("b", n) for n in (1, 3)])
        await storage.memory.save_messages([make_message("c", n) for n in (0, 1)])
        page = await storage.memory.list_messages(["a", "b"])
        assert ids(page.items) == [_mid("a", 0), _mid("b", 1), _mid("a", 2), _mid("b", 3),
                                   _mid("a", 4)]
        assert page.total == 5

    async def test_resource_filter_is_an_ownership_check(self, storage: Any) -> None:
        await _seed(storage, 3, resource_id="alice")
        mine = await storage.memory.list_messages("t", resource_id="alice")
        assert ids(mine.items) == _mids("t", range(3))
        theirs = await storage.memory.list_messages("t", resource_id="mallory")
        assert theirs.items == () and theirs.total == 0

    async def test_date_range_is_inclusive_by_default(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", start=ts(2), end=ts(5))
        assert ids(page.items) == _mids("t", range(2, 6)) and page.total == 4

    @pytest.mark.parametrize(("start_ex", "end_ex", "numbers"), [
        (True, False, range(3, 6)),
        (False, True, range(2, 5)),
        (True, True, range(3, 5)),
    ])
    async def test_date_range_exclusive_bounds(
        self, storage: Any, start_ex: bool, end_ex: bool, numbers: range
    ) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", start=ts(2), end=ts(5), start_exclusive=start_ex, end_exclusive=end_ex)
        assert ids(page.items) == _mids("t", numbers)

    async def test_open_ended_date_ranges(self, storage: Any) -> None:
        await _seed(storage, 6)
        after = await storage.memory.list_messages("t", start=ts(4))
        before = await storage.memory.list_messages("t", end=ts(1))
        assert ids(after.items) == _mids("t", (4, 5))
        assert ids(before.items) == _mids("t", (0, 1))

    async def test_date_bounds_in_other_timezones_are_compared_in_utc(self, storage: Any) -> None:
        await _seed(storage, 6)
        plus_two = _dt.timezone(_dt.timedelta(hours=2))
        page = await storage.memory.list_messages("t", start=ts(3).astimezone(plus_two))
        assert ids(page.items) == _mids("t", (3, 4, 5))

    async def test_naive_datetime_bound_is_refused(self, storage: Any) -> None:
        await _seed(storage, 2)
        with pytest.raises(ValidationError):
            await storage.memory.list_messages("t", start=_dt.datetime(2024, 1, 1))

    async def test_role_filter(self, storage: Any) -> None:
        await _seed(storage, 6)  # even n: user, odd n: assistant
        users = await storage.memory.list_messages("t", roles=["user"])
        assert ids(users.items) == _mids("t", (0, 2, 4)) and users.total == 3
        assistant = await storage.memory.list_messages("t", roles="assistant")
        assert ids(assistant.items) == _mids("t", (1, 3, 5))
        none = await storage.memory.list_messages("t", roles=["system"])
        assert none.items == () and none.total == 0

    async def test_type_filter(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages([
            make_message("t", 0), make_message("t", 1, type="tool-call"),
            make_message("t", 2, type="tool-result", role="tool"), make_message("t", 3)])
        tools = await storage.memory.list_messages("t", types=["tool-call", "tool-result"])
        assert ids(tools.items) == _mids("t", (1, 2)) and tools.total == 2
        text = await storage.memory.list_messages("t", types="text")
        assert ids(text.items) == _mids("t", (0, 3))

    async def test_filters_combine_and_total_counts_only_matches(self, storage: Any) -> None:
        await _seed(storage, 20)
        page = await storage.memory.list_messages("t", roles=["user"], start=ts(4), end=ts(15),
                                                  per_page=2)
        assert ids(page.items) == _mids("t", (4, 6))
        assert page.total == 6 and page.has_more is True

    async def test_a_batch_with_equal_timestamps_reads_back_in_list_order(
        self, storage: Any
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        order = [7, 2, 9, 0, 5, 1]  # ids deliberately not sorted
        batch = [make_message("t", n, at=T0) for n in order]
        await storage.memory.save_messages(batch)
        asc = await storage.memory.list_messages("t")
        assert ids(asc.items) == ids(batch)
        desc = await storage.memory.list_messages("t", order="desc")
        assert ids(desc.items) == ids(batch)[::-1]
        assert ids(await storage.memory.get_messages(ids(batch)[::-1])) == ids(batch)

    async def test_later_batches_with_equal_timestamps_follow_earlier_ones(
        self, storage: Any
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        first = [make_message("t", n, at=T0) for n in (5, 4, 3)]
        second = [make_message("t", n, at=T0) for n in (2, 1, 0)]
        await storage.memory.save_messages(first)
        await storage.memory.save_messages(second)
        page = await storage.memory.list_messages("t")
        assert ids(page.items) == ids(first) + ids(second)


class TestLastN:
    """``last=N`` is the recall path: the newest N, oldest first. Peers regressed here twice."""

    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_last_returns_the_newest_in_chronological_order(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", last=3)
        assert ids(page.items) == _mids("t", (7, 8, 9))
        assert page.has_more is True

    async def test_last_when_saved_out_of_order(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages([make_message("t", n) for n in (9, 0, 8, 1, 7, 2)])
        page = await storage.memory.list_messages("t", last=2)
        assert ids(page.items) == _mids("t", (8, 9))

    async def test_last_larger_than_the_thread(self, storage: Any) -> None:
        await _seed(storage, 4)
        page = await storage.memory.list_messages("t", last=10)
        assert ids(page.items) == _mids("t", range(4)) and page.has_more is False

    async def test_last_with_equal_timestamps_takes_the_last_saved(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        batch = [make_message("t", n, at=T0) for n in (4, 3, 2, 1, 0)]
        await storage.memory.save_messages(batch)
        page = await storage.memory.list_messages("t", last=2)
        assert ids(page.items) == ids(batch)[-2:]

    async def test_last_with_desc_order_is_newest_first(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", last=3, order="desc")
        assert ids(page.items) == _mids("t", (9, 8, 7))

    async def test_last_applies_after_filters(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", last=2, roles=["user"])
        assert ids(page.items) == _mids("t", (6, 8))
        ranged = await storage.memory.list_messages("t", last=2, end=ts(4))
        assert ids(ranged.items) == _mids("t", (3, 4))

    async def test_last_ignores_page_and_per_page(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", last=4, page=3, per_page=2)
        assert ids(page.items) == _mids("t", (6, 7, 8, 9))

    async def test_last_has_no_total_unless_asked(self, storage: Any) -> None:
        await _seed(storage, 10)
        assert (await storage.memory.list_messages("t", last=3)).total is None
        counted = await storage.memory.list_messages("t", last=3, with_total=True)
        assert counted.total == 10
        filtered = await storage.memory.list_messages("t", last=1, roles="user", with_total=True)
        assert filtered.total == 5

    async def test_last_across_threads(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="a"))
        await storage.memory.save_thread(make_thread(id="b"))
        await storage.memory.save_messages([make_message("a", n) for n in (0, 2, 4)])
        await storage.memory.save_messages([make_message("b", n) for n in (1, 3, 5)])
        page = await storage.memory.list_messages(["a", "b"], last=3)
        assert ids(page.items) == [_mid("b", 3), _mid("a", 4), _mid("b", 5)]

    @pytest.mark.parametrize("last", [0, -1, True, "3"])
    async def test_bad_last_is_refused(self, storage: Any, last: Any) -> None:
        await _seed(storage, 2)
        with pytest.raises(ValidationError):
            await storage.memory.list_messages("t", last=last)


class TestMessagePages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_page_arithmetic(self, storage: Any) -> None:
        await _seed(storage, 25)
        seen: list[str] = []
        for n, (size, more) in enumerate([(10, True), (10, True), (5, False)]):
            page = await storage.memory.list_messages("t", page=n, per_page=10)
            assert len(page.items) == size and page.has_more is more
            assert page.total == 25 and page.page == n and page.per_page == 10
            seen += ids(page.items)
        assert seen == _mids("t", range(25))

    async def test_page_past_the_end(self, storage: Any) -> None:
        await _seed(storage, 5)
        page = await storage.memory.list_messages("t", page=4, per_page=10)
        assert page.items == () and page.has_more is False and page.total == 5

    async def test_exactly_full_last_page_has_no_more(self, storage: Any) -> None:
        await _seed(storage, 20)
        page = await storage.memory.list_messages("t", page=1, per_page=10)
        assert len(page.items) == 10 and page.has_more is False and page.total == 20

    async def test_skipping_to_a_later_page(self, storage: Any) -> None:
        await _seed(storage, 30)
        page = await storage.memory.list_messages("t", page=2, per_page=7)
        assert ids(page.items) == _mids("t", range(14, 21)) and page.has_more is True
        assert page.total == 30

    async def test_desc_pages(self, storage: Any) -> None:
        await _seed(storage, 12)
        first = await storage.memory.list_messages("t", order="desc", per_page=5)
        third = await storage.memory.list_messages("t", order="desc", page=2, per_page=5)
        assert ids(first.items) == _mids("t", range(11, 6, -1))
        assert ids(third.items) == _mids("t", (1, 0)) and third.has_more is False

    async def test_pages_with_a_date_range(self, storage: Any) -> None:
        await _seed(storage, 25)
        seen = []
        for n in range(4):
            page = await storage.memory.list_messages("t", start=ts(5), end=ts(19), page=n,
                                                      per_page=4)
            assert page.total == 15 and page.has_more is (n < 3)
            seen += ids(page.items)
        assert seen == _mids("t", range(5, 20))

    async def test_pages_with_equal_timestamps_never_repeat_or_skip(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        batch = [make_message("t", n, at=T0) for n in range(30)][::-1]
        await storage.memory.save_messages(batch)
        seen = []
        for n in range(5):
            seen += ids((await storage.memory.list_messages("t", page=n, per_page=7)).items)
        assert seen == ids(batch)

    async def test_per_page_none_returns_everything(self, storage: Any) -> None:
        await _seed(storage, 55)  # more than the default page of 40
        page = await storage.memory.list_messages("t", per_page=None)
        assert ids(page.items) == _mids("t", range(55))
        assert page.total == 55 and page.has_more is False and page.per_page is None
        default = await storage.memory.list_messages("t")
        assert len(default.items) == 40 and default.has_more is True and default.total == 55

    async def test_more_than_a_megabyte_of_messages(self, storage: Any) -> None:
        # DynamoDB pages queries at 1 MB: a list that stops there loses messages silently.
        await storage.memory.save_thread(make_thread(id="t"))
        big = [make_message("t", n, content=f"{n:03d}" + "x" * 60_000) for n in range(24)]
        for start in range(0, 24, 6):
            await storage.memory.save_messages(big[start:start + 6])
        everything = await storage.memory.list_messages("t", per_page=None)
        assert ids(everything.items) == ids(big) and everything.total == 24
        newest = await storage.memory.list_messages("t", last=20, with_total=True)
        assert ids(newest.items) == ids(big[4:]) and newest.total == 24
        second = await storage.memory.list_messages("t", page=1, per_page=10)
        assert ids(second.items) == ids(big[10:20]) and second.has_more is True
        assert second.total == 24

    async def test_with_total_false_skips_the_count(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", per_page=3, with_total=False)
        assert page.total is None and ids(page.items) == _mids("t", range(3))
        assert page.has_more is True

    async def test_per_page_zero_without_include_is_empty(self, storage: Any) -> None:
        await _seed(storage, 5)
        page = await storage.memory.list_messages("t", per_page=0)
        assert page.items == () and page.has_more is False and page.total is None

    @pytest.mark.parametrize("kwargs", [
        {"page": -1}, {"per_page": -1}, {"page": 2, "per_page": None}, {"order": "newest"},
        {"page": 1.5}, {"per_page": "10"},
    ])
    async def test_bad_paging_arguments_are_refused(
        self, storage: Any, kwargs: dict[str, Any]
    ) -> None:
        await _seed(storage, 3)
        with pytest.raises(ValidationError):
            await storage.memory.list_messages("t", **kwargs)


class TestIncludeWindows:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    @pytest.mark.parametrize(("before", "after", "numbers"), [
        (2, 0, (3, 4, 5)),
        (0, 2, (5, 6, 7)),
        (1, 3, (4, 5, 6, 7, 8)),
        (0, 0, (5,)),
    ])
    async def test_window_around_a_message(
        self, storage: Any, before: int, after: int, numbers: tuple[int, ...]
    ) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", per_page=0, include=[Include(id=_mid("t", 5), before=before, after=after)])
        assert ids(page.items) == _mids("t", numbers)

    async def test_windows_are_clipped_at_the_thread_edges(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", per_page=0, include=[
            Include(id=_mid("t", 1), before=5), Include(id=_mid("t", 8), after=5)])
        assert ids(page.items) == _mids("t", (0, 1, 8, 9))

    async def test_windows_are_added_to_the_page(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", per_page=3, include=[Include(id=_mid("t", 8), before=1)])
        assert ids(page.items) == _mids("t", (0, 1, 2, 7, 8))
        assert page.total == 10 and page.has_more is True  # the page's own numbers

    async def test_window_reaching_the_end_leaves_no_next_page(self, storage: Any) -> None:
        """has_more is False when the windows already returned everything after the page."""
        await _seed(storage, 5)
        page = await storage.memory.list_messages(
            "t", per_page=3, include=[Include(id=_mid("t", 0), after=10)])
        assert ids(page.items) == _mids("t", range(5))
        assert page.total == 5 and page.has_more is False
        desc = await storage.memory.list_messages(
            "t", per_page=3, order="desc", include=[Include(id=_mid("t", 4), before=10)])
        assert ids(desc.items) == _mids("t", (4, 3, 2, 1, 0)) and desc.has_more is False
        newest = await storage.memory.list_messages(
            "t", last=2, include=[Include(id=_mid("t", 0), after=2)])
        assert ids(newest.items) == _mids("t", range(5)) and newest.has_more is False

    @pytest.mark.parametrize(("per_page", "centre", "after"), [(3, 0, 4), (3, 2, 6), (2, 5, 1),
                                                               (4, 0, 9), (1, 3, 2)])
    async def test_paging_with_windows_is_consistent(
        self, storage: Any, per_page: int, centre: int, after: int
    ) -> None:
        """Following has_more page by page returns every message, and has_more is True
        exactly while a message not returned so far is still to come."""
        await _seed(storage, 10)
        include = [Include(id=_mid("t", centre), after=after)]
        seen: set[str] = set()
        number = 0
        while True:
            page = await storage.memory.list_messages(
                "t", page=number, per_page=per_page, include=include)
            seen |= set(ids(page.items))
            if not page.has_more:
                break
            assert seen != set(_mids("t", range(10))), "has_more with nothing left"
            number += 1
        assert seen == set(_mids("t", range(10)))

    async def test_window_overlapping_the_page_is_not_repeated(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", per_page=4, include=[Include(id=_mid("t", 3), before=1, after=2)])
        assert ids(page.items) == _mids("t", range(6))

    async def test_overlapping_windows_are_de_duplicated(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages("t", per_page=0, include=[
            Include(id=_mid("t", 4), after=2), Include(id=_mid("t", 5), before=1, after=1),
            Include(id=_mid("t", 4))])
        assert ids(page.items) == _mids("t", (4, 5, 6))

    async def test_window_in_another_thread(self, storage: Any) -> None:
        await _seed(storage, 4, thread_id="a")
        await storage.memory.save_thread(make_thread(id="b"))
        await storage.memory.save_messages([make_message("b", n) for n in (10, 11, 12, 13)])
        page = await storage.memory.list_messages(
            "a", include=[Include(id=_mid("b", 12), before=1, after=1)])
        assert ids(page.items) == _mids("a", range(4)) + _mids("b", (11, 12, 13))

    async def test_window_stays_in_its_own_thread(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="a"))
        await storage.memory.save_thread(make_thread(id="b"))
        await storage.memory.save_messages([make_message("a", n) for n in (0, 2, 4)])
        await storage.memory.save_messages([make_message("b", n) for n in (1, 3, 5)])
        page = await storage.memory.list_messages(
            "a", per_page=0, include=[Include(id=_mid("b", 3), before=5, after=5)])
        assert ids(page.items) == _mids("b", (1, 3, 5))

    async def test_unknown_include_id_contributes_nothing(self, storage: Any) -> None:
        await _seed(storage, 3)
        page = await storage.memory.list_messages(
            "t", include=[Include(id="nope", before=2, after=2)])
        assert ids(page.items) == _mids("t", range(3))
        only = await storage.memory.list_messages("t", per_page=0, include=["nope"])
        assert only.items == ()

    async def test_include_by_plain_id(self, storage: Any) -> None:
        await _seed(storage, 5)
        page = await storage.memory.list_messages("t", per_page=0, include=[_mid("t", 2)])
        assert ids(page.items) == [_mid("t", 2)]

    async def test_windows_with_equal_timestamps_follow_save_order(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        batch = [make_message("t", n, at=T0) for n in (9, 3, 7, 1, 5)]
        await storage.memory.save_messages(batch)
        page = await storage.memory.list_messages(
            "t", per_page=0, include=[Include(id=_mid("t", 7), before=1, after=1)])
        assert ids(page.items) == _mids("t", (3, 7, 1))

    async def test_windows_follow_desc_order(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", order="desc", per_page=2, include=[Include(id=_mid("t", 2), before=1, after=1)])
        assert ids(page.items) == _mids("t", (9, 8, 3, 2, 1))

    async def test_windows_respect_the_owner(self, storage: Any) -> None:
        await _seed(storage, 5, resource_id="alice")
        page = await storage.memory.list_messages(
            "t", resource_id="mallory", per_page=0, include=[Include(id=_mid("t", 2), after=2)])
        assert page.items == ()
        owned = await storage.memory.list_messages(
            "t", resource_id="alice", per_page=0, include=[Include(id=_mid("t", 2), after=2)])
        assert ids(owned.items) == _mids("t", (2, 3, 4))

    async def test_windows_with_last(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", last=2, include=[Include(id=_mid("t", 1), before=1)])
        assert ids(page.items) == _mids("t", (0, 1, 8, 9))

    async def test_total_counts_the_filtered_page_not_the_windows(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", roles=["user"], per_page=2, include=[Include(id=_mid("t", 9))])
        assert ids(page.items) == _mids("t", (0, 2, 9))
        assert page.total == 5

    async def test_windows_ignore_the_page_filters(self, storage: Any) -> None:
        await _seed(storage, 10)
        page = await storage.memory.list_messages(
            "t", roles=["user"], per_page=0, include=[Include(id=_mid("t", 4), before=1, after=1)])
        assert ids(page.items) == _mids("t", (3, 4, 5))  # neighbours of any role

    async def test_bad_include_is_refused(self, storage: Any) -> None:
        await _seed(storage, 2)
        with pytest.raises(ValidationError):
            await storage.memory.list_messages("t", include=[42])
        with pytest.raises(ValidationError):
            Include(id=_mid("t", 0), before=-1)


class TestGetMessages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_chronological_and_unknown_ids_skipped(self, storage: Any) -> None:
        await _seed(storage, 5)
        got = await storage.memory.get_messages([_mid("t", 4), "nope", _mid("t", 1), _mid("t", 3)])
        assert ids(got) == _mids("t", (1, 3, 4))

    async def test_empty_list_and_duplicates(self, storage: Any) -> None:
        await _seed(storage, 2)
        assert await storage.memory.get_messages([]) == []
        assert ids(await storage.memory.get_messages([_mid("t", 0)] * 3)) == [_mid("t", 0)]

    async def test_a_string_is_not_a_list_of_ids(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.memory.get_messages("t-m0000")

    async def test_across_threads(self, storage: Any) -> None:
        await _seed(storage, 2, thread_id="a")
        await storage.memory.save_thread(make_thread(id="b"))
        await storage.memory.save_messages([make_message("b", 5)])
        got = await storage.memory.get_messages([_mid("b", 5), _mid("a", 1)])
        assert ids(got) == [_mid("a", 1), _mid("b", 5)]


class TestSaveMessages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_returns_messages_in_input_order_with_resource_filled(
        self, storage: Any
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t", resource_id="owner"))
        batch = [make_message("t", n) for n in (2, 0, 1)]
        saved = await storage.memory.save_messages(batch)
        assert ids(saved) == ids(batch)
        assert all(m.resource_id == "owner" for m in saved)
        assert [m.content for m in saved] == [m.content for m in batch]

    async def test_upsert_by_id(self, storage: Any) -> None:
        await _seed(storage, 3)
        changed = make_message("t", 1, content={"edited": True}, metadata={"v": 2})
        await storage.memory.save_messages([changed])
        page = await storage.memory.list_messages("t")
        assert ids(page.items) == _mids("t", range(3)) and page.total == 3
        got = (await storage.memory.get_messages([_mid("t", 1)]))[0]
        assert got.content == {"edited": True} and dict(got.metadata) == {"v": 2}

    @pytest.mark.parametrize("content", [
        "plain text", '{"looks": "like json"}', {"parts": [{"type": "text", "text": "hi"}]},
        ["a", 1, None], 42, 3.5, True, None, "",
    ])
    async def test_json_content_round_trips_without_double_encoding(
        self, storage: Any, content: Any
    ) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages([make_message("t", 0, content=content)])
        got = (await storage.memory.list_messages("t")).items[0]
        assert got.content == content and type(got.content) is type(content)

    @pytest.mark.parametrize("text", [
        "'; DELETE FROM messages; --", "żółć 中文 🤖🧠 مرحبا שלום", "line\nbreak\ttab \\ \" '",
    ])
    async def test_special_characters_round_trip(self, storage: Any, text: str) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages([make_message("t", 0, content=text,
                                                         metadata={text: [text]})])
        got = (await storage.memory.list_messages("t")).items[0]
        assert got.content == text and dict(got.metadata) == {text: [text]}

    async def test_large_content(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        content = "x" * 150_000
        await storage.memory.save_messages([make_message("t", 0, content=content)])
        assert (await storage.memory.get_messages([_mid("t", 0)]))[0].content == content

    async def test_missing_thread_writes_nothing_from_the_batch(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t", created_at=ts(0), updated_at=ts(0)))
        batch = [make_message("t", 0), make_message("ghost", 1), make_message("t", 2)]
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.save_messages(batch)
        assert (await storage.memory.list_messages("t")).items == ()
        assert await storage.memory.get_messages(ids(batch)) == []
        thread = await storage.memory.get_thread("t")
        assert thread is not None and thread.updated_at == ts(0)
        assert await storage.memory.get_thread("ghost") is None

    async def test_duplicate_ids_in_a_batch_are_refused(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        batch = [make_message("t", 0), make_message("t", 1, id=_mid("t", 0))]
        with pytest.raises(ValidationError):
            await storage.memory.save_messages(batch)
        assert (await storage.memory.list_messages("t")).items == ()

    async def test_items_must_be_messages(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        with pytest.raises(ValidationError):
            await storage.memory.save_messages([make_message("t", 0), {"id": "x"}])
        assert (await storage.memory.list_messages("t")).items == ()

    async def test_empty_batch(self, storage: Any) -> None:
        assert await storage.memory.save_messages([]) == []

    async def test_a_batch_over_two_threads_bumps_both(self, storage: Any) -> None:
        for tid in ("a", "b", "c"):
            await storage.memory.save_thread(
                make_thread(id=tid, created_at=ts(0), updated_at=ts(0)))
        await storage.memory.save_messages([make_message("a", 0), make_message("b", 1)])
        threads = {tid: await storage.memory.get_thread(tid) for tid in ("a", "b", "c")}
        assert threads["a"].updated_at > ts(0) and threads["b"].updated_at > ts(0)
        assert threads["c"].updated_at == ts(0)

class TestMessageRecords:
    """Records refuse bad input before any store sees it."""

    def test_unstorable_messages_fail_before_any_write(self) -> None:
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="user", content="a\x00b")
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="user", content={"k": "\udfff"})
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="user", content="x",
                    created_at=_dt.datetime(2024, 1, 1))
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="user", content=object())
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="robot", content="x")
        with pytest.raises(ValidationError):
            Message(id="m", thread_id="t", role="user", content="x", metadata={"k": b"bytes"})


class TestUpdateMessages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_content_is_replaced_and_the_rest_kept(self, storage: Any) -> None:
        await _seed(storage, 3)
        before = (await storage.memory.get_messages([_mid("t", 1)]))[0]
        [updated] = await storage.memory.update_messages(
            [MessageUpdate(id=_mid("t", 1), content={"text": "new"})])
        assert updated.content == {"text": "new"}
        assert (updated.role, updated.type, updated.created_at, updated.thread_id) == (
            before.role, before.type, before.created_at, before.thread_id)
        assert (await storage.memory.get_messages([_mid("t", 1)]))[0] == updated

    async def test_metadata_merges(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages([make_message("t", 0, metadata={"a": 1, "b": 1})])
        [updated] = await storage.memory.update_messages(
            [MessageUpdate(id=_mid("t", 0), metadata={"b": 2, "c": 3})])
        assert dict(updated.metadata) == {"a": 1, "b": 2, "c": 3}
        assert updated.content == "message 0"

    async def test_role_and_type(self, storage: Any) -> None:
        await _seed(storage, 1)
        [updated] = await storage.memory.update_messages(
            [MessageUpdate(id=_mid("t", 0), role="tool", type="tool-result")])
        assert updated.role == "tool" and updated.type == "tool-result"
        listed = await storage.memory.list_messages("t", types=["tool-result"])
        assert ids(listed.items) == [_mid("t", 0)]

    async def test_update_bumps_the_thread(self, storage: Any) -> None:
        await _seed(storage, 2)
        await storage.memory.save_thread(
            Thread(id="t", resource_id="user-1", created_at=ts(0), updated_at=ts(0)))
        await storage.memory.update_messages([MessageUpdate(id=_mid("t", 0), content="x")])
        thread = await storage.memory.get_thread("t")
        assert thread is not None and thread.updated_at > ts(0)

    async def test_unknown_ids_are_skipped(self, storage: Any) -> None:
        await _seed(storage, 2)
        result = await storage.memory.update_messages(
            [MessageUpdate(id="nope", content="x"), MessageUpdate(id=_mid("t", 1), content="y")])
        assert ids(result) == [_mid("t", 1)]
        assert await storage.memory.get_messages(["nope"]) == []

    async def test_several_updates_return_chronologically(self, storage: Any) -> None:
        await _seed(storage, 4)
        result = await storage.memory.update_messages([
            MessageUpdate(id=_mid("t", 3), content="c"),
            MessageUpdate(id=_mid("t", 0), content="a")])
        assert ids(result) == _mids("t", (0, 3))
        assert [m.content for m in result] == ["a", "c"]

    async def test_moving_a_message_bumps_both_threads(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="a", resource_id="alice",
                                                     created_at=ts(0), updated_at=ts(0)))
        await storage.memory.save_thread(make_thread(id="b", resource_id="bob",
                                                     created_at=ts(0), updated_at=ts(0)))
        await storage.memory.save_messages(make_messages("a", 3))
        for tid in ("a", "b"):  # reset the bump of the save above
            await storage.memory.save_thread(Thread(id=tid, resource_id="alice" if tid == "a"
                                                    else "bob", updated_at=ts(0)))
        [moved] = await storage.memory.update_messages(
            [MessageUpdate(id=_mid("a", 1), thread_id="b")])
        assert moved.thread_id == "b" and moved.resource_id == "bob"
        assert ids((await storage.memory.list_messages("a")).items) == _mids("a", (0, 2))
        assert ids((await storage.memory.list_messages("b")).items) == [_mid("a", 1)]
        for tid in ("a", "b"):
            thread = await storage.memory.get_thread(tid)
            assert thread is not None and thread.updated_at > ts(0), tid

    async def test_moving_to_a_missing_thread_changes_nothing(self, storage: Any) -> None:
        await _seed(storage, 3)
        before = await storage.memory.get_messages(_mids("t", range(3)))
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.update_messages([
                MessageUpdate(id=_mid("t", 0), content="changed"),
                MessageUpdate(id=_mid("t", 1), thread_id="ghost")])
        assert await storage.memory.get_messages(_mids("t", range(3))) == before
        assert await storage.memory.get_thread("ghost") is None

    async def test_duplicate_and_bad_updates_are_refused(self, storage: Any) -> None:
        await _seed(storage, 1)
        with pytest.raises(ValidationError):
            await storage.memory.update_messages([MessageUpdate(id=_mid("t", 0), content="a"),
                                                  MessageUpdate(id=_mid("t", 0), content="b")])
        with pytest.raises(ValidationError):
            MessageUpdate(id=_mid("t", 0), content="nul\x00")
        with pytest.raises(ValidationError):
            MessageUpdate(id=_mid("t", 0), role="robot")
        assert (await storage.memory.get_messages([_mid("t", 0)]))[0].content == "message 0"
        assert await storage.memory.update_messages([]) == []


class TestDeleteMessages:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_delete_many(self, storage: Any) -> None:
        await _seed(storage, 6)
        assert await storage.memory.delete_messages(_mids("t", (0, 2, 4))) == 3
        page = await storage.memory.list_messages("t")
        assert ids(page.items) == _mids("t", (1, 3, 5)) and page.total == 3

    async def test_unknown_ids_are_not_counted(self, storage: Any) -> None:
        await _seed(storage, 3)
        assert await storage.memory.delete_messages(["nope", _mid("t", 1), "also-nope"]) == 1
        assert await storage.memory.delete_messages(["nope"]) == 0
        assert ids((await storage.memory.list_messages("t")).items) == _mids("t", (0, 2))

    async def test_deleting_twice(self, storage: Any) -> None:
        await _seed(storage, 2)
        assert await storage.memory.delete_messages([_mid("t", 0)]) == 1
        assert await storage.memory.delete_messages([_mid("t", 0)]) == 0

    async def test_empty_list(self, storage: Any) -> None:
        await _seed(storage, 2)
        assert await storage.memory.delete_messages([]) == 0
        assert len((await storage.memory.list_messages("t")).items) == 2

    async def test_delete_bumps_the_thread(self, storage: Any) -> None:
        await _seed(storage, 2)
        await storage.memory.save_thread(
            Thread(id="t", resource_id="user-1", created_at=ts(0), updated_at=ts(0)))
        await storage.memory.delete_messages([_mid("t", 0)])
        thread = await storage.memory.get_thread("t")
        assert thread is not None and thread.updated_at > ts(0)

    async def test_delete_across_threads(self, storage: Any) -> None:
        await _seed(storage, 3, thread_id="a")
        await _seed(storage, 3, thread_id="b")
        assert await storage.memory.delete_messages([_mid("a", 0), _mid("b", 2)]) == 2
        remaining = await storage.memory.list_messages(["a", "b"], per_page=None)
        # by created_at, ties (a1/b1 at ts(1)) in save order: thread a was saved first
        assert ids(remaining.items) == [_mid("b", 0), _mid("a", 1), _mid("b", 1), _mid("a", 2)]

    async def test_deleted_messages_leave_windows_and_lookups(self, storage: Any) -> None:
        await _seed(storage, 5)
        await storage.memory.delete_messages([_mid("t", 2)])
        assert await storage.memory.get_messages([_mid("t", 2)]) == []
        page = await storage.memory.list_messages(
            "t", per_page=0, include=[Include(id=_mid("t", 3), before=1)])
        assert ids(page.items) == _mids("t", (1, 3))

    async def test_a_string_is_refused(self, storage: Any) -> None:
        await _seed(storage, 1)
        with pytest.raises(ValidationError):
            await storage.memory.delete_messages(_mid("t", 0))
        assert len((await storage.memory.list_messages("t")).items) == 1


class TestCloneThread:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_clone_copies_messages_under_fresh_ids(self, storage: Any) -> None:
        source = await _seed(storage, 5, thread_id="src", title="Original",
                             metadata={"topic": "x"}, agent_id="agent-1")
        thread, copies = await storage.memory.clone_thread("src", new_thread_id="copy")
        assert thread.id == "copy" and thread.title == "Original"
        assert thread.resource_id == "user-1" and thread.agent_id == "agent-1"
        assert [m.content for m in copies] == [m.content for m in source]
        assert [m.created_at for m in copies] == [m.created_at for m in source]
        assert not set(ids(copies)) & set(ids(source))
        assert len(set(ids(copies))) == 5
        assert all(m.thread_id == "copy" for m in copies)
        listed = await storage.memory.list_messages("copy")
        assert ids(listed.items) == ids(copies)
        assert await storage.memory.get_thread("copy") == thread

    async def test_source_is_untouched(self, storage: Any) -> None:
        source = await _seed(storage, 3, thread_id="src")
        before = await storage.memory.get_thread("src")
        await storage.memory.clone_thread("src")
        assert await storage.memory.get_thread("src") == before
        assert (await storage.memory.list_messages("src")).items == tuple(
            await storage.memory.get_messages(ids(source)))
        assert ids((await storage.memory.list_messages("src")).items) == ids(source)

    async def test_metadata_records_the_source(self, storage: Any) -> None:
        await _seed(storage, 3, thread_id="src", metadata={"topic": "x", "keep": 1})
        thread, _ = await storage.memory.clone_thread("src", metadata={"topic": "y"})
        assert thread.id != "src"
        assert thread.metadata["topic"] == "y" and thread.metadata["keep"] == 1
        clone_info = thread.metadata["clone"]
        assert clone_info["source_thread_id"] == "src"
        assert isinstance(clone_info["cloned_at"], str)
        assert clone_info["message_count"] == 3

    async def test_message_limit_keeps_the_newest(self, storage: Any) -> None:
        source = await _seed(storage, 10, thread_id="src")
        _, copies = await storage.memory.clone_thread("src", message_limit=3)
        assert [m.content for m in copies] == [m.content for m in source[7:]]
        _, none = await storage.memory.clone_thread("src", message_limit=0)
        assert none == []

    async def test_date_range(self, storage: Any) -> None:
        source = await _seed(storage, 10, thread_id="src")
        _, copies = await storage.memory.clone_thread("src", start=ts(3), end=ts(6))
        assert [m.content for m in copies] == [m.content for m in source[3:7]]

    async def test_selected_message_ids(self, storage: Any) -> None:
        source = await _seed(storage, 6, thread_id="src")
        _, copies = await storage.memory.clone_thread(
            "src", message_ids=[_mid("src", 4), _mid("src", 1), "nope"])
        assert [m.content for m in copies] == [source[1].content, source[4].content]

    async def test_new_owner_and_title(self, storage: Any) -> None:
        await _seed(storage, 2, thread_id="src", resource_id="alice")
        thread, copies = await storage.memory.clone_thread("src", resource_id="bob",
                                                           title="Fork")
        assert thread.resource_id == "bob" and thread.title == "Fork"
        assert all(m.resource_id == "bob" for m in copies)
        assert await storage.memory.get_thread(thread.id, resource_id="bob") == thread
        owned = await storage.memory.list_messages(thread.id, resource_id="bob")
        assert len(owned.items) == 2

    async def test_equal_timestamps_keep_their_order(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="src"))
        batch = [make_message("src", n, at=T0) for n in (3, 1, 2, 0)]
        await storage.memory.save_messages(batch)
        thread, copies = await storage.memory.clone_thread("src")
        assert [m.content for m in copies] == [m.content for m in batch]
        listed = await storage.memory.list_messages(thread.id)
        assert [m.content for m in listed.items] == [m.content for m in batch]

    async def test_missing_source(self, storage: Any) -> None:
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.clone_thread("ghost", new_thread_id="copy")
        assert await storage.memory.get_thread("copy") is None

    async def test_existing_new_id_is_refused(self, storage: Any) -> None:
        await _seed(storage, 2, thread_id="src")
        await _seed(storage, 1, thread_id="taken")
        with pytest.raises(ValidationError):
            await storage.memory.clone_thread("src", new_thread_id="taken")
        with pytest.raises(ValidationError):
            await storage.memory.clone_thread("src", new_thread_id="src")
        assert len((await storage.memory.list_messages("taken")).items) == 1
        assert len((await storage.memory.list_messages("src")).items) == 2

    async def test_bad_arguments(self, storage: Any) -> None:
        await _seed(storage, 1, thread_id="src")
        with pytest.raises(ValidationError):
            await storage.memory.clone_thread("src", message_limit=-1)
        with pytest.raises(ValidationError):
            await storage.memory.clone_thread("src", start=_dt.datetime(2024, 1, 1))
        with pytest.raises(ValidationError):
            await storage.memory.clone_thread("src", metadata={"x": object()})
        assert (await storage.memory.list_threads()).total == 1
