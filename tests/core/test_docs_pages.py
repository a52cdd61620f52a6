"""The operator pages under docs/ are executed and checked against the code.

- every ```python block of docs/sqlite.md and docs/memory.md runs, in page order, in an
  empty directory, together with every `agent-storage ...` line of their ```sh blocks
  (each must exit 0);
- the ```python blocks of docs/postgresql.md run against a scratch database on the local
  server (127.0.0.1:5432, user postgres, or $AGENT_STORAGE_TEST_PG_URL); skipped with
  the reason when no server answers, never under CI=true; the ```python blocks and
  `agent-storage` lines of docs/dynamodb.md run against a moto server
  (AWS_ENDPOINT_URL_DYNAMODB);
- every option a backend accepts (its accepted_options, extra_options and the common
  ones) is named in its page, so a new option cannot ship undocumented;
- the schema and default-index tables of the SQL pages match sql/tables.py and the
  default index list; the DynamoDB IAM policy names exactly the actions the code calls;
- docs/README.md links every page, and every relative link of these pages resolves.

A block preceded by ``<!-- docs-test: skip REASON -->`` is not run (it needs something
the test machine does not have, e.g. a streaming replica); the reason is in the page.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from agent_storage._plugins import registry
from agent_storage.options import COMMON_OPTIONS
from agent_storage.sql.base import DEFAULT_INDEXES
from agent_storage.sql.tables import Tables

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = {"sqlite": "sqlite.md", "pg": "postgresql.md", "dynamodb": "dynamodb.md",
         "memory": "memory.md"}
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\b[^>]*-->\s*$")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.M | re.S)


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def steps(text: str) -> list[tuple[str, str, int]]:
    """(kind, code, line) in page order: kind "python" or "cli" (one agent-storage line)."""
    out: list[tuple[str, str, int]] = []
    for match in FENCE.finditer(text):
        lang, body = match.group(1), match.group(2)
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if SKIP_MARK.search(before):
            continue
        line = text.count("\n", 0, match.start()) + 1
        if lang == "python":
            out.append(("python", body, line))
        elif lang in ("sh", "bash", "console"):
            for offset, cmd in enumerate(body.splitlines(), start=1):
                if cmd.startswith("agent-storage "):
                    out.append(("cli", cmd, line + offset))
    return out


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_STORAGE_URL"}
    env.update(extra)
    return env


def run_cli(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One `agent-storage ...` line as its own process (the installed command's code);
    ``> FILE`` at the end writes its output to FILE, as the shell would."""
    words = shlex.split(cmd)[1:]
    target = None
    if len(words) >= 2 and words[-2] == ">":
        words, target = words[:-2], words[-1]
    argv = [sys.executable, "-m", "agent_storage.cli", *words]
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)
    if target is not None:
        (cwd / target).write_text(result.stdout, encoding="utf-8")
    return result


def run_python(code: str, where: str) -> None:
    """A block as a script (``__name__ == "__main__"``), in this process: a subprocess per
    block would cost seconds of imports each on a loaded machine."""
    exec(compile(code, where, "exec"), {"__name__": "__main__"})


def _reset_stores() -> None:
    import asyncio

    from agent_storage import close_all
    from agent_storage.backends.memory import MemoryBackend

    asyncio.run(close_all())
    MemoryBackend.forget()


