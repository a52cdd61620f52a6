"""SQLite's implementations of the dialect hooks of :class:`agent_storage.sql.SqlBackend`.

:class:`SqliteDialect` is a mixin of :class:`~agent_storage_sqlite.store.SqliteBackend`:

* migration backups (``backup_table`` / ``restore_tables`` / ``restore_session``): a table
  is copied with its stored DDL (``sqlite_master``) re-run under the backup's name, and
  put back the same way. The restore's connection runs with ``foreign_keys`` off --
  SQLite's ``DROP TABLE`` of a parent otherwise runs ``ON DELETE CASCADE`` into its
  children (``defer_foreign_keys`` defers checks, not cascades) -- and ends with
  ``PRAGMA foreign_key_check``; the pragma cannot change inside a transaction, so it is
  set before ``BEGIN`` and set back after ``COMMIT``/``ROLLBACK``;
* ``json_filter``: ``json_type``/``json_extract`` on the TEXT JSON columns;
* ``create_codec``: the text codec (fixed-width ISO timestamps, JSON text);
* ``index_catalog`` / ``index_stats``: ``sqlite_master`` and ``dbstat``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agent_storage.errors import MigrationError
from agent_storage.migrations import delete_orphans, parents_first
from agent_storage.naming import quote_identifier as _q
from agent_storage.records import IndexInfo
from agent_storage.sql.tables import Codec, text_codec
from sqlalchemy import ColumnElement, and_, bindparam, exists, func, literal, select, text

from ._catalog import parse_index_sql

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["SqliteDialect"]

_CREATE_TABLE = re.compile(r'^\s*CREATE\s+TABLE\s+(?:"[^"]+"|\S+)\s*\(', re.IGNORECASE)
_CREATE_INDEX = re.compile(
    r'^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"[^"]+"|\S+)\s+ON\s+'
    r'(?:"[^"]+"|\S+)\s*\(', re.IGNORECASE)
_UNIQUE = re.compile(r"\s*CREATE\s+UNIQUE", re.IGNORECASE)
# Keys a quoted JSON path label matches exactly (nothing JSON would escape).
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f\x7f]*\Z')
_INDEXES = text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
                "AND sql IS NOT NULL ORDER BY tbl_name, name")
_MASTER = text("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t AND sql IS NOT NULL")


def _references(ddl: str, renames: dict[str, str]) -> str:
    """``ddl`` with ``REFERENCES old (`` turned into ``REFERENCES "new" (``."""
    for old, new in renames.items():
        ddl = re.sub(rf'REFERENCES\s+(?:"{re.escape(old)}"|{re.escape(old)})\s*\(',
                      f"REFERENCES {_q(new)} (", ddl)
    return ddl


async def _master(conn: AsyncConnection, table: str) -> list[Any]:
    return list((await conn.execute(_MASTER, {"t": table})).all())


async def _create_like(conn: AsyncConnection, rows: list[Any], name: str,
                       renames: dict[str, str], index_name: Any) -> None:
    """Create table ``name`` from the stored DDL ``rows`` of another table, its foreign
    keys renamed by ``renames``; then its indexes, named by ``index_name(old_name)``."""
    table_sql = next(r[2] for r in rows if r[0] == "table")
    ddl = _CREATE_TABLE.sub(f"CREATE TABLE {_q(name)} (", table_sql, count=1)
    await conn.exec_driver_sql(_references(ddl, renames))
    await _create_indexes(conn, rows, name, index_name)


async def _create_indexes(conn: AsyncConnection, rows: list[Any], table: str,
                          index_name: Any) -> None:
    for kind, old, sql in rows:
        if kind == "index":
            unique = "UNIQUE " if _UNIQUE.match(sql) else ""
            head = f"CREATE {unique}INDEX {_q(index_name(old))} ON {_q(table)} ("
            await conn.exec_driver_sql(_CREATE_INDEX.sub(head, sql, count=1))


def _json_match(column: Any, i: int, key: str, value: Any, prefix: str) -> Any:
    """``column``'s top-level ``key`` holds the JSON scalar ``value`` (strict JSON types)."""
    p = f"{prefix}{i}"
    plain = _PLAIN_KEY.match(key) is not None
    kind: Any
    atom: Any
    if not plain:
        # A JSON path label cannot hold '"', and SQLite compares labels with the key's
        # escaped JSON text: look such keys up with json_each (decoded keys) instead.
        each = func.json_each(column).table_valued("key", "type", "atom").alias(f"je{i}")
        kind, atom = each.c.type, each.c.atom
        cond: list[Any] = [each.c.key == bindparam(f"{p}_k", key)]
    else:
        path: Any = bindparam(f"{p}_k", '$."' + key + '"')
        kind, atom = func.json_type(column, path), func.json_extract(column, path)
        cond = []
    if value is None:
        cond.append(kind == literal("null"))
    elif isinstance(value, bool):
        cond.append(kind == literal("true" if value else "false"))
    elif isinstance(value, str):
        cond += [kind == literal("text"), atom == bindparam(f"{p}_v", value)]
    else:
        cond += [kind.in_([literal("integer"), literal("real")]),
                 atom == bindparam(f"{p}_v", value)]
    if not plain:
        return exists(select(literal(1)).select_from(each).where(*cond))
    return and_(*cond)


class SqliteDialect:
    """The SQLite hooks of SqlBackend (see the module docstring)."""

    tables: Any  # provided by SqlBackend

    def create_codec(self) -> Codec:
        return text_codec()

    def json_filter(self, column: Any, flt: Any, prefix: str) -> ColumnElement[bool]:
        return and_(*[_json_match(column, i, key, value, prefix)
                      for i, (key, value) in enumerate(flt.items())])

    async def index_catalog(self, conn: AsyncConnection) -> list[IndexInfo]:
        names = self.tables.logical_by_name
        out = []
        for name, tbl, sql in (await conn.execute(_INDEXES)).all():
            if tbl in names:
                columns, where, unique = parse_index_sql(sql)
                out.append(IndexInfo(name=name, table=names[tbl], columns=columns,
                                     unique=unique, method="btree", where=where,
                                     definition=sql))
        return out

    async def index_stats(self, conn: AsyncConnection, info: IndexInfo) -> dict[str, Any]:
        try:
            size = (await conn.execute(text(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = :n"), {"n": info.name})).scalar()
        except Exception:  # dbstat is a compile-time option of SQLite
            size = None
        return {"size_bytes": None if size is None else int(size)}

    async def backup_table(self, conn: AsyncConnection, table: Table, backup: str,
                           renames: dict[str, str]) -> int:
        """Copy ``table`` to ``backup`` with its stored DDL (keys, constraints) and indexes
        (named ``{index}{suffix}``). Foreign keys of the copy point at the copies of their
        parents (``renames``), so live deletes never cascade into a backup."""
        rows = await _master(conn, table.name)
        await conn.execute(text(f"DROP TABLE IF EXISTS {_q(backup)}"))
        suffix = backup[len(table.name):]
        await _create_like(conn, rows, backup, renames, lambda old: old + suffix)
        result = await conn.execute(text(
            f"INSERT INTO {_q(backup)} SELECT * FROM {_q(table.name)}"))  # noqa: S608 (checked names)
        return int(result.rowcount or 0)

    async def restore_tables(self, conn: AsyncConnection, found: list[tuple[Table, str]],
                             version: int) -> None:
        """Replace each live table by its backup: same DDL and indexes under the live
        names, every row. Foreign keys are off (``restore_session``): dropping a parent
        cascades nothing, and children not restored keep their rows unless their parent
        row is gone (``delete_orphans``)."""
        suffix = f"_bak_v{version}"
        ordered = parents_first([t for t, _ in found])
        backups = {t.name: b for t, b in found}
        stored = {t.name: await _master(conn, backups[t.name]) for t in ordered}
        for table in reversed(ordered):
            await conn.execute(text(f"DROP TABLE IF EXISTS {_q(table.name)}"))
        renames = {b: t.name for t, b in found}

        def live(name: str) -> str:
            return name[: -len(suffix)] if name.endswith(suffix) else name

        for table in ordered:
            await _create_like(conn, stored[table.name], table.name, renames, live)
            await conn.execute(text(
                f"INSERT INTO {_q(table.name)} SELECT * FROM {_q(backups[table.name])}"))  # noqa: S608
        for table in reversed(ordered):
            await conn.execute(text(f"DROP TABLE {_q(backups[table.name])}"))
        await delete_orphans(conn, self.tables.data_tables, ordered)
        broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
        if broken is not None:
            raise MigrationError(
                f"restore of migration {version} would break a foreign key of table "
                f"{broken[0]!r}; nothing was changed")

    @contextlib.asynccontextmanager
    async def restore_session(self, conn: AsyncConnection) -> AsyncIterator[None]:
        await conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            await conn.exec_driver_sql("PRAGMA foreign_keys = ON")
