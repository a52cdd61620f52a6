"""The scores domain on SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from ..domains.scores import ScoreFilter, ScoresDomain
from ..records import Score
from ._common import SqlDomain, _first
from .base import Tx
from .rows import trusted

__all__ = ["SqlScores"]

_Score = trusted(Score)

_FIELDS = ("id", "scorer_id", "run_id", "score", "reason", "source", "entity_type", "entity_id",
           "trace_id", "span_id", "resource_id", "thread_id", "input", "output", "metadata",
           "created_at")
_FILTERS = ("scorer_id", "run_id", "entity_type", "entity_id", "trace_id", "span_id", "source")


class SqlScores(SqlDomain, ScoresDomain):
    """ScoresDomain primitives over SQLAlchemy Core."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.cols = tuple(self.t.scores.c[f] for f in _FIELDS)

    def _score(self, r: Any) -> Score:
        c = self.c
        return _Score(id=r[0], scorer_id=r[1], run_id=r[2], score=float(r[3]), reason=r[4],
                      source=r[5], entity_type=r[6], entity_id=r[7], trace_id=r[8],
                      span_id=r[9], resource_id=r[10], thread_id=r[11],
                      input=c.from_json(r[12]), output=c.from_json(r[13]),
                      metadata=c.from_json(r[14]), created_at=c.from_ts(r[15]))

    def _alive(self) -> list[Any]:
        cut = self._cutoff("scores")
        return [] if cut is None else [self.t.scores.c.created_at > cut]

    async def _save_score(self, score: Score) -> Score:
        s = self.t.scores
        c = self.c
        row = {f: getattr(score, f) for f in _FIELDS}
        row.update(input=c.json(score.input), output=c.json(score.output),
                   metadata=c.json(dict(score.metadata)), created_at=c.ts(score.created_at))
        ins = self.b.insert(s)
        stmt = ins.on_conflict_do_update(
            index_elements=[s.c.id],
            set_={k: ins.excluded[k] for k in row if k != "id"},
        )

        def go(tx: Tx) -> Score:
            tx.execute(stmt, row)
            return score

        return await self.b.transact(go)

    async def _get_score(self, score_id: str) -> Score | None:
        stmt = select(*self.cols).where(self.t.scores.c.id == score_id, *self._alive())
        row = _first(await self.b.fetch(stmt))
        return None if row is None else self._score(row)

    def _where(self, flt: ScoreFilter) -> list[Any]:
        s = self.t.scores
        where = self._alive()
        for name in _FILTERS:
            value = getattr(flt, name)
            if value is not None:
                where.append(s.c[name] == value)
        return where

    async def _select_scores(self, flt: ScoreFilter, *, offset: int,
                             limit: int | None) -> list[Score]:
        s = self.t.scores
        stmt = (select(*self.cols).where(*self._where(flt))
                .order_by(s.c.created_at.desc(), s.c.id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        rows = await self.b.fetch(stmt)
        return [self._score(r) for r in rows]

    async def _count_scores(self, flt: ScoreFilter) -> int:
        stmt = select(func.count()).select_from(self.t.scores).where(*self._where(flt))
        return int((await self.b.fetch(stmt))[0][0])

    async def _delete_score(self, score_id: str) -> None:
        s = self.t.scores

        def go(tx: Tx) -> None:
            tx.execute(delete(s).where(s.c.id == score_id))

        await self.b.transact(go)
