"""URL parsing, option validation and identifier checks: errors name the field."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from agent_storage import (
    ConfigurationError,
    InvalidIdentifierError,
    InvalidURLError,
    Retention,
    StoreOptions,
    open_store,
    parse_url,
)
from agent_storage.naming import check_identifier, index_name, table_name
from agent_storage.options import build_options


def test_parse_full_url_and_hide_password() -> None:
    url = parse_url("postgresql://alice:s%40cret@db.example:6543/app?schema=tenant&pool_size=5")
    assert (url.scheme, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql",
        "alice",
        "s@cret",
        "db.example",
        6543,
        "app",
    )
    assert dict(url.query) == {"schema": "tenant", "pool_size": "5"}
    for text in (str(url), repr(url), url.render()):
        assert "s@cret" not in text and "s%40cret" not in text and "***" in text
    assert "s%40cret" in url.render(hide_password=False)


def test_sqlite_paths() -> None:
    assert parse_url("sqlite:///agent.db").database == "agent.db"
    assert parse_url("sqlite:////tmp/agent.db").database == "/tmp/agent.db"
    assert parse_url("sqlite://").database is None


@pytest.mark.parametrize(
    "bad", ["", "agent.db", "://x", "post gres://h/db", "pg://h:99999/db", "pg://h/db?a=1&a=2"]
)
def test_bad_urls(bad: str) -> None:
    with pytest.raises(InvalidURLError):
        parse_url(bad)


def test_bad_port_error_never_shows_password() -> None:
    with pytest.raises(InvalidURLError) as info:
        parse_url("postgresql://u:topsecret@h:notaport/db")
    assert "topsecret" not in str(info.value)


def test_query_options_are_coerced_and_keywords_win() -> None:
    from agent_storage_pg.options import PgOptions

    opts = build_options(
        {"pool_size": "3", "debug": "true", "schema": "a"},
        {"schema": "b"},
        backend="pg",
        options_class=PgOptions,
    )
    assert isinstance(opts, PgOptions)
    assert opts.pool_size == 3 and opts.debug is True and opts.schema == "b"


@pytest.mark.parametrize(
    ("query", "keywords", "field"),
    [
        ({}, {"poolsize": 3}, "poolsize"),
        ({"region": "x"}, {}, "region"),
        ({"pool_size": "many"}, {}, "pool_size"),
        ({"debug": "maybe"}, {}, "debug"),
        ({}, {"pool_size": 0}, "pool_size"),
        ({}, {"pool_timeout": -1}, "pool_timeout"),
        ({}, {"table_prefix": "a-b"}, "table_prefix"),
        ({}, {"schema": "x; drop table y"}, "schema"),
        ({}, {"ssl": "sometimes"}, "ssl"),
        ({}, {"port": 70000}, "port"),
        ({"indexes": "x"}, {}, "indexes"),
    ],
)
def test_bad_options_name_the_field(
    query: dict[str, str], keywords: dict[str, object], field: str
) -> None:
    from agent_storage_pg.options import PgOptions

    with pytest.raises(ConfigurationError, match=field):
        build_options(query, keywords, backend="pg", options_class=PgOptions)


def test_password_hidden_in_options_repr() -> None:
    from agent_storage_pg.options import PgOptions

    assert "hunter2" not in repr(PgOptions(password="hunter2"))


def test_each_backend_has_its_own_typed_options_class() -> None:
    from agent_storage_dynamodb.options import DynamoDBOptions
    from agent_storage_pg.options import PgOptions

    pg = open_store("postgresql://app@db/app?pool_size=4&ssl=require", schema="tenant")
    assert type(pg.backend.options) is PgOptions
    assert (pg.backend.options.pool_size, pg.backend.options.ssl) == (4, "require")
    dynamo = open_store("dynamodb://table?create_table=yes", region="eu-west-1",
                        batch_mode="chunked")
    assert type(dynamo.backend.options) is DynamoDBOptions
    assert dynamo.backend.options.batch_mode == "chunked" and dynamo.backend.options.create_table
    sqlite = open_store("sqlite://", pool_timeout=5)
    assert type(sqlite.backend.options).__name__ == "SqlOptions"
    memory = open_store("memory://")
    assert type(memory.backend.options) is StoreOptions
    # core's options hold only what every backend shares
    shared = {a.name for a in attrs.fields(StoreOptions)}
    assert not shared & {"schema", "host", "password", "pool_size", "region", "ttl_attribute"}
    with pytest.raises(ConfigurationError, match="batch_mode"):
        open_store("dynamodb://table", batch_mode="sometimes")
    with pytest.raises(ConfigurationError, match=r"region.*another backend"):
        open_store("postgresql://app@db/app", region="x")


def test_url_option_errors_list_only_what_a_url_can_carry() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store("postgresql://app@db/app?bogus=1")
    accepted = str(caught.value).partition("accepted: ")[2].split(", ")
    assert "schema" in accepted and "pool_size" in accepted
    for keyword_only in ("indexes", "retention", "engine", "extra"):
        assert keyword_only not in accepted
    with pytest.raises(ConfigurationError, match="did you mean 'pool_size'"):
        open_store("postgresql://app@db/app?poolsize=3")


def test_retention_validation() -> None:
    with pytest.raises(ConfigurationError, match="max_messages_per_thread"):
        Retention(max_messages_per_thread=0)
    with pytest.raises(ConfigurationError, match="unknown entity"):
        Retention(ttl={"users": dt.timedelta(days=1)})
    with pytest.raises(ConfigurationError, match="positive"):
        Retention(ttl={"messages": dt.timedelta(0)})
    assert Retention(ttl={"messages": 60}).ttl["messages"] == dt.timedelta(seconds=60)


def test_identifiers() -> None:
    assert check_identifier("agent_storage") == "agent_storage"
    for bad in ("1abc", "a-b", "a b", 'a"b', "", "é", "a;drop"):
        with pytest.raises(InvalidIdentifierError):
            check_identifier(bad)
    with pytest.raises(InvalidIdentifierError, match="63"):
        check_identifier("a" * 64)
    assert table_name("agent_storage", "threads") == "agent_storage_threads"
    assert index_name("idx_threads_status", "custom_schema") == "custom_schema_idx_threads_status"
    assert index_name("idx_threads_status", "public") == "idx_threads_status"
    with pytest.raises(InvalidIdentifierError):
        index_name("i" * 50, "s" * 20)  # fine alone, too long once prefixed


def test_host_case_is_kept() -> None:
    # DynamoDB table names are case-sensitive; urlsplit().hostname would lower-case them.
    assert parse_url("dynamodb://MyTable?region=eu-west-1").host == "MyTable"
    assert parse_url("postgresql://u:p@[::1]:5432/db").host == "::1"
    assert parse_url("postgresql://u@DB.example/x").host == "DB.example"


def test_not_json_error_is_both_a_validation_error_and_a_type_error() -> None:
    from agent_storage import AgentStorageError, ValidationError
    from agent_storage.errors import NotJSONError

    error = NotJSONError("items[0]: a set is not JSON")
    for kind in (NotJSONError, ValidationError, TypeError, ValueError, AgentStorageError):
        with pytest.raises(kind):
            raise error
