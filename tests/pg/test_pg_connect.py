"""Connection forms, SSL, pools, user engines, error translation and password hygiene."""

from __future__ import annotations

import logging
import ssl as _ssl
from typing import Any

import pytest
from agent_storage import open_store
from agent_storage.errors import (
    BackendError,
    ConfigurationError,
    TransientBackendError,
)
from agent_storage_pg import _errors
from pg_cluster import Cluster, free_port, with_database
from sqlalchemy import text
from sqlalchemy.engine import make_url


async def scalar(engine: Any, sql: str) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql))


async def test_url_form(pg_url: str) -> None:
    store = open_store(pg_url, fresh=True)
    try:
        assert await scalar(store.engine, "SELECT current_database()") == make_url(pg_url).database
        assert await scalar(store.engine, "SHOW application_name") == "agent-storage"
    finally:
        await store.close()


async def test_keyword_parts_without_url_parts(pg_url: str) -> None:
    url = make_url(pg_url)
    store = open_store("postgresql://", host=url.host, port=url.port, database=url.database,
                       user=url.username, fresh=True)
    try:
        assert await scalar(store.engine, "SELECT current_database()") == url.database
        assert await scalar(store.engine, "SELECT current_user") == url.username
    finally:
        await store.close()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+asyncpg"])
async def test_keywords_override_url_parts_and_every_scheme_works(pg_url: str, scheme: str) -> None:
    url = make_url(pg_url)
    other = with_database(pg_url, "postgres").replace("postgresql://", f"{scheme}://", 1)
    store = open_store(other, database=url.database, fresh=True)
    try:
        assert store.backend.backend_name == "pg"
        assert await scalar(store.engine, "SELECT current_database()") == url.database
    finally:
        await store.close()


async def test_url_query_options_reach_the_pool(pg_url: str) -> None:
    store = open_store(f"{pg_url}?pool_size=3&pool_timeout=2.5", fresh=True)
    try:
        pool = store.engine.pool
        assert pool.size() == 3
        assert pool.timeout() == 2.5
        assert await scalar(store.engine, "SELECT 1") == 1
    finally:
        await store.close()


async def test_pool_size_is_a_cap_and_a_full_pool_times_out_as_transient(pg_url: str) -> None:
    store = open_store(pg_url, pool_size=1, pool_timeout=0.2, fresh=True)
    try:
        engine = store.engine
        async with engine.connect() as held:
            await held.scalar(text("SELECT 1"))
            with pytest.raises(Exception) as info:
                async with engine.connect():
                    pass
        error = store.backend.translate_error(info.value)
        assert isinstance(error, TransientBackendError)
        # the held connection went back: the pool works again
        assert await scalar(engine, "SELECT 2") == 2
    finally:
        await store.close()


async def test_user_engine_is_used_and_never_disposed(pg_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(pg_url).set(drivername="postgresql+asyncpg"))
    try:
        store = open_store("postgresql://", engine=engine, fresh=True)
        assert store.engine is engine
        assert await scalar(store.engine, "SELECT 1") == 1
        await store.close()
        # still usable, and its pool still holds the connection the store used
        assert engine.pool.checkedin() == 1
        assert await scalar(engine, "SELECT 3") == 3
    finally:
        await engine.dispose()


def test_user_engine_must_be_a_postgresql_async_engine() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    with pytest.raises(ConfigurationError, match="AsyncEngine"):
        open_store("postgresql://", engine=object(), fresh=True)
    sqlite_engine = create_async_engine("sqlite+aiosqlite://")
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        open_store("postgresql://", engine=sqlite_engine, fresh=True)


# -- ssl ----------------------------------------------------------------------------------


def _no_verify_context() -> _ssl.SSLContext:
    context = _ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = _ssl.CERT_NONE
    return context


