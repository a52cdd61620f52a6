"""Observability domain of the in-memory backend."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from attrs import evolve

from ...domains.observability import ObservabilityDomain, TraceFilter
from ...records import Span, SpanUpdate
from ._state import State, clone, json_copy, ttl_cutoff

if TYPE_CHECKING:
    from ..memory import MemoryBackend

_FIELDS = ("name", "span_type", "entity_type", "entity_id", "agent_id", "resource_id")


class MemoryObservability(ObservabilityDomain):
    def __init__(self, backend: MemoryBackend, state: State) -> None:
        self._backend = backend
        self._st = state

    def _visible(self, span: Span | None) -> bool:
        cutoff = ttl_cutoff(self._backend.options, "spans")
        return span is not None and (cutoff is None or span.created_at >= cutoff)

    async def _create_spans(self, spans: list[Span]) -> list[Span]:
        with self._st.lock:
            for span in spans:
                self._st.traces.setdefault(span.trace_id, {})[span.span_id] = clone(span)
            return [clone(s) for s in spans]

    async def _update_spans(self, updates: list[SpanUpdate], *, now: _dt.datetime) -> list[Span]:
        with self._st.lock:
            new: list[Span] = []
            for u in updates:  # build (and validate) every new span before storing any
                old = self._st.traces.get(u.trace_id, {}).get(u.span_id)
                if old is None or not self._visible(old):
                    continue
                changes = {k: json_copy(v) for k, v in u.changes().items()}
                new.append(evolve(old, **changes, updated_at=now))
            for span in new:
                self._st.traces[span.trace_id][span.span_id] = span
            return [clone(s) for s in new]

    async def _get_span(self, trace_id: str, span_id: str) -> Span | None:
        with self._st.lock:
            span = self._st.traces.get(trace_id, {}).get(span_id)
            return clone(span) if self._visible(span) else None

    async def _get_trace_spans(self, trace_id: str) -> list[Span]:
        with self._st.lock:
            spans = self._st.traces.get(trace_id, {}).values()
            return [clone(s) for s in spans if self._visible(s)]

    def _roots(self, flt: TraceFilter) -> Iterator[Span]:
        wanted = [(name, getattr(flt, name)) for name in _FIELDS if getattr(flt, name) is not None]
        for spans in self._st.traces.values():
            for s in spans.values():
                if (
                    s.parent_span_id is None and self._visible(s)
                    and all(getattr(s, name) == value for name, value in wanted)
                    and (flt.start is None or s.started_at >= flt.start)
                    and (flt.end is None or s.started_at <= flt.end)
                ):
                    yield s

    async def _select_roots(
        self, flt: TraceFilter, *, offset: int, limit: int | None
    ) -> list[Span]:
        with self._st.lock:
            rows = sorted(self._roots(flt), key=lambda s: (s.started_at, s.trace_id, s.span_id),
                          reverse=True)
            end = None if limit is None else offset + limit
            return [clone(s) for s in rows[offset:end]]

    async def _count_roots(self, flt: TraceFilter) -> int:
        with self._st.lock:
            return sum(1 for _ in self._roots(flt))

    async def _delete_traces(self, trace_ids: Sequence[str]) -> int:
        with self._st.lock:
            count = 0
            for tid in trace_ids:
                spans = self._st.traces.pop(tid, {})
                count += sum(1 for s in spans.values() if self._visible(s))
            return count
