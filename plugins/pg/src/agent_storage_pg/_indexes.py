"""``storage.indexes`` on PostgreSQL: catalog, statistics views, CONCURRENTLY.

``create`` builds the index ``CONCURRENTLY`` by default, outside any transaction (an
AUTOCOMMIT connection), so writers are never blocked while it builds; a concurrent build
that fails leaves an INVALID index behind, which is dropped before the error is raised (and
found and replaced by the next ``create``). ``concurrent=False`` builds inside a write
transaction instead. ``describe`` reads ``pg_relation_size`` and ``pg_stat_user_indexes``
(PostgreSQL publishes usage counts with a delay of up to about a second).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agent_storage.errors import AgentStorageError, IndexNotFoundError, InvalidIndexSpecError
from agent_storage.options import IndexSpec
from agent_storage.records import IndexInfo
from agent_storage.spi import render_drop
from agent_storage.sql.indexes import SqlIndexManager
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["PgIndexManager", "catalog", "spec_column", "stats"]

# Every index on the store's tables that does not back a constraint (primary keys and
# unique constraints are part of the table, as on SQLite), with its key columns as text.
_CATALOG = text("""
SELECT i.relname, t.relname, x.indisunique, am.amname, x.indisvalid,
       pg_get_indexdef(x.indexrelid) AS definition,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k) AS keys
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = :schema AND t.relname = ANY(:tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY t.relname, i.relname
""")

_STATS = text("""
SELECT pg_relation_size(i.oid), s.idx_scan, s.idx_tup_read
FROM pg_class i
JOIN pg_namespace n ON n.oid = i.relnamespace
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.oid
WHERE n.nspname = :schema AND i.relname = :name AND i.relkind = 'i'
""")

_INVALID = text("""
SELECT 1 FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname = :schema AND i.relname = :name AND NOT x.indisvalid
""")

_CAST = re.compile(r"::[a-z ]+(?:\[\])?")


def spec_column(key: str) -> str:
    """A key as ``pg_get_indexdef`` prints it -> as an IndexSpec writes it.

    ``title`` -> ``title``; ``((metadata -> 'a'::text) ->> 'b'::text)`` ->
    ``metadata->'a'->>'b'``.
    """
    out = _CAST.sub("", key)
    out = re.sub(r"\s*(->>?)\s*", r"\1", out).replace("(", "").replace(")", "")
    return out.replace('"', "").strip()


async def catalog(conn: AsyncConnection, schema: str,
                  logical_by_name: dict[str, str]) -> list[IndexInfo]:
    """The store's valid indexes that back no constraint (PgBackend.index_catalog)."""
    rows = (await conn.execute(_CATALOG, {"schema": schema,
                                          "tables": list(logical_by_name)})).all()
    return [
        IndexInfo(name=r[0], table=logical_by_name[r[1]],
                  columns=tuple(spec_column(k) for k in r[7]), unique=bool(r[2]),
                  method=r[3], where=r[6], definition=r[5])
        for r in rows if r[4]  # an INVALID index (failed concurrent build) is not listed
    ]


async def stats(conn: AsyncConnection, schema: str, name: str) -> dict[str, Any]:
    """Size and usage counts of index ``name`` (PgBackend.index_stats)."""
    row = (await conn.execute(_STATS, {"schema": schema, "name": name})).first()
    if row is None:
        return {}
    return {"size_bytes": int(row[0]), "scans": None if row[1] is None else int(row[1]),
            "tuples_read": None if row[2] is None else int(row[2])}


class PgIndexManager(SqlIndexManager):
    """The shared index API with PostgreSQL's catalog, statistics and CONCURRENTLY."""

    @property
    def _schema(self) -> str:
        return self.b.schema or "public"

    async def _autocommit(self, sql: str) -> None:
        async with self.b.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(sql)

    async def _drop_invalid(self, physical: str) -> None:
        async with self.b.read() as conn:
            invalid = (await conn.execute(_INVALID, {"schema": self._schema,
                                                     "name": physical})).first()
        if invalid is not None:
            await self._autocommit(render_drop(
                physical, self._schema, "postgresql", concurrently=True))

    async def _execute_ddl(self, sql: str, *, concurrently: bool) -> None:
        if concurrently:  # CONCURRENTLY cannot run inside a transaction block
            await self._autocommit(sql)
        else:
            await super()._execute_ddl(sql, concurrently=False)

    async def create(self, spec: IndexSpec) -> IndexInfo:
        if not isinstance(spec, IndexSpec):
            raise InvalidIndexSpecError(f"expected IndexSpec, got {type(spec).__name__}")
        sql = self.render(spec, concurrently=spec.concurrent)
        physical = self._physical(spec.name)
        await self.b.ensure_ready()  # the tables must exist
        existing = await self._find(spec.name)
        if existing is not None:
            return existing
        try:
            await self._drop_invalid(physical)  # left by an earlier failed concurrent build
            try:
                await self._execute_ddl(sql, concurrently=spec.concurrent)
            except Exception:
                if spec.concurrent:
                    await self._drop_invalid(physical)
                raise
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        info = await self._find(spec.name)
        if info is None:  # pragma: no cover - created but not listed
            raise IndexNotFoundError(f"index {spec.name!r} was created but is not listed")
        return info

    async def drop(self, name: str) -> bool:
        info = await self._find(name)
        if info is None:
            return False
        # CONCURRENTLY: no ACCESS EXCLUSIVE lock, so queries on the table keep running.
        sql = render_drop(info.name, self._schema, "postgresql", concurrently=True)
        try:
            await self._autocommit(sql)
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        return True
