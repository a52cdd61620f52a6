"""The observability domain on DynamoDB: a trace is one partition (Query = the whole
trace); root spans carry the sparse ``gsi1``-``gsi5`` keys that list traces newest first."""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_storage.domains.observability import ObservabilityDomain, TraceFilter
from agent_storage.errors import ValidationError
from agent_storage.records import Span, SpanUpdate
from agent_storage.serde import dumps, from_wire, loads, to_wire

from ._part import Part, key_of
from .expr import Expr, Item, S, and_all, check_item_size
from .keys import index_def, index_pk
from .workflows import _time_range

if TYPE_CHECKING:
    from .store import DynamoBackend

FILTERS = ("name", "span_type", "entity_type", "entity_id", "agent_id", "resource_id")


class DynamoObservability(Part, ObservabilityDomain):
    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    def span_key(self, trace_id: str, span_id: str) -> Item:
        item, _ = self.keyed("span", self.values(trace_id=trace_id, span_id=span_id))
        return key_of(item)

    def span_item(self, span: Span) -> Item:
        item, _ = self.keyed("span", self.values(
            trace_id=span.trace_id, span_id=span.span_id, started_at=span.started_at,
            entity_type=span.entity_type, entity_id=span.entity_id, agent_id=span.agent_id,
            resource_id=span.resource_id, name=span.name,
            is_root=span.parent_span_id is None))
        item.update(et=S("span"), doc=S(dumps(to_wire(span))))
        for name in FILTERS:
            value = getattr(span, name)
            if value is not None:
                item[name] = S(value)
        ttl = self.ttl_value("spans", span.updated_at)
        if ttl is not None:
            item[self.ttl_attr] = ttl
        check_item_size(item, f"span {span.trace_id!r}/{span.span_id!r}")
        return item

    def span_from(self, item: Item) -> Span:
        return from_wire(loads(item["doc"]["S"]), Span)

    async def _write_all(self, items: list[Item]) -> None:
        ops = [{"Put": {"Item": i}} for i in items]
        if self.table.transaction_fits(ops):
            await self.table.transact(ops, what="span")
        elif self.backend.batch_mode == "chunked":
            await self.table.batch_write([{"PutRequest": {"Item": i}} for i in items], "span")
        else:
            raise ValidationError(
                f"{len(items)} spans do not fit in one DynamoDB transaction (at most 100 items, "
                "4 MB): split the call or open the store with batch_mode='chunked'"
            )

    async def _create_spans(self, spans: list[Span]) -> list[Span]:
        await self._write_all([self.span_item(s) for s in spans])
        return spans

    async def _update_spans(self, updates: list[SpanUpdate], *, now: _dt.datetime) -> list[Span]:
        keys = [self.span_key(u.trace_id, u.span_id) for u in updates]
        found = {(i["pk"]["S"], i["sk"]["S"]): i for i in await self.table.batch_get(keys)}
        result = []
        for u, key in zip(updates, keys, strict=True):
            item = found.get((key["pk"]["S"], key["sk"]["S"]))
            if item is None or not self.alive(item):
                continue
            result.append(u.apply(self.span_from(item)))
        if result:
            await self._write_all([self.span_item(s) for s in result])
        return result

    async def _get_span(self, trace_id: str, span_id: str) -> Span | None:
        item = await self.table.get(self.span_key(trace_id, span_id))
        return self.span_from(item) if item is not None and self.alive(item) else None

    async def _get_trace_spans(self, trace_id: str) -> list[Span]:
        e = Expr()
        pk = self.span_key(trace_id, "x")["pk"]
        params = {"KeyConditionExpression": f"{e.n('pk')} = {e.v(pk)}",
                  "FilterExpression": self.ttl_filter(e), "ConsistentRead": True, **e.params()}
        return [self.span_from(i) for i in await self.table.query(params)]

    def _roots_query(self, flt: TraceFilter) -> tuple[dict[str, Any], bool]:
        keyed: tuple[str, ...]
        if flt.entity_type is not None and flt.entity_id is not None:
            index, keyed = "gsi2", ("entity_type", "entity_id")
        elif flt.agent_id is not None:
            index, keyed = "gsi3", ("agent_id",)
        elif flt.resource_id is not None:
            index, keyed = "gsi4", ("resource_id",)
        elif flt.name is not None:
            index, keyed = "gsi5", ("name",)
        else:
            index, keyed = "gsi1", ()
        idx = index_def(index)
        e = Expr()
        partition = index_pk("span", index, self.values(
            **{name: getattr(flt, name) for name in keyed}))
        cond = f"{e.n(idx.pk)} = {e.s(partition)}" + _time_range(e, idx.sk, flt.start, flt.end)
        filters = [self.ttl_filter(e)]
        for name in FILTERS:
            value = getattr(flt, name)
            if value is not None and name not in keyed:
                filters.append(f"{e.n(name)} = {e.s(value)}")
        params = {"IndexName": index, "KeyConditionExpression": cond,
                  "FilterExpression": and_all(filters), "ScanIndexForward": False, **e.params()}
        return params, len(filters) > 1

    async def _select_roots(self, flt: TraceFilter, *, offset: int,
                            limit: int | None) -> list[Span]:
        params, selective = self._roots_query(flt)
        items = await self.table.query(params, offset=offset, limit=limit, selective=selective)
        return [self.span_from(i) for i in items]

    async def _count_roots(self, flt: TraceFilter) -> int:
        params, _ = self._roots_query(flt)
        return await self.table.count(params)

    async def _delete_traces(self, trace_ids: Sequence[str]) -> int:
        async def keys_of(trace_id: str) -> list[Item]:
            e = Expr()
            pk = self.span_key(trace_id, "x")["pk"]
            params = {"KeyConditionExpression": f"{e.n('pk')} = {e.v(pk)}",
                      "FilterExpression": self.ttl_filter(e),
                      "ProjectionExpression": f"{e.n('pk')}, {e.n('sk')}",
                      "ConsistentRead": True, **e.params()}
            return [key_of(i) for i in await self.table.query(params)]

        keys = [k for part in await asyncio.gather(*(keys_of(t) for t in trace_ids)) for k in part]
        # DeleteItem each (ALL_OLD): the count is what this call removed; a BatchWriteItem
        # cannot tell, and two racing callers both counted every span.
        return sum(await self.delete_each([{"key": k} for k in keys]))
