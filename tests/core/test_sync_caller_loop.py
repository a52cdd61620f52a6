"""agent_storage.sync called from a thread that runs its own event loop (a notebook cell,
a blocking helper inside async code): the store keeps its connections and data.

Issue 16 item 6: the facade looked its domains up for the *caller's* running loop, so each
call from such a thread abandoned and rebuilt every backend (~100 ms a call on SQLite,
abandoned connections piling up, and an anonymous memory:// store emptied)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from agent_storage import Message, Thread, sync

needs_sqlite = pytest.mark.skipif(
    importlib.util.find_spec("agent_storage_sqlite") is None, reason="no SQLite plugin"
)


@pytest.fixture(params=["memory", pytest.param("sqlite", marks=needs_sqlite)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 's.db'}"


def test_calls_from_a_running_loop_keep_the_store(url: str) -> None:
    store = sync.open_store(url, fresh=True)
    try:
        store.memory.save_thread(Thread(id="t", resource_id="u"))
        store.memory.save_messages(
            [Message(id=f"m{i}", thread_id="t", role="user", content=f"c{i}") for i in range(5)]
        )
        domain = store.memory.wrapped

        async def inside_a_loop() -> list[str]:
            ids: list[str] = []
            for _ in range(3):
                ids = [m.id for m in store.memory.list_messages("t", last=3).items]
                # the same domain object every time: no backend was rebuilt
                assert store.memory.wrapped is domain
            assert store.get_domain("memory").wrapped is domain  # type: ignore[union-attr]
            return ids

        assert asyncio.run(inside_a_loop()) == ["m2", "m3", "m4"]
        assert store.memory.wrapped is domain
        assert store.memory.threads().count() == 1
    finally:
        store.close()
