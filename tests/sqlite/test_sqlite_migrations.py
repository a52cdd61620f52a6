"""Migrations on SQLite: the migrations table, a later version with backup and restore,
and a failing migration that rolls back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_storage import BackupNotFoundError, MigrationError, open_store
from agent_storage.migrations import Migration, MigrationContext, base_migrations
from agent_storage.testing._helpers import make_messages, make_thread
from agent_storage_sqlite.store import SqliteBackend
from sqlalchemy import text


async def _add_column(ctx: MigrationContext) -> int:
    await ctx.conn.exec_driver_sql(
        f'ALTER TABLE "{ctx.tables.messages.name}" ADD COLUMN extra TEXT')
    result = await ctx.conn.exec_driver_sql(
        f"UPDATE \"{ctx.tables.messages.name}\" SET extra = 'x'")
    return int(result.rowcount)


async def _broken(ctx: MigrationContext) -> int:
    await ctx.conn.exec_driver_sql(f'ALTER TABLE "{ctx.tables.threads.name}" ADD COLUMN z TEXT')
    await ctx.conn.exec_driver_sql("SELECT * FROM no_such_table")
    return 0


V2 = Migration(version=2, name="messages.extra", apply=_add_column,
               tables=("threads", "messages"), fingerprint="add messages.extra")
BROKEN = Migration(version=2, name="broken", apply=_broken, tables=("threads",),
                   fingerprint="broken")


def _with(monkeypatch: pytest.MonkeyPatch, *extra: Migration) -> None:
    monkeypatch.setattr(SqliteBackend, "migrations",
                        lambda self: [*base_migrations(), *extra])


async def _columns(store: Any, table: str) -> list[str]:
    async with store.engine.connect() as conn:
        rows = (await conn.exec_driver_sql(f'PRAGMA table_info("{table}")')).all()
    return [r[1] for r in rows]


async def _master(store: Any) -> dict[str, str]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') "
            "AND sql IS NOT NULL"))).all()
    return {r[0]: r[1] for r in rows}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/m.db"


async def _seed(url: str) -> None:
    store = open_store(url, fresh=True)
    try:
        await store.memory.save_thread(make_thread(id="t"))
        await store.memory.save_messages(make_messages("t", 5))
    finally:
        await store.close()


async def test_initial_schema_is_version_1(url: str) -> None:
    store = open_store(url, fresh=True)
    try:
        await store.init()
        async with store.engine.connect() as conn:
            rows = (await conn.exec_driver_sql(
                "SELECT version, name, checksum, applied_at FROM agent_storage_migrations"
            )).all()
        assert [(r[0], r[1]) for r in rows] == [(1, "initial schema")]
        assert len(rows[0][2]) == 64 and rows[0][3].endswith("+00:00")
        status = await store.status()
        assert (status.schema_version, status.latest_version) == (1, 1)
        again = await store.migrate()
        assert again.applied == () and again.from_version == again.to_version == 1
    finally:
        await store.close()


async def test_dry_run_changes_nothing(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(url)
    _with(monkeypatch, V2)
    store = open_store(url, fresh=True)
    try:
        report = await store.migrate(dry_run=True)
        assert report.dry_run and report.applied == ("2: messages.extra",)
        assert report.from_version == 1 and report.to_version == 2
        assert set(report.backed_up) == {"agent_storage_threads_bak_v2",
                                         "agent_storage_messages_bak_v2"}
        assert "extra" not in await _columns(store, "agent_storage_messages")
        assert not [n for n in await _master(store) if "_bak_v" in n]
    finally:
        await store.close()


async def test_migrate_with_backup_then_restore(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(url)
    _with(monkeypatch, V2)
    store = open_store(url, fresh=True)
    try:
        report = await store.migrate(backup=True)
        assert report.applied == ("2: messages.extra",)
        assert set(report.backed_up) == {"agent_storage_threads_bak_v2",
                                         "agent_storage_messages_bak_v2"}
        assert report.rows_migrated == 1 + 5 + 5  # backed-up rows + rows the migration set
        assert "extra" in await _columns(store, "agent_storage_messages")
        master = await _master(store)
        # the backup keeps the indexes (under suffixed names) and its own keys
        assert master["agent_storage_messages_thread_ts_idx_bak_v2"] == (
            "agent_storage_messages_bak_v2")
        assert "extra" not in await _columns(store, "agent_storage_messages_bak_v2")
        async with store.engine.connect() as conn:
            ddl = (await conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'agent_storage_messages_bak_v2'"
            )).scalar()
            assert "PRIMARY KEY (seq)" in ddl and "UNIQUE (id)" in ddl
            assert 'REFERENCES "agent_storage_threads_bak_v2"' in ddl
        # the store keeps working on the migrated schema
        await store.memory.save_messages(make_messages("t", 2, start=5))
        await store.memory.delete_thread("t")  # live deletes never reach the backup
        async with store.engine.connect() as conn:
            kept = (await conn.exec_driver_sql(
                "SELECT count(*) FROM agent_storage_messages_bak_v2")).scalar()
        assert kept == 5

        await store.restore_backup(2)
        assert "extra" not in await _columns(store, "agent_storage_messages")
        master = await _master(store)
        assert not [n for n in master if "_bak_v" in n]
        assert master["agent_storage_messages_thread_ts_idx"] == "agent_storage_messages"
        assert (await store.memory.list_messages("t")).total == 5
        async with store.engine.connect() as conn:
            versions = [r[0] for r in (await conn.exec_driver_sql(
                "SELECT version FROM agent_storage_migrations")).all()]
        assert versions == [1]
    finally:
        await store.close()


async def test_migrate_without_backup(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(url)
    _with(monkeypatch, V2)
    store = open_store(url, fresh=True)
    try:
        report = await store.migrate(backup=False)
        assert report.backed_up == () and report.applied == ("2: messages.extra",)
        with pytest.raises(BackupNotFoundError):
            await store.restore_backup(2)
    finally:
        await store.close()


async def test_init_applies_pending_migrations(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(url)
    _with(monkeypatch, V2)
    store = open_store(url, fresh=True)
    try:
        await store.init()
        assert "extra" in await _columns(store, "agent_storage_messages")
        assert (await store.status()).schema_version == 2
    finally:
        await store.close()


async def test_a_failed_migration_rolls_back(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(url)
    _with(monkeypatch, BROKEN)
    store = open_store(url, fresh=True)
    try:
        with pytest.raises(MigrationError, match="broken") as info:
            await store.migrate(backup=True)
        assert info.value.__cause__ is not None
        assert "z" not in await _columns(store, "agent_storage_threads")
        assert not [n for n in await _master(store) if "_bak_v" in n]
        async with store.engine.connect() as conn:
            versions = [r[0] for r in (await conn.exec_driver_sql(
                "SELECT version FROM agent_storage_migrations")).all()]
        assert versions == [1]
    finally:
        await store.close()
    monkeypatch.undo()
    store = open_store(url, fresh=True)
    try:
        assert (await store.memory.list_messages("t")).total == 5
    finally:
        await store.close()


async def test_restore_of_an_unknown_version(url: str) -> None:
    store = open_store(url, fresh=True)
    try:
        await store.init()
        with pytest.raises(BackupNotFoundError):
            await store.restore_backup(7)
    finally:
        await store.close()
