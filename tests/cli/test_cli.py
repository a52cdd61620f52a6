"""``agent-storage``: every command on memory:// and on a SQLite file, exit codes, errors."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_storage.cli import _secrets, build_parser
from agent_storage.cli._output import rich_available

Run = Callable[..., Any]  # the cli / cli_process fixtures of conftest.py

COMMANDS = ("demo", "backends", "init", "migrate", "status", "indexes", "threads", "messages",
            "check", "copy", "dynamodb-table-spec", "embed", "ui")


def one_error_line(err: str, kind: str) -> str:
    """The error output is exactly one line naming the error type; no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"agent-storage: error: {kind}: "), err
    assert "Traceback" not in err
    return lines[0]


# -- usage ---------------------------------------------------------------------------------


def test_help_lists_every_command_and_only_those(cli: Run) -> None:
    res = cli("--help")
    assert res.code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{re.escape(command)}\s", res.out, re.M), command
    subparsers = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert set(subparsers.choices) == set(COMMANDS)


def test_version(cli: Run) -> None:
    import agent_storage

    res = cli("--version")
    assert res.code == 0
    assert res.out.strip() == f"agent-storage {agent_storage.__version__}"


@pytest.mark.parametrize("argv", [
    [],                                            # no command
    ["frobnicate"],                                # unknown command
    ["threads"],                                   # missing URL
    ["messages", "memory://"],                     # missing THREAD
    ["threads", "memory://", "--limit", "0"],      # not positive
    ["threads", "memory://", "--limit", "x"],
    ["messages", "memory://", "t", "--last", "-3"],
    ["threads", "memory://", "--order-by", "id; drop table x"],
    ["indexes", "memory://"],                      # missing action
    ["indexes", "memory://", "create", "--name", "i"],  # missing --table/--columns
    ["indexes", "memory://", "create", "--name", "i", "--table", "threads", "--columns", "x",
     "--storage", "novalue"],
    ["--rich", "--plain", "backends"],
])
def test_usage_errors_exit_2(cli: Run, argv: list[str]) -> None:
    res = cli(*argv)
    assert res.code == 2
    assert "usage: agent-storage" in res.err
    assert res.out == ""


# -- demo ----------------------------------------------------------------------------------


def check_demo_output(out: str) -> None:
    """The demo printed what it recalled: conversation, run, scores and trace."""
    assert "Weather in Paris" in out
    roles = re.findall(r"^\d+\s+(system|user|assistant|tool)\s", out, re.M)
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert "calls get_weather" in out and "It's 18 °C and cloudy in Paris." in out
    assert "name: Ada" in out  # working memory came back
    assert re.search(r"^status\s+success$", out, re.M)
    assert "running->success won, running->failed refused" in out
    assert '"fetch": {"temp_c": 18' in out and '"summarize"' in out
    assert re.search(r"^answer-relevancy\s+0\.92\s", out, re.M)
    assert re.search(r"^tool-call-accuracy\s+1\.0\s", out, re.M)
    assert re.search(r"^agent\.run\s+agent_run\s+6\s+ok$", out, re.M)
    assert re.search(r"^  tool\.get_weather\s+tool_call\s+1\s", out, re.M)
    assert "memory.saved (event)" in out
    assert re.search(r"Recalled 5 messages, run success, 2 scores, 4 spans from ", out)


def test_demo_on_memory(cli: Run) -> None:
    res = cli("demo", "memory://")
    assert res.code == 0, res.err
    check_demo_output(res.out)
    assert res.err == ""


def test_demo_then_inspect_named_memory_store(cli: Run, memory_url: str) -> None:
    assert cli("demo", memory_url).code == 0
    res = cli("threads", memory_url)
    assert res.code == 0, res.err
    thread_id = re.search(r"^(demo-thread-\w+)\s+demo-user\s+weather-agent\s+Weather in Paris",
                          res.out, re.M)
    assert thread_id, res.out
    res = cli("messages", memory_url, thread_id.group(1), "--last", "2")
    assert res.code == 0, res.err
    assert re.findall(r"\s(tool|assistant)\s+(tool-result|text)\s", res.out) == [
        ("tool", "tool-result"), ("assistant", "text")]


