"""The password of a store URL never appears in repr, str, logs (``debug=True`` too),
exception messages (the whole chain, as a traceback prints it) or CLI output.

Failing connections use 127.0.0.1 on a closed port, so they fail fast without a server;
the working-connection cases use the PostgreSQL server on 127.0.0.1:5432 when one
answers (trust auth accepts any password), else they are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from agent_storage import AgentStorageError, open_store
from agent_storage.backends.memory import MemoryBackend
from agent_storage.url import parse_url

SECRET = "Sup3r-S3cret/p@ss:w0rd%"  # needs percent-encoding in a URL
ENCODED = quote(SECRET, safe="")
FORMS = (SECRET, ENCODED, "Sup3r-S3cret")  # raw, URL-encoded, and a recognisable part


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the socket is


DEAD_URL = f"postgresql://app:{ENCODED}@127.0.0.1:{_closed_port()}/appdb"


def _pg_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def assert_clean(text: str, where: str) -> None:
    for form in FORMS:
        assert form not in text, f"password leaked in {where}: ...{text[-400:]}"


def _chain_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


def test_parsed_url_hides_the_password() -> None:
    url = parse_url(DEAD_URL)
    assert url.password == SECRET  # kept for connecting...
    for text in (repr(url), str(url), url.render(), repr(url.without_query())):
        assert_clean(text, "StoreURL")  # ...but never shown


def test_store_options_hide_the_password() -> None:
    from agent_storage_pg.options import PgOptions

    options = PgOptions(password=SECRET, user="app", host="db")
    assert_clean(repr(options), "StoreOptions repr")
    assert_clean(str(options), "StoreOptions str")


def test_storage_repr_and_url_hide_the_password() -> None:
    for store in (
        open_store(DEAD_URL, fresh=True),
        open_store("postgresql://", fresh=True, host="127.0.0.1", user="app", password=SECRET),
    ):
        texts = [repr(store), str(store), store.url, str(store.backend.url)]
        texts += [repr(store.backend.url), repr(store.backend.options)]
        for text in texts:
            assert_clean(text, "Storage")


def test_invalid_url_errors_hide_the_password() -> None:
    for bad in (
        f"postgresql://app:{ENCODED}@127.0.0.1:99999/db",  # port out of range
        f"postgresql://app:{ENCODED}@127.0.0.1/db?no_such_option=1",
        f"postgresql://app:{ENCODED}@127.0.0.1/db?schema=bad-name",
        f"nosuchscheme://app:{ENCODED}@127.0.0.1/db",
    ):
        with pytest.raises(AgentStorageError) as info:
            open_store(bad, fresh=True)
        assert_clean(_chain_text(info.value), f"error for {bad.split('@')[1]}")


async def test_failed_connection_with_debug_logs_and_errors_hide_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, SQLAlchemy's, asyncpg's, asyncio's
    for url, options in (
        (DEAD_URL, {}),
        (DEAD_URL, {"debug": True}),
        (
            "postgresql://",
            {"host": "127.0.0.1", "port": _closed_port(), "user": "app", "password": SECRET},
        ),
    ):
        store = open_store(url, fresh=True, pool_timeout=5, **options)
        for attempt in (store.init(), store.memory.get_thread("t"), store.status()):
            with pytest.raises(AgentStorageError) as info:
                await asyncio.wait_for(attempt, 60)
            assert_clean(_chain_text(info.value), "exception chain")
        await store.close()
    assert_clean(caplog.text, "logs")
    for record in caplog.records:
        assert_clean(repr(record.args) + str(record.msg), "log record")


@pytest.mark.skipif(not _pg_answers(), reason="no PostgreSQL server on 127.0.0.1:5432")
async def test_working_store_with_debug_never_logs_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from agent_storage import Message, Thread

    caplog.set_level(logging.DEBUG)
    schema = f"secrets_{secrets.token_hex(4)}"
    url = f"postgresql://postgres:{ENCODED}@127.0.0.1:5432/postgres"
    store = open_store(url, fresh=True, schema=schema, debug=True)
    try:
        await store.memory.save_thread(Thread(id="t", resource_id="u", title=SECRET[:3]))
        await store.memory.save_messages([Message(id="m", thread_id="t", role="user", content=1)])
        await store.memory.list_messages("t", last=5)
        status = await store.status()
        assert_clean(repr(status), "StoreStatus")
        assert_clean(status.url, "StoreStatus.url")
    finally:
        try:
            from sqlalchemy import text

            async with store.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await store.close()
    assert any(r.name.startswith("agent_storage") for r in caplog.records), "debug logged nothing"
    assert_clean(caplog.text, "debug logs")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("agent-storage")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "agent_storage.cli"]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args",
    [
        ("status", DEAD_URL),
        ("threads", DEAD_URL, "--resource", "u"),
        ("status", f"postgresql://app:{ENCODED}@127.0.0.1:99999/db"),
        ("status", f"nosuchscheme://app:{ENCODED}@host/db"),
    ],
    ids=lambda a: "-".join(x.split("://")[0] for x in a[:2]),
)
def test_cli_errors_hide_the_password(args: tuple[str, ...]) -> None:
    result = _cli(*args)
    assert result.returncode in (1, 2), result
    assert_clean(result.stdout + result.stderr, f"CLI {args[0]} output")
    assert "Traceback" not in result.stderr


def test_cli_hides_the_password_from_the_environment() -> None:
    result = _cli("status", env={"AGENT_STORAGE_URL": DEAD_URL})
    assert_clean(result.stdout + result.stderr, "CLI output with $AGENT_STORAGE_URL")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not _pg_answers(), reason="no PostgreSQL server on 127.0.0.1:5432")
def test_cli_success_output_hides_the_password() -> None:
    schema = f"secrets_{secrets.token_hex(4)}"
    url = f"postgresql://postgres:{ENCODED}@127.0.0.1:5432/postgres?schema={schema}"
    try:
        for args in (("init", url), ("status", url)):
            result = _cli(*args)
            assert result.returncode == 0, result
            assert_clean(result.stdout + result.stderr, f"CLI {args[0]} output")
    finally:
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()

        asyncio.run(drop())


# -- a password given as the ``password`` query option (issue 11 item 4) -----------------

QUERY_URL = f"postgresql://app@127.0.0.1:{_closed_port()}/appdb?password={ENCODED}"


def test_a_query_option_password_is_hidden_like_a_userinfo_one() -> None:
    url = parse_url(QUERY_URL)
    assert url.query["password"] == SECRET  # kept for connecting...
    store = open_store(QUERY_URL, fresh=True)
    assert store.backend.options.password == SECRET
    texts = [repr(url), str(url), url.render(), repr(store), str(store), store.url,
             str(store.backend.url), repr(store.backend.url), repr(store.backend.options)]
    for text in texts:
        assert_clean(text, "a URL with ?password=")  # ...but never shown
        assert "password=***" in text or "password='***'" in text


class TokenBackend(MemoryBackend):
    """A backend with a secret option of its own."""

    secret_options = frozenset({"session"})
    extra_options = ("session",)


def test_options_a_backend_declares_secret_are_hidden() -> None:
    from agent_storage import hookimpl
    from agent_storage._plugins import registry

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("tokened", f"{__name__}:TokenBackend", schemes=("tokened",))

    reg = registry()
    if "tokened" not in reg.backends:
        reg.add_plugin("tokened-test", Plugin())
    store = open_store(f"tokened://x?session={ENCODED}", fresh=True)
    for text in (repr(store), store.url, repr(store.backend.url)):
        assert_clean(text, "a backend's secret option")
    # names that say they are secret are hidden before any backend is known
    for name in ("aws_secret_access_key", "session_token", "api_key"):
        assert_clean(str(parse_url(f"dynamodb://t?{name}={ENCODED}")), name)


async def test_a_query_password_is_hidden_in_errors_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for options in ({}, {"debug": True}):
        store = open_store(QUERY_URL, fresh=True, pool_timeout=5, **options)
        for attempt in (store.init(), store.memory.get_thread("t"), store.status()):
            with pytest.raises(AgentStorageError) as info:
                await asyncio.wait_for(attempt, 60)
            assert_clean(_chain_text(info.value), "exception chain")
        await store.close()
    assert_clean(caplog.text, "logs")


@pytest.mark.parametrize("args", [("status", QUERY_URL), ("init", QUERY_URL),
                                  ("status", "--json", QUERY_URL)], ids=["status", "init", "json"])
def test_cli_errors_hide_a_query_password(args: tuple[str, ...]) -> None:
    result = _cli(*args)
    assert result.returncode == 1, result
    assert_clean(result.stdout + result.stderr, f"CLI {args[0]} output")


@pytest.mark.skipif(not _pg_answers(), reason="no PostgreSQL server on 127.0.0.1:5432")
async def test_a_query_password_is_hidden_by_a_working_store_and_the_cli() -> None:
    from agent_storage import SchemaNotInitializedError

    schema = f"secrets_{secrets.token_hex(4)}"
    url = f"postgresql://postgres@127.0.0.1:5432/postgres?schema={schema}&password={ENCODED}"
    store = open_store(url, fresh=True, disable_init=True)
    try:
        with pytest.raises(SchemaNotInitializedError) as info:
            await store.memory.get_thread("t")
        assert_clean(_chain_text(info.value), "SchemaNotInitializedError")
        for args in (("init", url), ("status", url), ("status", "--json", url)):
            result = await asyncio.to_thread(_cli, *args)
            assert result.returncode == 0, result
            assert_clean(result.stdout + result.stderr, f"CLI {' '.join(args[:2])} output")
        assert_clean(repr(await store.status()), "StoreStatus")
    finally:
        await store.close()
        import asyncpg

        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
