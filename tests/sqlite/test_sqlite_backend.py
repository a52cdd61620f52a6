"""SQLite-specific behaviour: URLs, pragmas, files, engine, debug log, representation."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from agent_storage import (
    ConfigurationError,
    Include,
    InvalidIdentifierError,
    Message,
    SchemaNotInitializedError,
    Thread,
    TransientBackendError,
    open_store,
)
from agent_storage.testing._helpers import make_messages, make_thread
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

UTC = dt.UTC


async def _roundtrip(store) -> None:  # type: ignore[no-untyped-def]
    await store.memory.save_thread(make_thread(id="t"))
    await store.memory.save_messages(make_messages("t", 3))
    assert [m.id for m in (await store.memory.list_messages("t")).items] == [
        "t-m0000", "t-m0001", "t-m0002"]


# -- URLs ----------------------------------------------------------------------------------


async def test_relative_path_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///relative.db", fresh=True)
    try:
        await _roundtrip(store)
    finally:
        await store.close()
    assert (tmp_path / "relative.db").exists()


async def test_absolute_path_url_and_aiosqlite_scheme(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    for url in (f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"):
        assert url.count("/") >= 4  # sqlite:////abs/...: absolute
        store = open_store(url, fresh=True)
        try:
            await store.init()
            assert store.backend.path == str(path)
        finally:
            await store.close()
    assert path.exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+aiosqlite://", "sqlite:///:memory:"])
async def test_in_memory_store_keeps_data_while_open(url: str) -> None:
    store = open_store(url, fresh=True)
    try:
        await _roundtrip(store)
        # every call (reads, writes, index listing) sees the one in-memory database
        assert (await store.memory.get_thread("t")) is not None
        assert await store.indexes.list("messages")
    finally:
        await store.close()


async def test_in_memory_store_serialises_concurrent_calls() -> None:
    store = open_store("sqlite://", fresh=True)
    try:
        await store.memory.save_thread(make_thread(id="t"))

        async def writer(n: int) -> None:
            for k in range(5):
                await store.memory.save_messages(
                    [Message(id=f"w{n}-{k}-{i}", thread_id="t", role="user", content=i)
                     for i in range(4)])
                await store.memory.list_messages("t", last=3)

        await asyncio.gather(*(writer(n) for n in range(10)))
        page = await store.memory.list_messages("t", per_page=None)
        assert page.total == 200 and len({m.id for m in page.items}) == 200
    finally:
        await store.close()


def test_url_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///relative\.db"):
        open_store("sqlite://relative.db", fresh=True)


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, schema="tenant")


def test_bad_table_prefix_fails_at_open_store(tmp_path: Path) -> None:
    with pytest.raises(InvalidIdentifierError):
        open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, table_prefix="bad-prefix;")
    with pytest.raises(InvalidIdentifierError):
        open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, table_prefix="p" * 60)


# -- files ---------------------------------------------------------------------------------


async def test_missing_directory_points_to_agent_storage_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing/dir/x.db", fresh=True)
    try:
        with pytest.raises(ConfigurationError) as info:
            await store.init()
        assert "AGENT_STORAGE_URL" in str(info.value) and "does not exist" in str(info.value)
    finally:
        await store.close()


async def test_unopenable_file_points_to_agent_storage_url(tmp_path: Path) -> None:
    (tmp_path / "a_directory.db").mkdir()  # a path SQLite cannot open as a file
    store = open_store(f"sqlite:///{tmp_path}/a_directory.db", fresh=True)
    try:
        with pytest.raises(ConfigurationError) as info:
            await store.init()
        assert "AGENT_STORAGE_URL" in str(info.value)
        assert isinstance(info.value.__cause__, Exception)
    finally:
        await store.close()


async def test_data_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    store = open_store(url, fresh=True)
    await _roundtrip(store)
    await store.close()
    again = open_store(url, fresh=True)
    try:
        page = await again.memory.list_messages("t")
        assert page.total == 3
    finally:
        await again.close()


async def test_disable_init_on_an_empty_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    store = open_store(url, fresh=True, disable_init=True)
    try:
        assert await store.backend.is_initialized() is False
        with pytest.raises(SchemaNotInitializedError, match="agent-storage init"):
            await store.memory.get_thread("t")
    finally:
        await store.close()
    ready = open_store(url, fresh=True)
    await ready.init()
    await ready.close()
    store = open_store(url, fresh=True, disable_init=True)
    try:
        assert await store.backend.is_initialized() is True
        assert await store.memory.get_thread("t") is None
    finally:
        await store.close()


# -- connections ---------------------------------------------------------------------------


async def test_every_connection_gets_the_pragmas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    try:
        await store.init()
        engine = store.engine
        assert isinstance(engine, AsyncEngine)
        # several pooled connections at once: each one was set up by the connect event
        conns = [await engine.connect() for _ in range(3)]
        try:
            for conn in conns:
                values = [(await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
                          for p in ("journal_mode", "foreign_keys", "synchronous",
                                    "busy_timeout")]
                assert values[0] == "wal"
                assert values[1] == 1
                assert values[2] == 1  # NORMAL
                assert values[3] >= 5000
        finally:
            for conn in conns:
                await conn.close()
    finally:
        await store.close()


async def test_engine_is_usable_for_custom_sql(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    try:
        await _roundtrip(store)
        async with store.engine.connect() as conn:
            count = (await conn.execute(
                text("SELECT count(*) FROM agent_storage_messages WHERE thread_id = :t"),
                {"t": "t"})).scalar()
        assert count == 3
    finally:
        await store.close()


async def test_user_supplied_engine_is_used_and_not_disposed(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/mine.db")
    store = open_store(f"sqlite:///{tmp_path}/ignored.db", fresh=True, engine=engine)
    try:
        assert store.engine is engine
        await _roundtrip(store)
    finally:
        await store.close()
    # still usable: the store did not dispose it, and the data is in the engine's file
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql(
            "SELECT count(*) FROM agent_storage_messages")).scalar() == 3
    assert not (tmp_path / "ignored.db").exists()
    await engine.dispose()


async def test_a_pg_engine_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    engine = create_async_engine("postgresql+asyncpg://u@localhost/db")
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, engine=engine)
    try:
        with pytest.raises(ConfigurationError, match="postgresql"):
            await store.init()
        with pytest.raises(ConfigurationError, match="postgresql"):
            await store.memory.get_thread("t")
    finally:
        await store.close()
        await engine.dispose()
    assert not os.listdir(tmp_path)  # no file named after the pg database ("db")


async def test_debug_logs_statements_with_duration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, debug=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="agent_storage.sql"):
            await _roundtrip(store)
    finally:
        await store.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "agent_storage.sql"]
    assert any("INSERT INTO agent_storage_messages" in line and " ms " in line for line in lines)
    assert any(line.startswith(("0.", "1", "2", "3", "4", "5", "6", "7", "8", "9"))
               and "SELECT" in line for line in lines)
    # values are never logged: the content of the messages is not in the log
    assert not any("message 1" in line for line in lines)


async def test_no_statement_log_without_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="agent_storage.sql"):
            await _roundtrip(store)
    finally:
        await store.close()
    assert not [r for r in caplog.records if "SELECT" in r.getMessage()]


# -- locking -------------------------------------------------------------------------------


async def test_a_write_waits_for_another_connections_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = open_store(f"sqlite:///{path}", fresh=True)
    try:
        await store.init()
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(5)
            time.sleep(0.3)
            conn.execute("COMMIT")
            conn.close()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        await asyncio.to_thread(locked.wait, 5)
        release.set()
        # blocked by the other connection's write lock for ~0.3 s, then succeeds
        await store.memory.save_thread(make_thread(id="after-lock"))
        await asyncio.to_thread(holder.join)
        assert await store.memory.get_thread("after-lock") is not None
    finally:
        await store.close()


def test_locked_database_is_a_transient_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    backend = store.backend
    err = backend.translate_error(sqlite3.OperationalError("database is locked"))
    assert isinstance(err, TransientBackendError)
    other = backend.translate_error(sqlite3.OperationalError("no such table: x"))
    assert not isinstance(other, TransientBackendError)


# -- representation ------------------------------------------------------------------------


async def test_timestamps_are_fixed_width_utc_text_and_round_trip(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moments = [dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
               dt.datetime(2024, 1, 1, 5, 30, 0, 999999, tzinfo=tz),
               dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    try:
        await store.memory.save_thread(make_thread(id="t"))
        await store.memory.save_messages([
            Message(id=f"m{i}", thread_id="t", role="user", content=i, created_at=at)
            for i, at in enumerate(moments)])
        got = {m.id: m.created_at for m in (await store.memory.list_messages("t")).items}
        assert got == {f"m{i}": at for i, at in enumerate(moments)}
        assert all(v.tzinfo is UTC for v in got.values())
        async with store.engine.connect() as conn:
            raw = [r[0] for r in (await conn.exec_driver_sql(
                "SELECT created_at FROM agent_storage_messages ORDER BY created_at")).all()]
        assert raw == ["1999-12-31T23:59:59.000000+00:00", "2024-01-01T00:00:00.000001+00:00",
                       "2024-01-01T00:00:00.999999+00:00"]
    finally:
        await store.close()


async def test_json_is_stored_once_encoded(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    try:
        await store.memory.save_thread(Thread(id="t", resource_id="u", metadata={"k": "v"}))
        await store.memory.save_messages(
            [Message(id="m", thread_id="t", role="user", content={"a": [1, "é"]})])
        async with store.engine.connect() as conn:
            row = (await conn.exec_driver_sql(
                "SELECT content, json_extract(content, '$.a[1]') FROM agent_storage_messages"
            )).one()
        assert row[0] == '{"a":[1,"é"]}' and row[1] == "é"
    finally:
        await store.close()


async def test_messages_keep_save_order_on_equal_timestamps(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True)
    at = dt.datetime(2024, 1, 1, tzinfo=UTC)
    try:
        await store.memory.save_thread(make_thread(id="t"))
        ids = [f"z{i}" if i % 2 else f"a{i}" for i in range(30)]  # not sorted by id
        for chunk in (ids[:10], ids[10:]):
            await store.memory.save_messages(
                [Message(id=i, thread_id="t", role="user", content=i, created_at=at)
                 for i in chunk])
        assert [m.id for m in (await store.memory.list_messages("t", per_page=None))] == ids
        assert [m.id for m in (await store.memory.list_messages("t", last=4))] == ids[-4:]
        window = await store.memory.list_messages(
            "t", include=[Include(id=ids[15], before=2, after=2)], per_page=0)
        assert [m.id for m in window] == ids[13:18]
    finally:
        await store.close()


async def test_a_batch_meeting_an_existing_id_is_whole_despite_a_user_trigger(
    tmp_path: Path,
) -> None:
    """Messages go in as a plain INSERT and, when one id exists, all again as the upsert.
    A user's trigger writing other rows must not make any message be skipped."""
    path = tmp_path / "x.db"
    store = open_store(f"sqlite:///{path}", fresh=True)
    try:
        await store.memory.save_thread(Thread(id="t", resource_id="r"))
        t0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
        await store.memory.save_messages(
            [Message(id="e3", thread_id="t", role="user", content="old", created_at=t0)])
        audit = sqlite3.connect(path)
        audit.execute("CREATE TABLE audit (x TEXT)")
        audit.execute("CREATE TRIGGER aud AFTER INSERT ON agent_storage_messages "
                      "BEGIN INSERT INTO audit VALUES (new.id); END")
        audit.commit()
        audit.close()
        ids = ["n1", "n2", "e3", "n4", "n5", "n6"]
        saved = await store.memory.save_messages(
            [Message(id=i, thread_id="t", role="user", content="new", created_at=t0)
             for i in ids])
        assert [m.id for m in saved] == ids
        page = await store.memory.list_messages("t", per_page=None)
        assert sorted((m.id, m.content) for m in page.items) == sorted(
            (i, "new") for i in ids)
        # the existing message keeps its place (first saved), the new ones follow in order
        assert [m.id for m in page.items] == ["e3", "n1", "n2", "n4", "n5", "n6"]
    finally:
        await store.close()
