"""Lifecycle: init, disable_init, close, the open_store cache, hot reload, event-loop
changes, composite stores, hooks, and the extras a backend may or may not offer."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent_storage import (
    BackendError,
    DomainNotAvailableError,
    IndexSpec,
    Message,
    NotSupportedError,
    SchemaNotInitializedError,
    Storage,
    StorageClosedError,
    StoreStatus,
    ValidationError,
    hookimpl,
    open_store,
)
from agent_storage._plugins import registry
from agent_storage.testing._helpers import (
    ids,
    make_message,
    make_messages,
    make_thread,
    reopen,
    save_thread_with_messages,
)

DOMAINS = ("memory", "workflows", "scores", "observability", "agents")


def _target(store: Storage) -> tuple[str, dict[str, Any]]:
    """The URL and keyword options that open ``store``'s target again."""
    backend = store.backend
    options = backend.options.given()
    extra = options.pop("extra", {}) or {}
    return backend.url.render(hide_password=False), {**options, **extra}


class _InitSpy:
    """Counts calls of a backend's real ``init`` (optionally failing the first ones)."""

    def __init__(self, backend: Any, fail_first: int = 0) -> None:
        self.calls = 0
        self._real = backend.init
        self._fail = fail_first
        backend.init = self

    async def __call__(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)  # let the other callers pile up on the shared run
        if self.calls <= self._fail:
            raise RuntimeError("init failed on purpose")
        await self._real()


async def _uninitialised(storage_factory: Any, reopen_store: Any) -> Storage:
    """A store whose schema was never created, with lazy init on."""
    raw = await storage_factory(disable_init=True)
    return reopen_store(raw, disable_init=False)  # type: ignore[no-any-return]


class TestInit:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_init_is_idempotent(self, storage: Any) -> None:
        thread, _ = await save_thread_with_messages(storage, 3)
        await storage.init()
        await storage.init()
        assert await storage.memory.get_thread(thread.id) == thread
        assert len((await storage.memory.list_messages(thread.id)).items) == 3

    async def test_concurrent_init_calls_share_one_run(
        self, storage_factory: Any, reopen_store: Any
    ) -> None:
        store = await _uninitialised(storage_factory, reopen_store)
        spy = _InitSpy(store.backend)
        await asyncio.gather(*(store.init() for _ in range(10)))
        assert spy.calls == 1
        await store.memory.save_thread(make_thread(id="t"))
        assert await store.memory.get_thread("t") is not None

    async def test_concurrent_first_calls_initialise_once(
        self, storage_factory: Any, reopen_store: Any
    ) -> None:
        store = await _uninitialised(storage_factory, reopen_store)
        spy = _InitSpy(store.backend)
        await asyncio.gather(*(store.memory.save_thread(make_thread(id=f"t{n}"))
                               for n in range(10)))
        assert spy.calls == 1
        assert (await store.memory.list_threads()).total == 10

    async def test_a_failed_init_is_retried(
        self, storage_factory: Any, reopen_store: Any
    ) -> None:
        store = await _uninitialised(storage_factory, reopen_store)
        spy = _InitSpy(store.backend, fail_first=1)
        with pytest.raises(BackendError) as info:
            await store.init()
        assert isinstance(info.value.__cause__, RuntimeError)
        await store.init()
        assert spy.calls == 2
        await store.memory.save_thread(make_thread(id="t"))
        assert await store.memory.get_thread("t") is not None

    async def test_disable_init_on_a_store_without_schema(self, storage_factory: Any) -> None:
        store = await storage_factory(disable_init=True)
        if not await store.backend.is_initialized():
            with pytest.raises(SchemaNotInitializedError) as info:
                await store.memory.get_thread("t")
            assert "agent-storage init" in str(info.value)
            with pytest.raises(SchemaNotInitializedError):
                await store.memory.save_thread(make_thread(id="t"))
            await store.init()  # the explicit call is what the error asks for
        await store.memory.save_thread(make_thread(id="t"))
        assert await store.memory.get_thread("t") is not None
        assert await store.backend.is_initialized()

    @pytest.mark.agent_storage_requires("persistent")
    async def test_disable_init_on_an_initialised_store(
        self, storage: Any, reopen_store: Any
    ) -> None:
        thread, _ = await save_thread_with_messages(storage, 2)
        other = reopen_store(storage, disable_init=True)
        assert await other.memory.get_thread(thread.id) == thread
        assert len((await other.memory.list_messages(thread.id)).items) == 2

    @pytest.mark.agent_storage_requires("persistent")
    async def test_data_survives_close_and_reopen(self, storage: Any, reopen_store: Any) -> None:
        thread, saved = await save_thread_with_messages(storage, 4)
        await storage.memory.update_resource("user-1", working_memory="notes")
        await storage.close()
        again = reopen_store(storage)
        assert await again.memory.get_thread(thread.id) == thread
        assert ids((await again.memory.list_messages(thread.id)).items) == ids(saved)
        resource = await again.memory.get_resource("user-1")
        assert resource is not None and resource.working_memory == "notes"

    async def test_async_with_initialises_and_closes(
        self, storage_factory: Any, reopen_store: Any
    ) -> None:
        store = await _uninitialised(storage_factory, reopen_store)
        async with store as entered:
            assert entered is store
            assert await store.backend.is_initialized()
            await store.memory.save_thread(make_thread(id="t"))
        assert store.closed
        with pytest.raises(StorageClosedError):
            await store.memory.get_thread("t")

    async def test_status(self, storage: Any) -> None:
        status = await storage.status()
        assert isinstance(status, StoreStatus)
        assert status.backend == storage.backend.backend_name
        assert "***" in status.url or storage.backend.url.password is None
        assert status.schema_version <= status.latest_version


