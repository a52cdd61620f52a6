"""Versioned, append-only schema migrations for the SQL backends.

Applied migrations are recorded in ``{table_prefix}_migrations`` (version, name, checksum,
applied_at). Version 1 is the initial schema. ``init()`` and ``migrate()`` run the same
code: one write transaction that first takes the backend's init lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: an advisory lock, via ``SqlBackend.init_lock``), applies what is
pending in order, records it, and creates default and configured indexes. Any failure
rolls the whole transaction back, so data and schema are as they were (DDL is
transactional on both SQLite and PostgreSQL).

Backups (``backup=True``): before migration N changes a table, the table is copied to
``{table}_bak_v{N}`` with the same definition -- columns, keys, constraints and indexes
(SQLite: the stored DDL re-run under the new name; PostgreSQL: ``CREATE TABLE ... (LIKE
... INCLUDING ALL)``) -- then filled with ``INSERT ... SELECT``. ``restore_backup(N)`` puts
every table backed up for N back with all its rows, drops the backups and forgets
migrations >= N (the next ``init()`` re-applies them). Tables not backed up for N keep
their rows; rows of theirs whose parent row is not in the restored parent table are
deleted (:func:`delete_orphans`, what the cascade would have done), so foreign keys hold.
Nothing cascades out of a table while it is replaced: the dialect's
``SqlBackend.backup_table`` / ``restore_tables`` / ``restore_session`` hooks do the copying
(SQLite turns foreign keys off for the restore's connection, PostgreSQL drops and re-adds
the constraints).

To add a migration, append ``Migration(version=N, name=..., apply=..., tables=(...))``
to the list returned by ``SqlBackend.migrations()``; never edit or reorder applied ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from sqlalchemy import Table, delete, exists, insert, select
from sqlalchemy.schema import CreateTable

from .errors import AgentStorageError, BackupNotFoundError, MigrationError
from .records import MigrationReport
from .serde import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .sql.base import SqlBackend

__all__ = [
    "Migration",
    "MigrationContext",
    "MigrationRunner",
    "backup_name",
    "base_migrations",
    "delete_orphans",
    "parents_first",
]

log = logging.getLogger("agent_storage.sql")


@frozen(kw_only=True)
class MigrationContext:
    """What a migration's ``apply`` gets: the backend and the open transaction."""

    backend: SqlBackend
    conn: AsyncConnection

    @property
    def tables(self) -> Any:
        return self.backend.tables

    @property
    def dialect(self) -> str:
        return self.backend.dialect_name


@frozen(kw_only=True)
class Migration:
    """One schema change. ``apply`` returns the number of rows it migrated (or None).

    ``tables`` names the logical tables it changes; they are backed up first when
    ``migrate(backup=True)``. ``fingerprint`` is hashed into the recorded checksum.
    """

    version: int
    name: str
    apply: Callable[[MigrationContext], Awaitable[int | None]]
    tables: tuple[str, ...] = ()
    fingerprint: str | Callable[[SqlBackend], str] = field(default="")

    def checksum(self, backend: SqlBackend) -> str:
        fp = self.fingerprint(backend) if callable(self.fingerprint) else self.fingerprint
        return hashlib.sha256(f"{self.version}\n{self.name}\n{fp}".encode()).hexdigest()


async def _create_initial_schema(ctx: MigrationContext) -> int:
    tables = ctx.tables.data_tables
    await ctx.conn.run_sync(lambda c: ctx.tables.metadata.create_all(c, tables=tables))
    return 0


def _initial_fingerprint(backend: SqlBackend) -> str:
    # The v1 DDL with a fixed prefix: independent of the store's own names.
    from .sql.tables import Tables

    dialect = backend.engine.dialect
    return "\n".join(str(CreateTable(t).compile(dialect=dialect))
                     for t in Tables("p").data_tables)


def base_migrations() -> list[Migration]:
    """The shared, append-only list (version 1 = initial schema)."""
    return [
        Migration(version=1, name="initial schema", apply=_create_initial_schema,
                  fingerprint=_initial_fingerprint),
    ]


def backup_name(table: str, version: int) -> str:
    from .naming import check_identifier

    return check_identifier(f"{table}_bak_v{version}", "backup table name")


