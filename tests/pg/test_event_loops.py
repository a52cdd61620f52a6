"""A PostgreSQL store used from several event loops at once, and a failed ``async with``
(issue 11 items 13 and 15; the checks live in :mod:`agent_storage.testing.event_loops`)."""

from __future__ import annotations

import asyncio
import uuid

from agent_storage import open_store
from agent_storage.testing.event_loops import check_failed_enter_releases, use_from_threads
from pg_cluster import asyncpg_url, execute, new_schema, with_database


async def _store_connections(pg_url: str) -> int:
    """Connections agent-storage holds to the run's database (its application_name)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(pg_url), timeout=10)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'agent-storage' AND pid <> pg_backend_pid()"))
    finally:
        await conn.close()


async def _settled(pg_url: str, at_most: int) -> int:
    """The count once it is ``at_most`` or less (the server sees a closed socket late)."""
    count = await _store_connections(pg_url)
    for _ in range(300):
        if count <= at_most:
            break
        await asyncio.sleep(0.1)
        count = await _store_connections(pg_url)
    return count


def test_one_store_from_five_threads_each_with_its_own_loop(pg_url: str) -> None:
    before = asyncio.run(_store_connections(pg_url))
    schema = new_schema()
    try:
        # no hang, no error, every write there; the store is closed from a 6th loop
        use_from_threads(open_store(pg_url, fresh=True, schema=schema))
        # the five loops had ended before close(): their connections were released anyway
        assert asyncio.run(_settled(pg_url, before)) <= before
    finally:
        asyncio.run(execute(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_a_failed_async_with_closes_what_init_opened(pg_url: str) -> None:
    url = with_database(pg_url, f"no_such_db_{uuid.uuid4().hex[:8]}")
    asyncio.run(check_failed_enter_releases(open_store(url, fresh=True)))
