"""The observability domain: traces made of spans (runs, steps and timeline events)."""

from __future__ import annotations

import datetime as _dt
from abc import abstractmethod
from collections.abc import Iterable, Sequence

from attrs import frozen

from ..errors import ValidationError
from ..records import Page, Span, SpanUpdate, Trace
from ..serde import check_id, utcnow
from ._base import Domain, check_page, fetch_page, id_list, opt_id, opt_time, public

__all__ = ["ObservabilityDomain", "TraceFilter"]


@frozen(kw_only=True)
class TraceFilter:
    """Which root spans (``parent_span_id`` is None); start/end bound ``started_at``."""

    name: str | None = None
    span_type: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    agent_id: str | None = None
    resource_id: str | None = None
    start: _dt.datetime | None = None
    end: _dt.datetime | None = None


class ObservabilityDomain(Domain):
    """Spans and traces."""

    name = "observability"

    @public
    async def create_spans(self, spans: Iterable[Span]) -> list[Span]:
        """Insert spans (upsert by (trace_id, span_id)), all or nothing."""
        batch = list(spans)
        keys: set[tuple[str, str]] = set()
        for span in batch:
            if not isinstance(span, Span):
                raise ValidationError(f"create_spans: expected Span, got {type(span).__name__}")
            key = (span.trace_id, span.span_id)
            if key in keys:
                raise ValidationError(f"create_spans: span {key} appears twice")
            keys.add(key)
        if not batch:
            return []
        await self._ready()
        return await self._create_spans(batch)

    @public
    async def update_spans(self, updates: Iterable[SpanUpdate]) -> list[Span]:
        """Apply partial updates atomically; unknown spans are skipped. Returns updated spans."""
        items = list(updates)
        for u in items:
            if not isinstance(u, SpanUpdate):
                raise ValidationError(f"update_spans: expected SpanUpdate, got {type(u).__name__}")
        if len({(u.trace_id, u.span_id) for u in items}) != len(items):
            raise ValidationError("update_spans: a span appears twice")
        if not items:
            return []
        await self._ready()
        return await self._update_spans(items, now=utcnow())

    @public
    async def get_span(self, trace_id: str, span_id: str) -> Span | None:
        check_id(trace_id, "trace_id")
        check_id(span_id, "span_id")
        await self._ready()
        return await self._get_span(trace_id, span_id)

    @public
    async def get_trace(self, trace_id: str) -> Trace | None:
        """Every span of the trace ordered by started_at (then span_id), or None."""
        check_id(trace_id, "trace_id")
        await self._ready()
        spans = await self._get_trace_spans(trace_id)
        if not spans:
            return None
        return Trace(
            trace_id=trace_id, spans=tuple(sorted(spans, key=lambda s: (s.started_at, s.span_id)))
        )

    @public
    async def list_traces(
        self,
        *,
        name: str | None = None,
        span_type: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        agent_id: str | None = None,
        resource_id: str | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        page: int = 0,
        per_page: int | None = 50,
    ) -> Page[Span]:
        """Root spans, newest first (started_at desc, trace_id desc)."""
        flt = TraceFilter(
            name=opt_id(name, "name"),
            span_type=opt_id(span_type, "span_type"),
            entity_type=opt_id(entity_type, "entity_type"),
            entity_id=opt_id(entity_id, "entity_id"),
            agent_id=opt_id(agent_id, "agent_id"),
            resource_id=opt_id(resource_id, "resource_id"),
            start=opt_time(start, "start"),
            end=opt_time(end, "end"),
        )
        offset, limit = check_page(page, per_page)
        await self._ready()
        return await fetch_page(
            lambda n: self._select_roots(flt, offset=offset, limit=n),
            lambda: self._count_roots(flt),
            offset=offset, limit=limit, page=page,
        )

    @public
    async def delete_traces(self, trace_ids: Iterable[str]) -> int:
        """Delete every span of these traces; returns the number of spans deleted."""
        ids = id_list(trace_ids, "trace_ids")
        if not ids:
            return 0
        await self._ready()
        return await self._delete_traces(ids)

    @abstractmethod
    async def _create_spans(self, spans: list[Span]) -> list[Span]:
        """One atomic write: upsert every span by (trace_id, span_id) (a re-send replaces
        it); return the spans as stored, in input order."""

    @abstractmethod
    async def _update_spans(self, updates: list[SpanUpdate], *, now: _dt.datetime) -> list[Span]:
        """Atomic; ``SpanUpdate.apply(span, now=now)`` gives each new span; skip unknown
        spans; return the updated spans in input order."""

    @abstractmethod
    async def _get_span(self, trace_id: str, span_id: str) -> Span | None:
        """The span, or None when missing or expired (TTL on ``created_at``)."""

    @abstractmethod
    async def _get_trace_spans(self, trace_id: str) -> list[Span]:
        """Every live span of the trace, any order (core sorts); [] when none."""

    @abstractmethod
    async def _select_roots(
        self, flt: TraceFilter, *, offset: int, limit: int | None
    ) -> list[Span]:
        """Root spans ordered by started_at desc, trace_id desc, span_id desc."""

    @abstractmethod
    async def _count_roots(self, flt: TraceFilter) -> int:
        """How many live root spans match ``flt``."""

    @abstractmethod
    async def _delete_traces(self, trace_ids: Sequence[str]) -> int:
        """Delete every span of these traces in one transaction; return how many live
        spans were deleted (unknown trace ids count 0)."""
