"""Index management (``storage.indexes``) and IndexSpec validation.

Spec validation is required everywhere (it happens before any backend sees the spec); the
index API runs on backends that declare the ``indexes`` capability. Index names are unique
per test because several stores may share one schema.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent_storage import (
    AgentStorageError,
    IndexInfo,
    IndexNotFoundError,
    IndexSpec,
    IndexStats,
    InvalidIndexSpecError,
    NotSupportedError,
    ValidationError,
)
from agent_storage.testing._helpers import make_messages, make_thread

#: Tables that always get default indexes (DESIGN section 5).
DEFAULT_INDEXED = ("threads", "messages", "workflow_runs", "scores", "spans")


def _name(tag: str = "idx") -> str:
    return f"{tag}_{uuid.uuid4().hex[:10]}"


def _table_is(info: IndexInfo | IndexStats, logical: str) -> bool:
    """IndexInfo.table is the logical name or the physical ``{prefix}_{logical}``."""
    return info.table == logical or info.table.endswith("_" + logical)


def _names(infos: list[IndexInfo]) -> list[str]:
    return [i.name for i in infos]


def _find(infos: list[IndexInfo], name: str) -> IndexInfo | None:
    """The listed index created under ``name`` (physical names may carry a schema prefix)."""
    found = [i for i in infos if i.name == name or i.name.endswith("_" + name)]
    assert len(found) <= 1, f"{name} listed twice: {found}"
    return found[0] if found else None


def _mentions(columns: tuple[str, ...], *names: str) -> bool:
    """Each expected column name appears in the listed columns, in order."""
    if len(columns) != len(names):
        return False
    return all(n in c for n, c in zip(names, columns, strict=True))


class TestIndexSpecValidation:
    """Bad specs fail when the IndexSpec is built: no part of them reaches a backend."""

    @pytest.mark.parametrize("kwargs", [
        {"name": 'x"; DROP TABLE t; --'},
        {"name": "1starts_with_digit"},
        {"name": "n" * 64},
        {"table": "users"},
        {"table": "threads; DROP TABLE x"},
        {"columns": ()},
        {"columns": ("id); DROP TABLE x; --",)},
        {"columns": ("lower(title)",)},
        {"columns": ("title", "title")},
        {"columns": ("metadata->>'a'; --",)},
        {"where": "1=1; DROP TABLE threads"},
        {"where": "title = 'x' -- comment"},
        {"where": "(SELECT 1) = 1"},
        {"where": "title = "},
        {"method": "btree; DROP"},
        {"method": "hash", "unique": True},
        {"opclass": "text_ops; DROP"},
        {"storage": {"fillfactor; DROP TABLE x": 1}},
        {"storage": {"fillfactor": 5}},
    ])
    def test_invalid_specs_are_refused_at_construction(self, kwargs: dict[str, Any]) -> None:
        spec: dict[str, Any] = {"name": "idx_ok", "table": "threads", "columns": ("title",)}
        spec.update(kwargs)
        with pytest.raises(InvalidIndexSpecError) as info:
            IndexSpec(**spec)
        assert isinstance(info.value, ValidationError) and isinstance(info.value, ValueError)

    @pytest.mark.parametrize("kwargs", [
        {"columns": ("resource_id",)},
        {"columns": "resource_id"},
        {"columns": ("resource_id", "created_at DESC")},
        {"columns": ("metadata->>'topic'",)},
        {"columns": ("title",), "where": "title IS NOT NULL AND agent_id = 'a1'"},
        {"columns": ("title",), "unique": True},
        {"columns": ("created_at",), "storage": {"fillfactor": 70}},
    ])
    def test_valid_specs(self, kwargs: dict[str, Any]) -> None:
        spec = IndexSpec(name="idx_ok", table="threads", **kwargs)
        assert spec.parsed().name == "idx_ok"


class TestIndexManagement:
    pytestmark = [pytest.mark.asyncio(loop_scope="function"),
                  pytest.mark.agent_storage_requires("indexes")]

    async def test_create_single_column(self, storage: Any) -> None:
        name = _name()
        info = await storage.indexes.create(IndexSpec(name=name, table="threads",
                                                      columns=("agent_id",)))
        assert isinstance(info, IndexInfo) and info.name.endswith(name)
        assert _table_is(info, "threads") and _mentions(info.columns, "agent_id")
        assert info.unique is False and info.method == "btree"
        listed = _find(await storage.indexes.list(), name)
        assert listed is not None and listed == info

    async def test_create_composite(self, storage: Any) -> None:
        name = _name()
        info = await storage.indexes.create(IndexSpec(
            name=name, table="messages", columns=("thread_id", "role", "created_at DESC")))
        assert _table_is(info, "messages")
        assert _mentions(info.columns, "thread_id", "role", "created_at")

    async def test_create_unique_is_enforced(self, storage: Any) -> None:
        name = _name("uq")
        info = await storage.indexes.create(IndexSpec(name=name, table="threads",
                                                      columns=("title",), unique=True))
        assert info.unique is True
        await storage.memory.save_thread(make_thread(id="a", title="same"))
        with pytest.raises(AgentStorageError):
            await storage.memory.save_thread(make_thread(id="b", title="same"))
        assert await storage.memory.get_thread("b") is None
        assert await storage.memory.get_thread("a") is not None

    async def test_create_partial(self, storage: Any) -> None:
        name = _name("part")
        info = await storage.indexes.create(IndexSpec(
            name=name, table="threads", columns=("resource_id",), where="agent_id IS NOT NULL"))
        assert info.where is not None or (info.definition or "").upper().find("WHERE") >= 0
        # the store keeps working with the index in place
        await storage.memory.save_thread(make_thread(id="t", agent_id="a1"))
        page = await storage.memory.list_threads(agent_id="a1")
        assert [t.id for t in page.items] == ["t"]

    async def test_create_on_a_json_path(self, storage: Any) -> None:
        name = _name("json")
        info = await storage.indexes.create(IndexSpec(
            name=name, table="threads", columns=("metadata->>'topic'",)))
        assert _table_is(info, "threads") and len(info.columns) == 1
        assert "topic" in info.columns[0] or "topic" in (info.definition or "")
        await storage.memory.save_thread(make_thread(id="t", metadata={"topic": "x"}))
        page = await storage.memory.list_threads(metadata={"topic": "x"})
        assert [t.id for t in page.items] == ["t"]

    async def test_create_with_storage_parameters_or_refuse_cleanly(self, storage: Any) -> None:
        name = _name("fill")
        spec = IndexSpec(name=name, table="messages", columns=("created_at",),
                         storage={"fillfactor": 70})
        try:
            info = await storage.indexes.create(spec)
        except NotSupportedError:
            assert _find(await storage.indexes.list(), name) is None
        else:
            assert info.name.endswith(name)

    async def test_other_methods_or_refuse_cleanly(self, storage: Any) -> None:
        name = _name("hash")
        spec = IndexSpec(name=name, table="threads", columns=("resource_id",), method="hash")
        try:
            info = await storage.indexes.create(spec)
        except NotSupportedError:
            assert _find(await storage.indexes.list(), name) is None
        else:
            assert info.method == "hash"
            described = await storage.indexes.describe(name)
            assert described.method == "hash"

    async def test_duplicate_create_is_a_no_op(self, storage: Any) -> None:
        name = _name()
        spec = IndexSpec(name=name, table="threads", columns=("agent_id",))
        first = await storage.indexes.create(spec)
        second = await storage.indexes.create(spec)
        assert second == first
        assert len([n for n in _names(await storage.indexes.list()) if n.endswith(name)]) == 1

    async def test_create_with_an_existing_name_keeps_the_existing_index(
        self, storage: Any
    ) -> None:
        name = _name()
        first = await storage.indexes.create(IndexSpec(name=name, table="threads",
                                                       columns=("agent_id",)))
        again = await storage.indexes.create(IndexSpec(name=name, table="threads",
                                                       columns=("title",)))
        assert again == first and _mentions(again.columns, "agent_id")

    async def test_drop_existing(self, storage: Any) -> None:
        name = _name()
        await storage.indexes.create(IndexSpec(name=name, table="threads", columns=("title",)))
        assert await storage.indexes.drop(name) is True
        assert _find(await storage.indexes.list(), name) is None
        with pytest.raises(IndexNotFoundError):
            await storage.indexes.describe(name)

    async def test_drop_missing(self, storage: Any) -> None:
        assert await storage.indexes.drop(_name("missing")) is False

    async def test_drop_twice(self, storage: Any) -> None:
        name = _name()
        await storage.indexes.create(IndexSpec(name=name, table="threads", columns=("title",)))
        assert await storage.indexes.drop(name) is True
        assert await storage.indexes.drop(name) is False

    async def test_drop_then_create_again(self, storage: Any) -> None:
        name = _name()
        spec = IndexSpec(name=name, table="threads", columns=("title",))
        await storage.indexes.create(spec)
        await storage.indexes.drop(name)
        info = await storage.indexes.create(spec)
        assert _find(await storage.indexes.list(), name) == info

    async def test_dropping_an_index_keeps_the_data(self, storage: Any) -> None:
        name = _name()
        await storage.indexes.create(IndexSpec(name=name, table="messages",
                                               columns=("thread_id", "role")))
        await storage.memory.save_thread(make_thread(id="t"))
        await storage.memory.save_messages(make_messages("t", 4))
        await storage.indexes.drop(name)
        assert len((await storage.memory.list_messages("t", roles=["user"])).items) == 2

    async def test_describe(self, storage: Any) -> None:
        name = _name()
        await storage.indexes.create(IndexSpec(name=name, table="messages",
                                               columns=("thread_id", "type")))
        stats = await storage.indexes.describe(name)
        assert isinstance(stats, IndexStats) and stats.name.endswith(name)
        assert _table_is(stats, "messages") and _mentions(stats.columns, "thread_id", "type")
        assert stats.unique is False and stats.method == "btree"
        for value in (stats.size_bytes, stats.scans, stats.tuples_read):
            assert value is None or value >= 0

    async def test_describe_reports_uniqueness(self, storage: Any) -> None:
        name = _name("uq")
        await storage.indexes.create(IndexSpec(name=name, table="resources",
                                               columns=("working_memory",), unique=True))
        assert (await storage.indexes.describe(name)).unique is True

    async def test_describe_missing(self, storage: Any) -> None:
        with pytest.raises(IndexNotFoundError) as info:
            await storage.indexes.describe(_name("missing"))
        assert isinstance(info.value, LookupError)

    async def test_list_per_table(self, storage: Any) -> None:
        on_threads, on_messages = _name("th"), _name("ms")
        await storage.indexes.create(IndexSpec(name=on_threads, table="threads",
                                               columns=("title",)))
        await storage.indexes.create(IndexSpec(name=on_messages, table="messages",
                                               columns=("role",)))
        threads = await storage.indexes.list("threads")
        assert all(_table_is(i, "threads") for i in threads)
        assert _find(threads, on_threads) is not None and _find(threads, on_messages) is None
        everything = await storage.indexes.list()
        assert _find(everything, on_threads) is not None
        assert _find(everything, on_messages) is not None
        assert len(everything) > len(threads)

    @pytest.mark.parametrize("table", DEFAULT_INDEXED)
    async def test_default_indexes_exist(self, storage: Any, table: str) -> None:
        listed = await storage.indexes.list(table)
        assert listed, f"no default index on {table}"
        assert all(_table_is(i, table) for i in listed)
        # Names say which store and table they serve: two stores sharing a schema (other
        # table prefixes) must not collide on index names.
        prefix = storage.backend.options.table_prefix
        word = table.rsplit("_", 1)[-1]
        assert all(prefix in i.name and word in i.name for i in listed), _names(listed)

    async def test_default_indexes_are_skipped_on_request(self, storage_factory: Any) -> None:
        plain = await storage_factory()
        configured = _name("cfg")
        bare = await storage_factory(
            skip_default_indexes=True,
            indexes=[IndexSpec(name=configured, table="threads", columns=("agent_id",))])
        default_messages = await plain.indexes.list("messages")
        assert len(await bare.indexes.list("messages")) < len(default_messages)
        threads = await bare.indexes.list("threads")
        assert _find(threads, configured) is not None
        others = [i for i in threads if not i.name.endswith(configured)]
        assert len(others) < len(await plain.indexes.list("threads"))

    async def test_configured_indexes_are_created_by_init(self, storage_factory: Any) -> None:
        name = _name("cfg")
        store = await storage_factory(
            indexes=[IndexSpec(name=name, table="messages", columns=("thread_id", "type"))])
        info = _find(await store.indexes.list("messages"), name)
        assert info is not None and _mentions(info.columns, "thread_id", "type")
        await store.init()  # idempotent with configured indexes in place
        assert _find(await store.indexes.list("messages"), name) == info
