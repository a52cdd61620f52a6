"""``open_store``: URL and options handling, the instance cache, defaults, hot reload.

Behaviour from DESIGN section 2: the same target gives the same object (so hot-reload
frameworks do not open a pool per rerun), ``fresh=True`` bypasses the cache and logs one
warning, ``close_all()`` closes everything, bad input fails before any connection, and a
password never shows.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import agent_storage
import pytest
from agent_storage import (
    ConfigurationError,
    DomainNotAvailableError,
    InvalidIdentifierError,
    Retention,
    Storage,
    Thread,
    UnknownBackendError,
    close_all,
    open_store,
)
from agent_storage._cache import DEFAULT_URL
from agent_storage.backends.memory import MemoryBackend

SECRET = "pa55-Word!"


@pytest.fixture
def name() -> Iterator[str]:
    """A unique named memory store, forgotten afterwards."""
    store = f"os{uuid.uuid4().hex[:10]}"
    yield store
    MemoryBackend.forget(store)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    yield
    asyncio.run(close_all())


# -- URL and options -------------------------------------------------------------------------


def test_url_query_options_and_keywords_win(name: str) -> None:
    storage = open_store(f"memory://{name}?table_prefix=from_url&skip_default_indexes=yes")
    assert storage.backend.options.table_prefix == "from_url"
    assert storage.backend.options.skip_default_indexes is True
    storage = open_store(f"memory://{name}?table_prefix=from_url", table_prefix="from_kw")
    assert storage.backend.options.table_prefix == "from_kw"
    assert storage.url == f"memory://{name}?table_prefix=from_url"


@pytest.mark.parametrize(("kwargs", "field", "hint"), [
    ({"bogus": 1}, "bogus", "accepted: "),
    ({"pool_size": 3}, "pool_size", "belongs to another backend"),   # memory has no pool
    ({"region": "eu-west-1"}, "region", "belongs to another backend"),
    ({"table_prefix": "bad-prefix"}, "table_prefix", "not a valid identifier"),
    ({"table_prefix": "1abc"}, "table_prefix", "not a valid identifier"),
    ({"disable_init": "no"}, "disable_init", "bool"),   # "no" is truthy: must not pass
    ({"skip_default_indexes": 1}, "skip_default_indexes", "bool"),
    ({"retention": Retention(max_messages_per_thread=5), "indexes": [42]}, "indexes", "IndexSpec"),
])
def test_bad_options_name_the_field(kwargs: dict[str, object], field: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store("memory://", **kwargs)  # type: ignore[arg-type]
    assert f"{field}" in str(caught.value) and hint in str(caught.value)


@pytest.mark.parametrize(("url", "field"), [
    ("memory://?skip_default_indexes=perhaps", "skip_default_indexes"),
    ("memory://?retention=10", "retention"),
    ("memory://?indexes=x", "indexes"),
    ("memory://?table_prefix=a&table_prefix=b", "table_prefix"),
])
def test_bad_url_options_name_the_field(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    assert field in str(caught.value)


def test_retention_errors_name_the_field() -> None:
    with pytest.raises(ConfigurationError, match="max_messages_per_thread"):
        open_store("memory://", retention=Retention(max_messages_per_thread=0))
    with pytest.raises(ConfigurationError, match=r"retention\.ttl"):
        open_store("memory://", retention={"ttl": {"nonsense": 5}})


@pytest.mark.parametrize("target", [
    "", "no-scheme.db", "memory", 42, b"memory://", "mem ory://x",
])
def test_bad_targets(target: object) -> None:
    with pytest.raises(ConfigurationError):
        open_store(target)  # type: ignore[arg-type]


def test_unknown_scheme_names_what_is_installed() -> None:
    from agent_storage._plugins import registry

    with pytest.raises(UnknownBackendError) as caught:
        open_store("mongodb://localhost/db")
    text = str(caught.value)
    assert "'mongodb'" in text
    for scheme in registry().backends:
        assert scheme in text
    missing = [s for s in ("sqlite", "postgresql", "dynamodb") if s not in registry().backends]
    for scheme in missing:
        with pytest.raises(UnknownBackendError, match=r"pip install agent-storage-\w+"):
            open_store(f"{scheme}://x")


def test_bad_identifiers_fail_before_any_connection(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    for kwargs in ({"table_prefix": "x; DROP TABLE y"}, {"table_prefix": "a" * 64},
                   {"table_prefix": "a" * 55}):  # 55 + "_messages" > 63 bytes
        with pytest.raises(InvalidIdentifierError):
            open_store(f"sqlite:///{db}", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifierError):
        open_store(f"sqlite:///{db}?table_prefix=bad.name")
    assert not db.exists()
    assert not any(tmp_path.iterdir())


def test_opening_does_not_connect(tmp_path: Path) -> None:
    db = tmp_path / "lazy.db"
    storage = open_store(f"sqlite:///{db}")
    assert isinstance(storage, Storage)
    assert not db.exists()  # nothing happens until the first call or init()

    async def use() -> None:
        await storage.init()
        await storage.close()

    asyncio.run(use())
    assert db.exists()


# -- the cache ---------------------------------------------------------------------------


def test_same_target_same_object(name: str) -> None:
    a = open_store(f"memory://{name}")
    assert open_store(f"memory://{name}") is a
    assert open_store(f"memory://{name}?table_prefix=other") is not a
    assert open_store(f"memory://{name}", table_prefix="kw") is not a
    b = open_store(f"memory://{name}", retention=Retention(max_messages_per_thread=3))
    assert b is not a
    assert open_store(f"memory://{name}", retention=Retention(max_messages_per_thread=3)) is b


def test_fresh_bypasses_the_cache_and_warns_once(name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    url = f"memory://user:{SECRET}@{name}"
    cached = open_store(url)
    with caplog.at_level(logging.WARNING, logger="agent_storage"):
        first = open_store(url, fresh=True)
        second = open_store(url, fresh=True)
    assert first is not cached and second is not cached and first is not second
    assert open_store(url) is cached  # a fresh store does not replace the cached one
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "second live store" in message and name in message
    assert SECRET not in caplog.text


def test_fresh_without_a_live_store_does_not_warn(name: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agent_storage"):
        open_store(f"memory://{name}", fresh=True)
    assert caplog.records == []


def test_closed_store_is_replaced(name: str) -> None:
    storage = open_store(f"memory://{name}")
    asyncio.run(storage.close())
    assert storage.closed
    again = open_store(f"memory://{name}")
    assert again is not storage and not again.closed


def test_close_all_closes_every_cached_store(name: str) -> None:
    stores = [open_store(f"memory://{name}"), open_store(f"memory://{name}x"),
              open_store("memory://")]

    async def use_then_close() -> None:
        for s in stores:
            await s.memory.save_thread(Thread(id="t", resource_id="u"))
        await close_all()

    asyncio.run(use_then_close())
    assert all(s.closed for s in stores)
    assert open_store(f"memory://{name}") is not stores[0]
    MemoryBackend.forget(f"{name}x")


def test_store_outlives_its_event_loop(name: str) -> None:
    """asyncio.run twice (scripts, notebooks, pytest): the next loop gets a working store."""
    url = f"memory://{name}"

    async def write() -> None:
        await open_store(url).memory.save_thread(Thread(id="t", resource_id="u"))

    async def read() -> str | None:
        thread = await open_store(url).memory.get_thread("t")
        return None if thread is None else thread.resource_id

    asyncio.run(write())
    assert asyncio.run(read()) == "u"


def test_mapping_target_routes_and_disables_domains(name: str) -> None:
    storage = open_store({"default": f"memory://{name}", "scores": f"memory://{name}s",
                          "observability": False})
    assert storage.get_domain("observability") is None
    with pytest.raises(DomainNotAvailableError):
        storage.observability  # noqa: B018
    assert storage.backends["scores"] is not storage.backends["memory"]
    assert storage.backends["memory"] is storage.backends["workflows"]
    assert open_store({"default": f"memory://{name}", "scores": f"memory://{name}s",
                       "observability": False}) is storage
    with pytest.raises(ConfigurationError, match="unknown keys"):
        open_store({"default": "memory://", "memroy": "memory://"})
    MemoryBackend.forget(f"{name}s")


# -- default URL -----------------------------------------------------------------------------


def test_default_url_from_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_STORAGE_URL", f"memory://{name}")
    assert open_store().url == f"memory://{name}"
    assert open_store() is open_store(f"memory://{name}")


def test_default_url_is_a_sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENT_STORAGE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_URL == "sqlite:///agent_storage.db"
    storage = open_store()
    assert storage.url == DEFAULT_URL
    assert storage.backend.backend_name == "sqlite"
    monkeypatch.setenv("AGENT_STORAGE_URL", "")  # empty counts as unset
    assert open_store() is storage
    assert not (tmp_path / "agent_storage.db").exists()


# -- hot reload ------------------------------------------------------------------------------


def test_cache_survives_reload_of_the_package(name: str) -> None:
    import agent_storage._cache as cache_module

    before = open_store(f"memory://{name}")
    importlib.reload(cache_module)
    importlib.reload(agent_storage)
    try:
        assert agent_storage.open_store(f"memory://{name}") is before
        assert cache_module.open_store(f"memory://{name}") is before
        # the plugin registry survives too: memory is still registered exactly once
        from agent_storage._plugins import registry

        assert registry().backends["memory"].plugin == "memory"
        assert registry().errors == [e for e in registry().errors if e.plugin != "memory"]
    finally:
        # the reloaded module's close_all must see the same cache
        asyncio.run(agent_storage.close_all())
    assert before.closed


# -- passwords -------------------------------------------------------------------------------


def test_password_never_in_repr_str_or_errors(name: str) -> None:
    url = f"memory://ada:{SECRET}@{name}"
    storage = open_store(url)
    for text in (repr(storage), str(storage.url), storage.url, repr(storage.backend.url),
                 str(storage.backend.url)):
        assert SECRET not in text
        assert "ada:***@" in text
    for bad in (f"memory://ada:{SECRET}@{name}?bogus=1", f"memory://ada:{SECRET}@h:port/x",
                f"nosuch://ada:{SECRET}@h/x"):
        with pytest.raises(ConfigurationError) as caught:
            open_store(bad)
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    from agent_storage_pg.options import PgOptions

    options = PgOptions(password=SECRET)
    assert SECRET not in repr(options) and SECRET not in str(options)


def test_sqlite_backend_url_hides_password(tmp_path: Path) -> None:
    storage = open_store(f"sqlite://user:{SECRET}@/{tmp_path}/x.db")
    assert SECRET not in repr(storage) and SECRET not in storage.url
    assert os.fspath(tmp_path) in storage.url
