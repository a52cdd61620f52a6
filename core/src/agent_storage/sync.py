"""A blocking facade over the async store, for code that is not async.

Scripts, Flask or Django views, notebooks and thread pools call the same domains and
methods without ``await``::

    from agent_storage import Thread
    from agent_storage.sync import open_store

    with open_store("sqlite:///agent.db") as storage:
        storage.memory.save_thread(Thread(id="t1", resource_id="u1"))
        for thread in storage.memory.threads().where(resource_id="u1"):
            print(thread.id)

How it works: one private daemon thread runs an asyncio event loop for the whole process;
every blocking call submits the async method's coroutine to it
(:func:`asyncio.run_coroutine_threadsafe`) and waits for the result, so any number of
threads may call at once and the store's connections always live on one loop. Methods are
wrapped by introspection (a coroutine function becomes a blocking one), so the facade
never drifts from the async API.

The facade opens its own :class:`~agent_storage.Storage` (own connections) rather than
sharing the one ``agent_storage.open_store`` caches for async code: a Storage keeps one set
of connections per event loop, and the facade's calls all run on its own loop thread.
In particular ``memory://`` opened here and ``memory://`` opened with the async
``open_store`` are two separate in-memory databases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import os
import threading
import types
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._cache import Target, _default_target, plan_store
from ._plugins import state
from .domains.memory import MemoryDomain, ThreadQuery
from .errors import DomainNotAvailableError, StorageClosedError
from .records import Page, Thread
from .storage import Storage

if TYPE_CHECKING:
    from .domains import (
        AgentsDomain,
        ObservabilityDomain,
        ScoresDomain,
        WorkflowsDomain,
    )

__all__ = [
    "SyncDomain",
    "SyncProxy",
    "SyncStorage",
    "SyncThreadQuery",
    "close_all",
    "open_store",
]

T = TypeVar("T")
D = TypeVar("D")


# -- the private event-loop thread -------------------------------------------------------


class _LoopThread:
    """A daemon thread running one event loop forever; blocking calls are submitted to it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="agent-storage-sync", daemon=True
        )
        self.thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        # After os.fork() the child has the object but not the thread: start a new one.
        return self.pid == os.getpid() and self.thread.is_alive() and not self.loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and block until it is done."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "agent_storage.sync: a blocking call was made from the store's own event-loop "
                "thread (it would wait for itself); use the async API there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt in a notebook, or the caller's thread being torn down:
            # do not leave the operation running behind the caller's back.
            if not future.done():
                future.cancel()
            raise


_loop_lock = threading.Lock()


def _runner() -> _LoopThread:
    """The process-wide loop thread, started on first use (and again after a fork)."""
    st: Any = state()
    runner: _LoopThread | None = getattr(st, "sync_loop", None)
    if runner is not None and runner.alive:
        return runner
    with _loop_lock:
        runner = getattr(st, "sync_loop", None)
        if runner is None or not runner.alive:
            runner = _LoopThread()
            st.sync_loop = runner
    return runner


def _sync_stores() -> dict[Any, SyncStorage]:
    st: Any = state()
    stores: dict[Any, SyncStorage] | None = getattr(st, "sync_stores", None)
    if stores is None:
        stores = st.sync_stores = {}
    return stores


# -- generic wrapping --------------------------------------------------------------------


def _is_async_callable(value: Any) -> bool:
    return inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004 - async __call__ objects
    )


