"""How writes reach PostgreSQL: one statement per message batch, row locks for the
workflow read-modify-writes, retention pruning inside the write transaction."""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from agent_storage import Message, Retention, Thread, ThreadNotFoundError

T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)


@contextmanager
def trace(store: Any) -> Iterator[list[str]]:
    """BEGIN / statements (first words) / COMMIT as the engine runs them."""
    from sqlalchemy import event

    seen: list[str] = []
    engine = store.engine.sync_engine

    def on_begin(conn: Any) -> None:
        seen.append("BEGIN")

    def on_commit(conn: Any) -> None:
        seen.append("COMMIT")

    def on_statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                     executemany: bool) -> None:
        words = " ".join(statement.split())
        seen.append(("MANY " if executemany else "") + words)

    hooks = [("begin", on_begin), ("commit", on_commit), ("before_cursor_execute", on_statement)]
    for name, fn in hooks:
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in hooks:
            event.remove(engine, name, fn)


def _batch(n: int, threads: list[str]) -> list[Message]:
    return [Message(id=f"m{i}", thread_id=threads[i % len(threads)], role="user",
                    content={"i": i}, created_at=T0) for i in range(n)]


async def test_a_message_batch_is_one_statement(storage: Any) -> None:
    for tid in ("a", "b", "c"):
        await storage.memory.save_thread(Thread(id=tid, resource_id=f"owner-{tid}"))
    batch = _batch(200, ["a", "b", "c"])
    with trace(storage) as seen:
        stored = await storage.memory.save_messages(batch)
    statements = [s for s in seen if s not in ("BEGIN", "COMMIT")]
    assert len(statements) == 1 and not statements[0].startswith("MANY"), seen
    assert [m.id for m in stored] == [m.id for m in batch]
    assert [m.resource_id for m in stored[:3]] == ["owner-a", "owner-b", "owner-c"]
    # equal timestamps: save order is kept, per thread
    page = await storage.memory.list_messages("a", per_page=None)
    assert [m.id for m in page.items] == [f"m{i}" for i in range(0, 200, 3)]
    thread = await storage.memory.get_thread("a")
    assert thread is not None and thread.updated_at > thread.created_at


async def test_a_batch_with_a_missing_thread_writes_nothing(storage: Any) -> None:
    await storage.memory.save_thread(Thread(id="a", resource_id="r", updated_at=T0,
                                            created_at=T0))
    with pytest.raises(ThreadNotFoundError, match="'ghost'"):
        await storage.memory.save_messages(_batch(10, ["a", "ghost"]))
    assert (await storage.memory.list_messages("a", per_page=None)).items == ()
    thread = await storage.memory.get_thread("a")
    assert thread is not None and thread.updated_at == T0  # not touched either


async def test_upsert_keeps_the_save_position(storage: Any) -> None:
    await storage.memory.save_thread(Thread(id="a", resource_id="r"))
    await storage.memory.save_messages(_batch(3, ["a"]))
    await storage.memory.save_messages([Message(id="m0", thread_id="a", role="assistant",
                                                content="edited", created_at=T0)])
    page = await storage.memory.list_messages("a", per_page=None)
    assert [(m.id, m.content) for m in page.items] == [
        ("m0", "edited"), ("m1", {"i": 1}), ("m2", {"i": 2})]


async def test_existing_ids_fall_back_from_insert_to_the_upsert(storage_factory: Any) -> None:
    """New messages go in with a plain INSERT; a batch that meets an existing id fails as
    a whole and runs again as the upsert (both on the SQLAlchemy path, traced here, and
    on the direct one), keeping the existing rows' positions."""
    store = await storage_factory()
    await store.memory.save_thread(Thread(id="a", resource_id="r"))
    with trace(store) as traced:
        await store.memory.save_messages(_batch(3, ["a"]))
    seen = [s for s in traced if s not in ("BEGIN", "COMMIT")]
    assert len(seen) == 1 and "ON CONFLICT" not in seen[0], seen
    edited = [Message(id="m1", thread_id="a", role="assistant", content="edited",
                      created_at=T0),
              Message(id="m9", thread_id="a", role="user", content="new", created_at=T0)]
    with trace(store) as traced:
        stored = await store.memory.save_messages(edited)
    seen = [s for s in traced if s not in ("BEGIN", "COMMIT")]
    assert [m.id for m in stored] == ["m1", "m9"]
    assert len(seen) == 2 and "ON CONFLICT" not in seen[0] and "ON CONFLICT" in seen[1], seen
    page = await store.memory.list_messages("a", per_page=None)
    assert [(m.id, m.content) for m in page.items] == [
        ("m0", {"i": 0}), ("m1", "edited"), ("m2", {"i": 2}), ("m9", "new")]
    # the direct path, straight after a conflict and later on
    for round_ in range(3):
        again = [Message(id="m2", thread_id="a", role="user", content=round_, created_at=T0),
                 Message(id=f"n{round_}", thread_id="a", role="user", content=round_,
                         created_at=T0)]
        await store.memory.save_messages(again)
    page = await store.memory.list_messages("a", per_page=None)
    assert [(m.id, m.content) for m in page.items] == [
        ("m0", {"i": 0}), ("m1", "edited"), ("m2", 2), ("m9", "new"), ("n0", 0), ("n1", 1),
        ("n2", 2)]


