"""Scores domain of the in-memory backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...domains.scores import ScoreFilter, ScoresDomain
from ...records import Score
from ._state import State, clone, ttl_cutoff

if TYPE_CHECKING:
    from ..memory import MemoryBackend

_FIELDS = ("scorer_id", "run_id", "entity_type", "entity_id", "trace_id", "span_id", "source")


class MemoryScores(ScoresDomain):
    def __init__(self, backend: MemoryBackend, state: State) -> None:
        self._backend = backend
        self._st = state

    def _matching(self, flt: ScoreFilter) -> list[Score]:
        cutoff = ttl_cutoff(self._backend.options, "scores")
        wanted = [(name, getattr(flt, name)) for name in _FIELDS if getattr(flt, name) is not None]
        return [
            s for s in self._st.scores.values()
            if (cutoff is None or s.created_at >= cutoff)
            and all(getattr(s, name) == value for name, value in wanted)
        ]

    async def _save_score(self, score: Score) -> Score:
        with self._st.lock:
            self._st.scores[score.id] = clone(score)
            return clone(score)

    async def _get_score(self, score_id: str) -> Score | None:
        cutoff = ttl_cutoff(self._backend.options, "scores")
        with self._st.lock:
            score = self._st.scores.get(score_id)
            if score is None or (cutoff is not None and score.created_at < cutoff):
                return None
            return clone(score)

    async def _select_scores(
        self, flt: ScoreFilter, *, offset: int, limit: int | None
    ) -> list[Score]:
        with self._st.lock:
            rows = self._matching(flt)
            rows.sort(key=lambda s: (s.created_at, s.id), reverse=True)
            end = None if limit is None else offset + limit
            return [clone(s) for s in rows[offset:end]]

    async def _count_scores(self, flt: ScoreFilter) -> int:
        with self._st.lock:
            return len(self._matching(flt))

    async def _delete_score(self, score_id: str) -> None:
        with self._st.lock:
            self._st.scores.pop(score_id, None)
