"""The direct asyncpg path (agent_storage_pg.store: prebuilt reads, the held connection).

The recall path keeps the pooled connection it last used checked out between calls. These
tests pin what that must never break: a small pool still serves every other call, the held
connection is closed with the store, and values read directly equal the SQLAlchemy path's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent_storage import Message, Thread
from sqlalchemy import event


def batch(thread: str, n: int, start: int = 0) -> list[Message]:
    return [
        Message(id=f"{thread}-{i}", thread_id=thread, role="user",
                content={"i": i, "f": 1.5, "s": "é\u2028", "l": [None, True, {}]},
                metadata={} if i % 2 else {"k": [i]})
        for i in range(start, start + n)
    ]


async def test_a_pool_of_one_is_never_held(storage_factory: Any) -> None:
    """With pool_size=1 a held connection would starve every transaction (pool timeout)."""
    store = await storage_factory(pool_size=1, pool_timeout=1)
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await store.memory.save_messages(batch("t", 3))
    assert len((await store.memory.list_messages("t", last=2)).items) == 2
    # transactions on the SQLAlchemy path, right after a direct read
    await store.memory.update_thread("t", title="x")
    await store.memory.save_messages(batch("t", 2, start=3))
    assert [m.id for m in (await store.memory.list_messages("t", last=2)).items] == [
        "t-3", "t-4"]
    await store.memory.delete_thread("t")


async def test_transactions_share_a_small_pool_with_the_held_connection(
    storage_factory: Any,
) -> None:
    store = await storage_factory(pool_size=2, pool_timeout=5)
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await store.memory.save_messages(batch("t", 4))
    await store.memory.list_messages("t", last=3)  # now one connection is held
    await asyncio.gather(
        *(store.memory.update_thread("t", title=f"n{i}") for i in range(10)),
        *(store.memory.list_messages("t", last=3) for _ in range(10)),
    )
    assert (await store.memory.get_thread("t")) is not None


async def test_closing_the_store_closes_the_held_connection(
    storage_factory: Any, pg_conn: Any
) -> None:
    sql = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-storage'"
           " AND datname = current_database()")
    others = {r[0] for r in await pg_conn.fetch(sql)}  # stores of other tests
    store = await storage_factory()
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await store.memory.save_messages(batch("t", 2))
    await store.memory.list_messages("t", last=1)
    pids = {r[0] for r in await pg_conn.fetch(sql)} - others
    assert pids, "the store holds no connection after a read"
    await store.close()
    for _ in range(100):  # a backend exits shortly after its client closes the socket
        left = await pg_conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids))
        if left == 0:
            break
        await asyncio.sleep(0.05)
    assert left == 0, "a connection of the closed store is still open"


async def test_direct_reads_equal_the_sqlalchemy_path(storage_factory: Any) -> None:
    """Last-N through asyncpg (text JSON codecs, records built in PgMemory) against the
    same call while a cursor listener forces every statement through SQLAlchemy."""
    store = await storage_factory()
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await store.memory.save_messages(batch("t", 6))
    direct = await store.memory.list_messages("t", last=4)
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    event.listen(store.engine.sync_engine, "before_cursor_execute", listener)
    try:
        generic = await store.memory.list_messages("t", last=4)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", listener)
    assert seen, "the second read did not go through SQLAlchemy"
    assert direct == generic
    assert [m.id for m in direct.items] == ["t-2", "t-3", "t-4", "t-5"]
    assert direct.items[0].content == {"i": 2, "f": 1.5, "s": "é\u2028",
                                       "l": [None, True, {}]}
    assert direct.items[1].metadata == {}
    assert direct.items[0].metadata == {"k": [2]}


async def test_a_write_on_a_dead_held_connection_runs_once_more(
    storage_factory: Any, pg_conn: Any
) -> None:
    """save_messages skips the checkout ping: a connection found dead by the statement is
    dropped and the (idempotent) statement runs again on a pinged one, once."""
    sql = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'agent-storage'"
           " AND datname = current_database()")
    others = {r[0] for r in await pg_conn.fetch(sql)}
    store = await storage_factory()
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await store.memory.list_messages("t", last=1)  # the direct path now holds a connection
    pids = list({r[0] for r in await pg_conn.fetch(sql)} - others)
    killed = await pg_conn.fetchval(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(p, 5000) FROM unnest($1::int[]) p)"
        " AS k", pids)
    assert killed == len(pids) >= 1
    await store.memory.save_messages(batch("t", 3))  # no TransientBackendError
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == ["t-0", "t-1", "t-2"]
    assert (await store.memory.get_thread("t")) is not None
