"""Backends for the integration tests, reusing the pg and DynamoDB suites' fixtures.

``tests/pg/conftest.py`` and ``tests/dynamodb/conftest.py`` are loaded as plain modules
(under other names, so their hooks do not apply here) and their server fixtures are
re-exported: a PostgreSQL database per run and a moto server over HTTP per session.
Under ``CI=true`` a missing server fails instead of skipping, as in those suites.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Storage, open_store

TESTS = Path(__file__).resolve().parents[1]
for folder in ("pg", "dynamodb"):  # their helper modules (pg_cluster, dynamo_testlib)
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_pg = _load("_integrations_pg_conftest", TESTS / "pg" / "conftest.py")
_ddb = _load("_integrations_dynamodb_conftest", TESTS / "dynamodb" / "conftest.py")

pg_server = _pg.pg_server
pg_url = _pg.pg_url
aws_env = _ddb.aws_env
dynamodb_endpoint = _ddb.dynamodb_endpoint
sync_client = _ddb.sync_client



@pytest.fixture
def url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``url_factory(backend)``: the URL of a new, empty store on that backend.

    The servers of the test's ``backend`` parameter are resolved now, outside the event
    loop (their session fixtures call ``asyncio.run``)."""
    made: list[str] = []
    wanted = getattr(getattr(request.node, "callspec", None), "params", {}).get("backend")
    if wanted == "pg":
        request.getfixturevalue("pg_url")
    elif wanted == "dynamodb":
        request.getfixturevalue("sync_client")

    def make(backend: str) -> str:
        token = uuid.uuid4().hex[:10]
        if backend == "memory":
            url = f"memory://lg_{token}"
        elif backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'{token}.db'}"
        elif backend == "pg":
            base = request.getfixturevalue("pg_url")
            url = f"{base}{'&' if '?' in base else '?'}schema=lg_{token}"
        elif backend == "dynamodb":
            endpoint = request.getfixturevalue("dynamodb_endpoint")
            client = request.getfixturevalue("sync_client")
            from agent_storage_dynamodb.spec import table_spec
            from dynamo_testlib import dynamodb_url

            table = f"lg-{token}"
            client.create_table(**table_spec(table))
            url = dynamodb_url(endpoint, table)
        else:  # pragma: no cover
            raise ValueError(backend)
        made.append(url)
        return url

    return make


@pytest_asyncio.fixture
async def storage_for(
    url_factory: Callable[[str], str],
) -> AsyncIterator[Callable[..., Awaitable[Storage]]]:
    """``await storage_for(backend)``: an initialised async store on a new, empty target."""
    stores: list[Storage] = []

    async def make(backend: str, **options: Any) -> Storage:
        store = open_store(url_factory(backend), fresh=True, **options)
        await store.init()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
def close_sync_stores() -> Iterator[None]:
    """Close every ``agent_storage.sync`` store a test opened."""
    yield
    from agent_storage.sync import close_all

    close_all()