async def test_concurrent_batches_and_deletes_stay_whole(storage: Any) -> None:
    await storage.memory.save_thread(Thread(id="a", resource_id="r"))
    await storage.memory.save_thread(Thread(id="b", resource_id="r"))

    async def save(k: int) -> str:
        try:
            await storage.memory.save_messages([
                Message(id=f"k{k}-{j}", thread_id=("a", "b")[j % 2], role="user", content=j)
                for j in range(6)])
        except ThreadNotFoundError:
            return "missing"
        return "saved"

    results = await asyncio.gather(*(save(k) for k in range(12)),
                                   storage.memory.delete_thread("b"))
    outcomes = results[:12]
    for k, outcome in enumerate(outcomes):
        got = await storage.memory.get_messages([f"k{k}-{j}" for j in range(6)])
        in_a = [m for m in got if m.thread_id == "a"]
        assert len(in_a) == (3 if outcome == "saved" else 0), (k, outcome)


async def test_a_one_thread_batch_meets_a_missing_expired_or_deleted_thread(
    storage_factory: Any, pg_conn: Any, pg_url: str
) -> None:
    """The one-thread statement reads the owner without a lock: a thread that is missing,
    expired (Retention.ttl) or deleted while the batch waits is ThreadNotFoundError, with
    nothing written, never a foreign-key BackendError."""
    store = await storage_factory(retention=Retention(ttl={"threads": _dt.timedelta(days=1)}))
    old = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=2)
    await store.memory.save_thread(Thread(id="old", resource_id="r", created_at=old,
                                          updated_at=old))
    await store.memory.save_thread(Thread(id="a", resource_id="r"))
    for tid in ("ghost", "old"):
        with pytest.raises(ThreadNotFoundError, match=repr(tid)):
            await store.memory.save_messages(_batch(3, [tid]))
    schema = store.backend.options.schema
    deleter = await asyncpg.connect(pg_url)
    try:
        tx = deleter.transaction()
        await tx.start()
        await deleter.execute(f'DELETE FROM "{schema}".agent_storage_threads WHERE id = $1', "a")
        saving = asyncio.ensure_future(store.memory.save_messages(_batch(3, ["a"])))
        for _ in range(500):  # until the save waits for the deleter's row lock
            waiting = await pg_conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND application_name = 'agent-storage' AND datname = current_database()")
            if waiting or saving.done():
                break
            await asyncio.sleep(0.01)
        await tx.commit()
    finally:
        await deleter.close()
    with pytest.raises(ThreadNotFoundError, match="'a'"):
        await saving
    rows = await pg_conn.fetchval(f'SELECT count(*) FROM "{schema}".agent_storage_messages')
    assert rows == 0


async def test_workflow_read_modify_writes_lock_the_row(storage: Any) -> None:
    await storage.workflows.persist_snapshot("wf", "r1", {"status": "running", "context": {}})
    with trace(storage) as seen:
        await storage.workflows.update_step_result("wf", "r1", "s1", {"ok": True})
        await storage.workflows.update_state("wf", "r1", status="done",
                                             expected_status="running")
    selects = [s for s in seen if s.startswith("SELECT")]
    assert len(selects) == 2 and all(s.endswith("FOR UPDATE") for s in selects), selects
    assert seen.count("BEGIN") == 2 and seen.count("COMMIT") == 2


async def test_retention_prunes_inside_the_write_transaction(storage_factory: Any) -> None:
    store = await storage_factory(retention=Retention(max_messages_per_thread=5))
    await store.memory.save_thread(Thread(id="a", resource_id="r"))
    with trace(store) as seen:
        await store.memory.save_messages([
            Message(id=f"m{i}", thread_id="a", role="user", content=i,
                    created_at=T0 + _dt.timedelta(seconds=i)) for i in range(8)])
    begin, commit = seen.index("BEGIN"), seen.index("COMMIT")
    inside = seen[begin:commit]
    assert any("INSERT INTO" in s for s in inside)
    assert any(s.startswith(("DELETE", "MANY DELETE")) for s in inside), seen
    assert seen.count("BEGIN") == 1
    page = await store.memory.list_messages("a", per_page=None)
    assert [m.id for m in page.items] == ["m3", "m4", "m5", "m6", "m7"]
