"""The SQLite executor's promises: cancellation never strands a waiter or a connection, a
write abandoned before its commit is rolled back (never committed later), and stores on
several event loops share one file without hangs, lock errors or leaked threads.

Waits are bounded (``asyncio.wait_for``) so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Message, Storage, WorkflowRun, open_store
from agent_storage.testing._helpers import make_messages, make_thread
from sqlalchemy import text

#: A read that keeps a reader connection busy for a while (~0.3-1 s).
SLOW_READ = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                 "WHERE x < 1500000) SELECT count(*) FROM c")

#: Holds the file's write lock (BEGIN IMMEDIATE) until a line arrives on stdin.
HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    conn.close()
    print("released", flush=True)
    """
)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    s = open_store(f"sqlite:///{tmp_path / 'x.db'}", fresh=True)
    await s.init()
    yield s
    await asyncio.wait_for(s.close(), 30)


# -- item 2: a cancelled waiter strands nobody -------------------------------------------


async def test_a_read_woken_and_cancelled_in_one_step_strands_no_other_read(
    store: Storage,
) -> None:
    """Both reader connections busy, three reads queued; as each busy read ends, its task
    cancels one queued read in the same step (as TaskGroup does when a sibling fails).
    The third queued read must still run on the freed connections."""
    backend: Any = store.backend
    await store.memory.save_thread(make_thread(id="t"))
    one = text("SELECT 1")
    await asyncio.gather(backend.fetch(one), backend.fetch(one))  # both readers open
    waiting: list[asyncio.Task[Any]] = []

    async def busy() -> None:
        await backend.fetch(SLOW_READ)
        # the first queued read is woken by this hand-back; cancel it in the same step
        waiting.pop(0).cancel()

    holders = [asyncio.create_task(busy()) for _ in range(2)]
    await asyncio.sleep(0)  # both holders now run their read
    waiting.extend(asyncio.create_task(backend.fetch(one)) for _ in range(2))
    cancelled = list(waiting)
    last = asyncio.create_task(backend.fetch(one))
    await asyncio.sleep(0.05)
    assert not any(h.done() for h in holders), "the slow reads ended before the test set up"
    await asyncio.wait_for(asyncio.gather(*holders), 30)
    assert await asyncio.wait_for(last, 10) == [(1,)]
    # each cancelled read either ran before its cancel arrived or was cancelled
    for outcome in await asyncio.gather(*cancelled, return_exceptions=True):
        assert outcome == [(1,)] or isinstance(outcome, asyncio.CancelledError)
    # and the store keeps serving reads
    assert await asyncio.wait_for(store.memory.get_thread("t"), 10) is not None


