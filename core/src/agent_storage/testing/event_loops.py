"""Checks every backend should pass about event loops, for a backend's own test suite.

:func:`use_from_threads` uses one store from several threads, each running its own event
loop at the same time (what the openai-agents SDK's session tests do);
:func:`check_failed_enter_releases` checks that ``async with`` whose ``init()`` fails
closes what it opened. Both raise ``AssertionError`` naming what went wrong::

    def test_one_store_from_five_loops(agent_storage_url):
        use_from_threads(open_store(agent_storage_url, fresh=True))
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from ..records import Message, Thread
from ..storage import Storage

__all__ = ["check_failed_enter_releases", "use_from_threads"]


async def _work(store: Storage, n: int, run: str, barrier: threading.Barrier) -> None:
    thread_id = f"loops-{run}-{n}"
    first = store.backend
    await store.memory.save_thread(Thread(id=thread_id, resource_id=f"loops-{run}"))
    await asyncio.to_thread(barrier.wait, 120)  # every loop has connected by now
    await store.memory.save_messages(
        [Message(id=f"{thread_id}-{i}", thread_id=thread_id, role="user", content=i)
         for i in range(3)])
    page = await store.memory.list_messages(thread_id, per_page=None)
    assert [m.content for m in page.items] == [0, 1, 2], page.items
    assert store.backend is first, "the loop's backend was replaced while it was in use"


def use_from_threads(store: Storage, threads: int = 5) -> None:
    """``threads`` threads, each with its own event loop (``asyncio.run``), write and read
    through ``store`` at the same time; afterwards a new loop sees every write and closes
    the store. Fails on a hang (2 minutes), an error in any thread, or a lost write."""
    run = uuid.uuid4().hex[:8]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def target(n: int) -> None:
        try:
            asyncio.run(_work(store, n, run, barrier))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=target, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert not any(w.is_alive() for w in workers), "a thread hangs"
    if errors:
        raise AssertionError(f"{len(errors)} of {threads} threads failed: {errors[0]!r}") \
            from errors[0]

    async def check_and_close() -> None:
        try:
            page = await store.memory.list_threads(resource_id=f"loops-{run}", per_page=None)
            assert len(page.items) == threads, page.items
        finally:
            await store.close()

    asyncio.run(check_and_close())


async def check_failed_enter_releases(store: Storage) -> BaseException:
    """``async with store`` on a store whose ``init()`` fails: the error propagates and the
    backend that ``init()`` ran on is closed (its pools, clients, files released).
    Returns the error, for further checks."""
    backend = store.backend
    closed: list[Any] = []
    close = backend.close

    async def spy() -> None:
        closed.append(backend)
        await close()

    backend.close = spy  # type: ignore[method-assign]
    try:
        async with store:
            pass
    except Exception as exc:
        error = exc
    else:
        raise AssertionError("init() was expected to fail")
    assert closed == [backend], "a failed `async with` left the backend open"
    await store.close()
    return error
