"""The table that `agent-storage dynamodb-table-spec` prints is the table the backend uses:
create it from the CLI's own output, then run a store on it (no create_table=True)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

from agent_storage import Include, Message, Thread, open_store
from conftest import dynamodb_url


def _cli_spec(table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def run(fmt: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "agent_storage.cli", "dynamodb-table-spec", table,
             "--format", fmt], capture_output=True, text=True, check=True)
        return done.stdout

    create = json.loads(run("create-table"))
    text = run("all")
    ttl_json = text.split("# UpdateTimeToLive\n", 1)[1].split("\n\n# CloudFormation", 1)[0]
    return create, json.loads(ttl_json)


async def test_store_runs_on_the_table_the_cli_printed(
    dynamodb_endpoint: str, sync_client: Any
) -> None:
    table = f"cli-{uuid.uuid4().hex[:12]}"
    create, ttl = _cli_spec(table)
    sync_client.create_table(**create)
    sync_client.update_time_to_live(**ttl)
    store = open_store(dynamodb_url(dynamodb_endpoint, table), fresh=True)
    try:
        await store.init()  # checks the table and every GSI exist; creates nothing
        await store.memory.save_thread(Thread(id="t", resource_id="u"))
        await store.memory.save_messages(
            [Message(id=f"m{i}", thread_id="t", role="user", content=i) for i in range(6)])
        recall = await store.memory.list_messages("t", last=3)
        assert [m.id for m in recall.items] == ["m3", "m4", "m5"]
        window = await store.memory.list_messages(
            "t", include=[Include(id="m2", before=1, after=1)], per_page=0)
        assert [m.id for m in window.items] == ["m1", "m2", "m3"]
        page = await store.memory.list_threads(resource_id="u")
        assert [t.id for t in page.items] == ["t"]
    finally:
        await store.close()
        sync_client.delete_table(TableName=table)
