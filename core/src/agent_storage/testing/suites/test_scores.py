"""Scores: save/get/upsert/delete, every filter, newest-first pages with stable ties."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from agent_storage import Retention, Score, ValidationError
from agent_storage.testing._helpers import ts

pytestmark = pytest.mark.asyncio


def _score(n: int, **fields: Any) -> Score:
    fields.setdefault("id", f"s{n:03d}")
    fields.setdefault("scorer_id", "relevance")
    fields.setdefault("run_id", "run-1")
    fields.setdefault("score", n / 10)
    fields.setdefault("created_at", ts(n))
    return Score(**fields)


def _ids(page: Any) -> list[str]:
    return [s.id for s in page.items]


class TestScoreRecords:
    async def test_save_and_get_every_field(self, storage: Any) -> None:
        score = Score(
            id="s1", scorer_id="toxicity", run_id="run-9", score=0.75, reason="mild 'words' 🤬",
            source="test", entity_type="agent", entity_id="agent-1", trace_id="tr-1",
            span_id="sp-1", resource_id="user-1", thread_id="thread-1",
            input={"prompt": "hi", "n": [1, 2]}, output="answer", metadata={"k": {"v": True}},
            created_at=ts(5),
        )
        saved = await storage.scores.save_score(score)
        assert saved == score
        assert await storage.scores.get_score("s1") == score

    async def test_int_score_and_primitive_json(self, storage: Any) -> None:
        await storage.scores.save_score(_score(1, score=1, input=3, output=None))
        got = await storage.scores.get_score("s001")
        assert got is not None
        assert got.score == 1.0 and isinstance(got.score, float)
        assert (got.input, got.output, got.reason) == (3, None, None)

    async def test_get_missing_is_none(self, storage: Any) -> None:
        assert await storage.scores.get_score("nope") is None

    async def test_upsert_replaces_by_id(self, storage: Any) -> None:
        await storage.scores.save_score(_score(1, score=0.1, reason="first"))
        await storage.scores.save_score(_score(1, score=0.9, reason="second", scorer_id="other"))
        got = await storage.scores.get_score("s001")
        assert got is not None
        assert (got.score, got.reason, got.scorer_id) == (0.9, "second", "other")
        page = await storage.scores.list_scores()
        assert page.total == 1
        assert (await storage.scores.list_scores(scorer_id="relevance")).total == 0

    async def test_delete(self, storage: Any) -> None:
        await storage.scores.save_score(_score(1))
        await storage.scores.save_score(_score(2))
        await storage.scores.delete_score("s001")
        assert await storage.scores.get_score("s001") is None
        await storage.scores.delete_score("s001")  # missing: a no-op
        assert _ids(await storage.scores.list_scores()) == ["s002"]

    async def test_returned_json_is_a_copy(self, storage: Any) -> None:
        await storage.scores.save_score(_score(1, metadata={"tags": ["a"]}))
        got = await storage.scores.get_score("s001")
        assert got is not None
        got.metadata["tags"].append("b")
        again = await storage.scores.get_score("s001")
        assert again is not None and again.metadata == {"tags": ["a"]}

    async def test_bad_source_is_refused(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            Score(id="s", scorer_id="x", run_id="r", score=1.0, source="prod")
        with pytest.raises(ValidationError):
            await storage.scores.list_scores(source="prod")
        with pytest.raises(ValidationError):
            Score(id="s", scorer_id="x", run_id="r", score=float("nan"))


class TestScoreListing:
    async def _seed(self, storage: Any) -> None:
        rows = [
            _score(0, scorer_id="relevance", source="live", entity_type="agent", entity_id="a1"),
            _score(1, scorer_id="toxicity", source="test", entity_type="agent", entity_id="a2"),
            _score(2, scorer_id="relevance", source="test", entity_type="workflow",
                   entity_id="a1", run_id="run-2"),
            _score(3, scorer_id="relevance", source="live", trace_id="tr-1", span_id="sp-1"),
            _score(4, scorer_id="toxicity", source="live", trace_id="tr-1", span_id="sp-2",
                   run_id="run-2"),
            _score(5, scorer_id="relevance", source="live", trace_id="tr-2", span_id="sp-1"),
        ]
        for row in rows:
            await storage.scores.save_score(row)

    async def test_newest_first(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.scores.list_scores()
        assert _ids(page) == ["s005", "s004", "s003", "s002", "s001", "s000"]
        assert (page.total, page.has_more) == (6, False)

    async def test_by_scorer(self, storage: Any) -> None:
        await self._seed(storage)
        assert _ids(await storage.scores.list_scores(scorer_id="toxicity")) == ["s004", "s001"]
        assert (await storage.scores.list_scores(scorer_id="relevance")).total == 4

    async def test_by_source(self, storage: Any) -> None:
        await self._seed(storage)
        assert _ids(await storage.scores.list_scores(source="test")) == ["s002", "s001"]
        live = await storage.scores.list_scores(source="live")
        assert _ids(live) == ["s005", "s004", "s003", "s000"]

    async def test_by_entity(self, storage: Any) -> None:
        await self._seed(storage)
        both = await storage.scores.list_scores(entity_type="agent", entity_id="a1")
        assert _ids(both) == ["s000"]
        assert _ids(await storage.scores.list_scores(entity_id="a1")) == ["s002", "s000"]
        assert _ids(await storage.scores.list_scores(entity_type="agent")) == ["s001", "s000"]

    async def test_by_run(self, storage: Any) -> None:
        await self._seed(storage)
        assert _ids(await storage.scores.list_scores(run_id="run-2")) == ["s004", "s002"]
        assert (await storage.scores.list_scores(run_id="run-1")).total == 4

    async def test_by_trace_and_span(self, storage: Any) -> None:
        await self._seed(storage)
        assert _ids(await storage.scores.list_scores(trace_id="tr-1")) == ["s004", "s003"]
        span = await storage.scores.list_scores(trace_id="tr-1", span_id="sp-1")
        assert _ids(span) == ["s003"]
        assert _ids(await storage.scores.list_scores(span_id="sp-1")) == ["s005", "s003"]

    async def test_combined_filters_and_no_match(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.scores.list_scores(scorer_id="relevance", source="live",
                                                trace_id="tr-2")
        assert _ids(page) == ["s005"]
        empty = await storage.scores.list_scores(scorer_id="nobody")
        assert (empty.items, empty.total, empty.has_more) == ((), 0, False)

    async def test_first_middle_last_page(self, storage: Any) -> None:
        for n in range(7):
            await storage.scores.save_score(_score(n))
        first = await storage.scores.list_scores(page=0, per_page=3)
        middle = await storage.scores.list_scores(page=1, per_page=3)
        last = await storage.scores.list_scores(page=2, per_page=3)
        beyond = await storage.scores.list_scores(page=5, per_page=3)
        assert (_ids(first), first.total, first.has_more) == (["s006", "s005", "s004"], 7, True)
        assert (_ids(middle), middle.total, middle.has_more) == (["s003", "s002", "s001"], 7, True)
        assert (_ids(last), last.total, last.has_more) == (["s000"], 7, False)
        assert (_ids(beyond), beyond.total, beyond.has_more) == ([], 7, False)

    async def test_ties_broken_by_id_across_pages(self, storage: Any) -> None:
        for name in ["b", "e", "a", "d", "c"]:
            await storage.scores.save_score(_score(0, id=name, created_at=ts(1)))
        await storage.scores.save_score(_score(0, id="z-old", created_at=ts(0)))
        pages = [await storage.scores.list_scores(page=n, per_page=2) for n in range(3)]
        assert [_ids(p) for p in pages] == [["e", "d"], ["c", "b"], ["a", "z-old"]]

    async def test_per_page_none_returns_all(self, storage: Any) -> None:
        for n in range(5):
            await storage.scores.save_score(_score(n))
        page = await storage.scores.list_scores(per_page=None)
        assert len(page.items) == 5
        assert (page.total, page.per_page, page.has_more) == (5, None, False)


@pytest.mark.agent_storage_requires("ttl")
class TestScoreRetention:
    async def test_expired_scores_are_invisible(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(ttl={"scores": _dt.timedelta(hours=1)}))
        now = _dt.datetime.now(_dt.UTC)
        old, new = now - _dt.timedelta(hours=2), now - _dt.timedelta(minutes=1)
        await store.scores.save_score(_score(1, id="old", created_at=old))
        await store.scores.save_score(_score(2, id="new", created_at=new))
        assert await store.scores.get_score("old") is None
        fresh = await store.scores.get_score("new")
        assert fresh is not None and fresh.created_at == new
        page = await store.scores.list_scores(per_page=1)
        assert (_ids(page), page.total, page.has_more) == (["new"], 1, False)
        assert _ids(await store.scores.list_scores(scorer_id="relevance", run_id="run-1")) == [
            "new"]
