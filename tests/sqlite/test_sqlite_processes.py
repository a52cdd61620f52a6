"""Several OS processes on one SQLite file: concurrent init, concurrent writers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from agent_storage import open_store

pytestmark = pytest.mark.slow

WORKER = textwrap.dedent("""
    import asyncio, sys
    from agent_storage import Message, Thread, open_store

    async def main(url, role, n):
        store = open_store(url, fresh=True)
        try:
            await store.init()
            if role == "init":
                return
            tid = f"thread-{n}"
            await store.memory.save_thread(Thread(id=tid, resource_id="u"))
            for k in range(40):
                await store.memory.save_messages([
                    Message(id=f"{tid}-{k}-{i}", thread_id=tid, role="user", content=[k, i])
                    for i in range(10)])
                await store.workflows.persist_snapshot("wf", f"{tid}-{k}", {"k": k})
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


def _spawn(script: Path, url: str, role: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([sys.executable, str(script), url, role, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(count)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return path


async def test_four_processes_init_an_empty_file_at_once(tmp_path: Path, script: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    results = _spawn(script, url, "init", 4)
    for result in results:
        assert result.returncode == 0, result.stderr
    store = open_store(url, fresh=True)
    try:
        async with store.engine.connect() as conn:
            versions = (await conn.exec_driver_sql(
                "SELECT version FROM agent_storage_migrations")).all()
        assert [v[0] for v in versions] == [1]
        assert len(await store.indexes.list("messages")) == 1
    finally:
        await store.close()


async def test_two_processes_write_one_file_without_lock_errors(
    tmp_path: Path, script: Path
) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    results = _spawn(script, url, "write", 2)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    store = open_store(url, fresh=True)
    try:
        for n in range(2):
            page = await store.memory.list_messages(f"thread-{n}", per_page=None)
            assert page.total == 400
            assert [m.content for m in page.items] == [[k, i] for k in range(40)
                                                       for i in range(10)]
        assert (await store.workflows.list_runs(workflow_name="wf")).total == 80
    finally:
        await store.close()