async def test_many_cancelled_reads_leave_every_connection_usable(store: Storage) -> None:
    await store.memory.save_thread(make_thread(id="t"))
    await store.memory.save_messages(make_messages("t", 5))
    for _ in range(5):
        tasks = [asyncio.create_task(store.memory.list_messages("t", last=3))
                 for _ in range(20)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    page = await asyncio.wait_for(store.memory.list_messages("t", last=3), 10)
    assert len(page.items) == 3


# -- item 3: a write cancelled before its commit is rolled back ------------------------------


class LockHolder:
    """Another process holding the file's write lock."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    async def locked(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 30)
        assert line.strip() == "locked"

    async def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 30)
        assert line.strip() == "released"
        await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def _abandon(call: Awaitable[Any], how: str) -> None:
    """Give up on ``call`` while it waits for the lock: by timeout or by cancel."""
    if how == "timeout":
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call, 0.5)
        return
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0.5)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _under_lock(path: Path, call: Callable[[], Awaitable[Any]], how: str) -> None:
    holder = LockHolder(path)
    try:
        await holder.locked()
        await _abandon(call(), how)
        await holder.release()
    finally:
        holder.kill()


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_an_abandoned_save_messages_is_never_committed(
    store: Storage, tmp_path: Path, how: str,
) -> None:
    await store.memory.save_thread(make_thread(id="t"))
    await _under_lock(tmp_path / "x.db",
                      lambda: store.memory.save_messages(make_messages("t", 3)), how)
    # the next write runs after the abandoned one would have: the connection is usable
    await asyncio.wait_for(store.memory.save_messages(
        [Message(id="after", thread_id="t", role="user", content="x")]), 30)
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == ["after"]


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_an_abandoned_step_result_is_never_committed(
    store: Storage, tmp_path: Path, how: str,
) -> None:
    wf = store.workflows
    await wf.persist_snapshot("wf", "r1", {"status": "running", "context": {}})
    await _under_lock(tmp_path / "x.db",
                      lambda: wf.update_step_result("wf", "r1", "s1", {"ok": True}), how)
    await asyncio.wait_for(wf.update_step_result("wf", "r1", "s2", 2), 30)
    run = await wf.get_run("r1", workflow_name="wf")
    assert isinstance(run, WorkflowRun)
    assert run.snapshot["context"] == {"s2": 2}


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_an_abandoned_compare_and_set_does_not_win_behind_the_callers_back(
    store: Storage, tmp_path: Path, how: str,
) -> None:
    wf = store.workflows
    await wf.persist_snapshot("wf", "r1", {"status": "running", "context": {}})
    await _under_lock(
        tmp_path / "x.db",
        lambda: wf.update_state("wf", "r1", status="done", expected_status="running"), how)
    # the caller's retry must win: the abandoned attempt changed nothing
    won = await asyncio.wait_for(
        wf.update_state("wf", "r1", status="done", expected_status="running"), 30)
    assert won is not None and won.status == "done"


async def test_a_write_queued_behind_another_and_cancelled_is_never_committed(
    store: Storage, tmp_path: Path,
) -> None:
    """Two writes of this process wait for the lock; the second is abandoned while queued."""
    await store.memory.save_thread(make_thread(id="t"))
    holder = LockHolder(tmp_path / "x.db")
    try:
        await holder.locked()
        first = asyncio.create_task(store.memory.save_messages(make_messages("t", 1)))
        await asyncio.sleep(0.1)
        await _abandon(store.memory.save_messages(make_messages("t", 2, start=5)), "timeout")
        await holder.release()
        await asyncio.wait_for(first, 30)
    finally:
        holder.kill()
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == ["t-m0000"]


# -- item 15: stores on several event loops ------------------------------------------------


async def _threads_left(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since ``before`` still alive after a bounded wait (the loop's own
    ``to_thread`` workers aside)."""
    def left() -> list[threading.Thread]:
        return [t for t in threading.enumerate()
                if t not in before and not t.name.startswith("asyncio_")]

    for _ in range(300):
        if not left():
            break
        await asyncio.sleep(0.05)
    return left()


@pytest.mark.parametrize("close", ["own-loop", "later"])
async def test_five_loops_share_one_file(tmp_path: Path, close: str) -> None:
    """Five threads, each with its own event loop and its own store on one file (one
    backend instance per loop), write and read at once: no hang, no "database is locked",
    nothing lost. Stores left open when their loop ends are closed later from this loop,
    and every executor thread ends."""
    before = set(threading.enumerate())
    url = f"sqlite:///{tmp_path / 'loops.db'}"
    setup = open_store(url, fresh=True)
    await setup.init()
    await setup.memory.save_thread(make_thread(id="shared"))
    await setup.close()
    left_open: list[Storage] = []
    errors: list[BaseException] = []

    async def work(n: int) -> None:
        store = open_store(url, fresh=True)
        await store.memory.save_thread(make_thread(id=f"own{n}"))
        for i in range(20):
            await store.memory.save_messages([
                Message(id=f"{n}-{i}-{tid}", thread_id=tid, role="user", content=i)
                for tid in (f"own{n}", "shared")])
            await store.memory.list_messages("shared", last=5)
        if close == "own-loop":
            await store.close()
        else:
            left_open.append(store)

    def run(n: int) -> None:
        try:
            asyncio.run(asyncio.wait_for(work(n), 60))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, 120)
    assert not any(t.is_alive() for t in threads), "a loop hung"
    assert errors == []
    for store in left_open:  # their loops are closed: close from here
        await asyncio.wait_for(store.close(), 30)
    check = open_store(url, fresh=True)
    try:
        page = await check.memory.list_messages("shared", per_page=None)
        assert page.total == 100
    finally:
        await check.close()
    assert await _threads_left(before) == []


