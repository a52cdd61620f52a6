"""Helpers of the DynamoDB tests (a unique module name: several test dirs have a conftest).

Request counting and fault injection go through botocore's event hooks (no mocks: every
request still goes over HTTP to the server; a hook only rewrites what a call sends or
what it got back)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from agent_storage import Storage

REGION = "us-east-1"


def dynamodb_url(endpoint: str, table: str) -> str:
    return f"dynamodb://{table}?region={REGION}&endpoint_url={endpoint}"


async def create_spec_table(client: Any, name: str, ttl_attribute: str = "ttl") -> str:
    """Create a table exactly as ``agent-storage dynamodb-table-spec`` prints it."""
    from agent_storage_dynamodb.spec import table_spec, ttl_spec

    await client.create_table(**table_spec(name))
    await client.update_time_to_live(**ttl_spec(name, ttl_attribute))
    return name


def new_table() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


def new_prefix() -> str:
    return f"k{uuid.uuid4().hex[:12]}"


class RequestLog:
    """Every DynamoDB operation a client sends, in order, with its parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()

    def handler(self, model: Any, params: Any = None, **_: Any) -> None:
        self.calls.append((model.name, params or {}))


@contextmanager
def counting(store: Storage) -> Iterator[RequestLog]:
    """Log the API parameters of every request ``store`` sends (after retries: each
    attempt is logged)."""
    log = RequestLog()
    events = store.client.meta.events

    def on_params(params: Any, model: Any, **_: Any) -> None:
        log.calls.append((model.name, dict(params)))

    events.register("provide-client-params.dynamodb", on_params, unique_id="count-requests")
    try:
        yield log
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="count-requests")


def error_response(code: str, message: str = "injected by the test",
                   status: int = 400, **extra: Any) -> tuple[Any, dict[str, Any]]:
    """What a ``before-call`` hook returns to answer a request with an error instead of
    sending it (botocore then raises the ClientError it would raise for the real one)."""
    parsed = {"Error": {"Code": code, "Message": message},
              "ResponseMetadata": {"HTTPStatusCode": status}, **extra}
    return SimpleNamespace(status_code=status, headers={}), parsed


@contextmanager
def fail_first(store: Storage, operation: str, times: int,
               answer: Callable[[], tuple[Any, dict[str, Any]]]) -> Iterator[list[int]]:
    """The first ``times`` requests of ``operation`` get ``answer()`` instead of a response
    from the server (they are not sent); later ones go through. Yields [failed count]."""
    events = store.client.meta.events
    failed = [0]

    def hook(**_: Any) -> Any:
        if failed[0] < times:
            failed[0] += 1
            return answer()
        return None

    name = f"before-call.dynamodb.{operation}"
    events.register(name, hook, unique_id="fail-first")
    try:
        yield failed
    finally:
        events.unregister(name, unique_id="fail-first")


@contextmanager
def unprocessed(store: Storage, operation: str, rounds: int) -> Iterator[list[int]]:
    """For the first ``rounds`` requests of BatchWriteItem/BatchGetItem: send only the
    first half of the request, and report the other half back as UnprocessedItems /
    UnprocessedKeys, the way DynamoDB does under load. Yields [number of rewrites]."""
    events = store.client.meta.events
    done = [0]
    key = "UnprocessedItems" if operation == "BatchWriteItem" else "UnprocessedKeys"

    def before(params: Any, context: Any, **_: Any) -> None:
        if done[0] >= rounds:
            return
        held = {}
        for table, entries in params["RequestItems"].items():
            if operation == "BatchWriteItem":
                if len(entries) < 2:
                    continue
                half = len(entries) // 2
                params["RequestItems"][table], held[table] = entries[:half], entries[half:]
            else:
                keys = entries["Keys"]
                if len(keys) < 2:
                    continue
                half = len(keys) // 2
                held[table] = {**entries, "Keys": keys[half:]}
                params["RequestItems"][table] = {**entries, "Keys": keys[:half]}
        if held:
            done[0] += 1
            context["held"] = held

    def after(parsed: Any, context: Any, **_: Any) -> None:
        held = context.get("held")
        if held:
            parsed[key] = held

    events.register(f"provide-client-params.dynamodb.{operation}", before,
                    unique_id="unprocessed-before")
    events.register(f"after-call.dynamodb.{operation}", after, unique_id="unprocessed-after")
    try:
        yield done
    finally:
        events.unregister(f"provide-client-params.dynamodb.{operation}",
                          unique_id="unprocessed-before")
        events.unregister(f"after-call.dynamodb.{operation}", unique_id="unprocessed-after")