class TestClose:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    @pytest.mark.parametrize("call", [
        lambda s: s.memory.get_thread("t"),
        lambda s: s.memory.save_thread(make_thread(id="t")),
        lambda s: s.memory.list_messages("t"),
        lambda s: s.workflows.load_snapshot("wf", "run"),
        lambda s: s.scores.get_score("s"),
        lambda s: s.observability.get_trace("tr"),
        lambda s: s.agents.get_agent("a"),
        lambda s: s.init(),
    ])
    async def test_calls_after_close_raise(
        self, storage: Any, call: Callable[[Storage], Awaitable[Any]]
    ) -> None:
        await storage.close()
        with pytest.raises(StorageClosedError):
            await call(storage)

    async def test_close_is_idempotent(self, storage: Any) -> None:
        await storage.close()
        await storage.close()
        assert storage.closed

    async def test_storage_closed_error_is_a_backend_error(self, storage: Any) -> None:
        await storage.close()
        with pytest.raises(BackendError):
            await storage.memory.get_thread("t")

    async def test_streaming_after_close_raises(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="t"))
        query = storage.memory.threads()
        await storage.close()
        with pytest.raises(StorageClosedError):
            async for _ in query:
                pass


class TestOpenStoreCache:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_same_url_and_options_give_the_same_store(self, storage: Any) -> None:
        url, options = _target(storage)
        first = open_store(url, **options)
        try:
            assert open_store(url, **options) is first
        finally:
            await first.close()

    async def test_fresh_gives_another_store(self, storage: Any) -> None:
        url, options = _target(storage)
        cached = open_store(url, **options)
        fresh = open_store(url, fresh=True, **options)
        try:
            assert fresh is not cached and open_store(url, **options) is cached
        finally:
            await fresh.close()
            await cached.close()

    async def test_other_options_give_another_store(self, storage: Any) -> None:
        url, options = _target(storage)
        first = open_store(url, **options)
        prefix = options.get("table_prefix", "agent_storage")
        second = open_store(url, **{**options, "table_prefix": prefix + "b"})
        try:
            assert second is not first
        finally:
            await first.close()
            await second.close()

    async def test_a_closed_store_is_replaced(self, storage: Any) -> None:
        url, options = _target(storage)
        first = open_store(url, **options)
        await first.close()
        second = open_store(url, **options)
        try:
            assert second is not first and not second.closed
            await second.memory.save_thread(make_thread(id="t"))
            assert await second.memory.get_thread("t") is not None
        finally:
            await second.close()

    async def test_the_cache_survives_a_reload(self, storage: Any) -> None:
        # Jupyter %autoreload, Streamlit reruns: re-executing the module keeps the cache.
        url, options = _target(storage)
        first = open_store(url, **options)
        try:
            cache_module = importlib.reload(importlib.import_module("agent_storage._cache"))
            assert cache_module.open_store(url, **options) is first
            assert open_store(url, **options) is first
        finally:
            await first.close()

    async def test_store_opened_and_closing_hooks(self, storage: Any) -> None:
        seen: list[tuple[str, Storage]] = []

        class Observer:
            @hookimpl
            def store_opened(self, storage: Storage) -> None:
                seen.append(("opened", storage))

            @hookimpl
            def store_closing(self, storage: Storage) -> None:
                seen.append(("closing", storage))

        observer = Observer()
        pm = registry().pm
        pm.register(observer)
        try:
            url, options = _target(storage)
            store = open_store(url, fresh=True, **options)
            await store.close()
        finally:
            pm.unregister(observer)
        assert seen == [("opened", store), ("closing", store)]


