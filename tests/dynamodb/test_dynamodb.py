"""DynamoDB-specific behaviour: retries, batches, size limit, TTL, table lifecycle, spec."""

from __future__ import annotations

import asyncio
import datetime as _dt
import re
from pathlib import Path
from typing import Any

import pytest
from agent_storage import (
    IndexSpec,
    Message,
    NotSupportedError,
    RecordTooLargeError,
    Retention,
    SchemaNotInitializedError,
    Span,
    Thread,
    TransientBackendError,
    ValidationError,
    open_store,
)
from agent_storage.serde import utcnow
from agent_storage_dynamodb import keys, spec
from agent_storage_dynamodb.client import RetryPolicy
from dynamo_testlib import (
    counting,
    create_spec_table,
    dynamodb_url,
    error_response,
    fail_first,
    new_prefix,
    new_table,
    unprocessed,
)

T0 = _dt.datetime(2024, 1, 1, tzinfo=_dt.UTC)
README = Path(__file__).resolve().parents[2] / "plugins" / "dynamodb" / "README.md"


def msgs(thread_id: str, count: int, start: int = 0, **fields: Any) -> list[Message]:
    return [Message(id=f"{thread_id}-m{n:04d}", thread_id=thread_id, role="user",
                    content={"n": n}, created_at=T0 + _dt.timedelta(seconds=n), **fields)
            for n in range(start, start + count)]


def fast_retries(store: Any, attempts: int = 10) -> None:
    store.backend.table.retry = RetryPolicy(attempts=attempts, base=0.001, cap=0.01)


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException",
                                  "ThrottlingException", "RequestLimitExceeded"])
async def test_throttled_writes_are_retried_and_nothing_is_lost(store: Any, code: str) -> None:
    fast_retries(store)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    with fail_first(store, "TransactWriteItems", 3, lambda: error_response(code)) as failed, \
            counting(store) as log:
        saved = await store.memory.save_messages(msgs("t", 20))
    assert failed == [3]
    assert log.ops.count("TransactWriteItems") == 4  # 3 throttled + the one that went through
    assert [m.id for m in saved] == [m.id for m in msgs("t", 20)]
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == [m.id for m in msgs("t", 20)] and page.total == 20


async def test_throttled_reads_are_retried(store: Any) -> None:
    fast_retries(store)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    await store.memory.save_messages(msgs("t", 5))
    with fail_first(store, "Query", 2,
                    lambda: error_response("ThrottlingException")) as failed:
        page = await store.memory.list_messages("t", last=3)
    assert failed == [2] and [m.id for m in page.items] == [m.id for m in msgs("t", 5)][2:]


async def test_transaction_conflict_is_retried(store: Any) -> None:
    fast_retries(store)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    conflict = lambda: error_response(  # noqa: E731
        "TransactionCanceledException", "Transaction cancelled",
        CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}])
    with fail_first(store, "TransactWriteItems", 2, conflict) as failed:
        await store.memory.save_messages(msgs("t", 1))
    assert failed == [2]
    assert len((await store.memory.list_messages("t")).items) == 1


async def test_server_errors_are_retried(store: Any) -> None:
    fast_retries(store)
    with fail_first(store, "GetItem", 2,
                    lambda: error_response("InternalServerError", status=500)) as failed:
        assert await store.memory.get_thread("nope") is None
    assert failed == [2]


async def test_throttling_that_does_not_stop_is_a_transient_error(store: Any) -> None:
    fast_retries(store, attempts=4)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    with fail_first(store, "TransactWriteItems", 100,
                    lambda: error_response("ThrottlingException")) as failed:
        with pytest.raises(TransientBackendError) as info:
            await store.memory.save_messages(msgs("t", 2))
    assert failed == [4]
    assert info.value.__cause__ is not None
    assert (await store.memory.list_messages("t")).items == ()


async def test_unprocessed_items_are_retried(store: Any) -> None:
    """BatchWriteItem reports half of each of the first 3 requests as UnprocessedItems:
    they are sent again (with backoff) until none is left. (drop_store deletes in batches;
    delete_traces uses DeleteItem, which reports what it deleted.)"""
    fast_retries(store)
    spans = [Span(trace_id="tr", span_id=f"s{n:03d}", name="n", span_type="x",
                  started_at=T0, parent_span_id=None if n == 0 else "s000") for n in range(80)]
    await store.observability.create_spans(spans)
    with unprocessed(store, "BatchWriteItem", rounds=3) as rewrites, counting(store) as log:
        await store.backend.drop_store()
    assert rewrites == [3]
    assert log.ops.count("BatchWriteItem") == 4 + 3  # 80 keys = 4 chunks of 25, +3 retries
    assert all(len(p["RequestItems"][store.backend.table_name]) <= 25
               for op, p in log.calls if op == "BatchWriteItem")
    assert await store.observability.get_trace("tr") is None


