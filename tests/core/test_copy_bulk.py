"""The memory bulk-load hook copy_store writes through (issue 16 item 4).

SQL backends write a whole chunk (threads + their messages) in one transaction: all or
nothing. Chunks cut threads across pages and mix empty threads; a rerun resumes; the copy
keeps each thread's own updated_at (copy_store verifies counts and checksums)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sqlite3
import uuid
from pathlib import Path

import agent_storage
import pytest
from agent_storage import Message, Thread
from agent_storage.copy import copy_store

needs_sqlite = pytest.mark.skipif(
    importlib.util.find_spec("agent_storage_sqlite") is None, reason="no SQLite plugin"
)
PG_URL = os.environ.get("AGENT_STORAGE_TEST_PG_URL",
                        "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)


def _msgs(thread: str, n: int) -> list[Message]:
    return [Message(id=f"{thread}-m{i}", thread_id=thread, role="user", content=f"c{i}",
                    created_at=T0 + dt.timedelta(seconds=i)) for i in range(n)]


def _thread(i: int) -> Thread:
    return Thread(id=f"t{i}", resource_id=f"u{i % 2}", created_at=T0,
                  updated_at=T0 + dt.timedelta(hours=i))


@needs_sqlite
async def test_sqlite_chunk_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = agent_storage.open_store(f"sqlite:///{path}", fresh=True)
    await store.init()
    db = sqlite3.connect(path)  # a real constraint failure on the chunk's last row
    db.execute("CREATE TRIGGER boom BEFORE INSERT ON agent_storage_messages WHEN NEW.id = 't2-m0' "
               "BEGIN SELECT RAISE(ABORT, 'boom'); END")
    db.commit()
    db.close()
    try:
        chunk = [(_thread(1), _msgs("t1", 3)), (_thread(2), _msgs("t2", 1))]
        with pytest.raises(Exception, match="boom"):
            await store.memory._bulk_save_threads(chunk)
        assert await store.memory.get_thread("t1") is None
        assert (await store.memory.stats()).message_count == 0
    finally:
        await store.close()


async def _pg_url() -> str:
    """A fresh schema on the test server (skipped without one, except under CI=true)."""
    try:
        import asyncpg

        (await asyncpg.connect(PG_URL, timeout=5)).terminate()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {PG_URL}: {exc}")
    return f"{PG_URL}?schema=bulk{uuid.uuid4().hex[:10]}"


async def _drop_schema(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:  # the schema name is ours: "bulk" + hex
        await conn.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("=", 1)[1]}" CASCADE')
    finally:
        await conn.close()


@pytest.mark.parametrize("dst", ["memory", pytest.param("sqlite", marks=needs_sqlite), "pg"])
async def test_chunks_across_pages_resume_and_keep_updated_at(tmp_path: Path, dst: str) -> None:
    src = agent_storage.open_store("memory://", fresh=True)
    url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'd.db'}"}.get(dst) \
        or await _pg_url()
    target = agent_storage.open_store(url, fresh=True)
    sizes = [0, 7, 2, 0, 5]  # empty threads, a thread longer than a chunk
    try:
        for i, n in enumerate(sizes):
            await src.memory.save_thread(_thread(i))
            if n:
                await src.memory.save_messages(_msgs(f"t{i}", n))
        want = {t.id: t.updated_at for t in await src.memory.threads().all()}
        for _ in range(2):  # the second run upserts the same records: still identical
            report = await copy_store(src, target, domains="memory", batch_size=3)
            assert report.ok and report["messages"].copied == sum(sizes)
            assert report["threads"].copied == len(sizes)
        got = {t.id: t.updated_at for t in await target.memory.threads().all()}
        assert got == want
        page = await target.memory.list_messages("t1", per_page=None)
        assert [m.id for m in page.items] == [f"t1-m{i}" for i in range(7)]
        assert {m.resource_id for m in page.items} == {"u1"}
    finally:
        await src.close()
        await target.close()
        if dst == "pg":
            await _drop_schema(url)
