"""The observability domain over a record store: spans keyed by (trace_id, span_id)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from ..domains.observability import ObservabilityDomain, TraceFilter
from ..records import Span, SpanUpdate
from ._base import Ops, Part, count, decode, encode, take
from ._contract import Item
from ._keys import TOP, after, enc, prefix_range, ts

__all__ = ["GenericObservability"]

_FIELDS = ("name", "span_type", "entity_type", "entity_id", "agent_id", "resource_id")


def _span_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    trace, span = v["trace_id"], v["span_id"]
    root = v["parent_span_id"] is None
    return {"key": enc(trace, span), "roots": enc(v["started_at"], trace, span) if root else None}


class GenericObservability(Part, ObservabilityDomain):
    """Spans; root spans also in started_at order (newest first for listings)."""

    orders = {"spans": _span_orders}

    def _live(self, item: Item | None) -> bool:
        cutoff = self.cutoff("spans")
        return item is not None and (cutoff is None or item.value["created_at"] >= ts(cutoff))

    async def _create_spans(self, spans: list[Span]) -> list[Span]:
        await self.backend.write([self.put("spans", encode(s), None) for s in spans])
        return spans

    async def _update_spans(self, updates: list[SpanUpdate], *,
                            now: _dt.datetime) -> list[Span]:
        async def build() -> tuple[Ops, list[Span]]:
            ops: Ops = []
            out: list[Span] = []
            for u in updates:
                item = await self.backend.get("spans", enc(u.trace_id, u.span_id))
                if item is None or not self._live(item):
                    continue
                new = u.apply(decode(item.value, Span), now=now)
                ops.append(self.put("spans", encode(new), item.version))
                out.append(new)
            return ops, out
        return await self.transact(build)

    async def _get_span(self, trace_id: str, span_id: str) -> Span | None:
        item = await self.backend.get("spans", enc(trace_id, span_id))
        return decode(item.value, Span) if item is not None and self._live(item) else None

    async def _trace(self, trace_id: str) -> AsyncGenerator[Item, None]:
        start, stop = prefix_range(enc(trace_id))
        async for item in self.each("spans", "key", start, stop):
            yield item

    async def _get_trace_spans(self, trace_id: str) -> list[Span]:
        return [decode(i.value, Span) async for i in self._trace(trace_id) if self._live(i)]

    async def _roots(self, flt: TraceFilter) -> AsyncGenerator[Span, None]:
        wanted = [(n, getattr(flt, n)) for n in _FIELDS if getattr(flt, n) is not None]
        start = "" if flt.start is None else enc(ts(flt.start))
        stop = TOP if flt.end is None else after(enc(ts(flt.end)))
        async for item in self.each("spans", "roots", start, stop, reverse=True):
            if self._live(item) and all(item.value[n] == v for n, v in wanted):
                yield decode(item.value, Span)

    async def _select_roots(self, flt: TraceFilter, *, offset: int,
                            limit: int | None) -> list[Span]:
        return await take(self._roots(flt), offset, limit)

    async def _count_roots(self, flt: TraceFilter) -> int:
        return await count(self._roots(flt))

    async def _delete_traces(self, trace_ids: Sequence[str]) -> int:
        async def build() -> tuple[Ops, int]:
            ops: Ops = []
            live = 0
            for tid in trace_ids:
                async for item in self._trace(tid):
                    ops.append(self.delete("spans", item))
                    live += self._live(item)
            return ops, live
        return await self.transact(build)
