"""A SQLite store used from several event loops at once, and a failed ``async with``
(issue 11 items 13 and 15; the checks live in :mod:`agent_storage.testing.event_loops`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_storage import open_store
from agent_storage.testing.event_loops import check_failed_enter_releases, use_from_threads


def test_one_store_from_five_threads_each_with_its_own_loop(sqlite_url: str) -> None:
    # no hang, no "database is locked", every write there
    use_from_threads(open_store(sqlite_url, fresh=True))


def test_a_failed_async_with_closes_what_init_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no-such-directory/agent.db"
    asyncio.run(check_failed_enter_releases(open_store(url, fresh=True)))