@pytest.mark.parametrize(
    ("ssl", "encrypted"),
    [(False, False), ("disable", False), ("prefer", True), ("require", True),
     ("context", True)],
)
async def test_ssl_forms(own_cluster: Cluster, ssl: Any, encrypted: bool) -> None:
    value = _no_verify_context() if ssl == "context" else ssl
    store = open_store(own_cluster.url, ssl=value, fresh=True)
    try:
        used = await scalar(
            store.engine, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        assert used is encrypted
    finally:
        await store.close()


async def test_ssl_verification_failure_is_not_transient(own_cluster: Cluster) -> None:
    # a self-signed certificate cannot pass verify-full: a configuration problem, not a blip
    store = open_store(own_cluster.url, ssl="verify-full", fresh=True)
    try:
        with pytest.raises(Exception) as info:
            await scalar(store.engine, "SELECT 1")
        error = store.backend.translate_error(info.value)
        assert type(error) is BackendError
    finally:
        await store.close()


def test_bad_ssl_value_is_refused_before_connecting() -> None:
    with pytest.raises(ConfigurationError, match="ssl"):
        open_store("postgresql://127.0.0.1:1/x", ssl="sometimes", fresh=True)


# -- errors -------------------------------------------------------------------------------


async def test_refused_connection_is_transient_with_cause() -> None:
    store = open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/x", fresh=True)
    try:
        with pytest.raises(Exception) as info:
            await scalar(store.engine, "SELECT 1")
        error = store.backend.translate_error(info.value)
        assert isinstance(error, TransientBackendError)
    finally:
        await store.close()


async def test_sql_errors_are_backend_errors_and_data_errors_validation(pg_url: str) -> None:
    from agent_storage.errors import ValidationError

    store = open_store(pg_url, fresh=True)
    try:
        with pytest.raises(Exception) as info:
            await scalar(store.engine, "SELECT * FROM no_such_table_here")
        error = _errors.translate(info.value)
        assert type(error) is BackendError
        assert "no_such_table_here" in str(error) and "42P01" in str(error)
        with pytest.raises(Exception) as info:
            await scalar(store.engine, "SELECT 'a'::int")
        assert isinstance(_errors.translate(info.value), ValidationError)
    finally:
        await store.close()


async def test_password_never_in_repr_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Sup3r-S3cret-pw"
    port = free_port()
    caplog.set_level(logging.DEBUG)
    stores = [
        open_store(f"postgresql://postgres:{secret}@127.0.0.1:{port}/x", fresh=True, debug=True),
        open_store(f"postgresql://postgres@127.0.0.1:{port}/x", password=secret, fresh=True),
    ]
    try:
        for store in stores:
            shown = [repr(store), str(store), store.url, repr(store.backend),
                     repr(store.backend.options), str(store.engine.url), repr(store.engine.url)]
            assert not [s for s in shown if secret in s]
            with pytest.raises(Exception) as info:
                await scalar(store.engine, "SELECT 1")
            error = store.backend.translate_error(info.value)
            assert secret not in str(error) and secret not in repr(error)
        assert secret not in caplog.text
    finally:
        for store in stores:
            await store.close()


def test_translate_scrubs_secrets_from_messages() -> None:
    error = _errors.translate(RuntimeError("failed for dsn postgresql://u:hunter22@h/db"),
                              ["hunter22"])
    assert "hunter22" not in str(error) and "***" in str(error)


async def test_store_calls_on_an_unreachable_server_hide_the_password() -> None:
    secret = "An0ther-S3cret"
    store = open_store(f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/x", fresh=True)
    try:
        with pytest.raises(TransientBackendError) as info:
            await store.memory.get_thread("t")  # lazy init fails first: still scrubbed
        assert info.value.__cause__ is not None
        assert secret not in str(info.value) and secret not in repr(info.value)
    finally:
        await store.close()


async def test_debug_logs_statements_with_durations_never_parameters(
    storage_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from agent_storage import Thread

    store = await storage_factory(debug=True)
    caplog.set_level(logging.DEBUG, logger="agent_storage.sql")
    await store.memory.save_thread(Thread(id="t", resource_id="r", title="private words"))
    await store.memory.get_thread("t")
    lines = [r.getMessage() for r in caplog.records if r.name == "agent_storage.sql"]
    assert any("INSERT INTO" in line and " ms" in line for line in lines), lines
    assert any(line.count("SELECT") and "agent_storage_threads" in line for line in lines)
    assert not any("private words" in line for line in lines)


async def test_engine_is_the_escape_hatch_for_custom_sql(storage: Any) -> None:
    from agent_storage import Thread

    await storage.memory.save_thread(Thread(id="t", resource_id="r", title="hello"))
    table = storage.backend.tables.threads  # schema-qualified SQLAlchemy Table
    from sqlalchemy import select

    async with storage.engine.connect() as conn:
        title = await conn.scalar(select(table.c.title).where(table.c.id == "t"))
        assert title == "hello"
    async with storage.engine.begin() as conn:  # a real transaction on the user's side
        await conn.execute(table.update().where(table.c.id == "t").values(title="edited"))
    thread = await storage.memory.get_thread("t")
    assert thread is not None and thread.title == "edited"
