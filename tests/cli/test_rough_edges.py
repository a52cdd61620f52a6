"""A newcomer's rough edges (issue 14): each one as the user met it."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]


@pytest.mark.parametrize("argv", [
    ("status", "{url}"), ("threads", "{url}"), ("messages", "{url}", "t"),
    ("indexes", "{url}", "list"), ("indexes", "{url}", "describe", "x"),
])
def test_read_commands_never_create_a_sqlite_file(cli: Run, tmp_path: Path,
                                                  argv: tuple[str, ...]) -> None:
    missing = tmp_path / "mistyped.db"
    result = cli(*(a.format(url=f"sqlite:///{missing}") for a in argv))
    assert result.code == 1
    assert f"no database at {missing}" in result.err
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_a_database_without_schema_is_explained_in_the_users_terms(
    cli: Run, tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = cli("threads", f"sqlite:///{empty}")
    assert result.code == 1
    assert "disable_init" not in result.err
    assert "no agent-storage tables" in result.err and "agent-storage init" in result.err


def test_install_hints_work_from_this_checkout() -> None:
    from agent_storage._plugins import install_hint

    hint = install_hint("agent-storage-pg")
    assert "pip install agent-storage-pg" in hint  # the published name
    assert "pip install -e " in hint and hint.split("-e ")[1].split(" ")[0].endswith(
        "plugins/pg")  # and what works in a checkout


@pytest.mark.parametrize(("scheme", "meant"), [("postgress", "postgres"),
                                               ("sqllite", "sqlite"), ("memroy", "memory")])
def test_a_mistyped_scheme_gets_a_suggestion(cli: Run, scheme: str, meant: str) -> None:
    result = cli("status", f"{scheme}://x/y")
    assert result.code == 1 and f"did you mean '{meant}'?" in result.err


def test_every_command_the_readme_says_prints_json_does(cli: Run, tmp_path: Path,
                                                       memory_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    init = cli("init", "--json", url)
    assert init.code == 0 and json.loads(init.out)["initialised"] is True
    demo = cli("demo", "--json", memory_url)
    assert demo.code == 0 and len(json.loads(demo.out)["messages"]) == 5
    copied = cli("copy", "--json", memory_url, url)
    report = json.loads(copied.out)
    assert copied.code == 0 and report["ok"] and report["copied"] > 0
    spec = cli("dynamodb-table-spec", "--json", "tbl")
    assert spec.code == 0 and json.loads(spec.out)["create_table"]["TableName"] == "tbl"


def test_check_json_prints_a_summary_and_keeps_pytest_off_stdout(cli_process: Run) -> None:
    result = cli_process("check", "--json", "memory://", "--", "-q", "-k", "scores and save")
    summary = json.loads(result.out)
    assert summary["passed"] is True and summary["tests"] > 0 and result.code == 0


def test_copy_refuses_a_non_empty_destination_before_writing(
    cli: Run, tmp_path: Path, memory_url: str,
) -> None:
    assert cli("demo", memory_url).code == 0
    dst = f"sqlite:///{tmp_path / 'dst.db'}"
    assert cli("demo", dst).code == 0
    before = cli("threads", "--json", dst).out
    refused = cli("copy", memory_url, dst)
    assert refused.code == 1 and "already holds records" in refused.err
    assert "--into-non-empty" in refused.err
    assert cli("threads", "--json", dst).out == before  # nothing was written
    merged = cli("copy", "--into-non-empty", "--no-verify", memory_url, dst)
    assert merged.code == 0


def test_backends_check_does_not_call_anonymous_memory_persistent(cli: Run) -> None:
    data = json.loads(cli("backends", "--check", "--json").out)
    memory = next(b for b in data["backends"] if b["name"] == "memory")
    assert "persistent" not in memory["check"]["capabilities"]
    assert "persistent (not memory://)" in memory["check"]["capabilities"]


def test_url_options_listing_leaves_out_keyword_only_options(cli: Run) -> None:
    result = cli("status", "sqlite:///x.db?bogus=1")
    accepted = result.err.partition("accepted: ")[2].strip().split(", ")
    assert "pool_size" in accepted
    assert not {"indexes", "retention", "engine", "extra"} & set(accepted)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_says_what_to_check(cli: Run) -> None:
    port = _closed_port()
    result = cli("status", f"postgresql://app@127.0.0.1:{port}/appdb?pool_timeout=5")
    assert result.code == 1
    assert f"pg_isready -h 127.0.0.1 -p {port}" in result.err


def test_a_missing_database_says_how_to_create_it() -> None:
    from agent_storage.cli._hints import what_to_check

    hint = what_to_check('BackendError: database "appdb" does not exist',
                         ["status", "postgresql://app@db.example:6543/appdb"])
    assert "createdb -h db.example -p 6543 appdb" in hint
