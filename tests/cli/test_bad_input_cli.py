"""Bad input on the command line, table-driven: every case exits 1 (bad value) or 2 (bad
usage) with a one-line error naming the error type, never a traceback, and the store the
command pointed at is exactly as it was (same ``status`` row counts, same threads)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# the cli fixture of tests/cli/conftest.py; not imported from `conftest`, which may be
# another directory's conftest module when several test dirs run together
Run = Callable[..., Any]


def _fmt(case: tuple[str, ...], url: str, missing_dir: str) -> list[str]:
    return [a.replace("{url}", url).replace("{missing}", missing_dir) for a in case]


#: (argv template, expected exit code, substring the error line must contain or "")
CASES: list[tuple[tuple[str, ...], int, str]] = [
    # URLs
    (("status", "not a url"), 1, "InvalidURLError"),
    (("status", ""), 1, "InvalidURLError"),
    (("status", "nosuchdb://x"), 1, "UnknownBackendError"),
    (("status", "b@d://x"), 1, "InvalidURLError"),
    (("status", "postgresql://u:pw@h:99999/db"), 1, "InvalidURLError"),
    (("status", "{url}?debug=1&debug=0"), 1, "InvalidURLError"),
    (("init", "sqlite:///{missing}/x.db"), 1, "ConfigurationError"),
    # options and identifiers
    (("status", "{url}?no_such_option=1"), 1, "ConfigurationError"),
    (("status", "{url}?debug=maybe"), 1, "ConfigurationError"),
    (("status", "{url}?pool_size=many"), 1, "ConfigurationError"),
    (("status", "{url}?pool_size=-1"), 1, "ConfigurationError"),
    (("status", "{url}?schema=x"), 1, "ConfigurationError"),  # not a SQLite option
    (("init", "{url}?table_prefix=bad-prefix"), 1, "InvalidIdentifierError"),
    (("init", "{url}?table_prefix=x%22%3B%20DROP%20TABLE%20y"), 1, "InvalidIdentifierError"),
    (("init", "{url}?table_prefix=" + "p" * 64), 1, "InvalidIdentifierError"),
    (("migrate", "{url}?table_prefix=1abc"), 1, "InvalidIdentifierError"),
    # ids and values
    (("messages", "{url}", ""), 1, "ValidationError"),
    (("messages", "{url}", "t" * 300), 1, "ValidationError"),
    (("messages", "{url}", "some-thread", "--last", "0"), 2, "positive"),
    (("messages", "{url}", "some-thread", "--last", "-3"), 2, "positive"),
    (("messages", "{url}", "some-thread", "--last", "lots"), 2, ""),
    (("messages", "{url}", "some-thread", "--resource", ""), 1, "ValidationError"),
    (("threads", "{url}", "--resource", ""), 1, "ValidationError"),
    (("threads", "{url}", "--resource", "r" * 300), 1, "ValidationError"),
    # index management
    (("indexes", "{url}", "describe", "bad name; DROP TABLE x"), 1, ""),
    (("indexes", "{url}", "drop", "x; DROP TABLE y"), 1, ""),
    (("indexes", "{url}", "describe", "no_such_index"), 1, "IndexNotFoundError"),
    (
        ("indexes", "{url}", "create", "--name", "ix", "--table", "users", "--columns", "id"),
        1,
        "InvalidIndexSpecError",
    ),
    (
        (
            "indexes",
            "{url}",
            "create",
            "--name",
            "ix",
            "--table",
            "threads",
            "--columns",
            "metadata->>'a''; DROP TABLE x; --'",
        ),
        1,
        "InvalidIndexSpecError",
    ),
    (
        (
            "indexes",
            "{url}",
            "create",
            "--name",
            "ix",
            "--table",
            "threads",
            "--columns",
            "id",
            "--storage",
            "fillfactor",
        ),
        2,
        "KEY=VALUE",
    ),
    (("indexes", "{url}", "create", "--name", "ix", "--table", "threads"), 2, ""),
    # usage
    (("nosuchcommand",), 2, ""),
    (("status", "{url}", "--bogus"), 2, ""),
    (("indexes", "{url}", "explode"), 2, ""),
    (("messages", "{url}"), 2, ""),
]


def _state(path: Path) -> list[tuple[str, int]]:
    """Row count of every table of the SQLite file (read behind the store's back)."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sorted(
            (t, conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables
        )


def _schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name FROM sqlite_master"))


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("case", "code", "names"), CASES, ids=lambda v: str(v)[:60])
def test_bad_cli_input(
    cli: Run,
    sqlite_url: str,
    sqlite_file: Path,
    tmp_path: Path,
    case: tuple[str, ...],
    code: int,
    names: str,
) -> None:
    assert cli("demo", sqlite_url).code == 0  # a store with data in every domain
    rows, schema = _state(sqlite_file), _schema(sqlite_file)
    files = sorted(p.name for p in tmp_path.iterdir())
    res = cli(*_fmt(case, sqlite_url, str(tmp_path / "missing")))
    assert res.code == code, res
    assert "Traceback" not in res.text
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert lines, "no error message"
    if code == 1:
        assert len(lines) == 1, res.err  # one line, no traceback, no usage dump
    assert "error" in lines[-1].lower()
    if names:
        assert names in lines[-1], lines[-1]
    assert _state(sqlite_file) == rows, "the store's rows changed"
    assert _schema(sqlite_file) == schema, "the store's schema changed"
    new_files = sorted(p.name for p in tmp_path.iterdir())
    assert [f for f in new_files if f not in files and not f.startswith("store.db")] == []


def test_real_command_bad_input_no_traceback(cli_process: Run, tmp_path: Path) -> None:
    for argv in (
        ("status", "nosuchdb://x"),
        ("init", "memory://?table_prefix=a;b"),
        ("messages", "memory://", ""),
    ):
        res = cli_process(*argv)
        assert res.code == 1, res
        assert "Traceback" not in res.text
        assert len([ln for ln in res.err.splitlines() if ln.strip()]) == 1, res.err
