"""Migration backups and ``restore_backup``, on every backend with the "migrations" capability.

A restore brings every table of the backup back with all its rows, and leaves the tables
it did not back up as they were: nothing cascades out of a table that is dropped and put
back (SQLite's ``DROP TABLE`` of threads used to run ``ON DELETE CASCADE`` into messages).

The cases add one no-op migration that names the tables it "changes" (so they are backed
up) through the backend's ``migrations()`` list, the hook of the shared migration runner.
A backend with the capability but without that list is skipped with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_storage import AgentConfig, Message, Resource, Score, Span, Thread
from agent_storage.testing._helpers import T0, ts, uid

pytestmark = pytest.mark.asyncio

ALL_TABLES = ("threads", "messages", "resources", "workflow_runs", "scores", "spans", "agents",
              "agent_versions")


async def _noop(ctx: Any) -> int:
    return 0


def _add_migration(storage: Any, monkeypatch: pytest.MonkeyPatch,
                   tables: tuple[str, ...]) -> int:
    """Append a no-op migration that backs up ``tables``; return its version."""
    from agent_storage.migrations import Migration

    backend = storage.backend
    current = getattr(backend, "migrations", None)
    if not callable(current):
        pytest.skip("the backend has no migrations() list to add a test migration to")
    existing = list(current())
    version = int(max(m.version for m in existing)) + 1
    extra = Migration(version=version, name="kit: back up and change nothing", apply=_noop,
                      tables=tables, fingerprint="kit")
    monkeypatch.setattr(backend, "migrations", lambda: [*existing, extra])
    return version


async def _seed(storage: Any) -> dict[str, Any]:
    """Two owners' threads with messages (equal timestamps included), a resource, runs,
    scores, a trace and agents with several versions."""
    owner = uid("owner")
    memory = storage.memory
    threads = [await memory.save_thread(Thread(id=uid("rt"), resource_id=owner,
                                               title=f"t{i}", metadata={"i": i}))
               for i in range(3)]
    for n, thread in enumerate(threads):
        await memory.save_messages([
            Message(id=uid("rm"), thread_id=thread.id, role="user" if j % 2 else "assistant",
                    content={"n": n, "j": j}, created_at=ts(j // 2)) for j in range(6)])
    await memory.save_resource(Resource(id=owner, working_memory="# notes", metadata={"a": 1}))
    if storage.get_domain("workflows") is not None:
        for i in range(3):
            await storage.workflows.persist_snapshot(
                "wf", f"{owner}-run{i}", {"status": "running", "i": i}, resource_id=owner)
    if storage.get_domain("scores") is not None:
        await storage.scores.save_score(Score(id=uid("rs"), scorer_id="kit", run_id=owner,
                                              score=0.5, created_at=T0))
    if storage.get_domain("observability") is not None:
        await storage.observability.create_spans([
            Span(trace_id=owner, span_id="root", name="run", span_type="agent", started_at=T0),
            Span(trace_id=owner, span_id="child", parent_span_id="root", name="step",
                 span_type="tool", started_at=ts(1))])
    if storage.get_domain("agents") is not None:
        for i in range(2):
            agent = await storage.agents.create_agent(
                AgentConfig(id=f"{owner}-agent{i}", name=f"agent {i}", instructions="v1"))
            await storage.agents.update_agent(agent.id, instructions="v2")
    return {"owner": owner, "threads": [t.id for t in threads]}


async def _snapshot(storage: Any, seed: dict[str, Any]) -> dict[str, Any]:
    """Everything the seed wrote, read back through the public API."""
    memory = storage.memory
    owner = seed["owner"]
    snap: dict[str, Any] = {
        "threads": (await memory.list_threads(resource_id=owner, per_page=None)).items,
        "messages": [(await memory.list_messages(t, per_page=None)).items
                     for t in seed["threads"]],
        "resource": await memory.get_resource(owner),
    }
    if storage.get_domain("workflows") is not None:
        snap["runs"] = (await storage.workflows.list_runs(resource_id=owner)).items
    if storage.get_domain("scores") is not None:
        snap["scores"] = (await storage.scores.list_scores(run_id=owner)).items
    if storage.get_domain("observability") is not None:
        snap["trace"] = await storage.observability.get_trace(owner)
    if storage.get_domain("agents") is not None:
        agents = [await storage.agents.get_agent(f"{owner}-agent{i}") for i in range(2)]
        snap["agents"] = agents
        snap["versions"] = [await storage.agents.list_agent_versions(a.id) for a in agents]
    return snap


class TestRestoreBackup:
    pytestmark = [pytest.mark.asyncio, pytest.mark.agent_storage_requires("migrations")]

    @pytest.mark.parametrize("tables", [ALL_TABLES, ("threads", "agents")],
                             ids=["every-table", "parents-only"])
    async def test_restore_brings_back_every_row(
        self, storage: Any, monkeypatch: pytest.MonkeyPatch, tables: tuple[str, ...]
    ) -> None:
        seed = await _seed(storage)
        before = await _snapshot(storage, seed)
        assert sum(len(m) for m in before["messages"]) == 18
        version = _add_migration(storage, monkeypatch, tables)

        report = await storage.migrate(backup=True)
        assert report.to_version == version and len(report.backed_up) == len(tables)
        assert await _snapshot(storage, seed) == before
        await storage.restore_backup(version)

        assert await _snapshot(storage, seed) == before
        # the store keeps working on the restored tables: a message saved now, at the same
        # instant as the last one, still reads back after it (save order survives)
        tid = seed["threads"][0]
        last = before["messages"][0][-1]
        await storage.memory.save_messages([Message(
            id=uid("after"), thread_id=tid, role="user", content="after",
            created_at=last.created_at)])
        page = await storage.memory.list_messages(tid, per_page=None)
        assert [m.id for m in page.items[:-1]] == [m.id for m in before["messages"][0]]
        assert page.items[-1].content == "after"

    async def test_restore_keeps_later_rows_of_tables_it_did_not_back_up(
        self, storage: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seed = await _seed(storage)
        version = _add_migration(storage, monkeypatch, ("threads",))
        await storage.migrate(backup=True)
        tid = seed["threads"][1]
        await storage.memory.update_thread(tid, title="changed after the backup")
        late = Message(id=uid("late"), thread_id=tid, role="user", content="late",
                       created_at=ts(100))
        await storage.memory.save_messages([late])

        await storage.restore_backup(version)

        thread = await storage.memory.get_thread(tid)
        assert thread is not None and thread.title == "t1"  # the backed-up row
        ids = [m.id for m in (await storage.memory.list_messages(tid, per_page=None)).items]
        assert len(ids) == 7 and ids[-1] == late.id  # messages were not backed up: kept
