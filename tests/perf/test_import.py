"""`import agent_storage` loads no driver; drivers load when their backend is first used.

Run in fresh interpreters (sys.modules of this test process is shared). The import TIME is
measured by `python -X importtime` and recorded in benchmarks/RESULTS.md, not asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DRIVERS = ("sqlalchemy", "asyncpg", "aiosqlite", "botocore", "aiobotocore", "boto3")

#: Imported where first used (opening or closing a store, loading plugins, the CLI), never
#: by `import agent_storage`: asyncio alone pulls ssl, socket, subprocess and
#: concurrent.futures (~35 ms); the domain contracts load with the first backend.
DEFERRED = (
    "asyncio",
    "concurrent.futures",
    "ssl",
    "socket",
    "subprocess",
    "selectors",
    "logging",
    "importlib.metadata",
    "agent_storage._plugins",
    "agent_storage.domains",
    "agent_storage.domains._base",
    "agent_storage.domains.memory",
)


def _loaded(code: str) -> set[str]:
    probe = (
        code
        + "\nimport sys, json\n"
        + f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(DRIVERS)!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_loads_no_driver() -> None:
    assert _loaded("import agent_storage") == set()


def test_public_names_and_memory_store_load_no_driver() -> None:
    code = """
import asyncio
from agent_storage import Message, Thread, open_store, close_all
async def main():
    async with open_store("memory://") as s:
        await s.memory.save_thread(Thread(id="t", resource_id="u"))
        await s.memory.save_messages([Message(id="m", thread_id="t", role="user", content="x")])
        assert len((await s.memory.list_messages("t")).items) == 1
asyncio.run(main())
"""
    assert _loaded(code) == set()


def test_sqlite_store_loads_only_its_driver(tmp_path: Path) -> None:
    pytest.importorskip("agent_storage_sqlite")
    db = tmp_path / "x.db"
    code = f"""
import asyncio
from agent_storage import Thread, open_store
async def main():
    async with open_store("sqlite:///{db}") as s:
        await s.memory.save_thread(Thread(id="t", resource_id="u"))
asyncio.run(main())
"""
    loaded = _loaded(code)
    assert "aiosqlite" in loaded
    assert not loaded & {"asyncpg", "botocore", "aiobotocore", "boto3"}


def _new_modules(code: str) -> set[str]:
    """Modules that ``code`` adds to those a bare interpreter has already loaded."""
    probe = (
        "import sys\nbefore = set(sys.modules)\n"
        + code
        + "\nimport json\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("code", ["import agent_storage", "from agent_storage import *"])
def test_import_defers_asyncio_and_friends(code: str) -> None:
    assert sorted(_new_modules(code) & set(DEFERRED)) == []


def test_deferred_modules_load_when_a_store_is_used() -> None:
    code = """
import asyncio
from agent_storage import Thread, close_all, open_store
async def main():
    s = open_store("memory://perf-deferred")
    await s.memory.save_thread(Thread(id="t", resource_id="u"))
    await close_all()
asyncio.run(main())
"""
    loaded = _new_modules(code)
    assert {"agent_storage._plugins", "agent_storage.domains.memory"} <= loaded


def test_ssl_option_is_checked_without_importing_ssl_first() -> None:
    code = """
import sys
from agent_storage import ConfigurationError
from agent_storage_pg.options import PgOptions as StoreOptions
StoreOptions(ssl=None)
StoreOptions(ssl="require")
StoreOptions(ssl=True)
assert "ssl" not in sys.modules
try:
    StoreOptions(ssl="sometimes")
except ConfigurationError:
    pass
else:
    raise AssertionError("ssl='sometimes' accepted")
import ssl
StoreOptions(ssl=ssl.create_default_context())
"""
    _new_modules(code)


def test_import_loads_nothing_of_the_viewer() -> None:
    """`agent-storage[ui]` (Starlette, uvicorn, Jinja2) loads only with agent_storage.ui."""
    viewer = {"starlette", "uvicorn", "jinja2", "agent_storage.ui", "agent_storage.ui._command"}
    for code in ("import agent_storage", "from agent_storage import *"):
        assert sorted(_new_modules(code) & viewer) == [], code