def run_page(name: str, cwd: Path, monkeypatch: pytest.MonkeyPatch,
             env: dict[str, str] | None = None, *, kinds: tuple[str, ...]) -> int:
    env = clean_env(**(env or {}))
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("AGENT_STORAGE_URL", raising=False)
    if "AGENT_STORAGE_URL" in env:
        monkeypatch.setenv("AGENT_STORAGE_URL", env["AGENT_STORAGE_URL"])
    ran = 0
    try:
        for kind, code, line in steps(page(name)):
            if kind not in kinds:
                continue
            where = f"docs/{name} line {line}"
            if kind == "python":
                run_python(code, where)
            else:
                result = run_cli(code, cwd, env)
                assert result.returncode == 0, (
                    f"{where}: `{code}` exited {result.returncode}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
            ran += 1
    finally:
        _reset_stores()
    return ran


# -- executed pages ---------------------------------------------------------------------


def test_memory_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_page("memory.md", tmp_path, monkeypatch, kinds=("python", "cli")) >= 3


def test_sqlite_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_page("sqlite.md", tmp_path, monkeypatch, kinds=("python", "cli")) >= 10
    # what the page says it leaves behind: the store and a consistent backup copy
    import sqlite3

    con = sqlite3.connect(tmp_path / "agent-backup.db")
    try:
        count = con.execute("select count(*) from agent_storage_messages").fetchone()[0]
    finally:
        con.close()
    assert count == 2


def _pg_admin_url() -> str:
    return os.environ.get("AGENT_STORAGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_database() -> object:
    admin = _pg_admin_url()
    if not _reachable(admin):
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL at {urlsplit(admin).netloc} and CI=true")
        pytest.skip(f"no PostgreSQL server answers at {urlsplit(admin).hostname}:"
                    f"{urlsplit(admin).port or 5432} (set AGENT_STORAGE_TEST_PG_URL)")
    import asyncio

    import asyncpg

    name = f"agent_storage_docs_{uuid.uuid4().hex[:10]}"
    dsn = admin.replace("postgresql+asyncpg://", "postgresql://")

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(dsn)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    try:
        yield url
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_postgresql_page_runs_against_a_scratch_database(
        pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The page reads the URL from $AGENT_STORAGE_URL, as it tells the reader to set it.
    ran = run_page("postgresql.md", tmp_path, monkeypatch,
                   {"AGENT_STORAGE_URL": pg_database}, kinds=("python",))
    assert ran >= 4


#: moto's DynamoDB is not thread-safe: one request at a time (as tests/dynamodb does).
MOTO_SERVER = """
import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=False)
"""


@pytest.fixture
def dynamodb_endpoint() -> object:
    """A moto server over HTTP, or $AGENT_STORAGE_TEST_DYNAMODB_URL."""
    import time

    given = os.environ.get("AGENT_STORAGE_TEST_DYNAMODB_URL")
    if given:
        yield given
        return
    try:
        import moto.moto_server.werkzeug_app  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"moto[server] is not installed: {exc}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dynamodb_page_runs_against_moto(dynamodb_endpoint: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The page's URLs name AWS regions; botocore's AWS_ENDPOINT_URL_DYNAMODB sends them to
    # the local server unchanged, as the page tells a reader trying it without AWS.
    for key, value in (("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint),
                       ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(key, value)
    assert run_page("dynamodb.md", tmp_path, monkeypatch, kinds=("python", "cli")) >= 6
    # the file the page feeds to `aws dynamodb create-table --cli-input-json` is that input
    spec = json.loads((tmp_path / "table.json").read_text(encoding="utf-8"))
    assert spec["TableName"] == "agent-table" and spec["GlobalSecondaryIndexes"]
    assert (tmp_path / "snapshot.db").exists()  # the copy to SQLite the page shows


# -- the pages cannot drift from the code --------------------------------------------------


def _options_of(backend: str) -> set[str]:
    _, cls = registry().backend_class(
        {"sqlite": "sqlite", "pg": "postgresql", "dynamodb": "dynamodb",
         "memory": "memory"}[backend])
    return set(COMMON_OPTIONS) | set(cls.accepted_options) | set(cls.extra_options)


@pytest.mark.parametrize("backend", sorted(PAGES))
def test_every_accepted_option_is_documented(backend: str) -> None:
    text = page(PAGES[backend])
    options = re.search(r"^## Options\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert options, f"docs/{PAGES[backend]} has no '## Options' section"
    rows = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", options.group(1), re.M)}
    missing = _options_of(backend) - rows
    assert not missing, f"docs/{PAGES[backend]} does not document options {sorted(missing)}"
    # and documents nothing the backend would refuse
    extra = rows - _options_of(backend)
    assert not extra, f"docs/{PAGES[backend]} documents options the backend refuses: {extra}"


def _marked(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"no {name} block"
    return match.group(1)


@pytest.mark.parametrize("name", ["sqlite.md", "postgresql.md"])
def test_schema_table_matches_the_code(name: str) -> None:
    rows = [line for line in _marked(page(name), "schema").splitlines()
            if line.startswith("| `")]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    tables = Tables("agent_storage")
    actual = {t.name: {c.name for c in t.columns}
              for t in [*tables.data_tables, tables.migrations]}
    assert set(documented) == set(actual)
    for table, columns in actual.items():
        assert documented[table] == columns, f"{name}: {table} columns differ"


@pytest.mark.parametrize("name", ["sqlite.md", "postgresql.md"])
def test_default_index_table_matches_the_code(name: str) -> None:
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in _marked(page(name), "indexes").splitlines() if line.startswith("| `")]
    documented = {r[0].strip("`"): (r[1], r[2]) for r in rows}
    expected = {}
    for suffix, table, columns, where in DEFAULT_INDEXES:
        cols = f"`{', '.join(columns)}`" + (f" WHERE `{where}`" if where else "")
        expected[f"agent_storage_{suffix}_idx"] = (table, cols)
    assert documented == expected


def test_iam_policy_names_exactly_the_calls_the_code_makes() -> None:
    text = page("dynamodb.md")
    policy_text = _marked(text, "iam-policy")
    policy = json.loads(re.search(r"```json\n(.*?)```", policy_text, re.S).group(1))
    documented = {a for st in policy["Statement"] for a in
                  ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    src = ROOT / "plugins" / "dynamodb" / "src" / "agent_storage_dynamodb"
    code = "\n".join(p.read_text(encoding="utf-8") for p in src.glob("*.py"))
    ops = set(re.findall(r'\.call\(\s*"([a-z_]+)"', code))
    if "transact_write_items" in ops:
        # IAM authorises each action inside a transaction as PutItem/UpdateItem/DeleteItem
        # (and ConditionCheckItem); there is no TransactWriteItems IAM action.
        ops.discard("transact_write_items")
        kinds = set(re.findall(r'\{"(Put|Update|Delete|ConditionCheck)":', code))
        ops |= {{"Put": "put_item", "Update": "update_item", "Delete": "delete_item",
                 "ConditionCheck": "condition_check_item"}[k] for k in kinds}
    expected = {"dynamodb:" + "".join(w.title() for w in op.split("_")) for op in ops}
    assert documented == expected, (
        f"missing {sorted(expected - documented)}, not called {sorted(documented - expected)}")


def test_docs_index_links_every_page_and_links_resolve() -> None:
    index = page("README.md")
    for name in PAGES.values():
        assert f"({name})" in index, f"docs/README.md does not link {name}"
    for doc in [DOCS / "README.md", *(DOCS / n for n in PAGES.values())]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text("utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"
