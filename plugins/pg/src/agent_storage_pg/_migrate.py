"""Migration backups on PostgreSQL that keep constraints, indexes and their names.

Backup of ``t`` before migration N: ``CREATE TABLE t_bak_vN (LIKE t INCLUDING ALL)`` copies
columns, defaults, identity, CHECK/NOT NULL, primary and unique keys and every index; each
copied index is tagged (``COMMENT ON INDEX``) with the name of the index it copies, then the
rows are copied with ``INSERT ... SELECT``. Foreign keys are not copied, so deleting live
rows never cascades into a backup.

Restore: the live tables are dropped, each backup is renamed into place, its indexes,
constraints and identity sequence get their original names back, identity sequences are
moved past the restored rows, and the foreign keys that involved the live tables are
re-created (after deleting the rows of children that were not restored whose parent row
is gone, see ``agent_storage.migrations.delete_orphans``). All of it runs in the caller's
transaction under the init lock.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agent_storage.migrations import delete_orphans
from agent_storage.naming import quote_identifier as _q
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["backup_table", "restore_tables"]

TAG = "agent-storage backup of index "
_HEAD = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", re.IGNORECASE)

_INDEXES = text("""
SELECT i.relname, pg_get_indexdef(x.indexrelid), obj_description(i.oid, 'pg_class')
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = :schema AND t.relname = :table
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
""")

_CONSTRAINTS = text("""
SELECT c.conname FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = :schema AND t.relname = :table AND c.contype <> 'f'
""")

_FOREIGN_KEYS = text("""
SELECT DISTINCT c.conname, t.relname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_class r ON r.oid = c.confrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND n.nspname = :schema
  AND (t.relname = ANY(:tables) OR r.relname = ANY(:tables))
""")

_IDENTITY = text("""
SELECT a.attname FROM pg_attribute a
JOIN pg_class t ON t.oid = a.attrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = :schema AND t.relname = :table AND a.attidentity <> '' AND NOT a.attisdropped
""")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _shape(definition: str) -> str:
    """An index definition without its name and table: what two copies have in common."""
    match = _HEAD.match(definition)
    unique = "UNIQUE " if match and match.group(1) else ""
    return unique + (_HEAD.sub("", definition, count=1) if match else definition)


async def _indexes(conn: AsyncConnection, schema: str, table: str) -> list[Any]:
    return list((await conn.execute(_INDEXES, {"schema": schema, "table": table})).all())


async def _sync_identity(conn: AsyncConnection, schema: str, table: str) -> None:
    """Move every identity sequence of ``table`` past its largest value."""
    qual = f"{_q(schema)}.{_q(table)}"
    for (column,) in (await conn.execute(_IDENTITY, {"schema": schema, "table": table})).all():
        biggest = f"coalesce((SELECT max({_q(column)}) FROM {qual}), 0) + 1"  # noqa: S608
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence(:qual, :col), {biggest}, false)"
        ), {"qual": qual, "col": column})


async def backup_table(conn: AsyncConnection, table: Table, backup: str) -> int:
    schema = table.schema or "public"
    live, copy = f"{_q(schema)}.{_q(table.name)}", f"{_q(schema)}.{_q(backup)}"
    await conn.execute(text(f"DROP TABLE IF EXISTS {copy}"))
    await conn.execute(text(f"CREATE TABLE {copy} (LIKE {live} INCLUDING ALL)"))
    # LIKE names the copied indexes itself: tag each with the name of its original.
    originals = await _indexes(conn, schema, table.name)
    copies = await _indexes(conn, schema, backup)
    free = list(copies)
    for name, definition, _comment in originals:
        match = next((c for c in free if _shape(c[1]) == _shape(definition)), None)
        if match is None:
            continue
        free.remove(match)
        await conn.execute(text(
            f"COMMENT ON INDEX {_q(schema)}.{_q(match[0])} IS {_literal(TAG + name)}"))
    result = await conn.execute(text(f"INSERT INTO {copy} SELECT * FROM {live}"))  # noqa: S608
    await _sync_identity(conn, schema, backup)
    return int(result.rowcount or 0)


async def restore_tables(conn: AsyncConnection, found: list[tuple[Table, str]],
                         tables: list[Table]) -> None:
    """Put each backup of ``found`` in place of its live table; ``tables``: every data
    table of the store (children not restored lose the rows whose parent is gone)."""
    if not found:
        return
    schema = found[0][0].schema or "public"
    names = [t.name for t, _ in found]
    foreign = (await conn.execute(_FOREIGN_KEYS, {"schema": schema, "tables": names})).all()
    for table, _backup in found:
        await conn.execute(text(f"DROP TABLE IF EXISTS {_q(schema)}.{_q(table.name)} CASCADE"))
    for table, backup in found:
        await conn.execute(text(
            f"ALTER TABLE {_q(schema)}.{_q(backup)} RENAME TO {_q(table.name)}"))
        qual = f"{_q(schema)}.{_q(table.name)}"
        for name, _definition, comment in await _indexes(conn, schema, table.name):
            if comment and comment.startswith(TAG):
                original = comment[len(TAG):]
                await conn.execute(text(f"COMMENT ON INDEX {_q(schema)}.{_q(name)} IS NULL"))
                if original != name:
                    await conn.execute(text(
                        f"ALTER INDEX {_q(schema)}.{_q(name)} RENAME TO {_q(original)}"))
        constraints = await conn.execute(_CONSTRAINTS, {"schema": schema, "table": table.name})
        for (name,) in constraints.all():
            if name.startswith(backup):
                await conn.execute(text(
                    f"ALTER TABLE {qual} RENAME CONSTRAINT {_q(name)} "
                    f"TO {_q(table.name + name[len(backup):])}"))
        for (column,) in (await conn.execute(
                _IDENTITY, {"schema": schema, "table": table.name})).all():
            sequence = (await conn.execute(text("SELECT pg_get_serial_sequence(:q, :c)"),
                                           {"q": qual, "c": column})).scalar()
            wanted = f"{table.name}_{column}_seq"
            if sequence and not sequence.endswith(_q(wanted)) and not sequence.endswith(
                    "." + wanted):
                await conn.execute(text(f"ALTER SEQUENCE {sequence} RENAME TO {_q(wanted)}"))
        await _sync_identity(conn, schema, table.name)
    await delete_orphans(conn, tables, [t for t, _ in found])
    for name, on_table, definition in foreign:
        await conn.execute(text(
            f"ALTER TABLE {_q(schema)}.{_q(on_table)} ADD CONSTRAINT {_q(name)} {definition}"))
