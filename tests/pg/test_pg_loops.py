"""One store used from several event loops, each in its own thread (what the openai-agents
SDK's session tests do): when those loops have ended, their connections are released
from whichever thread notices, without the dead loop -- none is left open on the server
and nothing logs "Event loop is closed"."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from typing import Any

import asyncpg
import pytest
from agent_storage import Message, Thread, open_store
from pg_cluster import asyncpg_url, new_schema

LOOPS = 5


async def _ours(pg_url: str) -> int:
    """Connections of agent-storage stores to the run's database, as the server sees them."""
    conn = await asyncpg.connect(asyncpg_url(pg_url))
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'agent-storage' AND pid <> pg_backend_pid()"))
    finally:
        await conn.close()


def _in_thread(fn: Any) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(fn())
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _use_from_loops(store: Any) -> None:
    """Use ``store`` from LOOPS threads in turn, each with its own event loop."""
    for n in range(LOOPS):
        async def work(n: int = n) -> None:
            tid = f"t{n}"
            await store.memory.save_thread(Thread(id=tid, resource_id="u"))
            # concurrent calls: several pooled connections of this loop are open
            await asyncio.gather(*(store.memory.save_messages(
                [Message(id=f"m{n}-{i}", thread_id=tid, role="user", content=i)])
                for i in range(4)))
            assert (await store.memory.list_messages(tid)).total == 4

        _in_thread(work)


def test_connections_of_ended_loops_are_released(
    pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    caplog.set_level(logging.DEBUG)
    gc.collect()
    before = asyncio.run(_ours(pg_url))
    store = open_store(pg_url, schema=new_schema(), fresh=True, pool_size=4)

    gc.disable()  # a connection must be released by the store, not by the collector
    try:
        _use_from_loops(store)
        asyncio.run(store.close())  # from yet another loop, in the main thread
        after = asyncio.run(_ours(pg_url))
    finally:
        gc.enable()
    gc.collect()
    assert after <= before

    loop_closed = [r.getMessage() for r in caplog.records
                   if "Event loop is closed" in r.getMessage() or (
                       r.exc_info and "Event loop is closed" in str(r.exc_info[1]))]
    assert not loop_closed, loop_closed
    assert not [u for u in unraisable if "Event loop is closed" in str(u.exc_value)]
