"""Throttling and partial batches, injected through botocore's event hooks on the store's
own client (requests still go over HTTP to the moto server when not short-circuited).

* Throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``, a
  transaction cancelled with reason ``ThrottlingError``) on a share of every kind of call:
  every call still succeeds and nothing is lost.
* ``BatchWriteItem`` answered with part of the batch held back as ``UnprocessedItems``
  (those items really were not sent) and ``BatchGetItem`` with ``UnprocessedKeys``: the
  store retries until everything is written / read.
* Throttling that never stops: the call fails with TransientBackendError, nothing was
  written, and the same store works once the throttling ends.
"""

from __future__ import annotations

from typing import Any

import pytest
from agent_storage import (
    Message,
    Thread,
    TransientBackendError,
)
from agent_storage.testing._helpers import T0, ts

pytestmark = pytest.mark.asyncio


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def _error(code: str, **extra: Any) -> tuple[_Http, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": "injected by tests/dynamodb/test_faults.py"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
        **extra,
    }
    return _Http(400), parsed


class Throttler:
    """Short-circuits a share of the store's requests with a throttling error."""

    KINDS = (
        lambda: _error("ProvisionedThroughputExceededException"),
        lambda: _error("ThrottlingException"),
    )

    def __init__(self, client: Any, every: int = 3, only: str = "") -> None:
        self.client = client
        self.every = every  # throttle one call in `every` (1 = all of them)
        self.only = only
        self.calls = 0
        self.throttled: dict[str, int] = {}
        client.meta.events.register("before-call.dynamodb", self._before_call)

    def remove(self) -> None:
        self.client.meta.events.unregister("before-call.dynamodb", self._before_call)

    def _before_call(self, model: Any, **_kw: Any) -> Any:
        op = model.name
        if self.only and op != self.only:
            return None
        self.calls += 1
        if self.calls % self.every:
            return None
        self.throttled[op] = self.throttled.get(op, 0) + 1
        if op == "TransactWriteItems" and self.calls % 2:
            return _error(
                "TransactionCanceledException",
                CancellationReasons=[{"Code": "ThrottlingError"}],
            )
        return self.KINDS[self.calls % 2]()


