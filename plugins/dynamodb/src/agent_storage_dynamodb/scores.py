"""The scores domain on DynamoDB: one item per score, listed newest first through a GSI
chosen from the filter (run, trace, entity, scorer, else all); other filters are
FilterExpressions on the same Query."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_storage.domains.scores import ScoreFilter, ScoresDomain
from agent_storage.records import Score
from agent_storage.serde import dumps, from_wire, loads, to_wire

from ._part import Part, key_of
from .expr import Expr, Item, S, and_all
from .keys import index_def, index_pk

if TYPE_CHECKING:
    from .store import DynamoBackend

#: Filter fields stored as top-level attributes.
FILTERS = ("scorer_id", "run_id", "entity_type", "entity_id", "trace_id", "span_id", "source")


class DynamoScores(Part, ScoresDomain):
    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    def score_key(self, score_id: str) -> Item:
        item, _ = self.keyed("score", self.values(id=score_id))
        return key_of(item)

    def score_item(self, score: Score) -> Item:
        item, _ = self.keyed("score", self.values(
            id=score.id, scorer_id=score.scorer_id, run_id=score.run_id,
            entity_type=score.entity_type, entity_id=score.entity_id, trace_id=score.trace_id,
            created_at=score.created_at))
        item.update(et=S("score"), doc=S(dumps(to_wire(score))))
        for name in FILTERS:
            value = getattr(score, name)
            if value is not None:
                item[name] = S(value)
        ttl = self.ttl_value("scores", score.created_at)
        if ttl is not None:
            item[self.ttl_attr] = ttl
        return item

    def score_from(self, item: Item) -> Score:
        return from_wire(loads(item["doc"]["S"]), Score)

    async def _save_score(self, score: Score) -> Score:
        await self.table.put(self.score_item(score), f"score {score.id!r}")
        return score

    async def _get_score(self, score_id: str) -> Score | None:
        item = await self.table.get(self.score_key(score_id))
        return self.score_from(item) if item is not None and self.alive(item) else None

    def _query(self, flt: ScoreFilter) -> tuple[dict[str, Any], bool]:
        if flt.run_id is not None:
            index = "gsi2"
        elif flt.trace_id is not None:
            index = "gsi4"
        elif flt.entity_type is not None and flt.entity_id is not None:
            index = "gsi3"
        elif flt.scorer_id is not None:
            index = "gsi1"
        else:
            index = "gsi5"
        keyed = {"gsi1": ("scorer_id",), "gsi2": ("run_id",), "gsi3": ("entity_type", "entity_id"),
                 "gsi4": ("trace_id",), "gsi5": ()}[index]
        idx = index_def(index)
        e = Expr()
        partition = index_pk("score", index, self.values(
            **{name: getattr(flt, name) for name in keyed}))
        filters = [self.ttl_filter(e)]
        for name in FILTERS:
            value = getattr(flt, name)
            if value is not None and name not in keyed:
                filters.append(f"{e.n(name)} = {e.s(value)}")
        params = {"IndexName": index,
                  "KeyConditionExpression": f"{e.n(idx.pk)} = {e.s(partition)}",
                  "FilterExpression": and_all(filters), "ScanIndexForward": False, **e.params()}
        return params, len(filters) > 1

    async def _select_scores(self, flt: ScoreFilter, *, offset: int,
                             limit: int | None) -> list[Score]:
        params, selective = self._query(flt)
        items = await self.table.query(params, offset=offset, limit=limit, selective=selective)
        return [self.score_from(i) for i in items]

    async def _count_scores(self, flt: ScoreFilter) -> int:
        params, _ = self._query(flt)
        return await self.table.count(params)

    async def _delete_score(self, score_id: str) -> None:
        await self.table.delete(self.score_key(score_id))
