"""Surviving the server: restarts, killed connections, and several processes at init."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from typing import Any

from agent_storage import Message, Thread, open_store
from agent_storage.naming import LOGICAL_TABLES
from pg_cluster import Cluster, new_schema


async def test_store_survives_a_server_restart_between_calls(own_cluster: Cluster) -> None:
    store = open_store(own_cluster.url, schema=new_schema(), pool_size=2, fresh=True)
    try:
        await store.memory.save_thread(Thread(id="t", resource_id="r"))
        # warm both pooled connections so every one of them is stale after the restart
        await asyncio.gather(store.memory.get_thread("t"), store.memory.list_threads())
        await asyncio.to_thread(own_cluster.restart)
        thread = await store.memory.get_thread("t")  # pre-ping replaces the dead connection
        assert thread is not None
        await store.memory.save_messages([Message(id="m", thread_id="t", role="user",
                                                  content="after restart")])
        got = await asyncio.gather(*(store.memory.list_messages("t") for _ in range(4)))
        assert all([m.content for m in page.items] == ["after restart"] for page in got)
    finally:
        await store.close()


async def test_store_survives_terminated_backends(storage_factory: Any, pg_conn: Any) -> None:
    store = await storage_factory(pool_size=3)
    await store.memory.save_thread(Thread(id="t", resource_id="r"))
    await asyncio.gather(*(store.memory.get_thread("t") for _ in range(6)))
    killed = await pg_conn.fetchval(
        """
        SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'agent-storage'
          AND pid <> pg_backend_pid()
        """
    )
    assert killed >= 1
    for _ in range(3):  # one after another: each may draw a different dead connection
        assert await store.memory.get_thread("t") is not None
    pages = await asyncio.gather(*(store.memory.list_threads() for _ in range(6)))
    assert all(page.total == 1 for page in pages)
    await store.memory.save_messages([Message(id="m", thread_id="t", role="user", content="x")])


INIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from agent_storage import Thread, open_store

    async def main():
        url, schema, n = sys.argv[1], sys.argv[2], sys.argv[3]
        store = open_store(url, schema=schema, fresh=True)
        print("ready", flush=True)
        sys.stdin.readline()  # every process calls init() at the same moment
        await store.init()
        await store.memory.save_thread(Thread(id="t" + n, resource_id="r"))
        await store.close()

    asyncio.run(main())
    """
)


async def test_four_processes_init_an_empty_database_at_once(pg_url: str, pg_conn: Any) -> None:
    schema = new_schema()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", INIT_SCRIPT, pg_url, schema, str(n),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        for n in range(4)
    ]
    for proc in procs:  # wait until every interpreter has imported everything
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        assert line.strip() == b"ready", line
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    await asyncio.gather(*(proc.stdin.drain() for proc in procs if proc.stdin))
    results = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    prefix = f'"{schema}".agent_storage'
    versions = await pg_conn.fetch(f"SELECT version FROM {prefix}_migrations ORDER BY version")
    numbers = [r["version"] for r in versions]
    assert numbers == sorted(set(numbers)) and numbers, "each migration recorded exactly once"
    tables = await pg_conn.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema)
    assert tables == len(LOGICAL_TABLES) + 1
    threads = await pg_conn.fetch(f"SELECT id FROM {prefix}_threads ORDER BY id")
    assert [r["id"] for r in threads] == ["t0", "t1", "t2", "t3"]
    # a fifth init on the finished schema changes nothing
    store = open_store(pg_url, schema=schema, fresh=True)
    try:
        await store.init()
        again = await pg_conn.fetchval(f"SELECT count(*) FROM {prefix}_migrations")
        assert again == len(numbers)
    finally:
        await store.close()
