"""``storage.indexes`` for the SQL backends.

Every index is created from a parsed IndexSpec rendered by :mod:`agent_storage._indexspec`
(identifiers quoted, literals re-rendered): no text of a spec reaches SQL. Listing reads
the catalog through the backend's ``index_catalog`` / ``index_stats`` hooks (SQLite:
sqlite_master and dbstat; PostgreSQL: pg_index, pg_stat_user_indexes).

``IndexInfo.columns`` are bare column names (no ASC/DESC) or JSON paths written as in a
spec (``metadata->>'key'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.types import JSON

from .. import _indexspec
from ..backend import IndexManager
from ..errors import (
    AgentStorageError,
    IndexNotFoundError,
    InvalidIndexSpecError,
)
from ..naming import index_name
from ..options import IndexSpec
from ..records import IndexInfo, IndexStats

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .base import SqlBackend

__all__ = ["SqlIndexManager", "check_columns"]


def _operands(node: Any) -> list[Any]:
    """Every column/JSON path operand of a parsed predicate."""
    if isinstance(node, _indexspec.ColumnRef | _indexspec.JsonPath):
        return [node]
    if isinstance(node, _indexspec.Comparison):
        return _operands(node.left) + _operands(node.right)
    if isinstance(node, _indexspec.NullTest):
        return [node.operand]
    if isinstance(node, _indexspec.Not):
        return _operands(node.operand)
    if isinstance(node, _indexspec.BoolOp):
        return [o for item in node.operands for o in _operands(item)]
    return []


def check_columns(parsed: Any, table: Any, json_columns: set[str]) -> None:
    """Every referenced column exists; JSON paths only on JSON columns."""
    refs = [col.expr for col in parsed.columns]
    if parsed.where is not None:
        refs += _operands(parsed.where)
    names = {c.name for c in table.columns}
    for ref in refs:
        column = ref.name if isinstance(ref, _indexspec.ColumnRef) else ref.column
        if column not in names:
            raise InvalidIndexSpecError(
                f"IndexSpec.columns: table {parsed.table!r} has no column {column!r}; "
                f"columns: {sorted(names)}")
        if isinstance(ref, _indexspec.JsonPath) and column not in json_columns:
            raise InvalidIndexSpecError(
                f"IndexSpec.columns: {column!r} is not a JSON column; JSON paths apply to "
                f"{sorted(json_columns)}")


class SqlIndexManager(IndexManager):
    """create/list/describe/drop over the store's tables."""

    def __init__(self, backend: SqlBackend) -> None:
        self.b = backend

    # -- rendering -------------------------------------------------------------------------

    def render(self, spec: IndexSpec, *, concurrently: bool = False) -> str:
        parsed = spec.parsed()
        table = self.b.tables.by_logical[spec.table]
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        check_columns(parsed, table, json_columns)
        return _indexspec.render_create(
            parsed, dialect=self.b.dialect_name,  # type: ignore[arg-type]
            physical_name=index_name(spec.name, self.b.schema), physical_table=table.name,
            schema=self.b.schema,
            if_not_exists=True, concurrently=concurrently)

    async def create_defaults(self, conn: AsyncConnection) -> None:
        """Default and configured indexes, inside the init transaction (never concurrently)."""
        for spec in [*self.b.default_indexes, *self.b.options.indexes]:
            await conn.exec_driver_sql(self.render(spec))

    # -- catalog: the backend's index_catalog / index_stats hooks --------------------------

    async def _catalog(self, conn: AsyncConnection) -> list[IndexInfo]:
        return await self.b.index_catalog(conn)

    async def _stats(self, conn: AsyncConnection, info: IndexInfo) -> dict[str, Any]:
        return await self.b.index_stats(conn, info)

    async def _execute_ddl(self, sql: str, *, concurrently: bool) -> None:
        async def run(conn: AsyncConnection) -> None:
            await conn.exec_driver_sql(sql)

        await self.b.write(run)

    # -- API -------------------------------------------------------------------------------

    def _physical(self, name: str) -> str:
        _indexspec.check_identifier(name, "name")
        return index_name(name, self.b.schema)

    async def _find(self, name: str) -> IndexInfo | None:
        physical = self._physical(name)
        for info in await self.list():
            if info.name in (physical, name):
                return info
        return None

    async def create(self, spec: IndexSpec) -> IndexInfo:
        if not isinstance(spec, IndexSpec):
            raise InvalidIndexSpecError(f"expected IndexSpec, got {type(spec).__name__}")
        sql = self.render(spec, concurrently=spec.concurrent)
        await self.b.ensure_ready()  # the tables must exist
        existing = await self._find(spec.name)
        if existing is not None:
            return existing
        try:
            await self._execute_ddl(sql, concurrently=spec.concurrent)
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        info = await self._find(spec.name)
        if info is None:  # pragma: no cover - created but not listed
            raise IndexNotFoundError(f"index {spec.name!r} was created but is not listed")
        return info

    async def list(self, table: str | None = None) -> list[IndexInfo]:
        if table is not None and table not in self.b.tables.by_logical:
            raise InvalidIndexSpecError(
                f"table: unknown table {table!r}; expected one of {list(self.b.tables.by_logical)}")
        await self.b.ensure_ready()
        try:
            async with self.b.read() as conn:
                infos = await self._catalog(conn)
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        return [i for i in infos if table is None or i.table == table]

    async def describe(self, name: str) -> IndexStats:
        info = await self._find(name)
        if info is None:
            raise IndexNotFoundError(f"index {name!r} not found")
        try:
            async with self.b.read() as conn:
                stats = await self._stats(conn, info)
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        return IndexStats(name=info.name, table=info.table, columns=info.columns,
                          unique=info.unique, method=info.method,
                          definition=info.definition, **stats)

    async def drop(self, name: str) -> bool:
        info = await self._find(name)
        if info is None:
            return False
        sql = _indexspec.render_drop(
            info.name, self.b.schema,
            self.b.dialect_name)  # type: ignore[arg-type]
        try:
            await self._execute_ddl(sql, concurrently=False)
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        return True
