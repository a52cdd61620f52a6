"""The scores domain: evaluation results."""

from __future__ import annotations

from abc import abstractmethod

from attrs import frozen

from ..errors import ValidationError
from ..records import SCORE_SOURCES, Page, Score
from ..serde import check_id
from ._base import Domain, check_choice, check_page, fetch_page, opt_id, public

__all__ = ["ScoreFilter", "ScoresDomain"]


@frozen(kw_only=True)
class ScoreFilter:
    """Which scores: every given field must match."""

    scorer_id: str | None = None
    run_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    source: str | None = None


class ScoresDomain(Domain):
    """Evaluation scores."""

    name = "scores"

    @public
    async def save_score(self, score: Score) -> Score:
        """Insert or replace by id."""
        if not isinstance(score, Score):
            raise ValidationError(f"save_score: expected Score, got {type(score).__name__}")
        await self._ready()
        return await self._save_score(score)

    @public
    async def get_score(self, score_id: str) -> Score | None:
        check_id(score_id, "score_id")
        await self._ready()
        return await self._get_score(score_id)

    @public
    async def list_scores(
        self,
        *,
        scorer_id: str | None = None,
        run_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        source: str | None = None,
        page: int = 0,
        per_page: int | None = 100,
    ) -> Page[Score]:
        """Scores newest first (created_at desc, id desc)."""
        flt = ScoreFilter(
            scorer_id=opt_id(scorer_id, "scorer_id"),
            run_id=opt_id(run_id, "run_id"),
            entity_type=opt_id(entity_type, "entity_type"),
            entity_id=opt_id(entity_id, "entity_id"),
            trace_id=opt_id(trace_id, "trace_id"),
            span_id=opt_id(span_id, "span_id"),
            source=None
            if source is None
            else check_choice(source, sorted(SCORE_SOURCES), "source"),
        )
        offset, limit = check_page(page, per_page)
        await self._ready()
        return await fetch_page(
            lambda n: self._select_scores(flt, offset=offset, limit=n),
            lambda: self._count_scores(flt),
            offset=offset, limit=limit, page=page,
        )

    @public
    async def delete_score(self, score_id: str) -> None:
        """Delete a score; a missing id is a no-op."""
        check_id(score_id, "score_id")
        await self._ready()
        await self._delete_score(score_id)

    @abstractmethod
    async def _save_score(self, score: Score) -> Score:
        """Upsert by id (a re-save replaces every field); return the stored score."""

    @abstractmethod
    async def _get_score(self, score_id: str) -> Score | None:
        """The score, or None when missing or expired (TTL on ``created_at``)."""

    @abstractmethod
    async def _select_scores(
        self, flt: ScoreFilter, *, offset: int, limit: int | None
    ) -> list[Score]:
        """Ordered by created_at desc, id desc."""

    @abstractmethod
    async def _count_scores(self, flt: ScoreFilter) -> int:
        """How many live (unexpired) scores match ``flt``."""

    @abstractmethod
    async def _delete_score(self, score_id: str) -> None:
        """Delete by id; a missing id is a no-op (idempotent)."""