def test_demo_on_sqlite_file_persists(cli: Run, sqlite_url: str, sqlite_file: Path) -> None:
    res = cli("demo", sqlite_url)
    assert res.code == 0, res.err
    check_demo_output(res.out)
    # the data is really in the file: read it back with the plain sqlite3 module
    with sqlite3.connect(sqlite_file) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        assert "agent_storage_messages" in tables
        assert db.execute("select count(*) from agent_storage_messages").fetchone()[0] == 5
    # running it again adds a second turn instead of failing on existing ids
    assert cli("demo", sqlite_url).code == 0
    res = cli("threads", sqlite_url, "--json")
    assert res.code == 0, res.err
    threads = json.loads(res.out)
    assert len(threads) == 2 and {t["resource_id"] for t in threads} == {"demo-user"}


def test_demo_default_url_is_a_sqlite_file_in_cwd(cli_process: Run, tmp_path: Path) -> None:
    res = cli_process("demo", cwd=tmp_path, env={"AGENT_STORAGE_URL": "memory://ignored"})
    assert res.code == 0, res.err
    check_demo_output(res.out)
    assert "sqlite:///agent_storage_demo.db" in res.out
    assert (tmp_path / "agent_storage_demo.db").stat().st_size > 0


def test_demo_without_rich_prints_plain_tables(cli_process: Run) -> None:
    """rich is optional: the command works (and --rich degrades) when it is missing."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['rich'] = None\n"
            "from agent_storage.cli import main\n"
            "sys.exit(main(['--rich', 'demo', 'memory://']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    check_demo_output(proc.stdout)


def test_rich_output(cli: Run) -> None:
    res = cli("--rich", "demo", "memory://")
    assert res.code == 0, res.err
    assert "Weather in Paris" in res.out and "get_weather" in res.out
    if rich_available():
        assert "┃" in res.out or "│" in res.out  # a rich table was drawn
    else:
        check_demo_output(res.out)


# -- backends ------------------------------------------------------------------------------


def test_backends_lists_installed_backends(cli: Run) -> None:
    from agent_storage._plugins import registry

    res = cli("backends")
    assert res.code == 0, res.err
    assert re.search(r"^memory\s+memory\s+memory\s+built-in\s+agent_storage\.backends\.memory:"
                     r"MemoryBackend$", res.out, re.M)
    for info in registry().backends.values():
        assert info.name in res.out and info.target in res.out
    data = json.loads(cli("backends", "--json").out)
    memory = [b for b in data["backends"] if b["name"] == "memory"]
    assert memory == [{"name": "memory", "schemes": ["memory"], "plugin": "memory",
                       "version": None, "target": "agent_storage.backends.memory:MemoryBackend"}]
    assert data["errors"] == [{"plugin": e.plugin, "error": e.error} for e in registry().errors]


def test_backends_check_imports_each_backend(cli: Run) -> None:
    from agent_storage.backends.memory import MemoryBackend

    res = cli("backends", "--check")
    assert res.code == 0, res.err
    # memory://NAME is persistent within the process, an anonymous memory:// is not
    assert re.search(r"^memory\s+ok\s+persistent \(not memory://\)", res.out, re.M), res.out
    data = json.loads(cli("backends", "--check", "--json").out)
    memory = next(b for b in data["backends"] if b["name"] == "memory")
    shown = memory["check"].pop("capabilities")
    assert memory["check"] == {"ok": True, "options": []}
    assert "persistent (not memory://)" in shown
    assert [c.partition(" (")[0] for c in shown] == sorted(MemoryBackend.capabilities)
    sqlite = next(b for b in data["backends"] if b["name"] == "sqlite")
    assert sqlite["check"]["ok"] is True
    assert {"indexes", "migrations", "engine"} <= set(sqlite["check"]["capabilities"])


def test_backends_lists_sqlite_plugin_with_version(cli: Run) -> None:
    from importlib.metadata import version

    data = json.loads(cli("backends", "--json").out)
    sqlite = [b for b in data["backends"] if b["name"] == "sqlite"]
    assert len(sqlite) == 1, data
    assert {"sqlite", "sqlite+aiosqlite"} <= set(sqlite[0]["schemes"])
    assert sqlite[0]["plugin"] == "agent-storage-sqlite"
    assert sqlite[0]["version"] == version("agent-storage-sqlite")


# -- init / status / migrate -----------------------------------------------------------------


def test_init_status_migrate_on_memory(cli: Run, memory_url: str) -> None:
    res = cli("init", memory_url)
    assert res.code == 0, res.err
    assert res.out.strip() == f"initialised {memory_url} (schema version 0)"
    res = cli("status", memory_url)
    assert res.code == 0, res.err
    assert re.search(r"^backend\s+memory$", res.out, re.M)
    res = cli("migrate", memory_url)
    assert res.code == 1
    one_error_line(res.err, "NotSupportedError")


def test_read_commands_never_create_a_schema(cli: Run, memory_url: str) -> None:
    for argv in (["status", memory_url], ["threads", memory_url],
                 ["messages", memory_url, "t1"]):
        res = cli(*argv)
        assert res.code == 1, argv
        line = one_error_line(res.err, "SchemaNotInitializedError")
        assert f"agent-storage init {memory_url}" in line


def test_init_status_migrate_on_sqlite(cli: Run, sqlite_url: str, sqlite_file: Path) -> None:
    res = cli("status", sqlite_url)
    assert res.code == 1
    one_error_line(res.err, "SchemaNotInitializedError")
    res = cli("init", sqlite_url)
    assert res.code == 0, res.err
    assert res.out.startswith(f"initialised {sqlite_url} (schema version ")
    assert cli("init", sqlite_url).code == 0  # idempotent
    assert cli("demo", sqlite_url).code == 0
    status = json.loads(cli("status", sqlite_url, "--json").out)
    assert status["backend"] == "sqlite"
    assert status["schema_version"] == status["latest_version"] >= 1
    assert status["tables"]["messages"] == 5
    assert status["tables"]["threads"] == 1
    assert status["tables"]["spans"] == 4
    assert status["tables"]["scores"] == 2
    assert status["tables"]["workflow_runs"] == 1
    plain = cli("status", sqlite_url)
    assert re.search(r"^messages\s+5$", plain.out, re.M), plain.out
    res = cli("migrate", sqlite_url, "--dry-run")
    assert res.code == 0, res.err
    assert "nothing (up to date)" in res.out
    report = json.loads(cli("migrate", sqlite_url, "--no-backup", "--json").out)
    assert report["applied"] == [] and report["from_version"] == report["to_version"]


# -- indexes --------------------------------------------------------------------------------


def test_indexes_on_sqlite(cli: Run, sqlite_url: str) -> None:
    assert cli("init", sqlite_url).code == 0
    listed = json.loads(cli("indexes", sqlite_url, "list", "--json").out)
    assert any(i["table"] == "messages" for i in listed)  # default indexes exist
    res = cli("indexes", sqlite_url, "create", "--name", "threads_by_topic", "--table", "threads",
              "--columns", "metadata->>'topic'", "created_at DESC", "--where",
              "resource_id IS NOT NULL")
    assert res.code == 0, res.err
    assert "threads_by_topic" in res.out
    res = cli("indexes", sqlite_url, "list", "--table", "threads")
    assert "threads_by_topic" in res.out and "messages" not in res.out.split("\n", 3)[-1]
    stats = json.loads(cli("indexes", sqlite_url, "describe", "threads_by_topic", "--json").out)
    assert stats["name"] == "threads_by_topic" and stats["table"] == "threads"
    assert cli("indexes", sqlite_url, "create", "--name", "threads_by_topic", "--table",
               "threads", "--columns", "created_at").code == 0  # existing: no-op
    assert "dropped index threads_by_topic" in cli("indexes", sqlite_url, "drop",
                                                   "threads_by_topic").out
    assert "nothing dropped" in cli("indexes", sqlite_url, "drop", "threads_by_topic").out
    res = cli("indexes", sqlite_url, "describe", "threads_by_topic")
    assert res.code == 1
    one_error_line(res.err, "IndexNotFoundError")


@pytest.mark.parametrize("spec", [
    ["--columns", "id); DROP TABLE agent_storage_threads; --"],
    ["--columns", "id", "--where", "1=1; DROP TABLE x"],
    ["--columns", "id", "--opclass", "text_ops; DROP TABLE x"],
    ["--columns", "id", "--storage", "fillfactor=90); DROP TABLE x; --"],
    ["--columns", "id", "--method", "btree; DROP"],
])
def test_bad_index_spec_fails_before_connecting(cli: Run, sqlite_url: str, sqlite_file: Path,
                                               spec: list[str]) -> None:
    res = cli("indexes", sqlite_url, "create", "--name", "evil", "--table", "threads", *spec)
    assert res.code == 1
    one_error_line(res.err, "InvalidIndexSpecError")
    assert not sqlite_file.exists()  # nothing was opened, nothing written


def test_indexes_not_supported_on_memory(cli: Run, memory_url: str) -> None:
    assert cli("init", memory_url).code == 0
    res = cli("indexes", memory_url, "list")
    assert res.code == 1
    one_error_line(res.err, "NotSupportedError")


# -- threads / messages -----------------------------------------------------------------


async def _seed(url: str) -> None:
    import datetime as dt

    from agent_storage import Message, Thread, open_store

    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    storage = open_store(url)
    try:
        for n, user in enumerate(["ada", "ada", "bob"]):
            await storage.memory.save_thread(Thread(
                id=f"t{n}", resource_id=user, title=f"thread {n}",
                created_at=base + dt.timedelta(hours=n), updated_at=base + dt.timedelta(hours=n)))
        await storage.memory.save_messages([
            Message(id=f"m{i}", thread_id="t0", role="user" if i % 2 == 0 else "assistant",
                    content=f"message {i}", created_at=base + dt.timedelta(minutes=i))
            for i in range(6)
        ])
    finally:
        await storage.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_threads_and_messages(cli: Run, kind: str, memory_url: str, sqlite_url: str) -> None:
    import asyncio

    url = memory_url if kind == "memory" else sqlite_url
    asyncio.run(_seed(url))
    res = cli("threads", url, "--resource", "ada", "--order-by", "created_at")
    assert res.code == 0, res.err
    assert re.findall(r"^(t\d)\s+ada\s", res.out, re.M) == ["t1", "t0"]  # newest first
    res = cli("threads", url, "--limit", "2", "--direction", "asc", "--order-by", "created_at")
    assert re.findall(r"^(t\d)\s", res.out, re.M) == ["t0", "t1"]
    assert "showing the first 2" in res.out
    res = cli("threads", url, "--resource", "nobody")
    assert res.code == 0 and "(no threads)" in res.out

    res = cli("messages", url, "t0")
    assert res.code == 0, res.err
    assert re.findall(r"\s(m\d)\s+message \d$", res.out, re.M) == [f"m{i}" for i in range(6)]
    res = cli("messages", url, "t0", "--last", "3")
    assert re.findall(r"\s(m\d)\s+message \d$", res.out, re.M) == ["m3", "m4", "m5"]
    data = json.loads(cli("messages", url, "t0", "--last", "2", "--json").out)
    assert [m["id"] for m in data] == ["m4", "m5"]
    assert data[0]["content"] == "message 4" and data[0]["resource_id"] == "ada"
    res = cli("messages", url, "t2")
    assert res.code == 0 and "(no messages)" in res.out

    for argv in (["messages", url, "missing"], ["messages", url, "t0", "--resource", "bob"]):
        res = cli(*argv)
        assert res.code == 1
        one_error_line(res.err, "ThreadNotFoundError")  # ownership is checked


# -- errors --------------------------------------------------------------------------------


def test_unknown_scheme_names_installed_backends(cli: Run) -> None:
    res = cli("threads", "nosuchdb://x")
    assert res.code == 1
    line = one_error_line(res.err, "UnknownBackendError")
    assert "'nosuchdb'" in line and "memory" in line


def test_known_but_missing_scheme_names_the_distribution(cli: Run) -> None:
    from agent_storage._plugins import registry

    missing = [s for s in ("dynamodb", "postgresql", "sqlite") if s not in registry().backends]
    if not missing:  # everything installed: the message for an unknown scheme still helps
        res = cli("init", "mysql://x")
        one_error_line(res.err, "UnknownBackendError")
        return
    res = cli("init", f"{missing[0]}://x")
    line = one_error_line(res.err, "UnknownBackendError")
    assert "pip install agent-storage-" in line


def test_unknown_option_and_bad_identifier_fail_before_writing(
    cli: Run, sqlite_file: Path
) -> None:
    res = cli("init", f"sqlite:///{sqlite_file}?pool_sise=3")
    assert res.code == 1
    assert "pool_sise" in one_error_line(res.err, "ConfigurationError")
    res = cli("init", f"sqlite:///{sqlite_file}?table_prefix=bad-prefix")
    assert res.code == 1
    assert "table_prefix" in one_error_line(res.err, "InvalidIdentifierError")
    res = cli("demo", "memory://?table_prefix=x;drop")
    assert res.code == 1
    one_error_line(res.err, "InvalidIdentifierError")
    assert not sqlite_file.exists()


def test_passwords_never_printed(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hunter2-Secret"
    for argv in (
        ["threads", f"memory://ada:{secret}@fresh-store-x"],         # error quoting the URL
        ["status", f"memory://ada:{secret}@host:notaport/x"],      # unparsable URL
        ["init", f"nosuch://ada:{secret}@host/db"],                # unknown scheme
        ["init", f"memory://ada:{secret}@h?bogus=1"],              # unknown option
        ["demo", f"memory://ada:{secret}@demo-pw-store"],          # success output shows URL
    ):
        res = cli(*argv)
        assert secret not in res.text, argv
        assert "Traceback" not in res.text
    assert "ada:***@demo-pw-store" in res.out
    monkeypatch.setenv("AGENT_STORAGE_URL", f"postgresql://u:{secret}@db/app")
    assert _secrets([]) == [secret]
    monkeypatch.delenv("AGENT_STORAGE_URL")
    assert _secrets([f"x://u:{secret}@h:bad/", "plain", f"y://u:{secret}2@h/"]) == [
        secret, f"{secret}2"]
    assert _secrets(["pg://u:p%40ss%2Fw@h/db"]) == ["p%40ss%2Fw", "p@ss/w"]


def test_check_runs_the_conformance_kit(cli_process: Run) -> None:
    res = cli_process("check", "memory://", "--", "-q", "-x", "-k", "scores")
    assert res.code == 0, res.out + res.err
    assert re.search(r"\d+ passed", res.out)
    assert " failed" not in res.out


def test_check_refuses_an_unknown_backend_before_starting_pytest(cli: Run) -> None:
    res = cli("check", "nosuchdb://x")
    assert res.code == 1
    one_error_line(res.err, "UnknownBackendError")
    assert res.out == ""  # no pytest session was started


# -- the installed command --------------------------------------------------------------


def test_console_script_and_module_entry_points(cli_process: Run) -> None:
    import shutil
    import subprocess
    import sys

    script = Path(sys.executable).with_name("agent-storage")
    path = str(script) if script.exists() else shutil.which("agent-storage")
    assert path, "the agent-storage console script is not installed"
    proc = subprocess.run([path, "backends"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "memory" in proc.stdout
    res = cli_process("threads", "nosuchdb://x")
    assert res.code == 1
    one_error_line(res.err, "UnknownBackendError")
    res = cli_process("threads")
    assert res.code == 2 and "usage:" in res.err