async def test_unprocessed_keys_are_retried(store: Any) -> None:
    fast_retries(store)
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    await store.memory.save_messages(msgs("t", 10))
    with unprocessed(store, "BatchGetItem", rounds=1) as rewrites, counting(store) as log:
        await store.memory.save_messages(msgs("t", 10))  # upserts: must find all 10
    assert rewrites == [1] and log.ops.count("BatchGetItem") == 2
    page = await store.memory.list_messages("t", per_page=None)
    assert page.total == 10 and (await store.memory.stats("u")).message_count == 10


# -- size and batch limits -----------------------------------------------------------------


async def test_items_over_400_kb_are_refused_before_sending(store: Any) -> None:
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    ok = Message(id="ok", thread_id="t", role="user", content="y" * (390 * 1024))
    await store.memory.save_messages([ok])
    assert (await store.memory.get_messages(["ok"]))[0].content == ok.content
    big = Message(id="big", thread_id="t", role="user", content="x" * (401 * 1024))
    small = Message(id="small", thread_id="t", role="user", content="s")
    with counting(store) as log, pytest.raises(RecordTooLargeError, match="400"):
        await store.memory.save_messages([small, big])
    assert "TransactWriteItems" not in log.ops and "PutItem" not in log.ops
    assert await store.memory.get_messages(["big", "small"]) == []
    with pytest.raises(RecordTooLargeError):
        await store.memory.save_thread(Thread(id="t2", resource_id="u",
                                              metadata={"blob": "z" * (420 * 1024)}))
    with pytest.raises(RecordTooLargeError):
        await store.workflows.persist_snapshot("wf", "r", {"blob": "z" * (420 * 1024)})
    assert await store.memory.get_thread("t2") is None


async def test_multibyte_text_counts_in_bytes(store: Any) -> None:
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    text = "🤖" * (110 * 1024)  # 110 K characters, 440 KB of UTF-8
    with pytest.raises(RecordTooLargeError):
        await store.memory.save_messages([Message(id="m", thread_id="t", role="user",
                                                  content=text)])


async def test_a_batch_over_one_transaction_is_refused_by_default(store: Any) -> None:
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    with counting(store) as log, pytest.raises(ValidationError, match="batch_mode"):
        await store.memory.save_messages(msgs("t", 100))
    assert "TransactWriteItems" not in log.ops
    assert (await store.memory.list_messages("t")).total == 0
    await store.memory.save_messages(msgs("t", 99))  # 99 + the thread bump = 100: fits
    assert (await store.memory.list_messages("t")).total == 99


async def test_chunked_batch_mode_writes_large_batches_in_order(storage_factory: Any) -> None:
    store = await storage_factory(batch_mode="chunked")
    await store.memory.save_thread(Thread(id="t", resource_id="u"))
    same = T0
    batch = [Message(id=f"m{n:03d}", thread_id="t", role="user", content=n, created_at=same)
             for n in range(250)]
    with counting(store) as log:
        await store.memory.save_messages(batch)
    assert log.ops.count("TransactWriteItems") == 3
    page = await store.memory.list_messages("t", per_page=None)
    assert [m.id for m in page.items] == [m.id for m in batch]
    assert (await store.memory.stats("u")).message_count == 250


async def test_bad_batch_mode_is_a_configuration_error(dynamodb_endpoint: str) -> None:
    from agent_storage import ConfigurationError

    with pytest.raises(ConfigurationError, match="batch_mode"):
        open_store(dynamodb_url(dynamodb_endpoint, "whatever"), fresh=True, batch_mode="yolo")


# -- expressions never carry caller strings ------------------------------------------------