class SyncProxy(Generic[D]):
    """Blocking view of an async object: its coroutine methods block, async iterables
    iterate, and returned objects that are themselves async (queries) are wrapped too.
    Private (``_``-prefixed) attributes are not exposed."""

    __slots__ = ("_target",)

    def __init__(self, target: D) -> None:
        object.__setattr__(self, "_target", target)

    @property
    def wrapped(self) -> D:
        """The async object behind this facade."""
        return self._target  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._target, name)
        if _is_async_callable(value):
            return _blocking_method(self._target, name, value)
        if callable(value) and not isinstance(value, type):
            return _wrapping(value)
        return _wrap_result(value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(
            {n for n in dir(self._target) if not n.startswith("_")} | set(super().__dir__())
        )

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


#: (class, method name) -> blocking function taking the instance first; built once, so an
#: attribute access costs a dict lookup rather than a signature computation.
_METHODS: dict[tuple[type, str], Callable[..., Any]] = {}


def _blocking_method(target: Any, name: str, bound: Any) -> Callable[..., Any]:
    unbound = getattr(type(target), name, None)
    if unbound is None or not inspect.iscoroutinefunction(unbound):
        return _blocking(bound)  # an instance attribute or an odd callable: wrap as is
    key = (type(target), name)
    fn = _METHODS.get(key)
    if fn is None:
        fn = _METHODS[key] = _blocking(unbound)
    return types.MethodType(fn, target)


def _blocking(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap_result(_runner().run(fn(*args, **kwargs)))

    # functools.wraps copies __wrapped__, which makes inspect treat `call` as async.
    del call.__wrapped__  # type: ignore[attr-defined]
    call.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return call


def _wrapping(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap_result(fn(*args, **kwargs))

    return call


def _wrap_result(value: Any) -> Any:
    if isinstance(value, ThreadQuery):
        return SyncThreadQuery(value)
    if hasattr(value, "__aiter__") and not isinstance(value, SyncProxy):
        return SyncIterable(value)
    return value


def _iterate(aiterable: Any, batch_size: int) -> Iterator[Any]:
    """Stream an async iterable on the loop thread, ``batch_size`` items per round trip."""
    runner = _runner()
    agen: AsyncIterator[Any] = aiterable.__aiter__()

    async def take() -> tuple[list[Any], bool]:
        batch: list[Any] = []
        while len(batch) < batch_size:
            try:
                batch.append(await agen.__anext__())
            except StopAsyncIteration:
                return batch, True
        return batch, False

    finished = False
    try:
        while not finished:
            batch, finished = runner.run(take())
            yield from batch
    finally:
        aclose = getattr(agen, "aclose", None)
        if not finished and aclose is not None and runner.alive:
            runner.run(aclose())


class SyncIterable(SyncProxy[Any]):
    """A blocking view of an async iterable: plain ``for`` streams it in batches."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return _iterate(self._target, 100)


class SyncThreadQuery(SyncProxy[ThreadQuery]):
    """Blocking :class:`~agent_storage.domains.memory.ThreadQuery`: the same builder
    methods, ``all()``/``first()``/``page()``/``count()`` return values, and plain
    iteration streams every match by keyset pagination (one round trip per batch)."""

    __slots__ = ()

    if TYPE_CHECKING:

        def where(
            self, *, resource_id: str | None = None, agent_id: str | None = None,
            metadata: Any = None,
        ) -> SyncThreadQuery: ...

        def order_by(self, field_name: str, direction: str = "desc") -> SyncThreadQuery: ...

        def limit(self, n: int | None) -> SyncThreadQuery: ...

        def offset(self, n: int) -> SyncThreadQuery: ...

        def all(self) -> list[Thread]: ...

        def first(self) -> Thread | None: ...

        def count(self) -> int: ...

        def page(self, n: int, size: int) -> Page[Thread]: ...

    def batch(self, size: int) -> SyncThreadQuery:
        """Stream in batches of ``size`` rows (one query per batch; default 500)."""
        from attrs import evolve

        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"batch size: expected an int >= 1, got {size!r}")
        return SyncThreadQuery(evolve(self._target, batch_size=size))

    def __iter__(self) -> Iterator[Thread]:
        query: ThreadQuery = self._target
        return _iterate(query, query.batch_size)


class SyncDomain(SyncProxy[D]):
    """A blocking domain: every public async method of the domain, without ``await``."""

    __slots__ = ()


class SyncMemoryDomain(SyncDomain["MemoryDomain"]):
    """Blocking memory domain (threads, messages, resources)."""

    __slots__ = ()

    def threads(self) -> SyncThreadQuery:
        """A blocking fluent thread query."""
        return SyncThreadQuery(self._target.threads())


# -- the store -----------------------------------------------------------------------------


class SyncStorage:
    """Blocking :class:`~agent_storage.Storage`: ``storage.memory.save_thread(...)``
    returns the thread. ``with`` closes it; safe to share between threads."""

    def __init__(self, storage: Storage, *, key: Any = None) -> None:
        self._storage = storage
        self._key = key

    @property
    def wrapped(self) -> Storage:
        """The async Storage behind this facade (bound to the facade's private loop)."""
        return self._storage

    # Domains are built per access (cheap) so that a rebuilt store is always the one used.
    # They are looked up for the facade's loop, not the caller's: a caller thread running
    # its own loop (a notebook) would otherwise rebuild every connection on each call.
    def _lookup(self, name: str) -> Any:
        # Storage's own facade, same package: the one caller of this loop-explicit lookup.
        return self._storage._domain_for(name, _runner().loop)  # noqa: SLF001

    def _domain(self, name: str) -> Any:
        domain = self._lookup(name)
        if domain is None:
            raise DomainNotAvailableError(f"the {name} domain is disabled in this store")
        return domain

    @property
    def memory(self) -> SyncMemoryDomain:
        return SyncMemoryDomain(self._domain("memory"))

    @property
    def workflows(self) -> SyncDomain[WorkflowsDomain]:
        return SyncDomain(self._domain("workflows"))

    @property
    def scores(self) -> SyncDomain[ScoresDomain]:
        return SyncDomain(self._domain("scores"))

    @property
    def observability(self) -> SyncDomain[ObservabilityDomain]:
        return SyncDomain(self._domain("observability"))

    @property
    def agents(self) -> SyncDomain[AgentsDomain]:
        return SyncDomain(self._domain("agents"))

    def get_domain(self, name: str) -> SyncDomain[Any] | None:
        domain = self._lookup(name)
        if domain is None:
            return None
        if isinstance(domain, MemoryDomain):
            return SyncMemoryDomain(domain)
        return SyncDomain(domain)

    @property
    def indexes(self) -> SyncProxy[Any]:
        return SyncProxy(self._storage.indexes)

    @property
    def url(self) -> str:
        return self._storage.url

    @property
    def closed(self) -> bool:
        return self._storage.closed

    def init(self) -> None:
        _runner().run(self._storage.init())

    def status(self) -> Any:
        return _runner().run(self._storage.status())

    def migrate(self, *, backup: bool = True, dry_run: bool = False) -> Any:
        return _runner().run(self._storage.migrate(backup=backup, dry_run=dry_run))

    def restore_backup(self, version: int) -> None:
        _runner().run(self._storage.restore_backup(version))

    def run(self, fn: Callable[[Storage], Awaitable[T]]) -> T:
        """Run async code against the wrapped store on its loop and block for the result:
        ``storage.run(lambda s: s.memory.list_messages("t1", last=5))``."""
        return _runner().run(_call(fn, self._storage))

    async def arun(self, fn: Callable[[Storage], Awaitable[T]]) -> T:
        """Like :meth:`run` but awaitable from another event loop without blocking it
        (the work still happens on the facade's loop, where its connections live)."""
        future = asyncio.run_coroutine_threadsafe(_call(fn, self._storage), _runner().loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Release the store's connections; idempotent."""
        stores = _sync_stores()
        with _open_lock:
            if self._key is not None and stores.get(self._key) is self:
                del stores[self._key]
        if self._storage.closed:
            return
        runner = _runner()
        runner.run(self._storage.close())

    def __enter__(self) -> SyncStorage:
        self.init()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncStorage {self.url}{' closed' if self.closed else ''}>"


_open_lock = threading.Lock()


async def _call(fn: Callable[[Storage], Awaitable[T]], storage: Storage) -> T:
    return await fn(storage)


def _plan_store(target: Target, options: dict[str, Any]) -> tuple[Any, Callable[[], Storage]]:
    """The cache key for ``target`` and a builder of a new Storage outside the async cache
    (its loop will be ours, so it must not be shared with async callers)."""
    return plan_store(target, options)


def open_store(target: Target | None = None, *, fresh: bool = False, **options: Any) -> SyncStorage:
    """Open (or reuse) a blocking store; same arguments as :func:`agent_storage.open_store`.

    The same target and options return the same object (hot-reload friendly), until it is
    closed. ``fresh=True`` always opens a new one (its own connections). Nothing connects
    until the first call (or ``init()``/``with``).
    """
    if target is None:
        target = _default_target()
    key, build = _plan_store(target, dict(options))
    stores = _sync_stores()
    with _open_lock:
        cached = stores.get(key)
        if not fresh and cached is not None and not cached.closed:
            return cached
        sync = SyncStorage(build(), key=None if fresh else key)
        if not fresh:
            stores[key] = sync
        _live().add(sync)
    return sync


def _live() -> weakref.WeakSet[SyncStorage]:
    st: Any = state()
    live: weakref.WeakSet[SyncStorage] | None = getattr(st, "sync_live", None)
    if live is None:
        live = st.sync_live = weakref.WeakSet()
    return live


def close_all() -> None:
    """Close every store opened with :func:`open_store` (blocking)."""
    stores = _sync_stores()
    with _open_lock:
        items = list(stores.values())
        stores.clear()
    for sync in items:
        try:
            sync.close()
        except StorageClosedError:
            pass


def _close_at_exit() -> None:
    # Runs before the interpreter joins non-daemon threads (driver worker threads such as
    # aiosqlite's would otherwise keep the process alive waiting for a close).
    runner: _LoopThread | None = getattr(state(), "sync_loop", None)
    if runner is None or not runner.alive:
        return
    try:
        for sync in list(_live()):
            if sync.closed:
                continue
            future = asyncio.run_coroutine_threadsafe(sync.wrapped.close(), runner.loop)
            try:
                future.result(timeout=5)
            except (concurrent.futures.TimeoutError, Exception):
                pass
        _sync_stores().clear()
    except Exception:  # never fail interpreter shutdown
        pass


def _register_exit_hook() -> None:
    st: Any = state()
    if getattr(st, "sync_exit_hook", False):
        return  # one hook per process, even across reloads of this module
    st.sync_exit_hook = True
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_close_at_exit)
    else:  # pragma: no cover - other interpreters
        import atexit

        atexit.register(_close_at_exit)


_register_exit_hook()
