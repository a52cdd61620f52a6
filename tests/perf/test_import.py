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