class TestEventLoops:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_a_store_keeps_working_across_event_loops(self, storage: Any) -> None:
        await storage.memory.save_thread(make_thread(id="before"))
        await storage.memory.save_messages(make_messages("before", 2))
        results: dict[str, Any] = {}

        def other_thread() -> None:
            # asyncio.run twice (scripts, notebooks): each call is a new loop.
            async def write() -> None:
                await storage.memory.save_thread(make_thread(id="loop1"))
                results["seen"] = await storage.memory.get_thread("before") is not None

            async def read() -> None:
                results["loop1"] = await storage.memory.get_thread("loop1") is not None
                await storage.memory.save_messages(make_messages("loop1", 3))
                results["count"] = len((await storage.memory.list_messages("before")).items)

            try:
                asyncio.run(write())
                asyncio.run(read())
            except BaseException as exc:  # re-raised in the test's own thread
                results["error"] = exc

        worker = threading.Thread(target=other_thread)
        worker.start()
        await asyncio.to_thread(worker.join)
        if "error" in results:
            raise results["error"]
        assert results == {"seen": True, "loop1": True, "count": 2}
        # back on the test's loop: everything written from the other loops is there
        assert await storage.memory.get_thread("loop1") is not None
        assert len((await storage.memory.list_messages("loop1")).items) == 3
        assert (await storage.memory.list_threads()).total == 2