async def test_expressions_hold_placeholders_only(store: Any) -> None:
    nasty = "x = :v0 OR #n0 <> attribute_exists(pk) REMOVE #ttl, a.b[0] #SK"
    with counting(store) as log:
        await store.memory.save_thread(Thread(id=nasty, resource_id=nasty, title=nasty,
                                              agent_id=nasty, metadata={nasty: nasty}))
        await store.memory.save_messages([Message(id=nasty, thread_id=nasty, role="user",
                                                  content=nasty, type="t")])
        await store.memory.update_thread(nasty, metadata={nasty: 1}, merge_metadata=True)
        await store.memory.list_threads(resource_id=nasty, agent_id=nasty,
                                        metadata={nasty: 1}, order_by="title")
        await store.memory.list_messages(nasty, roles=["user"], types=["t"],
                                         resource_id=nasty, page=1, per_page=1)
        await store.workflows.persist_snapshot(nasty, nasty, {"context": {}})
        await store.workflows.update_step_result(nasty, nasty, nasty, {nasty: nasty})
        await store.workflows.update_state(nasty, nasty, status=nasty, expected_status=None)
        await store.workflows.list_runs(workflow_name=nasty, status=nasty)
    for op, params in log.calls:
        for name, value in params.items():
            if name.endswith("Expression"):
                assert "x = " not in value and "a.b" not in value, (op, name, value)
    run = await store.workflows.get_run(nasty, workflow_name=nasty)
    assert run.snapshot["context"] == {nasty: {nasty: nasty}} and run.status == nasty
    thread = await store.memory.get_thread(nasty)
    assert thread.metadata == {nasty: 1} and thread.title == nasty


async def test_step_ids_that_look_like_paths(store: Any) -> None:
    await store.workflows.persist_snapshot("wf", "r", {"context": {"a": 1}, "status": "x"})
    for step in ("a.b", "c[0]", "#d", ":e", "f g", "ctx.x"):
        await store.workflows.update_step_result("wf", "r", step, step)
    snap = await store.workflows.load_snapshot("wf", "r")
    assert snap["context"] == {"a": 1, "a.b": "a.b", "c[0]": "c[0]", "#d": "#d", ":e": ":e",
                               "f g": "f g", "ctx.x": "ctx.x"}


async def test_step_result_on_a_snapshot_without_context(store: Any) -> None:
    await store.workflows.persist_snapshot("wf", "r", {"status": "running"})
    await asyncio.gather(*(store.workflows.update_step_result("wf", "r", f"s{i}", i)
                           for i in range(5)))
    snap = await store.workflows.load_snapshot("wf", "r")
    assert snap == {"status": "running", "context": {f"s{i}": i for i in range(5)}}


# -- TTL -----------------------------------------------------------------------------------


