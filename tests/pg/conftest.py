"""PostgreSQL fixtures: one server per session, a fresh database per run, a schema per store.

Server: ``$AGENT_STORAGE_TEST_PG_URL``, else 127.0.0.1:5432 (user postgres) if it answers,
else a throwaway cluster started from the installed binaries (see ``pg_cluster``). Under
``CI=true`` a missing server fails every pg test instead of skipping it.

The conformance kit's ``storage_factory`` is overridden so that every store lives in its
own schema of the run's database (the database is dropped at the end of the run).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Storage, open_store
from pg_cluster import (
    DEFAULT_URL,
    ENV_URL,
    RUN_TOKEN,
    Cluster,
    _made_schemas,
    answers,
    asyncpg_url,
    execute,
    new_schema,
    with_database,
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _no_server(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI=true and no PostgreSQL server for the pg tests: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason}")


# -- session: server and database ---------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database (``postgres``)."""
    explicit = os.environ.get(ENV_URL)
    if explicit:
        if not answers(asyncpg_url(explicit)):
            _no_server(f"${ENV_URL} is set but the server does not answer")
        yield explicit
        return
    if answers(DEFAULT_URL):
        yield DEFAULT_URL
        return
    try:
        cluster = Cluster().start()
    except Exception as exc:
        _no_server(f"nothing on 127.0.0.1:5432 and no throwaway cluster: {exc}")
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database for this run (``agent_storage_test_<random>``), dropped after.

    When the server refuses CREATE DATABASE (a restricted ``$AGENT_STORAGE_TEST_PG_URL``),
    the given database is used as is: every store still has its own schema.
    """
    name = f"agent_storage_test_{RUN_TOKEN}"
    try:
        asyncio.run(execute(pg_server, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        import asyncpg

        if not isinstance(exc, asyncpg.InsufficientPrivilegeError):
            raise
        try:
            yield pg_server
        finally:  # a shared database: remove what this run made
            drops = [f'DROP SCHEMA IF EXISTS "{s}" CASCADE' for s in _made_schemas]
            asyncio.run(execute(pg_server, *drops))
        return
    # Test data need not survive a crash: skip the WAL flush at commit (writes run ~8x
    # faster on a busy machine); what is measured is correctness, never durability.
    asyncio.run(execute(pg_server, f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield with_database(pg_server, name)
    finally:
        asyncio.run(execute(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def agent_storage_url(pg_url: str) -> str:
    """The conformance kit's URL: the run's database."""
    return pg_url


# -- per test: a schema per store ---------------------------------------------------------


StorageFactory = Callable[..., Awaitable[Storage]]

# Creating 9 tables and 15 indexes costs far more than a test on a loaded 2-core machine,
# so schemas with the default layout are reused: after a test, a schema whose catalog is
# exactly as init left it is emptied (TRUNCATE) and handed to the next test. A schema a
# test changed (custom index, migration, restore) is never reused.
_DDL_OPTIONS = frozenset({"schema", "table_prefix", "indexes", "skip_default_indexes",
                          "disable_init"})
_free_schemas: list[str] = []
_fingerprints: dict[str, tuple[Any, ...]] = {}


async def _fingerprint(conn: Any, schema: str) -> tuple[Any, ...]:
    from sqlalchemy import text

    relations = (await conn.execute(text(
        "SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = :s ORDER BY 1"), {"s": schema})).all()
    versions = (await conn.execute(text(
        f'SELECT version, checksum FROM "{schema}".agent_storage_migrations ORDER BY 1'
    ))).all()
    return tuple(map(tuple, relations)), tuple(map(tuple, versions))


async def _recycle(store: Storage, schema: str) -> bool:
    """Empty ``schema`` for the next test if its catalog is as init left it."""
    from sqlalchemy import text

    if store.closed or schema not in _fingerprints:
        return False
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            if await _fingerprint(conn, schema) != _fingerprints[schema]:
                return False
            tables = [name for name, kind in _fingerprints[schema][0]
                      if kind == "r" and name != "agent_storage_migrations"]
            # DELETE, not TRUNCATE: a few rows cost less than new files for every relation
            deletes = ", ".join(f'd{i} AS (DELETE FROM "{schema}"."{t}")'
                                for i, t in enumerate(tables))
            await conn.execute(text(f"WITH {deletes} SELECT 1"))
    except Exception:
        return False
    return True


@pytest_asyncio.fixture(loop_scope="function")
async def storage_factory(pg_url: str) -> AsyncIterator[StorageFactory]:
    """``await storage_factory(**options)``: a store in a schema of its own (unless the
    test names one), initialised unless ``disable_init=True``; closed at teardown."""
    made: list[tuple[Storage, str | None]] = []

    async def factory(**options: Any) -> Storage:
        reusable = not (_DDL_OPTIONS & options.keys())
        if "schema" in options:
            _made_schemas.append(options["schema"])
        elif reusable and _free_schemas:
            options["schema"] = _free_schemas.pop()
        else:
            options["schema"] = new_schema()
        store = open_store(pg_url, fresh=True, **options)
        made.append((store, options["schema"] if reusable else None))
        if not options.get("disable_init", False):
            await store.init()
        schema = options["schema"]
        if reusable and schema not in _fingerprints:
            async with store.engine.connect() as conn:
                _fingerprints[schema] = await _fingerprint(conn, schema)
        return store

    yield factory
    errors: list[BaseException] = []
    for store, schema in reversed(made):
        try:
            if schema is not None and await _recycle(store, schema):
                _free_schemas.append(schema)
            await store.close()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest_asyncio.fixture(loop_scope="function")
async def pg_conn(pg_url: str) -> AsyncIterator[Any]:
    """A raw asyncpg connection to the run's database, for checks behind the store's back."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(pg_url), timeout=10)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def own_cluster() -> Iterator[Cluster]:
    """A throwaway cluster (SSL on, self-signed) that tests may restart or stop at will;
    never the machine's main server."""
    try:
        cluster = Cluster(ssl=True).start()
    except Exception as exc:
        _no_server(f"cannot start a throwaway cluster: {exc}")
        return
    try:
        yield cluster
    finally:
        cluster.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The kit's semantic-recall suites need pgvector, which this server may lack: they run
    in tests/vectors (tox env ``vectors``) on a server with pgvector, with and without
    ``exact_search``. Deselected here, not skipped."""
    suite = "agent_storage.testing.suites.test_vectors"
    dropped = [i for i in items if getattr(getattr(i, "cls", None), "__module__", "") == suite]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


@pytest.fixture
def agent_storage_unavailable() -> Callable[[Storage], Awaitable[Storage]]:
    """The kit's "database gone" hook: a new store on the same database and options but
    a port nothing listens on (the server is gone)."""
    import socket

    import attrs

    async def unavailable(store: Storage) -> Storage:
        with socket.socket() as sock:  # a free port, closed again: connections are refused
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        gone = attrs.evolve(store.backend.url, host="127.0.0.1", port=port)
        options = store.backend.options.given()
        options.update(options.pop("extra", {}) or {})
        for given_by_the_url in ("host", "port"):  # the options would win over the URL
            options.pop(given_by_the_url, None)
        return open_store(gone.render(hide_password=False), fresh=True, **options)

    return unavailable
