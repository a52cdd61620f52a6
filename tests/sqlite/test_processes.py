"""Several OS processes on one SQLite file: no "database is locked", a safe concurrent
init(), and all-or-nothing batches when a writer is killed with SIGKILL.

The workers are standalone scripts run with ``sys.executable``; they start together on a
signal file so their writes really overlap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from agent_storage import open_store

pytestmark = pytest.mark.asyncio

WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from agent_storage import Message, Thread, open_store

    mode, url, go, name = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    calls = int(sys.argv[5]) if len(sys.argv) > 5 else 0

    def wait_for_go():
        deadline = time.monotonic() + 60
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise SystemExit("no go signal")
            time.sleep(0.002)

    async def main():
        store = open_store(url, fresh=True)
        open(go + "." + name + ".ready", "w").close()
        wait_for_go()
        if mode == "init":
            await store.init()
            await store.memory.save_thread(Thread(id=name, resource_id="procs"))
        elif mode == "write":
            await store.memory.save_thread(Thread(id=name, resource_id="procs"))
            for i in range(calls):
                batch = [
                    Message(id=f"{name}-{i}-{j}", thread_id=tid, role="user", content=[i, j])
                    for j, tid in enumerate((name, "shared"))
                ]
                await store.memory.save_messages(batch)
                await store.memory.update_resource("shared-res", metadata={name: i})
                if i % 10 == 0:
                    await store.memory.list_messages("shared", last=5)
        elif mode == "crash":
            for i in range(calls):
                batch = [
                    Message(id=f"b{i}-{j}", thread_id="victim", role="user", content=[i, j])
                    for j in range(5)
                ]
                await store.memory.save_messages(batch)
                sys.stdout.write(f"{i}\\n")
                sys.stdout.flush()
        await store.close()

    asyncio.run(main())
    """
)


def _spawn(script: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    path = tmp_path / "worker.py"
    path.write_text(WORKER)
    return path


def _start(go: Path, names: list[str]) -> None:
    """Signal go once every worker has imported and opened its store."""
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}.{n}.ready").exists() for n in names):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    go.touch()


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str]]:
    results = []
    for proc in procs:
        _out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, err))
    return results


async def test_two_processes_write_one_file_without_database_is_locked(
    tmp_path: Path, worker: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    go = tmp_path / "go"
    async with open_store(url, fresh=True) as store:  # schema first: this test is about writes
        from agent_storage import Thread

        await store.memory.save_thread(Thread(id="shared", resource_id="procs"))
    calls = 150
    procs = [_spawn(worker, "write", url, str(go), f"p{n}", str(calls)) for n in range(2)]
    _start(go, [f"p{n}" for n in range(2)])
    for code, err in _finish(procs):
        assert "locked" not in err.lower() and "busy" not in err.lower(), err
        assert code == 0, err
    async with open_store(url, fresh=True) as store:
        shared = await store.memory.list_messages("shared", per_page=None)
        assert len(shared.items) == 2 * calls
        assert len({m.id for m in shared.items}) == 2 * calls
        for n in range(2):
            own = await store.memory.list_messages(f"p{n}", per_page=None)
            assert [m.content[0] for m in own.items] == list(range(calls))
            # Each process's messages in the shared thread keep that process's order.
            mine = [m.content[0] for m in shared.items if m.id.startswith(f"p{n}-")]
            assert mine == list(range(calls))
        res = await store.memory.get_resource("shared-res")
        assert dict(res.metadata) == {f"p{n}": calls - 1 for n in range(2)}


async def test_several_processes_init_an_empty_file_at_once(tmp_path: Path, worker: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    go = tmp_path / "go"
    procs = [_spawn(worker, "init", url, str(go), f"i{n}") for n in range(3)]
    _start(go, [f"i{n}" for n in range(3)])
    for code, err in _finish(procs):
        assert code == 0, err
        assert "locked" not in err.lower(), err
    async with open_store(url, fresh=True, disable_init=True) as store:
        page = await store.memory.list_threads(resource_id="procs", per_page=None)
        assert sorted(t.id for t in page.items) == [f"i{n}" for n in range(3)]
        status = await store.status()
        assert status.schema_version == status.latest_version


@pytest.mark.parametrize("kill_after", [150, 300])
async def test_sigkill_mid_run_leaves_whole_batches(
    tmp_path: Path, worker: Path, kill_after: int
) -> None:
    """1,000 save_messages calls of 5 messages; SIGKILL part-way. Every batch is wholly
    present or wholly absent, and every batch the writer reported saved is present."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    go = tmp_path / "go"
    async with open_store(url, fresh=True) as store:
        from agent_storage import Thread

        await store.memory.save_thread(Thread(id="victim", resource_id="procs"))
    proc = _spawn(worker, "crash", url, str(go), "w", "1000")
    _start(go, ["w"])
    reported = -1
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while reported < kill_after and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert reported >= kill_after

    async with open_store(url, fresh=True) as store:
        page = await store.memory.list_messages("victim", per_page=None)
        counts: dict[int, int] = {}
        for m in page.items:
            counts[m.content[0]] = counts.get(m.content[0], 0) + 1
        partial = {i: c for i, c in counts.items() if c != 5}
        assert not partial, f"partial batches after SIGKILL: {partial}"
        present = sorted(counts)
        assert present == list(range(len(present))), "a batch in the middle is missing"
        assert len(present) >= reported + 1, "a batch reported saved was lost"
        assert page.total == 5 * len(present)
        # The store is usable after the crash.
        await store.memory.save_messages([])
        stats = await store.memory.stats("procs")
        assert stats.message_count == 5 * len(present)