async def raw_item(store: Any, pk: str, sk: str) -> dict[str, Any]:
    resp = await store.client.get_item(TableName=store.backend.table_name,
                                       Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return resp["Item"]  # type: ignore[no-any-return]


async def test_ttl_attribute_values(storage_factory: Any) -> None:
    ttl = {"messages": _dt.timedelta(days=30), "threads": _dt.timedelta(hours=2),
           "workflow_runs": _dt.timedelta(days=1)}
    store = await storage_factory(retention=Retention(ttl=ttl), ttl_attribute="expires")
    created = utcnow() - _dt.timedelta(days=1)
    thread = await store.memory.save_thread(Thread(id="t", resource_id="u", created_at=created,
                                                   updated_at=utcnow()))
    await store.memory.save_messages([Message(id="m", thread_id="t", role="user", content=1,
                                              created_at=created)])
    domain = store.memory
    t_item = await raw_item(store, *_key(domain.thread_key("t")))
    m_item = await raw_item(store, *_key(domain.message_key("t", "m")))
    assert "ttl" not in m_item and "expires" in m_item
    assert int(m_item["expires"]["N"]) == int((created + ttl["messages"]).timestamp())
    bumped = (await store.memory.get_thread("t")).updated_at  # save_messages bumped it
    assert bumped > thread.updated_at
    assert int(t_item["expires"]["N"]) == int((bumped + ttl["threads"]).timestamp())
    run = await store.workflows.persist_snapshot("wf", "r", {"status": "x"})
    r_item = await raw_item(store, *_key(store.workflows.run_key("wf", "r")))
    assert int(r_item["expires"]["N"]) == int((run.updated_at + ttl["workflow_runs"]).timestamp())
    await store.scores.save_score(__import__("agent_storage").Score(
        id="s", scorer_id="x", run_id="r", score=1.0))
    s_item = await raw_item(store, *_key(store.scores.score_key("s")))
    assert "expires" not in s_item  # scores have no ttl in this store


def _key(key: dict[str, Any]) -> tuple[str, str]:
    return key["pk"]["S"], key["sk"]["S"]


async def test_expired_items_not_yet_deleted_are_invisible_to_every_store(
    storage_factory: Any, reopen_store: Any,
) -> None:
    """DynamoDB's TTL sweep lags by hours: reads filter on the attribute, even in a store
    opened without retention."""
    store = await storage_factory(retention=Retention(ttl={"messages": _dt.timedelta(days=1),
                                                           "threads": _dt.timedelta(days=1)}))
    old = utcnow() - _dt.timedelta(days=3)
    await store.memory.save_thread(Thread(id="fresh", resource_id="u"))
    await store.memory.save_messages([Message(id="old", thread_id="fresh", role="user",
                                              content=1, created_at=old),
                                      Message(id="new", thread_id="fresh", role="user",
                                              content=2)])
    await store.memory.save_thread(Thread(id="stale", resource_id="u", created_at=old,
                                          updated_at=old))
    plain = reopen_store(store, retention=None)
    assert plain.backend.options.retention.ttl == {}
    for s in (store, plain):
        assert [m.id for m in (await s.memory.list_messages("fresh")).items] == ["new"]
        assert await s.memory.get_messages(["old"]) == []
        assert await s.memory.get_thread("stale") is None
        assert [t.id for t in (await s.memory.list_threads(resource_id="u")).items] == ["fresh"]
    # still physically there (nothing deleted them yet): only hidden
    item = await raw_item(store, *_key(store.memory.message_key("fresh", "old")))
    assert int(item["ttl"]["N"]) < utcnow().timestamp()


# -- table lifecycle -----------------------------------------------------------------------


async def test_create_table_creates_every_index_and_ttl(dynamodb_endpoint: str,
                                                       raw_client: Any) -> None:
    name = new_table()
    stores = [open_store(dynamodb_url(dynamodb_endpoint, name), fresh=True, create_table=True,
                         table_prefix=new_prefix(), ttl_attribute="expires") for _ in range(3)]
    try:
        await asyncio.gather(*(s.init() for s in stores))  # racing creators all succeed
        table = (await raw_client.describe_table(TableName=name))["Table"]
        assert table["TableStatus"] == "ACTIVE"
        wanted = spec.table_spec(name)
        assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {
            g["IndexName"] for g in wanted["GlobalSecondaryIndexes"]}
        assert {i["IndexName"] for i in table["LocalSecondaryIndexes"]} == {"lsi1"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = (await raw_client.describe_time_to_live(TableName=name))["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires"
        await stores[0].memory.save_thread(Thread(id="t", resource_id="u"))
        assert await stores[0].memory.get_thread("t") is not None
        assert await stores[1].memory.get_thread("t") is None  # another table_prefix
    finally:
        for s in stores:
            await s.close()
        await raw_client.delete_table(TableName=name)


async def test_missing_table_names_the_fix(dynamodb_endpoint: str) -> None:
    store = open_store(dynamodb_url(dynamodb_endpoint, new_table()), fresh=True)
    try:
        with pytest.raises(SchemaNotInitializedError) as info:
            await store.init()
        assert "dynamodb-table-spec" in str(info.value) and "create_table=True" in str(info.value)
    finally:
        await store.close()
    lazy = open_store(dynamodb_url(dynamodb_endpoint, new_table()), fresh=True,
                      disable_init=True)
    try:
        with pytest.raises(SchemaNotInitializedError):
            await lazy.memory.get_thread("t")
    finally:
        await lazy.close()


async def test_missing_gsi_names_the_index(dynamodb_endpoint: str, raw_client: Any) -> None:
    name = new_table()
    partial = spec.table_spec(name)
    partial["GlobalSecondaryIndexes"] = [g for g in partial["GlobalSecondaryIndexes"]
                                         if g["IndexName"] != "gsi7"]
    partial["AttributeDefinitions"] = [a for a in partial["AttributeDefinitions"]
                                       if not a["AttributeName"].startswith("gsi7")]
    await raw_client.create_table(**partial)
    store = open_store(dynamodb_url(dynamodb_endpoint, name), fresh=True)
    try:
        with pytest.raises(SchemaNotInitializedError, match="gsi7") as info:
            await store.init()
        assert "dynamodb-table-spec" in str(info.value)
    finally:
        await store.close()
        await raw_client.delete_table(TableName=name)


async def test_a_table_created_from_the_printed_spec_is_usable(dynamodb_endpoint: str,
                                                              raw_client: Any) -> None:
    """What `agent-storage dynamodb-table-spec` prints, fed to CreateTable as is."""
    import json

    name = new_table()
    text = spec.main(name)
    create = json.loads(text.split("# CreateTable")[1].split("\n", 1)[1].split("\n\n#")[0])
    assert create == spec.table_spec(name)
    await raw_client.create_table(**create)
    store = open_store(dynamodb_url(dynamodb_endpoint, name), fresh=True)
    try:
        await store.init()
        await store.memory.save_thread(Thread(id="t", resource_id="u"))
        await store.memory.save_messages(msgs("t", 3))
        assert (await store.memory.list_messages("t", last=2)).total is None
        assert len((await store.memory.list_threads(resource_id="u")).items) == 1
    finally:
        await store.close()
        await raw_client.delete_table(TableName=name)
    cfn = json.loads(spec.cloudformation(name, "expires"))
    props = cfn["Resources"]["AgentStorageTable"]["Properties"]
    assert props["GlobalSecondaryIndexes"] == create["GlobalSecondaryIndexes"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}


def test_the_spec_has_every_index_the_key_design_uses() -> None:
    spec_indexes = {g["IndexName"] for g in spec.table_spec("x")["GlobalSecondaryIndexes"]}
    spec_indexes |= {i["IndexName"] for i in spec.table_spec("x")["LocalSecondaryIndexes"]}
    used = {a.index for e in keys.ENTITIES.values() for a in e.indexes}
    assert used <= spec_indexes
    attrs = {a["AttributeName"] for a in spec.table_spec("x")["AttributeDefinitions"]}
    for index in keys.INDEXES:
        assert {index.pk, index.sk} <= attrs


def test_the_readme_key_table_is_the_key_design() -> None:
    text = README.read_text()
    found = re.search(r"<!-- key-design:start -->\n(.*?)\n<!-- key-design:end -->", text, re.S)
    assert found, "README lost its key design markers"
    assert found.group(1) == keys.markdown_table(), (
        "README key table differs from keys.py: regenerate it with keys.markdown_table()")


def test_keys_are_injective_and_order_preserving() -> None:
    pairs = [("a", "b#c"), ("a#b", "c"), ("a", "b\x01c"), ("a\x01", "bc"), ("", "x"), ("a", "")]
    rendered = [keys.enc(x) + keys.enc(y) for x, y in pairs]
    assert len(set(rendered)) == len(pairs)
    assert sorted(pairs) == [p for _, p in sorted(zip(rendered, pairs, strict=True))]


# -- options and escape hatches ------------------------------------------------------------


async def test_client_and_indexes(store: Any) -> None:
    resp = await store.client.describe_table(TableName=store.backend.table_name)
    assert resp["Table"]["TableName"] == store.backend.table_name
    listed = await store.indexes.list()
    assert [i.name for i in listed] == ["lsi1"] + [f"gsi{n}" for n in range(1, 10)]
    assert {i.name for i in await store.indexes.list("messages")} == {"lsi1", "gsi1"}
    assert (await store.indexes.describe("gsi2")).columns == ("gsi2pk", "gsi2sk")
    with pytest.raises(NotSupportedError):
        await store.indexes.create(IndexSpec(name="x", table="threads", columns=("title",)))
    with pytest.raises(NotSupportedError):
        await store.indexes.drop("gsi1")


async def test_index_specs_are_refused_when_opening(dynamodb_endpoint: str) -> None:
    with pytest.raises(NotSupportedError):
        open_store(dynamodb_url(dynamodb_endpoint, "tbl"), fresh=True,
                   indexes=[IndexSpec(name="x", table="threads", columns=("title",))])


async def test_stores_sharing_a_table_are_isolated_by_prefix(
    dynamodb_endpoint: str, raw_client: Any
) -> None:
    name = await create_spec_table(raw_client, new_table())
    a = open_store(dynamodb_url(dynamodb_endpoint, name), fresh=True, table_prefix="tenant_a")
    b = open_store(dynamodb_url(dynamodb_endpoint, name), fresh=True, table_prefix="tenant_b")
    try:
        for s, owner in ((a, "u"), (b, "u")):
            await s.memory.save_thread(Thread(id="same-id", resource_id=owner,
                                              title=s.backend.options.table_prefix))
            await s.memory.save_messages(msgs("same-id", 3))
            await s.workflows.persist_snapshot("wf", "r", {"who": owner})
        assert (await a.memory.get_thread("same-id")).title == "tenant_a"
        assert (await b.memory.get_thread("same-id")).title == "tenant_b"
        assert len((await a.memory.list_threads()).items) == 1
        assert (await a.memory.stats()).message_count == 3
        await a.memory.delete_thread("same-id")
        assert await b.memory.get_thread("same-id") is not None
        assert len((await b.memory.list_messages("same-id")).items) == 3
    finally:
        await a.close()
        await b.close()
        await raw_client.delete_table(TableName=name)


async def test_debug_logs_every_request(storage_factory: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    store = await storage_factory(debug=True)
    with caplog.at_level("DEBUG", logger="agent_storage.sql"):
        await store.memory.get_thread("x")
    assert any("dynamodb get_item" in r.getMessage() and "ms" in r.getMessage()
               for r in caplog.records)
