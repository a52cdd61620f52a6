"""SQLite runs the conformance kit on a fresh database file per test (``tmp_path``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Storage, open_store
from agent_storage.testing.plugin import new_table_prefix


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def agent_storage_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest_asyncio.fixture
async def storage_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Storage]]]:
    """Each call: a new store on a new file in this test's temp dir, initialised unless
    ``disable_init=True``; all closed at teardown."""
    made: list[Storage] = []

    async def factory(**options: Any) -> Storage:
        path = tmp_path / f"store{len(made)}.db"
        options.setdefault("table_prefix", new_table_prefix())
        store = open_store(f"sqlite:///{path}", fresh=True, **options)
        made.append(store)
        if not options.get("disable_init", False):
            await store.init()
        return store

    yield factory
    for store in reversed(made):
        await store.close()


@pytest.fixture
def agent_storage_unavailable() -> Callable[[Storage], Awaitable[Storage]]:
    """The kit's "database gone" hook: the store's file is replaced by bytes that are not
    a SQLite database; a new store on it."""
    from agent_storage.testing._helpers import reopen

    async def unavailable(store: Storage) -> Storage:
        await store.close()
        with open(store.backend.path, "wb") as f:  # noqa: ASYNC230 (a test hook, 7 KB)
            f.write(b"not a database " * 512)
        return reopen(store)

    return unavailable
