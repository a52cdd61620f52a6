"""SQLite indexes: default set, spec rendering, catalog listing, and query plans that use
them on the hot paths (no full scans, no temp B-tree sorts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_storage import (
    IndexSpec,
    InvalidIndexSpecError,
    NotSupportedError,
    Thread,
    open_store,
)
from agent_storage.domains.memory import MessageSelect
from agent_storage.sql.base import DEFAULT_INDEXES
from agent_storage.testing._helpers import make_messages


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = open_store(f"sqlite:///{tmp_path}/i.db", fresh=True)
    await s.init()
    yield s
    await s.close()


async def test_default_indexes_with_prefixed_names(store: Any) -> None:
    names = {i.name for i in await store.indexes.list()}
    assert names == {f"agent_storage_{suffix}_idx" for suffix, *_ in DEFAULT_INDEXES}
    by_name = {i.name: i for i in await store.indexes.list("threads")}
    info = by_name["agent_storage_threads_res_utime_idx"]
    assert info.columns == ("resource_id", "updated_at", "id") and info.table == "threads"
    root = {i.name: i for i in await store.indexes.list("spans")}[
        "agent_storage_spans_root_ts_idx"]
    assert root.where == '"parent_span_id" IS NULL'


async def test_skip_default_indexes(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/x.db", fresh=True, skip_default_indexes=True,
                   indexes=[IndexSpec(name="mine_idx", table="threads", columns=("title",))])
    try:
        await s.init()
        assert [i.name for i in await s.indexes.list()] == ["mine_idx"]
    finally:
        await s.close()


async def test_two_prefixes_in_one_file_do_not_collide(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    a, b = open_store(url, fresh=True, table_prefix="app_a"), open_store(
        url, fresh=True, table_prefix="app_b")
    try:
        await a.memory.save_thread(Thread(id="t", resource_id="u", title="A"))
        await b.memory.save_thread(Thread(id="t", resource_id="u", title="B"))
        assert (await a.memory.get_thread("t")).title == "A"  # type: ignore[union-attr]
        assert (await b.memory.get_thread("t")).title == "B"  # type: ignore[union-attr]
        assert all(i.name.startswith("app_a_") for i in await a.indexes.list())
        assert all(i.name.startswith("app_b_") for i in await b.indexes.list())
    finally:
        await a.close()
        await b.close()


async def test_json_path_partial_unique_index(store: Any) -> None:
    spec = IndexSpec(name="by_channel", table="threads", columns=("metadata->>'channel'",),
                     unique=True, where="title IS NOT NULL AND metadata->'a'->>'b' = 'x'")
    info = await store.indexes.create(spec)
    assert info.columns == ("metadata->>'channel'",) and info.unique
    assert 'json_extract("metadata", \'$."channel"\')' in (info.definition or "")
    assert await store.indexes.create(spec) == info  # existing: no-op
    stats = await store.indexes.describe("by_channel")
    assert stats.size_bytes is None or stats.size_bytes > 0
    assert await store.indexes.drop("by_channel") is True
    assert await store.indexes.drop("by_channel") is False


async def test_sqlite_refuses_what_it_cannot_build(store: Any) -> None:
    with pytest.raises(NotSupportedError, match="btree"):
        await store.indexes.create(IndexSpec(name="g", table="threads", columns=("metadata",),
                                             method="gin"))
    with pytest.raises(NotSupportedError):
        await store.indexes.create(IndexSpec(name="f", table="threads", columns=("title",),
                                             storage={"fillfactor": 70}))
    with pytest.raises(InvalidIndexSpecError, match="no column"):
        await store.indexes.create(IndexSpec(name="c", table="threads", columns=("nope",)))
    with pytest.raises(InvalidIndexSpecError, match="JSON"):
        await store.indexes.create(IndexSpec(name="j", table="threads",
                                             columns=("title->>'x'",)))
    assert not [i for i in await store.indexes.list() if i.name in ("g", "f", "c", "j")]


# -- plans ---------------------------------------------------------------------------------


async def _plan(store: Any, stmt: Any, params: dict[str, Any] | None = None) -> list[str]:
    sql, args = store.backend._prep().bind(stmt, params)
    async with store.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(args))).all()
    return [r[-1] for r in rows]


def _no_scan(plan: list[str]) -> None:
    # SCAN ... USING INDEX walks an index in order and stops at LIMIT: that is fine.
    assert not [line for line in plan if line.startswith("SCAN agent_storage_")
                and "INDEX" not in line], plan
    assert not [line for line in plan if "TEMP B-TREE" in line], plan


async def _captured(store: Any, call: Any) -> tuple[Any, Any]:
    backend = store.backend
    seen: list[tuple[Any, Any]] = []
    original = backend.fetch

    async def spy(stmt: Any, params: Any = None) -> Any:
        seen.append((stmt, params))
        return await original(stmt, params)

    backend.fetch = spy
    try:
        await call()
    finally:
        del backend.fetch
    return seen[0]


async def test_hot_paths_use_indexes(store: Any) -> None:
    mem = store.memory
    for t in range(8):
        await mem.save_thread(Thread(id=f"t{t}", resource_id=f"u{t % 3}"))
        await mem.save_messages(make_messages(f"t{t}", 30))
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()
    stmt, params = mem._message_stmt(
        MessageSelect(thread_ids=("t1",), order="desc", limit=21), count=False)
    plan = await _plan(store, stmt, params)
    _no_scan(plan)
    assert any("messages_thread_ts_idx" in line for line in plan)

    window = mem._window_stmt(2, False)
    plan = await _plan(store, window, {"id0": "t1-m0010", "before0": 2, "after0": 2,
                                       "id1": "t2-m0000", "before1": 0, "after1": 5})
    _no_scan(plan)
    assert sum("messages_thread_ts_idx" in line for line in plan) == 4

    for order_by, index in (("updated_at", "threads_res_utime_idx"),
                            ("created_at", "threads_res_ctime_idx")):
        for direction in ("desc", "asc"):
            stmt, params = await _captured(store, lambda o=order_by, d=direction: mem.list_threads(
                resource_id="u1", order_by=o, direction=d, per_page=10))
            plan = await _plan(store, stmt, params)
            _no_scan(plan)
            assert any(index in line for line in plan), plan

    stmt, params = await _captured(store, lambda: store.workflows.list_runs(
        workflow_name="wf", per_page=10))
    plan = await _plan(store, stmt, params)
    _no_scan(plan)

    stmt, params = await _captured(store, lambda: store.observability.list_traces(per_page=10))
    plan = await _plan(store, stmt, params)
    _no_scan(plan)
    assert any("spans_root_ts_idx" in line for line in plan)

    stmt, params = await _captured(store, lambda: mem.stats("u1"))
    _no_scan(await _plan(store, stmt, params))
