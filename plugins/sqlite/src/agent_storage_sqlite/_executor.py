"""A small executor: sqlite3 connections, each owned by one thread, fed by queues.

Why our own: a call must hand one function to a connection's thread and get its result
back on the caller's event loop, with cancellation rules we can state and test. Built on
the standard library only (``threading``, ``queue``, ``asyncio``'s public API).

The rules (each has a test in ``tests/sqlite/test_sqlite_executor.py``):

* **No stranded waiter.** Idle threads block on their queue; a queued call is taken by
  whichever thread is free. There is no hand-off between waiters on the event loop, so no
  cancellation (of a queued, woken or running call) can leave a call waiting while a
  connection is idle.
* **Abandoned calls.** A caller whose await is cancelled (``task.cancel()``,
  ``asyncio.wait_for`` timing out, a ``TaskGroup`` sibling failing) marks its call
  abandoned under the executor's lock. A queued abandoned call never runs. A running
  write checks, under the same lock, right before ``COMMIT`` (:meth:`Executor.may_commit`)
  and rolls back if it was abandoned; once the check has passed the commit is in flight
  and the caller's cancellation can no longer stop it (the one unavoidable window).
  Waiting for another connection's lock polls :meth:`Executor.abandoned`, so an
  abandoned write stops waiting within one poll.
* **Any loop, any thread.** A result is posted to the loop of the call that asked for
  it; a call whose loop is closed is dropped (nothing is posted to a closed loop). Many
  loops may share an executor. :meth:`Executor.stop` needs no loop at all, so an executor
  whose loop is gone can be stopped from any thread; :meth:`Executor.close` also waits
  for the threads from the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from agent_storage.errors import StorageClosedError

__all__ = ["Abandoned", "Call", "Executor"]

T = TypeVar("T")
L = TypeVar("L")

QUEUED, RUNNING, COMMITTING, ABANDONED = range(4)


class Abandoned(Exception):
    """The caller gave up on this call before its commit; it was rolled back."""


class Call:
    """One unit of work: ``fn(lane, call, *args)`` in a connection thread."""

    __slots__ = ("args", "fn", "future", "loop", "state")

    def __init__(self, fn: Callable[..., Any] | None, args: tuple[Any, ...],
                 loop: asyncio.AbstractEventLoop | None,
                 future: asyncio.Future[Any] | None) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.future = future
        self.state = QUEUED


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled: nobody wants the outcome
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _post(call: Call, result: Any, error: BaseException | None) -> None:
    """Hand the outcome to the caller's loop; a closed loop has no caller left."""
    if call.loop is None or call.future is None:
        return
    with contextlib.suppress(RuntimeError):  # "Event loop is closed"
        call.loop.call_soon_threadsafe(_settle, call.future, result, error)


class Executor(Generic[L]):
    """``readers`` threads share one read queue; one writer thread has its own queue.

    ``open_lane()`` runs in each thread, on its first call, and returns that thread's
    connection state ``L``; ``close_lane(lane)`` runs when the thread stops. With
    ``readers=0`` reads go to the writer's queue (one connection for everything: an
    in-memory database)."""

    def __init__(self, open_lane: Callable[[], L], close_lane: Callable[[L], None], *,
                 readers: int, name: str) -> None:
        self._open_lane = open_lane
        self._close_lane = close_lane
        self._readers = readers
        self._name = name
        self._lock = threading.Lock()
        self._writes: queue.SimpleQueue[Call] = queue.SimpleQueue()
        self._reads: queue.SimpleQueue[Call] = (
            queue.SimpleQueue() if readers else self._writes)
        self._threads: list[tuple[threading.Thread, queue.SimpleQueue[Call]]] = []
        self._stopped = False

    # -- the caller's side -----------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(lane, call, *args)`` on a reader connection."""
        return await self._submit(self._reads, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(lane, call, *args)`` on the writer connection (one at a time)."""
        return await self._submit(self._writes, fn, args)

    async def _submit(self, q: queue.SimpleQueue[Call], fn: Callable[..., T],
                      args: tuple[Any, ...]) -> T:
        loop = asyncio.get_running_loop()
        call = Call(fn, args, loop, loop.create_future())
        with self._lock:
            if self._stopped:
                raise StorageClosedError("sqlite: this backend's connections are closed")
            if not self._threads:
                self._start()
            q.put(call)
        assert call.future is not None
        try:
            return await call.future  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            with self._lock:
                if call.state in (QUEUED, RUNNING):
                    call.state = ABANDONED
            raise

    # -- the worker's side -----------------------------------------------------------------

    def abandoned(self, call: Call) -> bool:
        """Whether the caller gave up (a worker polls this while it waits for a lock)."""
        return call.state == ABANDONED

    def may_commit(self, call: Call) -> bool:
        """Called right before COMMIT: False if the caller gave up (roll back); True
        otherwise, and from then on the caller's cancellation no longer abandons it."""
        with self._lock:
            if call.state == ABANDONED:
                return False
            call.state = COMMITTING
            return True

    def _start(self) -> None:
        queues = [(self._writes, "writer")]
        queues += [(self._reads, f"reader-{i}") for i in range(self._readers)]
        for q, role in queues:
            thread = threading.Thread(target=self._serve, args=(q,), daemon=True,
                                      name=f"agent-storage-sqlite-{role} {self._name}")
            self._threads.append((thread, q))
            thread.start()

    def _serve(self, q: queue.SimpleQueue[Call]) -> None:
        lane: L | None = None
        stop: Call | None = None
        try:
            while stop is None:
                call = q.get()
                if call.fn is None:
                    stop = call
                    break
                with self._lock:
                    if call.state == ABANDONED:
                        continue
                    call.state = RUNNING
                try:
                    if lane is None:
                        lane = self._open_lane()
                    result = call.fn(lane, call, *call.args)
                except Exception as exc:  # the caller's error, delivered to it
                    _post(call, None, exc)
                else:
                    _post(call, result, None)
        finally:
            if lane is not None:
                with contextlib.suppress(Exception):
                    self._close_lane(lane)
            if stop is not None:
                _post(stop, None, None)

    # -- shutdown --------------------------------------------------------------------------

    def stop(self, loop: asyncio.AbstractEventLoop | None = None
             ) -> list[asyncio.Future[Any]]:
        """Stop every thread after the calls already queued; needs no event loop. With
        ``loop``: futures on it that complete as each thread ends. Idempotent."""
        with self._lock:
            if self._stopped:
                return []
            self._stopped = True
            threads = list(self._threads)
        futures: list[asyncio.Future[Any]] = []
        for _thread, q in threads:
            future = None if loop is None else loop.create_future()
            q.put(Call(None, (), loop, future))
            if future is not None:
                futures.append(future)
        return futures

    async def close(self) -> None:
        """Stop the threads and wait until each has closed its connection."""
        futures = self.stop(asyncio.get_running_loop())
        if futures:
            await asyncio.gather(*futures)
