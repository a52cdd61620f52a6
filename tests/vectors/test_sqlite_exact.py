"""SQLite's exact search: one statement scores the scope where its blobs are read (the
TopScores aggregate) and returns the winners' rows; numpy and pure Python give the same
hits, scores and tie order, and so does the two-read path of other SQL connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_storage import Message, Thread, open_store
from agent_storage.embedders import DeterministicTestEmbedder
from agent_storage.vectors import _math
from agent_storage.vectors.backend import check_vector, score

pytestmark = pytest.mark.asyncio(loop_scope="function")

TOPICS = ["red apples grow", "blue whales sing", "the train leaves at nine", "tea with Ada"]


async def _search_all(url: str) -> list[list[tuple[str, float]]]:
    embedder = DeterministicTestEmbedder(24)
    async with open_store(url, fresh=True, embedder=embedder) as store:
        m = store.memory
        for r in range(3):
            await m.save_thread(Thread(id=f"t{r}", resource_id="u" if r < 2 else "other"))
            # each text twice in a thread: exact ties, the later-saved copy ranks first
            await m.save_messages([
                Message(id=f"t{r}-{n}", thread_id=f"t{r}", role="user",
                        content=f"{TOPICS[n % 4]} {r if n % 3 else ''}".strip())
                for n in range(24)])
        out = []
        for query in ["whales sing", "train at nine", "apples", "Ada tea whales"]:
            for scope in ({"resource_id": "u"}, {"thread_id": "t1"}):
                hits = await m.search_messages(query, top_k=7, **scope)
                out.append([(h.message.id, h.score) for h in hits])
                q = check_vector(embedder.vector(query), 24)
                for h in hits:
                    assert h.score == score(q, check_vector(
                        embedder.vector(str(h.message.content)), 24))
        hits = await m.search_messages("whales sing", resource_id="u", top_k=50,
                                       min_score=0.5)
        out.append([(h.message.id, h.score) for h in hits])
        assert hits and all(h.score >= 0.5 for h in hits)
        assert await m.search_messages("whales", resource_id="nobody") == []
        return out


async def test_numpy_pure_python_and_two_reads_agree(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numpy")  # the vectors env installs it
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with_numpy = await _search_all(url)
    with monkeypatch.context() as patch:
        patch.setattr(_math, "_numpy", lambda: None)  # as without numpy installed
        pure = await _search_all(url)
    from agent_storage_sqlite.store import SqliteBackend

    with monkeypatch.context() as patch:
        patch.setattr(SqliteBackend, "scores_in_sql", lambda self: False)
        two_reads = await _search_all(url)
    assert with_numpy == pure == two_reads
    ties = with_numpy[0]
    # "blue whales sing" four times: equal scores, the later-saved first
    assert [i for i, _ in ties[:4]] == ["t1-21", "t1-9", "t0-21", "t0-9"]
    assert len({s for _, s in ties[:4]}) == 1 and ties[4][1] < ties[0][1]


async def test_the_aggregate_alone(tmp_path: Path) -> None:
    """TopScores registered on a plain sqlite3 connection: JSON of (seq, score), best
    first; nothing fed gives NULL."""
    import json
    import sqlite3

    from agent_storage.vectors.backend import TopScores, pack

    conn = sqlite3.connect(":memory:")
    conn.create_aggregate(TopScores.name, TopScores.arity, TopScores)
    conn.execute("CREATE TABLE v (seq INTEGER PRIMARY KEY, e BLOB)")
    vectors = [check_vector(v, 3) for v in ([1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0])]
    conn.executemany("INSERT INTO v VALUES (?, ?)",
                     [(i + 1, pack(v)) for i, v in enumerate(vectors)])
    sql = f"SELECT {TopScores.name}(seq, e, ?, ?, ?) FROM v WHERE seq <= ?"
    got: Any = json.loads(conn.execute(sql, (pack(vectors[0]), 3, None, 9)).fetchone()[0])
    assert got == [[4, 1.0], [1, 1.0], [3, 0.707107]]
    got = json.loads(conn.execute(sql, (pack(vectors[0]), 3, 0.9, 9)).fetchone()[0])
    assert got == [[4, 1.0], [1, 1.0]]
    # nothing fed: NULL (json_each of NULL has no rows)
    assert conn.execute(sql, (pack(vectors[0]), 3, None, 0)).fetchone()[0] is None
