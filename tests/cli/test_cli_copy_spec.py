"""`agent-storage copy` and `agent-storage dynamodb-table-spec`."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from agent_storage import Message, Thread, WorkflowRun, open_store
from agent_storage.backends.memory import MemoryBackend
from agent_storage.cli import main


def _seed(url: str) -> None:
    async def body() -> None:
        store = open_store(url, fresh=True)
        await store.memory.save_thread(Thread(id="t1", resource_id="u1", title="Hello"))
        await store.memory.save_messages(
            [Message(id=f"m{i}", thread_id="t1", role="user", content={"n": i}) for i in range(7)]
        )
        await store.workflows.persist_snapshot("wf", "r1", {"status": "running"})
        await store.close()

    asyncio.run(body())


def test_copy_moves_every_record_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"clicopy{uuid.uuid4().hex[:8]}"
    src, dst = f"memory://{name}", f"sqlite:///{tmp_path / 'dst.db'}"
    _seed(src)
    try:
        assert main(["copy", src, dst, "--batch-size", "3"]) == 0
        out = capsys.readouterr().out
        assert "messages" in out and "7 ->        7  ok" in out and "DIFFERS" not in out

        async def read() -> tuple[list[str], WorkflowRun | None]:
            store = open_store(dst, fresh=True)
            page = await store.memory.list_messages("t1", per_page=None)
            run = await store.workflows.get_run("r1")
            await store.close()
            return [m.id for m in page.items], run

        ids, run = asyncio.run(read())
        assert ids == [f"m{i}" for i in range(7)]
        assert run is not None and run.status == "running"
        # a second run is a resume (the destination is no longer empty: say so), upserts,
        # same counts, still verified
        assert main(["copy", src, dst]) == 1
        assert main(["copy", "--into-non-empty", src, dst]) == 0
        assert "DIFFERS" not in capsys.readouterr().out
    finally:
        MemoryBackend.forget(name)


def test_copy_only_some_domains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"clicopy{uuid.uuid4().hex[:8]}"
    _seed(f"memory://{name}")
    try:
        code = main(["copy", f"memory://{name}", f"sqlite:///{tmp_path / 'd.db'}",
                     "--domains", "workflows"])
        out = capsys.readouterr().out
        assert code == 0 and "workflow_runs" in out and "messages" not in out
    finally:
        MemoryBackend.forget(name)


@pytest.mark.parametrize("argv", [
    ["copy", "memory://a"],
    ["copy", "memory://a", "memory://b", "--batch-size", "0"],
    ["copy", "nosuch://a", "memory://b"],
])
def test_copy_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) in (1, 2)
    assert "Traceback" not in capsys.readouterr().err


def test_table_spec_prints_every_index_the_code_uses(capsys: pytest.CaptureFixture[str]) -> None:
    from agent_storage_dynamodb.keys import INDEXES

    assert main(["dynamodb-table-spec", "MyTable", "--format", "create-table"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["TableName"] == "MyTable"
    declared = {i["IndexName"] for i in spec.get("GlobalSecondaryIndexes", [])}
    declared |= {i["IndexName"] for i in spec.get("LocalSecondaryIndexes", [])}
    assert {idx.name for idx in INDEXES} <= declared
    assert main(["dynamodb-table-spec", "MyTable", "--format", "cloudformation"]) == 0
    cfn = json.loads(capsys.readouterr().out)
    assert "MyTable" in json.dumps(cfn)
    assert main(["dynamodb-table-spec", "--ttl-attribute", "bad-name"]) == 1
