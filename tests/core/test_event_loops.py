"""One store used from several event loops (issue 11 item 15), and a failed ``async with``
(item 13): each running loop gets its own backends, created on its first use; backends
of ended loops are released without running their loop; ``close()`` closes every set; a
failed ``__aenter__`` closes what its ``init()`` opened.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from agent_storage import Message, Thread, hookimpl, open_store
from agent_storage._plugins import registry
from agent_storage.backends.memory import MemoryBackend

EVENTS: list[tuple[str, int, Any]] = []  # (what, id(backend), loop it ran on)


class TrackedBackend(MemoryBackend):
    """The memory backend, recording close() and abandon() (and failing init on demand)."""

    fail_init = False

    async def init(self) -> None:
        EVENTS.append(("init", id(self), asyncio.get_running_loop()))
        if self.fail_init:
            raise RuntimeError("init failed after opening a client")
        await super().init()

    async def close(self) -> None:
        EVENTS.append(("close", id(self), asyncio.get_running_loop()))
        await super().close()

    def abandon(self) -> None:
        EVENTS.append(("abandon", id(self), None))
        super().abandon()


class _Plugin:
    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("tracked", f"{__name__}:TrackedBackend", schemes=("tracked",))


@pytest.fixture
def url() -> Iterator[str]:
    reg = registry()
    if "tracked" not in reg.backends:
        reg.add_plugin("tracked-test", _Plugin())
    name = f"loops{uuid.uuid4().hex[:8]}"
    EVENTS.clear()
    yield f"tracked://{name}"
    TrackedBackend.fail_init = False
    MemoryBackend.forget(name)


def _events(what: str) -> list[tuple[int, Any]]:
    return [(backend, loop) for kind, backend, loop in EVENTS if kind == what]


def test_five_threads_each_with_its_own_loop_share_one_store(url: str) -> None:
    store = open_store(url, fresh=True)
    barrier = threading.Barrier(5)
    seen: dict[int, tuple[int, int]] = {}
    errors: list[BaseException] = []

    async def work(n: int) -> None:
        first = store.backend
        await store.memory.save_thread(Thread(id=f"t{n}", resource_id="u"))
        await asyncio.to_thread(barrier.wait, 30)  # every loop is alive at once here
        await store.memory.save_messages(
            [Message(id=f"m{n}-{i}", thread_id=f"t{n}", role="user", content=i)
             for i in range(3)])
        page = await store.memory.list_messages(f"t{n}", per_page=None)
        assert [m.content for m in page.items] == [0, 1, 2]
        seen[n] = (id(first), id(store.backend))

    def thread(n: int) -> None:
        try:
            asyncio.run(work(n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    # each loop kept one backend for its whole run (no rebuild when another loop came by)
    assert all(first == last for first, last in seen.values()), seen
    assert len({first for first, _ in seen.values()}) == 5
    assert len(_events("init")) == 5  # one init per loop, on that loop

    async def read_all() -> list[str]:
        threads, _ = await asyncio.gather(
            store.memory.list_threads(per_page=None), asyncio.sleep(0))
        return sorted(t.id for t in threads.items)

    assert asyncio.run(read_all()) == [f"t{n}" for n in range(5)]
    asyncio.run(store.close())


def test_backends_of_ended_loops_are_abandoned_not_closed_on_them(url: str) -> None:
    store = open_store(url, fresh=True)

    async def use() -> int:
        await store.memory.get_thread("t")
        return id(store.backend)

    async def use_then_close() -> int:
        backend = await use()  # a new loop arrives: the ended loop's set is released
        assert _events("abandon") == [(ended, None)]
        await store.close()
        return backend

    ended = asyncio.run(use())  # this loop is closed when asyncio.run returns
    assert _events("abandon") == []
    current = asyncio.run(use_then_close())
    assert current != ended
    # nothing ran on (or waited for) the closed loop; the running one was closed on it
    assert [b for b, _ in _events("close")] == [current]


def test_close_closes_the_backends_of_a_loop_running_in_another_thread(url: str) -> None:
    store = open_store(url, fresh=True)
    other = asyncio.new_event_loop()
    runner = threading.Thread(target=other.run_forever)
    runner.start()
    try:
        async def use() -> int:
            await store.memory.get_thread("t")
            return id(store.backend)

        theirs = asyncio.run_coroutine_threadsafe(use(), other).result(60)

        async def use_then_close() -> int:
            mine = await use()
            await store.close()
            return mine

        mine = asyncio.run(use_then_close())
        closes = dict(_events("close"))
        assert closes[theirs] is other  # closed on its own loop, from this one
        assert mine in closes and closes[mine] is not other
        assert _events("abandon") == []
        assert store.closed
    finally:
        other.call_soon_threadsafe(other.stop)
        runner.join(30)
        other.close()


async def test_a_failed_async_with_closes_what_init_opened(url: str) -> None:
    TrackedBackend.fail_init = True
    store = open_store(url, fresh=True)
    opened = id(store.backend)
    with pytest.raises(Exception, match="init failed"):
        async with store:
            raise AssertionError("not reached")
    assert [b for b, _ in _events("close")] == [opened]
    # the store is not closed: the next use on this loop builds and initialises a new set
    TrackedBackend.fail_init = False
    async with store:
        assert id(store.backend) != opened
        assert await store.memory.get_thread("t") is None
