"""``storage.indexes`` for the SQL backends.

Every index is created from a parsed IndexSpec rendered by :mod:`agent_storage._indexspec`
(identifiers quoted, literals re-rendered): no text of a spec reaches SQL. Listing reads
the catalog; the SQLite catalog queries live here, PostgreSQL overrides ``_catalog`` and
``_stats`` (pg_indexes, pg_stat_user_indexes).

``IndexInfo.columns`` are bare column names (no ASC/DESC) or JSON paths written as in a
spec (``metadata->>'key'``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

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


_JSON_EXTRACT = re.compile(r"""json_extract\(\s*"?(\w+)"?\s*,\s*'\$((?:\."[^"]*")+)'\s*\)""")


def _sqlite_column(expr: str) -> str:
    expr = expr.strip()
    expr = re.sub(r"\s+(ASC|DESC)$", "", expr, flags=re.IGNORECASE)
    m = _JSON_EXTRACT.fullmatch(expr)
    if m:
        keys = re.findall(r'\."([^"]*)"', m.group(2))
        arrows = "".join(f"->'{k}'" for k in keys[:-1]) + f"->>'{keys[-1]}'"
        return f"{m.group(1)}{arrows}"
    return expr.strip('"')


def _split_top(body: str) -> list[str]:
    parts, depth, quote, cur = [], 0, "", ""
    for ch in body:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _parse_sqlite_index(sql: str) -> tuple[tuple[str, ...], str | None, bool]:
    """(columns, where, unique) from a CREATE INDEX statement stored in sqlite_master."""
    unique = bool(re.match(r"\s*CREATE\s+UNIQUE", sql, re.IGNORECASE))
    start = sql.index("(", re.search(r"\sON\s", sql, re.IGNORECASE).end())  # type: ignore[union-attr]
    depth, end = 0, start
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                end = i
                break
    columns = tuple(_sqlite_column(c) for c in _split_top(sql[start + 1:end]))
    rest = sql[end + 1:].strip()
    where = rest[5:].strip() if rest.upper().startswith("WHERE") else None
    return columns, where, unique


class SqlIndexManager(IndexManager):
    """create/list/describe/drop over the store's tables."""

    def __init__(self, backend: SqlBackend) -> None:
        self.b = backend

    # -- rendering -------------------------------------------------------------------------

    def render(self, spec: IndexSpec, *, concurrently: bool = False) -> str:
        parsed = spec.parsed()
        table = self.b.tables.by_logical[spec.table]
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSONB)}
        check_columns(parsed, table, json_columns)
        return _indexspec.render_create(
            parsed, dialect=self.b.dialect_name,  # type: ignore[arg-type]
            physical_name=index_name(spec.name, self.b.schema), physical_table=table.name,
            schema=self.b.schema if self.b.dialect_name == "postgresql" else None,
            if_not_exists=True, concurrently=concurrently)

    async def create_defaults(self, conn: AsyncConnection) -> None:
        """Default and configured indexes, inside the init transaction (never concurrently)."""
        for spec in [*self.b.default_indexes, *self.b.options.indexes]:
            await conn.exec_driver_sql(self.render(spec))

    # -- catalog (SQLite here; PostgreSQL overrides) ----------------------------------------

    async def _catalog(self, conn: AsyncConnection) -> list[IndexInfo]:
        names = self.b.tables.logical_by_name
        rows = (await conn.execute(text(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
            "AND sql IS NOT NULL ORDER BY tbl_name, name"))).all()
        out = []
        for name, tbl, sql in rows:
            if tbl not in names:
                continue
            columns, where, unique = _parse_sqlite_index(sql)
            out.append(IndexInfo(name=name, table=names[tbl], columns=columns, unique=unique,
                                 method="btree", where=where, definition=sql))
        return out

    async def _stats(self, conn: AsyncConnection, info: IndexInfo) -> dict[str, Any]:
        try:
            size = (await conn.execute(text(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = :n"), {"n": info.name})).scalar()
        except Exception:  # dbstat is a compile-time option of SQLite
            size = None
        return {"size_bytes": None if size is None else int(size)}

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
        await self.b.domain("memory")._ready()  # the tables must exist
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
        await self.b.domain("memory")._ready()
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
            info.name, self.b.schema if self.b.dialect_name == "postgresql" else None,
            self.b.dialect_name)  # type: ignore[arg-type]
        try:
            await self._execute_ddl(sql, concurrently=False)
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.b.translate_error(exc) from exc
        return True
