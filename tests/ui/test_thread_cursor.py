"""``ThreadQuery.after``: the keyset cursor the threads page pages with."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from agent_storage import Thread, ValidationError, open_store

from .conftest import run_async

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_after_continues_past_a_thread_in_the_query_order(kind: str, tmp_path: Path) -> None:
    # in a thread of its own: the browser tests' Playwright keeps a loop running in this one
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'c.db'}"
    run_async(_check(url))


async def _check(url: str) -> None:
    async with open_store(url) as storage:
        mem = storage.memory
        for i in range(7):  # two pairs share a created_at: the id breaks the tie
            at = T0 + dt.timedelta(minutes=i // 2)
            await mem.save_thread(Thread(id=f"t{i}", resource_id="u", created_at=at,
                                         updated_at=at, title=f"title {6 - i}"))
        await mem.save_thread(Thread(id="other", resource_id="v"))
        query = mem.threads().where(resource_id="u").order_by("created_at", "desc")
        seen: list[str] = []
        cursor = None
        while True:
            rows = await query.after(cursor).limit(3).all()
            seen += [t.id for t in rows]
            if len(rows) < 3:
                break
            cursor = rows[-1]
        assert seen == [t.id for t in await query.all()]
        assert seen == ["t6", "t5", "t4", "t3", "t2", "t1", "t0"]
        by_title = mem.threads().where(resource_id="u").order_by("title", "asc")
        assert [t.id async for t in by_title.after(await mem.get_thread("t2"))] == [
            "t1", "t0"]
        assert (await query.after(await mem.get_thread("t0")).first()) is None
        with pytest.raises(ValidationError):
            query.after("t3")  # type: ignore[arg-type]
