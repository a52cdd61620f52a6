"""The scores domain over a record store."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from ..domains.scores import ScoreFilter, ScoresDomain
from ..records import Score
from ._base import Part, count, decode, encode, take
from ._keys import TOP, enc, ts

__all__ = ["GenericScores"]

_FIELDS = ("scorer_id", "run_id", "entity_type", "entity_id", "trace_id", "span_id", "source")


def _score_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    return {"key": enc(v["id"]), "created": enc(v["created_at"], v["id"])}


class GenericScores(Part, ScoresDomain):
    """Scores, listed newest first by (created_at, id)."""

    orders = {"scores": _score_orders}

    def _start(self) -> str:
        cutoff = self.cutoff("scores")
        return "" if cutoff is None else enc(ts(cutoff))

    async def _save_score(self, score: Score) -> Score:
        await self.backend.write([self.put("scores", encode(score), None)])
        return score

    async def _get_score(self, score_id: str) -> Score | None:
        item = await self.backend.get("scores", enc(score_id))
        cutoff = self.cutoff("scores")
        if item is None or (cutoff is not None and item.value["created_at"] < ts(cutoff)):
            return None
        return decode(item.value, Score)

    async def _matching(self, flt: ScoreFilter) -> AsyncGenerator[Score, None]:
        wanted = [(n, getattr(flt, n)) for n in _FIELDS if getattr(flt, n) is not None]
        async for item in self.each("scores", "created", self._start(), TOP, reverse=True):
            if all(item.value[n] == v for n, v in wanted):
                yield decode(item.value, Score)

    async def _select_scores(self, flt: ScoreFilter, *, offset: int,
                             limit: int | None) -> list[Score]:
        return await take(self._matching(flt), offset, limit)

    async def _count_scores(self, flt: ScoreFilter) -> int:
        return await count(self._matching(flt))

    async def _delete_score(self, score_id: str) -> None:
        await self.backend.write([self.delete("scores", None, enc(score_id))])
