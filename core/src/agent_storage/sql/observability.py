"""The observability domain on SQL: spans keyed by (trace_id, span_id)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update

from ..domains.observability import ObservabilityDomain, TraceFilter
from ..records import Span, SpanUpdate
from ._common import SqlDomain, _first
from .base import Tx
from .rows import trusted

__all__ = ["SqlObservability"]

_Span = trusted(Span)

_FIELDS = ("trace_id", "span_id", "name", "span_type", "started_at", "parent_span_id",
           "ended_at", "is_event", "status", "attributes", "metadata", "input", "output",
           "error", "entity_type", "entity_id", "agent_id", "resource_id", "thread_id",
           "run_id", "created_at", "updated_at")
_JSON = ("attributes", "metadata", "input", "output", "error")
_TS = ("started_at", "created_at", "updated_at")
_FILTERS = ("name", "span_type", "entity_type", "entity_id", "agent_id", "resource_id")


class SqlObservability(SqlDomain, ObservabilityDomain):
    """ObservabilityDomain primitives over SQLAlchemy Core."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.cols = tuple(self.t.spans.c[f] for f in _FIELDS)
        self._json_idx = [_FIELDS.index(f) for f in _JSON]
        self._ts_idx = [_FIELDS.index(f) for f in _TS]
        self._ended_idx = _FIELDS.index("ended_at")

    def _span(self, r: Any) -> Span:
        values = list(r)
        for i in self._json_idx:
            values[i] = self.c.from_json(values[i])
        for i in self._ts_idx:
            values[i] = self.c.from_ts(values[i])
        values[self._ended_idx] = self.c.opt_from_ts(values[self._ended_idx])
        values[7] = bool(values[7])
        return _Span(**dict(zip(_FIELDS, values, strict=True)))

    def _row(self, span: Span) -> dict[str, Any]:
        c = self.c
        row = {f: getattr(span, f) for f in _FIELDS}
        for f in _JSON:
            value = row[f]
            row[f] = c.json(dict(value) if f in ("attributes", "metadata") else value)
        for f in _TS:
            row[f] = c.ts(row[f])
        row["ended_at"] = c.opt_ts(span.ended_at)
        return row

    def _alive(self) -> list[Any]:
        cut = self._cutoff("spans")
        return [] if cut is None else [self.t.spans.c.updated_at > cut]

    def _keys(self, keys: Sequence[tuple[str, str]]) -> Any:
        s = self.t.spans
        return or_(*(and_(s.c.trace_id == t, s.c.span_id == sp) for t, sp in keys))

    async def _create_spans(self, spans: list[Span]) -> list[Span]:
        s = self.t.spans

        def build() -> Any:
            ins = self.b.insert(s)
            return ins.on_conflict_do_update(
                index_elements=[s.c.trace_id, s.c.span_id],
                set_={f: ins.excluded[f] for f in _FIELDS if f not in ("trace_id", "span_id")},
            )

        stmt = self._stmt("upsert", build)
        rows = [self._row(sp) for sp in spans]

        def go(tx: Tx) -> list[Span]:
            tx.executemany(stmt, rows)
            return spans

        return await self.b.transact(go)

    async def _update_spans(self, updates: list[SpanUpdate], *, now: _dt.datetime) -> list[Span]:
        s = self.t.spans
        by_key = {(u.trace_id, u.span_id): u for u in updates}

        def go(tx: Tx) -> list[Span]:
            stmt = select(*self.cols).where(self._keys(list(by_key)), *self._alive())
            current = [self._span(r) for r in tx.rows(stmt.with_for_update())]
            out = []
            for span in current:
                new = by_key[(span.trace_id, span.span_id)].apply(span)
                out.append(_Span(**{f: getattr(new, f) for f in _FIELDS if f != "updated_at"},
                                 updated_at=now))
            if out:
                upd = self._stmt("update", lambda: update(s).where(
                    s.c.trace_id == bindparam("b_trace"), s.c.span_id == bindparam("b_span"),
                ).values({f: bindparam(f) for f in _FIELDS if f not in ("trace_id", "span_id")}))
                rows = []
                for sp in out:
                    row = self._row(sp)
                    row["b_trace"], row["b_span"] = row.pop("trace_id"), row.pop("span_id")
                    rows.append(row)
                tx.executemany(upd, rows)
            return out

        return await self.b.transact(go)

    async def _get_span(self, trace_id: str, span_id: str) -> Span | None:
        s = self.t.spans
        stmt = select(*self.cols).where(s.c.trace_id == trace_id, s.c.span_id == span_id,
                                        *self._alive())
        row = _first(await self.b.fetch(stmt))
        return None if row is None else self._span(row)

    async def _get_trace_spans(self, trace_id: str) -> list[Span]:
        s = self.t.spans
        stmt = (select(*self.cols).where(s.c.trace_id == trace_id, *self._alive())
                .order_by(s.c.started_at, s.c.span_id))
        rows = await self.b.fetch(stmt)
        return [self._span(r) for r in rows]

    def _where(self, flt: TraceFilter) -> list[Any]:
        s = self.t.spans
        where = [s.c.parent_span_id.is_(None), *self._alive()]
        for name in _FILTERS:
            value = getattr(flt, name)
            if value is not None:
                where.append(s.c[name] == value)
        if flt.start is not None:
            where.append(s.c.started_at >= self.c.ts(flt.start))
        if flt.end is not None:
            where.append(s.c.started_at <= self.c.ts(flt.end))
        return where

    async def _select_roots(self, flt: TraceFilter, *, offset: int,
                            limit: int | None) -> list[Span]:
        s = self.t.spans
        stmt = (select(*self.cols).where(*self._where(flt))
                .order_by(s.c.started_at.desc(), s.c.trace_id.desc(), s.c.span_id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        rows = await self.b.fetch(stmt)
        return [self._span(r) for r in rows]

    async def _count_roots(self, flt: TraceFilter) -> int:
        stmt = select(func.count()).select_from(self.t.spans).where(*self._where(flt))
        return int((await self.b.fetch(stmt))[0][0])

    async def _delete_traces(self, trace_ids: Sequence[str]) -> int:
        s = self.t.spans

        def go(tx: Tx) -> int:
            return tx.execute(delete(s).where(s.c.trace_id.in_(list(trace_ids))))

        return await self.b.transact(go)
