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
every table backed up for N back, drops the backups and forgets migrations >= N (the next
``init()`` re-applies them). A backend plugs in its own copy/restore through
``SqlBackend.backup_table`` / ``SqlBackend.restore_table``.

To add a migration, append ``Migration(version=N, name=..., apply=..., tables=(...))``
to the list returned by ``SqlBackend.migrations()``; never edit or reorder applied ones.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from sqlalchemy import Table, delete, insert, select, text
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
        for table in _parents_first(tables):
            rows += await self.b.backup_table(conn, table, names[table.name], names)
        return rows, list(names.values())

    async def restore(self, version: int) -> None:
        """Put back every table backed up before migration ``version``."""
        b = self.b
        async with b.write_guard(), b.engine.connect() as conn:
            await b.begin_write(conn)
            try:
                await b.init_lock(conn)
                found = []
                for table in b.tables.data_tables:
                    name = backup_name(table.name, version)
                    exists = await conn.run_sync(_has_table, name, b.schema)
                    if exists:
                        found.append((table, name))
                if not found:
                    raise BackupNotFoundError(
                        f"no backup for migration {version} in {b.url} (tables *_bak_v{version})")
                await b.restore_tables(conn, found, version)
                mt = b.tables.migrations
                await conn.execute(delete(mt).where(mt.c.version >= version))
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()
        b._initialized = False  # the next call re-runs init (and pending migrations)


def _has_table(conn: Any, name: str, schema: str | None) -> bool:
    return bool(conn.dialect.has_table(conn, name, schema=schema))


def _parents_first(tables: list[Table]) -> list[Table]:
    names = {t.name for t in tables}

    def depth(t: Table) -> int:
        return sum(1 for fk in t.foreign_keys if fk.column.table.name in names)

    return sorted(tables, key=depth)


# -- dialect implementations of backup/restore (SqlBackend dispatches to these) ----------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_CREATE_TABLE = re.compile(r'^\s*CREATE\s+TABLE\s+(?:"[^"]+"|\S+)\s*\(', re.IGNORECASE)
_CREATE_INDEX = re.compile(
    r'^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"[^"]+"|\S+)\s+ON\s+'
    r'(?:"[^"]+"|\S+)\s*\(', re.IGNORECASE)


def _references(ddl: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        ddl = re.sub(rf'REFERENCES\s+(?:"{re.escape(old)}"|{re.escape(old)})\s*\(',
                     f"REFERENCES {_q(new)} (", ddl)
    return ddl


async def sqlite_backup_table(conn: AsyncConnection, table: Table, backup: str,
                              renames: dict[str, str]) -> int:
    """Copy ``table`` to ``backup`` with its stored DDL (keys, constraints) and indexes.
    Foreign keys of the copy point at the copies of their parents (``renames``), so live
    deletes never cascade into a backup."""
    master = (await conn.execute(text(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"
    ), {"t": table.name})).all()
    await conn.execute(text(f"DROP TABLE IF EXISTS {_q(backup)}"))
    table_sql = next(r[2] for r in master if r[0] == "table")
    ddl = _CREATE_TABLE.sub(f"CREATE TABLE {_q(backup)} (", table_sql, count=1)
    await conn.exec_driver_sql(_references(ddl, renames))
    suffix = backup[len(table.name):]
    for kind, name, sql in master:
        if kind == "index":
            unique = "UNIQUE " if re.match(r"\s*CREATE\s+UNIQUE", sql, re.IGNORECASE) else ""
            head = f"CREATE {unique}INDEX {_q(name + suffix)} ON {_q(backup)} ("
            await conn.exec_driver_sql(_CREATE_INDEX.sub(head, sql, count=1))
    result = await conn.execute(text(
        f"INSERT INTO {_q(backup)} SELECT * FROM {_q(table.name)}"))  # noqa: S608 (checked names)
    return int(result.rowcount or 0)


async def sqlite_restore_tables(conn: AsyncConnection, found: list[tuple[Table, str]],
                                version: int) -> None:
    """Replace each live table by its backup: same DDL and indexes under the live names."""
    await conn.execute(text("PRAGMA defer_foreign_keys = ON"))
    suffix = f"_bak_v{version}"
    ordered = _parents_first([t for t, _ in found])
    backups = dict((t.name, b) for t, b in found)
    master = {}
    for table in ordered:
        bak = backups[table.name]
        master[table.name] = (await conn.execute(text(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL"
        ), {"t": bak})).all()
    for table in reversed(ordered):
        await conn.execute(text(f"DROP TABLE IF EXISTS {_q(table.name)}"))
    renames = {b: t.name for t, b in found}
    for table in ordered:
        bak = backups[table.name]
        rows = master[table.name]
        table_sql = next(r[2] for r in rows if r[0] == "table")
        ddl = _CREATE_TABLE.sub(f"CREATE TABLE {_q(table.name)} (", table_sql, count=1)
        await conn.exec_driver_sql(_references(ddl, renames))
        await conn.execute(text(
            f"INSERT INTO {_q(table.name)} SELECT * FROM {_q(bak)}"))  # noqa: S608
        for kind, name, sql in rows:
            if kind == "index":
                live = name[: -len(suffix)] if name.endswith(suffix) else name
                unique = "UNIQUE " if re.match(r"\s*CREATE\s+UNIQUE", sql, re.IGNORECASE) else ""
                head = f"CREATE {unique}INDEX {_q(live)} ON {_q(table.name)} ("
                await conn.exec_driver_sql(_CREATE_INDEX.sub(head, sql, count=1))
    for table in reversed(ordered):
        await conn.execute(text(f"DROP TABLE {_q(backups[table.name])}"))


async def pg_backup_table(conn: AsyncConnection, table: Table, backup: str,
                          renames: dict[str, str]) -> int:
    """PostgreSQL: ``CREATE TABLE backup (LIKE table INCLUDING ALL)`` keeps columns,
    defaults, constraints and indexes (not foreign keys, which is what a backup wants)."""
    schema = table.schema
    qual = (lambda n: f"{_q(schema)}.{_q(n)}") if schema else _q
    await conn.execute(text(f"DROP TABLE IF EXISTS {qual(backup)}"))
    await conn.execute(text(
        f"CREATE TABLE {qual(backup)} (LIKE {qual(table.name)} INCLUDING ALL)"))
    result = await conn.execute(text(
        f"INSERT INTO {qual(backup)} SELECT * FROM {qual(table.name)}"))  # noqa: S608
    return int(result.rowcount or 0)


async def pg_restore_tables(conn: AsyncConnection, found: list[tuple[Table, str]],
                            version: int) -> None:
    """PostgreSQL: drop each live table and rename its backup into place (the default
    indexes are re-created under their own names by the next init)."""
    ordered = _parents_first([t for t, _ in found])
    backups = dict((t.name, b) for t, b in found)
    for table in reversed(ordered):
        schema = table.schema
        qual = (lambda n, s=schema: f"{_q(s)}.{_q(n)}") if schema else _q
        await conn.execute(text(f"DROP TABLE IF EXISTS {qual(table.name)} CASCADE"))
    for table in ordered:
        schema = table.schema
        qual = (lambda n, s=schema: f"{_q(s)}.{_q(n)}") if schema else _q
        await conn.execute(text(
            f"ALTER TABLE {qual(backups[table.name])} RENAME TO {_q(table.name)}"))