class Withholder:
    """Sends only part of each BatchWriteItem/BatchGetItem and reports the rest as
    UnprocessedItems/UnprocessedKeys, as DynamoDB does under load."""

    def __init__(self, client: Any, rounds: int = 3) -> None:
        self.client = client
        self.rounds = rounds
        self.withheld = {"BatchWriteItem": 0, "BatchGetItem": 0}
        self._left = {"BatchWriteItem": rounds, "BatchGetItem": rounds}
        ev = client.meta.events
        ev.register("before-parameter-build.dynamodb.BatchWriteItem", self._before_write)
        ev.register("after-call.dynamodb.BatchWriteItem", self._after_write)
        ev.register("before-parameter-build.dynamodb.BatchGetItem", self._before_get)
        ev.register("after-call.dynamodb.BatchGetItem", self._after_get)

    def remove(self) -> None:
        ev = self.client.meta.events
        ev.unregister("before-parameter-build.dynamodb.BatchWriteItem", self._before_write)
        ev.unregister("after-call.dynamodb.BatchWriteItem", self._after_write)
        ev.unregister("before-parameter-build.dynamodb.BatchGetItem", self._before_get)
        ev.unregister("after-call.dynamodb.BatchGetItem", self._after_get)

    def _split(self, op: str, items: list[Any]) -> tuple[list[Any], list[Any]]:
        if self._left[op] <= 0 or len(items) < 2:
            return items, []
        self._left[op] -= 1
        keep = len(items) // 2
        self.withheld[op] += len(items) - keep
        return items[:keep], items[keep:]

    def _before_write(self, params: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
        for table, requests in params["RequestItems"].items():
            sent, held = self._split("BatchWriteItem", list(requests))
            params["RequestItems"][table] = sent
            if held:
                context.setdefault("held", {})[table] = held

    def _after_write(self, parsed: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
        held = context.get("held")
        if held:
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, requests in held.items():
                unprocessed.setdefault(table, []).extend(requests)

    def _before_get(self, params: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
        for table, spec in params["RequestItems"].items():
            sent, held = self._split("BatchGetItem", list(spec["Keys"]))
            spec["Keys"] = sent
            if held:
                rest = {k: v for k, v in spec.items() if k != "Keys"}
                context.setdefault("held", {})[table] = {**rest, "Keys": held}

    def _after_get(self, parsed: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
        held = context.get("held")
        if held:
            parsed.setdefault("UnprocessedKeys", {}).update(held)


def _messages(tid: str, start: int, count: int) -> list[Message]:
    return [
        Message(id=f"{tid}-{n}", thread_id=tid, role="user", content={"n": n}, created_at=ts(n))
        for n in range(start, start + count)
    ]


async def test_throttled_calls_are_retried_and_nothing_is_lost(storage_factory: Any) -> None:
    store = await storage_factory()
    throttler = Throttler(store.client, every=3)
    try:
        mem = store.memory
        await mem.save_thread(Thread(id="th", resource_id="u"))
        for call in range(10):
            await mem.save_messages(_messages("th", call * 5, 5))
        page = await mem.list_messages("th", per_page=None)
        assert [m.content["n"] for m in page.items] == list(range(50))
        assert [m.content["n"] for m in (await mem.list_messages("th", last=7)).items] == list(
            range(43, 50)
        )
        await mem.update_resource("res", working_memory="wm", metadata={"a": 1})
        await mem.update_resource("res", metadata={"b": 2})
        assert dict((await mem.get_resource("res")).metadata) == {"a": 1, "b": 2}
        wf = store.workflows
        await wf.persist_snapshot("flow", "run", {"status": "running"})
        for step in range(5):
            await wf.update_step_result("flow", "run", f"s{step}", step)
        assert await wf.update_state("flow", "run", status="done", expected_status="running")
        snap = await wf.load_snapshot("flow", "run")
        assert snap["context"] == {f"s{i}": i for i in range(5)} and snap["status"] == "done"
        assert (await mem.stats("u")).message_count == 50
    finally:
        throttler.remove()
    assert throttler.throttled.get("TransactWriteItems", 0) >= 2, throttler.throttled
    assert sum(throttler.throttled.values()) >= 10, throttler.throttled


async def test_unprocessed_items_and_keys_are_retried(storage_factory: Any) -> None:
    """BatchWriteItem carries >100-item deletes and chunked clones; BatchGetItem carries
    multi-id reads. Half of each request is held back for several rounds."""
    store = await storage_factory(batch_mode="chunked")
    mem = store.memory
    await mem.save_thread(Thread(id="big", resource_id="u", created_at=T0))
    for start in range(0, 150, 50):
        await mem.save_messages(_messages("big", start, 50))
    withholder = Withholder(store.client, rounds=4)
    try:
        got = await mem.get_messages([f"big-{n}" for n in range(150)])
        assert [m.content["n"] for m in got] == list(range(150))
        _clone, copies = await mem.clone_thread("big", new_thread_id="big-clone")
        assert len(copies) == 150
        cloned = await mem.list_messages("big-clone", per_page=None)
        assert [m.content["n"] for m in cloned.items] == list(range(150))
        # ids of two threads: their thread rows are read with one BatchGetItem
        doomed = [f"big-{n}" for n in range(0, 150, 2)] + [m.id for m in copies[:10]]
        assert await mem.delete_messages(doomed) == 85
        assert (await mem.list_messages("big-clone", per_page=1)).total == 140
        left = await mem.list_messages("big", per_page=None)
        assert [m.content["n"] for m in left.items] == list(range(1, 150, 2))
        await mem.delete_thread("big-clone")
        assert (await mem.list_messages("big-clone", per_page=None)).items == ()
        assert await mem.get_thread("big-clone") is None
    finally:
        withholder.remove()
    assert withholder.withheld["BatchWriteItem"] > 0, withholder.withheld
    assert withholder.withheld["BatchGetItem"] > 0, withholder.withheld


async def _memory_state(store: Any) -> Any:
    page = await store.memory.list_messages(["ta", "tb"], per_page=None)
    threads = [await store.memory.get_thread(t) for t in ("ta", "tb")]
    return [m for m in page.items], threads, await store.memory.stats()


async def test_endless_throttling_is_transient_and_writes_nothing(storage_factory: Any) -> None:
    store = await storage_factory()
    for tid in ("ta", "tb"):
        await store.memory.save_thread(Thread(id=tid, resource_id="u", created_at=T0))
        await store.memory.save_messages(_messages(tid, 0, 3))
    before = await _memory_state(store)
    batch = [
        Message(id="new-1", thread_id="ta", role="user", content="x", created_at=T0),
        Message(id="new-2", thread_id="tb", role="user", content="y", created_at=T0),
        Message(id="ta-0", thread_id="ta", role="user", content="rewritten", created_at=T0),
    ]
    throttler = Throttler(store.client, every=1, only="TransactWriteItems")
    try:
        with pytest.raises(TransientBackendError) as info:
            await store.memory.save_messages(batch)
        assert info.value.__cause__ is not None
    finally:
        throttler.remove()
    assert await _memory_state(store) == before
    await store.memory.save_messages(batch)  # the same store, once throttling ends
    got = await store.memory.get_messages(["new-1", "new-2", "ta-0"])
    assert sorted(m.content for m in got) == ["rewritten", "x", "y"]
