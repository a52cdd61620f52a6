"""Helpers the SQL domains share: the domain base, TTL cut-offs, JSON metadata filters."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, literal, select

from ..errors import AgentStorageError
from ..serde import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Column

    from .base import SqlBackend

__all__ = ["SqlDomain", "json_filter"]

# Keys a quoted JSON path label matches exactly (nothing JSON would escape).
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f\x7f]*\Z')


class SqlDomain:
    """Mixin for the SQL domain classes: the backend, its tables and codec."""

    def __init__(self, backend: SqlBackend) -> None:
        self.b = backend
        self.t = backend.tables
        self.c = backend.codec
        self.sqlite = backend.dialect_name == "sqlite"
        self._stmts: dict[Any, Any] = {}  # prebuilt statements by shape

    def _translate_error(self, exc: BaseException) -> AgentStorageError:
        return self.b.translate_error(exc)

    def _ttl(self, entity: str) -> _dt.timedelta | None:
        return self.b.retention.ttl.get(entity)

    def _cutoff(self, entity: str) -> Any:
        """The oldest still-visible updated_at for ``entity`` (None: no TTL)."""
        ttl = self.b.retention.ttl.get(entity)
        return None if ttl is None else self.c.ts(utcnow() - ttl)

    def _stmt(self, key: Any, build: Any) -> Any:
        stmt = self._stmts.get(key)
        if stmt is None:
            stmt = self._stmts[key] = self.b.prepared(build())
        return stmt


def json_filter(backend: SqlBackend, column: Column[Any], flt: Mapping[str, Any],
                prefix: str = "mf") -> ColumnElement[bool]:
    """A predicate "top-level key equals JSON scalar" for every item of ``flt``. Keys and
    values are always bound parameters, never pasted into SQL.

    Strict JSON equality on every dialect: ``true`` never equals ``1``, numbers compare
    numerically (1 equals 1.0), ``None`` matches a key holding JSON null.
    """
    if backend.dialect_name != "sqlite":
        return column.contains(bindparam(f"{prefix}_doc", dict(flt), type_=column.type))
    clauses: list[ColumnElement[bool]] = []
    kind: Any
    atom: Any
    for i, (key, value) in enumerate(flt.items()):
        p = f"{prefix}{i}"
        plain = _PLAIN_KEY.match(key) is not None
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
            clauses.append(exists(select(literal(1)).select_from(each).where(*cond)))  # type: ignore[arg-type]
        else:
            clauses.append(and_(*cond))
    return and_(*clauses)


def _first(rows: list[Any]) -> Any:
    return rows[0] if rows else None


def _scalar(row: Any) -> Any:
    return None if row is None else row[0]