class TestCompositeStores:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_a_disabled_domain(self, storage: Any) -> None:
        url, options = _target(storage)
        store = open_store({"default": url, "observability": False}, fresh=True, **options)
        try:
            with pytest.raises(DomainNotAvailableError):
                store.observability  # noqa: B018
            assert store.get_domain("observability") is None
            assert "observability" not in store.backends
            await store.memory.save_thread(make_thread(id="t"))
            assert await store.memory.get_thread("t") is not None
            assert store.get_domain("memory") is store.memory
        finally:
            await store.close()

    async def test_every_domain_is_served_by_default(self, storage: Any) -> None:
        for name in DOMAINS:
            domain = storage.get_domain(name)
            assert domain is not None and getattr(storage, name) is domain
            assert domain.name == name

    async def test_unknown_domain_name(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            storage.get_domain("threads")


class TestHooks:
    pytestmark = pytest.mark.asyncio(loop_scope="function")

    async def test_before_save_messages_can_replace_the_batch(self, storage: Any) -> None:
        class Redactor:
            @hookimpl
            def before_save_messages(self, storage: Storage, messages: list[Message]) -> Any:
                import attrs

                return [attrs.evolve(m, content="[redacted]") if "secret" in str(m.content)
                        else m for m in messages]

        await storage.memory.save_thread(make_thread(id="t"))
        plugin = Redactor()
        registry().pm.register(plugin)
        try:
            saved = await storage.memory.save_messages([
                make_message("t", 0, content="my secret is 42"), make_message("t", 1)])
        finally:
            registry().pm.unregister(plugin)
        assert [m.content for m in saved] == ["[redacted]", "message 1"]
        listed = await storage.memory.list_messages("t")
        assert [m.content for m in listed.items] == ["[redacted]", "message 1"]

    async def test_a_hook_returning_none_keeps_the_batch(self, storage: Any) -> None:
        calls: list[int] = []

        class Watcher:
            @hookimpl
            def before_save_messages(self, storage: Storage, messages: list[Message]) -> None:
                calls.append(len(messages))

        await storage.memory.save_thread(make_thread(id="t"))
        plugin = Watcher()
        registry().pm.register(plugin)
        try:
            await storage.memory.save_messages(make_messages("t", 3))
        finally:
            registry().pm.unregister(plugin)
        assert calls == [3]
        assert len((await storage.memory.list_messages("t")).items) == 3

    async def test_a_hook_returning_garbage_writes_nothing(self, storage: Any) -> None:
        class Broken:
            @hookimpl
            def before_save_messages(self, storage: Storage, messages: list[Message]) -> Any:
                return ["not a message"]

        await storage.memory.save_thread(make_thread(id="t"))
        plugin = Broken()
        registry().pm.register(plugin)
        try:
            with pytest.raises(ValidationError):
                await storage.memory.save_messages(make_messages("t", 2))
        finally:
            registry().pm.unregister(plugin)
        assert (await storage.memory.list_messages("t")).items == ()


class TestOptionalFeatures:
    """Extras a backend declares by capability; without it they raise NotSupportedError."""

    pytestmark = pytest.mark.asyncio(loop_scope="function")

    @pytest.mark.parametrize(("capability", "attribute"), [("engine", "engine"),
                                                           ("client", "client")])
    async def test_extras_follow_capabilities(
        self, storage: Any, capabilities: frozenset[str], capability: str, attribute: str
    ) -> None:
        if capability in capabilities:
            assert getattr(storage, attribute) is not None
        else:
            with pytest.raises(NotSupportedError):
                getattr(storage, attribute)

    async def test_index_management_follows_capability(
        self, storage: Any, capabilities: frozenset[str]
    ) -> None:
        if "indexes" in capabilities:
            assert storage.indexes is not None
            return
        try:
            manager = storage.indexes
        except NotSupportedError:
            return
        # A partial manager (DynamoDB lists its GSIs) refuses to create, changing nothing.
        before = await manager.list()
        with pytest.raises(NotSupportedError):
            await manager.create(IndexSpec(name="idx_kit_probe", table="threads",
                                           columns=("title",)))
        assert await manager.list() == before

    async def test_migrations_follow_capabilities(
        self, storage: Any, capabilities: frozenset[str]
    ) -> None:
        if "migrations" in capabilities:
            report = await storage.migrate(dry_run=True)
            assert report.dry_run is True
        else:
            with pytest.raises(NotSupportedError):
                await storage.migrate()
            with pytest.raises(NotSupportedError):
                await storage.restore_backup(1)

    async def test_reopen_helper_targets_the_same_backend(self, storage: Any) -> None:
        other = reopen(storage)
        try:
            assert type(other.backend) is type(storage.backend)
            assert other.backend.options.table_prefix == storage.backend.options.table_prefix
        finally:
            await other.close()
