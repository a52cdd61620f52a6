"""Faults in the middle of a write: the store's connection is terminated
(``pg_terminate_backend`` from another session) inside a write transaction, before each
statement of the call in turn and right before COMMIT; and the server is restarted while a
writer is busy (on a throwaway cluster, never the machine's main one).

Every interrupted call fails with TransientBackendError (or succeeds); nothing is ever
half-written (a full snapshot of the store is compared); the next call on the same store
works without reopening it. Between-call restarts and terminations are in
test_pg_resilience.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agent_storage import (
    AgentStorageError,
    Message,
    MessageUpdate,
    Retention,
    Span,
    Thread,
    TransientBackendError,
    open_store,
)
from agent_storage.testing._helpers import T0, ts
from agent_storage.testing.suites.test_bad_input import AGENT, FLOW, RUN, T1, T2, seed, snapshot
from pg_cluster import Cluster, new_schema
from sqlalchemy import event
from sqlalchemy.util import await_only

pytestmark = pytest.mark.asyncio


class Killer:
    """Terminates the store's own backend from another session right before statement
    number ``n`` (``kind="statement"``) or COMMIT number ``n`` (``kind="commit"``) of the
    next call."""

    def __init__(self, engine: Any, killer_conn: Any) -> None:
        self.engine = engine.sync_engine
        self.conn = killer_conn
        self.kind: str | None = None
        self.n = 0
        self.seen = {"statement": 0, "commit": 0}
        self.fired = False
        event.listen(self.engine, "before_cursor_execute", self._before_statement)
        event.listen(self.engine, "commit", self._before_commit)

    def arm(self, kind: str, n: int) -> None:
        self.kind, self.n, self.fired = kind, n, False
        self.seen = {"statement": 0, "commit": 0}

    def disarm(self) -> None:
        self.kind = None

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before_statement)
        event.remove(self.engine, "commit", self._before_commit)

    def _kill(self, sa_conn: Any) -> None:
        raw = sa_conn.connection.dbapi_connection._connection  # the asyncpg connection
        pid = raw.get_server_pid()
        # Runs inside SQLAlchemy's greenlet: await the other session's call in place.
        # pg_terminate_backend(pid, timeout) returns once the backend is gone.
        done = await_only(self.conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid))
        assert done, "pg_terminate_backend failed"
        self.fired = True
        self.kind = None

    def _tick(self, kind: str, sa_conn: Any) -> None:
        if self.kind == kind:
            if self.seen[kind] == self.n:
                self._kill(sa_conn)
            self.seen[kind] += 1

    def _before_statement(self, conn: Any, *_args: Any) -> None:
        self._tick("statement", conn)

    def _before_commit(self, conn: Any) -> None:
        self._tick("commit", conn)


Op = Callable[[Any], Awaitable[Any]]


def _ops() -> list[tuple[str, Op]]:
    new_msgs = [
        Message(id="f-new-1", thread_id=T1, role="user", content={"n": 1}, created_at=ts(50)),
        Message(id="f-new-2", thread_id=T2, role="assistant", content="two", created_at=ts(51)),
        Message(id="bi-m-t1-0", thread_id=T1, role="user", content="rewritten", created_at=T0),
    ]
    return [
        ("save_messages", lambda s: s.memory.save_messages(new_msgs)),
        (
            "update_messages",
            lambda s: s.memory.update_messages(
                [
                    MessageUpdate(id="bi-m-t1-1", thread_id=T2, metadata={"moved": True}),
                    MessageUpdate(id="bi-m-t1-2", content="edited"),
                ]
            ),
        ),
        ("delete_messages", lambda s: s.memory.delete_messages(["bi-m-t1-0", "bi-m-t2-0"])),
        ("clone_thread", lambda s: s.memory.clone_thread(T1, new_thread_id="bi-clone")),
        ("delete_thread", lambda s: s.memory.delete_thread(T1)),
        (
            "update_thread",
            lambda s: s.memory.update_thread(T1, title="t", metadata={"x": 1}, merge_metadata=True),
        ),
        ("update_resource", lambda s: s.memory.update_resource("bi-res", metadata={"z": 1})),
        ("update_step_result", lambda s: s.workflows.update_step_result(FLOW, RUN, "s", [1])),
        (
            "update_state",
            lambda s: s.workflows.update_state(FLOW, RUN, status="done", expected_status="running"),
        ),
        ("update_agent", lambda s: s.agents.update_agent(AGENT, instructions="new")),
        (
            "create_spans",
            lambda s: s.observability.create_spans(
                [
                    Span(trace_id="f-tr", span_id=f"s{i}", name="n", span_type="t", started_at=T0)
                    for i in range(3)
                ]
            ),
        ),
    ]


def _cases() -> list[tuple[str, Op, dict[str, Any]]]:
    cases = [(name, op, {}) for name, op in _ops()]
    # With a per-thread limit, save_messages prunes inside a multi-statement transaction.
    save = dict(_ops())["save_messages"]
    cases.append(
        ("save_messages+retention", save, {"retention": Retention(max_messages_per_thread=3)})
    )
    return cases


@pytest.mark.parametrize(("name", "op", "options"), _cases(), ids=[c[0] for c in _cases()])
async def test_terminated_mid_transaction(
    storage_factory: Any, pg_conn: Any, name: str, op: Op, options: dict[str, Any]
) -> None:
    """Kill before each COMMIT of the call in turn, then before each statement in turn,
    until the call has no statement left to kill and goes through on the same store."""
    store = await storage_factory(pool_size=2, **options)
    await seed(store)
    killer = Killer(store.engine, pg_conn)
    interrupted = {"statement": 0, "commit": 0}
    try:
        for kind in ("commit", "statement"):
            for n in range(40):
                before = await snapshot(store)
                killer.arm(kind, n)
                try:
                    await op(store)
                except AgentStorageError as exc:
                    assert killer.fired, f"{name}: failed without a fault: {exc!r}"
                    assert isinstance(exc, TransientBackendError), f"{name} {kind} {n}: {exc!r}"
                    assert exc.__cause__ is not None
                    killer.disarm()
                    assert await snapshot(store) == before, f"{name}: partial write ({kind} {n})"
                    interrupted[kind] += 1
                    continue
                killer.disarm()
                assert not killer.fired, f"{name}: killed before {kind} {n}, yet it succeeded"
                if kind == "commit":  # undo by starting over, so statements see the same data
                    await store.close()
                    killer.remove()
                    store = await storage_factory(pool_size=2, **options)
                    await seed(store)
                    killer = Killer(store.engine, pg_conn)
                break
            else:
                pytest.fail(f"{name}: more than 40 {kind}s")
        # A call run as one statement in autocommit (pg's save_messages) has no COMMIT.
        assert interrupted["statement"] >= 1, interrupted
    finally:
        killer.remove()


async def test_save_messages_batches_survive_repeated_kills(
    storage_factory: Any, pg_conn: Any
) -> None:
    """100 batches, a kill inside every 7th call: each batch wholly present or absent, and
    present iff its call reported success (then retried until it succeeds)."""
    store = await storage_factory(pool_size=2)
    await store.memory.save_thread(Thread(id="kt", resource_id="r"))
    killer = Killer(store.engine, pg_conn)
    failures = 0
    try:
        for i in range(100):
            batch = [
                Message(id=f"k{i}-{j}", thread_id="kt", role="user", content=[i, j])
                for j in range(4)
            ]
            if i % 7 == 3:
                killer.arm("statement", 0)
                with pytest.raises(TransientBackendError):
                    await store.memory.save_messages(batch)
                killer.disarm()
                failures += 1
                got = await store.memory.get_messages([m.id for m in batch])
                assert got == [], f"batch {i} partially written: {[m.id for m in got]}"
            await store.memory.save_messages(batch)
    finally:
        killer.remove()
    page = await store.memory.list_messages("kt", per_page=None)
    assert [m.content for m in page.items] == [[i, j] for i in range(100) for j in range(4)]
    assert failures == len([i for i in range(100) if i % 7 == 3])


async def test_restart_during_a_stream_of_writes(own_cluster: Cluster) -> None:
    """A writer saves batches while the server restarts: calls fail only with
    TransientBackendError, batches are whole, and every batch that reported success is
    there; the same store keeps working after the restart."""
    store = open_store(own_cluster.url, schema=new_schema(), pool_size=2, fresh=True)
    try:
        await store.memory.save_thread(Thread(id="rt", resource_id="r"))
        ok: list[int] = []
        errors: list[BaseException] = []
        restarted = asyncio.Event()
        warmed = asyncio.Event()

        async def writer() -> None:
            i = 0
            while not (restarted.is_set() and len(ok) > 0 and i > 40) and i < 5000:
                batch = [
                    Message(id=f"r{i}-{j}", thread_id="rt", role="user", content=[i, j])
                    for j in range(5)
                ]
                try:
                    await store.memory.save_messages(batch)
                    ok.append(i)
                    if len(ok) >= 20:
                        warmed.set()
                except TransientBackendError as exc:
                    errors.append(exc)
                    await asyncio.sleep(0.05)
                except AgentStorageError as exc:  # anything else is a wrong classification
                    errors.append(exc)
                    raise
                i += 1

        task = asyncio.create_task(writer())
        await asyncio.wait_for(warmed.wait(), 120)
        await asyncio.to_thread(own_cluster.restart)
        restarted.set()
        await asyncio.wait_for(task, 300)
        assert all(isinstance(e, TransientBackendError) for e in errors), errors
        page = await store.memory.list_messages("rt", per_page=None)
        counts: dict[int, int] = {}
        for m in page.items:
            counts[m.content[0]] = counts.get(m.content[0], 0) + 1
        assert {i: c for i, c in counts.items() if c != 5} == {}, "partial batch"
        assert set(ok) <= set(counts), "a batch reported saved is missing"
        # and the same store goes on working
        await store.memory.save_messages(
            [Message(id="after", thread_id="rt", role="user", content="after")]
        )
        assert (await store.memory.get_messages(["after"]))[0].content == "after"
    finally:
        await store.close()
