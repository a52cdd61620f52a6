"""Raw aiobotocore baseline: a single-table design with the requests W1 needs.

Items (table keys pk/sk):
- thread:  pk=THREAD#<id>, sk=#THREAD, rid=<resource>, updated_at, ... ('#' sorts before 'MSG#')
- message: pk=THREAD#<thread>, sk=MSG#<created_at iso>#<id>, mid=<id>, ...
GSIs: by_id (mid, keys only) finds a message's key; by_resource (rid, updated_at) lists threads.
The sk ends with the id rather than a counter so that re-saving a message overwrites it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiobotocore.session import get_session

from ..data import W1Message, W1Thread, iso
from .records import RawMessage, RawThread

THREAD_SK = "#THREAD"
_fromiso = datetime.fromisoformat


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def table_spec(name: str) -> dict[str, Any]:
    def s(n: str) -> dict[str, str]:
        return {"AttributeName": n, "AttributeType": "S"}

    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [s("pk"), s("sk"), s("mid"), s("rid"), s("updated_at")],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_id",
                "KeySchema": [{"AttributeName": "mid", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_resource",
                "KeySchema": [
                    {"AttributeName": "rid", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }


def _message(it: dict[str, Any]) -> RawMessage:
    meta = it.get("metadata")
    return RawMessage(
        it["mid"]["S"],
        it["thread_id"]["S"],
        it["resource_id"]["S"] if "resource_id" in it else None,
        it["role"]["S"],
        it["type"]["S"],
        json.loads(it["content"]["S"]),
        json.loads(meta["S"]) if meta else {},
        _fromiso(it["created_at"]["S"]),
    )


def _thread(it: dict[str, Any]) -> RawThread:
    return RawThread(
        it["id"]["S"],
        it["rid"]["S"],
        it["title"]["S"] if "title" in it else None,
        json.loads(it["metadata"]["S"]),
        _fromiso(it["created_at"]["S"]),
        _fromiso(it["updated_at"]["S"]),
    )


class RawDynamo:
    def __init__(self, table: str, region: str, endpoint_url: str | None) -> None:
        self.name = "aiobotocore"
        self.table = table
        self.region = region
        self.endpoint_url = endpoint_url
        self._stack = contextlib.AsyncExitStack()
        self.client: Any = None
        self.requests: Any = None  # Counter by operation (see ours.count_requests)

    async def open(self) -> None:
        session = get_session()
        self.client = await self._stack.enter_async_context(
            session.create_client(
                "dynamodb",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                # moto accepts any credentials; real AWS uses the normal credential chain
                **_local_credentials(self.endpoint_url),
            )
        )
        from ..ours import count_requests

        self.requests = count_requests(self.client)
        await self.client.create_table(**table_spec(self.table))
        waiter = self.client.get_waiter("table_exists")
        await waiter.wait(TableName=self.table, WaiterConfig={"Delay": 1})

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.delete_table(TableName=self.table)
        await self._stack.aclose()

    async def create_thread(self, t: W1Thread) -> None:
        created = iso(t.created_ms)[:-1] + "000Z"  # same width as now_iso()
        item = {
            "pk": {"S": f"THREAD#{t.id}"},
            "sk": {"S": THREAD_SK},
            "id": {"S": t.id},
            "rid": {"S": t.resource_id},
            "title": {"S": t.title},
            "metadata": {"S": json.dumps({"n": t.n}, separators=(",", ":"))},
            "created_at": {"S": created},
            "updated_at": {"S": created},
        }
        await self.client.put_item(TableName=self.table, Item=item)

    async def write(self, msgs: Sequence[W1Message]) -> None:
        # TransactWriteItems (<= 100 items) is the one atomic multi-item write: 20 puts + 1 update
        table = self.table
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        pk = f"THREAD#{msgs[0].thread_id}"
        ops: list[dict[str, Any]] = []
        for m in msgs:
            created = iso(m.created_ms)
            item = {
                "pk": {"S": pk},
                "sk": {"S": f"MSG#{created}#{m.id}"},
                "mid": {"S": m.id},
                "thread_id": {"S": m.thread_id},
                "resource_id": {"S": m.resource_id},
                "role": {"S": m.role},
                "type": {"S": "text"},
                "content": {"S": dumps(m.content)},
                "created_at": {"S": created},
            }
            ops.append({"Put": {"TableName": table, "Item": item}})
        ops.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": THREAD_SK}},
                    "UpdateExpression": "SET updated_at = :now",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":now": {"S": now_iso()}},
                }
            }
        )
        await self.client.transact_write_items(TransactItems=ops)

    async def last(self, thread_id: str, n: int) -> list[RawMessage]:
        resp = await self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": f"THREAD#{thread_id}"}, ":p": {"S": "MSG#"}},
            ScanIndexForward=False,
            Limit=n,
        )
        return [_message(it) for it in reversed(resp["Items"])]

    async def list_threads(self, resource_id: str, n: int) -> list[RawThread]:
        resp = await self.client.query(
            TableName=self.table,
            IndexName="by_resource",
            KeyConditionExpression="rid = :r",
            ExpressionAttributeValues={":r": {"S": resource_id}},
            ScanIndexForward=False,
            Limit=n,
        )
        return [_thread(it) for it in resp["Items"]]

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> list[RawMessage]:
        # thread_id deliberately unused: W1 gives only the message id
        client, table = self.client, self.table
        found = await client.query(
            TableName=table,
            IndexName="by_id",
            KeyConditionExpression="mid = :m",
            ExpressionAttributeValues={":m": {"S": message_id}},
        )
        if not found["Items"]:
            return []
        pk, sk = found["Items"][0]["pk"], found["Items"][0]["sk"]
        # the two sides are independent: issue them together
        older, newer = await asyncio.gather(
            client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :sk",
                ExpressionAttributeValues={":pk": pk, ":lo": {"S": "MSG#"}, ":sk": sk},
                ScanIndexForward=False,
                Limit=before + 1,  # includes the message itself
            ),
            client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND sk > :sk",
                ExpressionAttributeValues={":pk": pk, ":sk": sk},
                Limit=after,
            ),
        )
        items = list(reversed(older["Items"])) + newer["Items"]
        return [_message(it) for it in items]


def _local_credentials(endpoint_url: str | None) -> dict[str, str]:
    if endpoint_url and ("127.0.0.1" in endpoint_url or "localhost" in endpoint_url):
        return {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    return {}
