"""Helpers the SQL domains share: the domain base, TTL cut-offs, JSON metadata filters."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement

from ..errors import AgentStorageError
from ..serde import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Column

    from .base import SqlBackend

__all__ = ["SqlDomain", "json_filter"]


class SqlDomain:
    """Mixin for the SQL domain classes: the backend, its tables and codec."""

    def __init__(self, backend: SqlBackend) -> None:
        self.b = backend
        self.t = backend.tables
        self.c = backend.codec
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
    """A predicate "top-level key equals JSON scalar" for every item of ``flt``: the
    dialect's :meth:`SqlBackend.json_filter` (bound parameters only; strict JSON equality:
    ``true`` never equals ``1``, 1 equals 1.0, ``None`` matches JSON null)."""
    return backend.json_filter(column, flt, prefix)


def _first(rows: list[Any]) -> Any:
    return rows[0] if rows else None


def _scalar(row: Any) -> Any:
    return None if row is None else row[0]