class MigrationRunner:
    """Applies, inspects and restores migrations for one SqlBackend."""

    def __init__(self, backend: SqlBackend) -> None:
        self.b = backend
        self.migrations = sorted(backend.migrations(), key=lambda m: m.version)
        versions = [m.version for m in self.migrations]
        if len(set(versions)) != len(versions) or versions[:1] != [1]:
            raise MigrationError(f"migration versions must be unique and start at 1: {versions}")

    @property
    def latest_version(self) -> int:
        return self.migrations[-1].version

    async def _applied(self, conn: AsyncConnection) -> dict[int, str] | None:
        """version -> checksum, or None when the migrations table does not exist."""
        mt = self.b.tables.migrations
        exists = await conn.run_sync(
            lambda c: c.dialect.has_table(c, mt.name, schema=mt.schema))
        if not exists:
            return None
        rows = (await conn.execute(select(mt.c.version, mt.c.checksum))).all()
        return {int(r[0]): r[1] for r in rows}

    async def current_version(self) -> int:
        async with self.b.read() as conn:
            applied = await self._applied(conn)
        return max(applied, default=0) if applied else 0

    async def run(self, *, backup: bool, dry_run: bool) -> MigrationReport:
        b = self.b
        async with b.write_guard(), b.engine.connect() as conn:
            await b.begin_write(conn)
            try:
                report = await self._run(conn, backup=backup, dry_run=dry_run)
            except BaseException:
                await conn.rollback()
                raise
            if dry_run:
                await conn.rollback()
            else:
                await conn.commit()
            return report

    async def _run(self, conn: AsyncConnection, *, backup: bool,
                   dry_run: bool) -> MigrationReport:
        b = self.b
        await b.init_lock(conn)
        applied = await self._applied(conn)
        if applied is None:
            applied = {}
            if not dry_run:
                mt = b.tables.migrations
                await conn.run_sync(lambda c: mt.create(c, checkfirst=True))
        for m in self.migrations:
            if m.version in applied and applied[m.version] != m.checksum(b):
                log.warning("migration %d (%s) changed since it was applied to %s",
                            m.version, m.name, b.url)
        pending = [m for m in self.migrations if m.version not in applied]
        from_version = max(applied, default=0)
        if dry_run:
            backed = [backup_name(b.tables.by_logical[t].name, m.version)
                      for m in pending if backup and from_version for t in m.tables]
            return MigrationReport(applied=tuple(f"{m.version}: {m.name}" for m in pending),
                                   backed_up=tuple(backed), dry_run=True,
                                   from_version=from_version,
                                   to_version=self.latest_version)
        backed_up: list[str] = []
        rows = 0
        ctx = MigrationContext(backend=b, conn=conn)
        for m in pending:
            if backup and m.tables and from_version:
                copied, names = await self._backup(conn, m)
                rows += copied
                backed_up += names
            try:
                rows += await m.apply(ctx) or 0
            except AgentStorageError:
                raise
            except Exception as exc:
                raise MigrationError(
                    f"migration {m.version} ({m.name}) failed and was rolled back: "
                    f"{type(exc).__name__}: {exc}") from exc
            await conn.execute(insert(b.tables.migrations).values(
                version=m.version, name=m.name, checksum=m.checksum(b),
                applied_at=b.codec.ts(utcnow())))
            log.info("applied migration %d (%s)", m.version, m.name)
        await b.indexes.create_defaults(conn)  # type: ignore[attr-defined]
        return MigrationReport(applied=tuple(f"{m.version}: {m.name}" for m in pending),
                               backed_up=tuple(backed_up), rows_migrated=rows,
                               from_version=from_version,
                               to_version=self.latest_version if pending else from_version)

    async def _backup(self, conn: AsyncConnection, m: Migration) -> tuple[int, list[str]]:
        tables = [self.b.tables.by_logical[t] for t in m.tables]
        names = {t.name: backup_name(t.name, m.version) for t in tables}
        rows = 0
        for table in parents_first(tables):
            rows += await self.b.backup_table(conn, table, names[table.name], names)
        return rows, list(names.values())

    async def restore(self, version: int) -> None:
        """Put back every table backed up before migration ``version``."""
        b = self.b
        async with b.write_guard(), b.engine.connect() as conn, b.restore_session(conn):
            await b.begin_write(conn)
            try:
                await self._restore(conn, version)
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()
        b.reset_initialized()  # the next call re-runs init (and pending migrations)

    async def _restore(self, conn: AsyncConnection, version: int) -> None:
        b = self.b
        await b.init_lock(conn)
        found = []
        for table in b.tables.data_tables:
            name = backup_name(table.name, version)
            if await conn.run_sync(_has_table, name, b.schema):
                found.append((table, name))
        if not found:
            raise BackupNotFoundError(
                f"no backup for migration {version} in {b.url} (tables *_bak_v{version})")
        await b.restore_tables(conn, found, version)
        mt = b.tables.migrations
        await conn.execute(delete(mt).where(mt.c.version >= version))


def _has_table(conn: Any, name: str, schema: str | None) -> bool:
    return bool(conn.dialect.has_table(conn, name, schema=schema))


def parents_first(tables: list[Table]) -> list[Table]:
    """``tables`` ordered so that a table comes after every table it references."""
    names = {t.name for t in tables}

    def depth(t: Table) -> int:
        return sum(1 for fk in t.foreign_keys if fk.column.table.name in names)

    return sorted(tables, key=depth)


async def delete_orphans(conn: AsyncConnection, tables: list[Table],
                         restored: list[Table]) -> int:
    """After a restore that put back ``restored`` (parents) but not all of their children:
    delete the rows of the other ``tables`` whose parent row is not there any more -- what
    ``ON DELETE CASCADE`` would have done had the parent rows been deleted -- so the
    foreign keys hold again. Returns the rows deleted."""
    back = {t.name for t in restored}
    deleted = 0
    for child in tables:
        if child.name in back:
            continue
        for fk in child.foreign_keys:
            parent = fk.column.table
            if parent.name not in back:
                continue
            orphan = ~exists().where(fk.column == fk.parent)
            deleted += int((await conn.execute(delete(child).where(orphan))).rowcount or 0)
    return deleted