# -- item 6: files are private to their owner ------------------------------------------------


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_a_new_database_file_and_its_wal_and_shm_are_private(
    tmp_path: Path, usual_umask: None,
) -> None:
    path = tmp_path / "private.db"
    store = open_store(f"sqlite:///{path}", fresh=True)
    try:
        await store.memory.save_thread(make_thread(id="t"))  # init, a write, a read
        assert await store.memory.get_thread("t") is not None
        for name in ("private.db", "private.db-wal", "private.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        await store.close()


async def test_an_existing_files_mode_is_kept(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o640)
    store = open_store(f"sqlite:///{path}", fresh=True)
    try:
        await store.memory.save_thread(make_thread(id="t"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        # SQLite gives the -wal and -shm files the database file's mode
        assert stat.S_IMODE((tmp_path / "shared.db-wal").stat().st_mode) == 0o640
    finally:
        await store.close()


# -- issue 16: short reads inline on the loop, with a bound ---------------------------------


async def test_a_long_read_tried_inline_is_handed_to_a_thread_and_the_loop_keeps_running(
    store: Storage,
) -> None:
    """A registered read is tried on the loop's thread first; one that runs past the
    budget is interrupted and finished on a reader thread, so other tasks keep running
    (an unbounded inline read would block the loop for the whole read)."""
    backend: Any = store.backend
    slow = backend.prepared(SLOW_READ)
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    try:
        assert await asyncio.wait_for(backend.fetch(slow), 30) == [(1500000,)]
    finally:
        running = False
        await task
    assert ticks - before > 100
    # short registered reads still answer (inline), and so do unregistered ones (thread)
    await store.memory.save_thread(make_thread(id="t"))
    assert (await store.memory.get_thread("t")) is not None
    assert await backend.fetch(text("SELECT 2")) == [(2,)]


def test_a_read_interrupted_inline_goes_to_a_thread_for_the_next_calls(tmp_path: Any) -> None:
    """After an interruption over budget, InlineReader declines the statement for
    LONG_SKIPS calls (the caller runs it on a thread without spending the budget on the
    loop again), then tries it inline once more; other statements are not affected."""
    from agent_storage_sqlite._inline import LONG_SKIPS, InlineReader
    from agent_storage_sqlite._lanes import connect
    from agent_storage_sqlite._statements import Preparer
    from sqlalchemy.dialects import sqlite

    preparer = Preparer(sqlite.dialect())
    short = text("SELECT 2")
    for stmt in (SLOW_READ, short):
        preparer.register(stmt)
    path = str(tmp_path / "inline.db")
    reader = InlineReader(lambda: connect(path, uri=False, check_same_thread=False,
                                          busy_ms=0), debug=False)
    try:
        assert reader.read(preparer, SLOW_READ, None) is None  # over budget
        assert reader.interrupted == 1
        for _ in range(LONG_SKIPS):
            assert reader.read(preparer, SLOW_READ, None) is None  # declined, not run
            assert reader.read(preparer, short, None) == [(2,)]
        assert reader.interrupted == 1
        assert reader.read(preparer, SLOW_READ, None) is None  # tried (and cut) again
        assert reader.interrupted == 2
    finally:
        reader.close()


def test_in_lists_bind_exactly_as_sqlalchemy_expands_them() -> None:
    """Expansion plans (cached per combination of list lengths) give the SQL and the
    arguments of SQLAlchemy's own construct_expanded_state, call after call."""
    from agent_storage_sqlite._statements import Prepared
    from sqlalchemy import bindparam, column, select, table
    from sqlalchemy.dialects import sqlite

    t = table("t", column("a"), column("b"), column("c"))
    stmt = select(t.c.a).where(t.c.a.in_(bindparam("xs", expanding=True)),
                               t.c.b == bindparam("b"), t.c.c.in_(bindparam("ys", expanding=True)),
                               t.c.c != "fixed")
    prepared = Prepared(stmt, sqlite.dialect())
    for params in ({"xs": [1, 2], "b": "u", "ys": []}, {"xs": [3, 4], "b": "v", "ys": ["q"]},
                   {"xs": [5, 6], "b": "w", "ys": []}, {"xs": (7,), "b": "z", "ys": ["r", "s"]}):
        sql, args = prepared.bind(params)
        state = prepared.compiled.construct_expanded_state(params)
        assert (sql, list(args)) == (state.statement, list(state.positional_parameters))
