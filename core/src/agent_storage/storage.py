"""Storage: the composite of the five domains, and its lifecycle.

Each domain is served by one backend; several domains may share a backend (the usual
case: one URL for everything). Domain calls initialise the store lazily, once, unless
``disable_init=True``.

Connections belong to the event loop that opened them, so a store keeps one set of
backends per running event loop, built lazily the first time a loop uses the store (a
store used from five threads, each with its own loop, has five sets; ``asyncio.run``
twice gives the second run its own). Backends of a loop that has ended are abandoned
(released without running anything on that loop) the next time a new loop arrives and
at ``close()``, which closes every set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from .backend import Backend, IndexManager
from .errors import (
    AgentStorageError,
    BackendError,
    DomainNotAvailableError,
    SchemaNotInitializedError,
    StorageClosedError,
    ValidationError,
)
from .naming import DOMAIN_NAMES
from .records import Message, MigrationReport, StoreStatus

# asyncio (~35 ms with ssl, subprocess, concurrent.futures), logging and the domain
# contracts are imported where first used, not by `import agent_storage`.
if TYPE_CHECKING:
    import asyncio

    import pluggy

    from .domains import (
        AgentsDomain,
        MemoryDomain,
        ObservabilityDomain,
        ScoresDomain,
        WorkflowsDomain,
    )
    from .domains._base import Domain

__all__ = ["Storage"]

BackendFactory = Callable[[], Backend]


class _LoopState:
    """The backends and domain objects serving one event loop (``loop`` None: not yet
    claimed by any loop -- the set built with the store, which the first loop takes)."""

    __slots__ = ("backends", "domains", "init_task", "initialized", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None,
                 backends: dict[str, Backend]) -> None:
        self.loop = loop
        self.backends = backends
        self.domains: dict[str, Domain] = {}
        self.init_task: asyncio.Future[None] | None = None
        self.initialized = False

    def ended(self) -> bool:
        return self.loop is not None and self.loop.is_closed()


class Storage:
    """The store: ``storage.memory``, ``.workflows``, ``.scores``, ``.observability``,
    ``.agents``; ``init``/``close``; ``async with`` does both. Usable from several event
    loops (threads) at once: each loop gets its own backends and connections."""

    def __init__(
        self,
        routes: Mapping[str, str | None],
        factories: Mapping[str, BackendFactory],
        *,
        default: str,
        pm: pluggy.PluginManager | None = None,
    ) -> None:
        import asyncio  # here, not at module level: `import agent_storage` stays light

        # Bound once: every domain call checks the running loop (no import statement there).
        self._get_running_loop = asyncio.get_running_loop
        # routes: domain -> backend key (None = disabled); factories: key -> builder.
        self._routes = dict(routes)
        self._factories = dict(factories)
        self._default = default
        self._pm = pm
        self._lock = threading.Lock()  # guards _states and _unclaimed
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self._unclaimed: _LoopState | None = _LoopState(None, self._build_backends())
        self._last = self._unclaimed  # what code outside any loop sees (url, backend, ...)
        self._local = threading.local()  # .state: this thread's last state (fast path)
        self._closed = False

    def _build_backends(self) -> dict[str, Backend]:
        return {k: f() for k, f in self._factories.items()}

    # -- the state of the running loop ---------------------------------------------------

    def _state(self) -> _LoopState:
        """The backends of the running loop (created on its first use); outside any loop,
        the most recently used set."""
        try:
            loop = self._get_running_loop()
        except RuntimeError:
            return self._last
        state: _LoopState | None = getattr(self._local, "state", None)
        if state is None or state.loop is not loop:
            state = self._claim(loop)
            self._local.state = state
        return state

    def _claim(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                if self._unclaimed is not None:
                    state, self._unclaimed = self._unclaimed, None
                    state.loop = loop
                else:
                    state = _LoopState(loop, self._build_backends())
                self._states[loop] = state
                ended = [s for s in self._states.values() if s.ended()]
                for old in ended:
                    del self._states[old.loop]  # type: ignore[arg-type]
            else:
                ended = []
            self._last = state
        for old in ended:
            self._abandon(old)
        return state

    def _abandon(self, state: _LoopState) -> None:
        """Release a set whose loop has ended (nothing can run on it any more)."""
        import logging

        log = logging.getLogger("agent_storage")
        log.debug("agent-storage: releasing the backends of an ended event loop for %s",
                  self.url)
        for backend in state.backends.values():
            try:
                backend.abandon()
            except Exception:  # best effort: the old loop cannot run cleanup any more
                log.debug("abandon failed", exc_info=True)

    # -- domains -------------------------------------------------------------------------

    def get_domain(self, name: str) -> Domain | None:
        """The domain object, or None if the domain is disabled."""
        return self._domain_for(name, None)

    def _domain_for(self, name: str, loop: asyncio.AbstractEventLoop | None) -> Domain | None:
        """get_domain for calls that will run on ``loop`` (None: the loop running here).

        The blocking facade passes its private loop: its callers' threads may run a loop
        of their own (a notebook, a sync helper inside async code), and following that one
        would rebuild every connection on each call."""
        if name not in DOMAIN_NAMES:
            raise ValidationError(f"unknown domain {name!r}; expected one of {list(DOMAIN_NAMES)}")
        key = self._routes.get(name)
        if key is None:
            return None
        state = self._state() if loop is None else self._claim(loop)
        return self._domain_in(state, key, name)

    def _domain_in(self, state: _LoopState, key: str, name: str) -> Domain:
        domain = state.domains.get(name)
        if domain is None:
            domain = state.backends[key].domain(name)
            domain.attach(self)
            state.domains[name] = domain
        return domain

    def _domain(self, name: str) -> Any:
        domain = self.get_domain(name)
        if domain is None:
            raise DomainNotAvailableError(f"the {name} domain is disabled in this store")
        return domain

    @property
    def memory(self) -> MemoryDomain:
        return cast("MemoryDomain", self._domain("memory"))

    @property
    def workflows(self) -> WorkflowsDomain:
        return cast("WorkflowsDomain", self._domain("workflows"))

    @property
    def scores(self) -> ScoresDomain:
        return cast("ScoresDomain", self._domain("scores"))

    @property
    def observability(self) -> ObservabilityDomain:
        return cast("ObservabilityDomain", self._domain("observability"))

    @property
    def agents(self) -> AgentsDomain:
        return cast("AgentsDomain", self._domain("agents"))

    # -- the default backend's extras ----------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The default backend (serving the ``default`` URL) of the running loop."""
        return self._state().backends[self._default]

    @property
    def backends(self) -> Mapping[str, Backend]:
        """Backend per domain (disabled domains omitted), of the running loop."""
        backends = self._state().backends
        return {d: backends[k] for d, k in self._routes.items() if k is not None}

    @property
    def url(self) -> str:
        """The default backend's URL, password hidden."""
        return str(self._last.backends[self._default].url)

    @property
    def indexes(self) -> IndexManager:
        return self.backend.indexes

    @property
    def engine(self) -> Any:
        """The SQLAlchemy AsyncEngine (pg and sqlite) for custom queries."""
        return self.backend.engine

    @property
    def client(self) -> Any:
        """The aiobotocore DynamoDB client (dynamodb) for custom calls; valid after init."""
        return self.backend.client

    @property
    def closed(self) -> bool:
        return self._closed

    async def migrate(self, *, backup: bool = True, dry_run: bool = False) -> MigrationReport:
        self._check_open()
        return await self.backend.migrate(backup=backup, dry_run=dry_run)

    async def restore_backup(self, version: int) -> None:
        self._check_open()
        await self.backend.restore_backup(version)

    async def status(self) -> StoreStatus:
        await self.ready()
        return await self.backend.status()

    # -- lifecycle -----------------------------------------------------------------------

    async def init(self) -> None:
        """Create what is missing and apply migrations, once per event loop; concurrent
        callers share the run; a failed run is forgotten so the next call retries."""
        self._check_open()
        state = self._state()
        if state.initialized:
            return
        import asyncio

        if state.init_task is None:
            state.init_task = asyncio.ensure_future(self._run_init(state))
        task = state.init_task
        try:
            await asyncio.shield(task)
        except BaseException:
            if state.init_task is task and task.done():
                state.init_task = None
            raise

    async def _run_init(self, state: _LoopState) -> None:
        for backend in state.backends.values():
            try:
                await backend.init()
            except AgentStorageError:
                raise
            except Exception as exc:
                raise BackendError(f"init failed: {type(exc).__name__}: {exc}") from exc
        await self._init_vectors(state)
        state.initialized = True

    async def _init_vectors(self, state: _LoopState) -> None:
        """With an embedder: create the vector tables/index and check the recorded model."""
        key = self._routes.get("memory")
        domain: Any = None if key is None else self._domain_in(state, key, "memory")
        cfg = None if domain is None else domain.vector_config()
        if cfg is not None:
            await domain.create_vectors(cfg)

    async def ready(self) -> None:
        """Wait until the store can serve calls on the running loop: open, and initialised
        (or, with ``disable_init=True``, checked to have its schema). Every domain call
        awaits this first; it costs a loop check once ready."""
        self._check_open()
        state = self._state()
        if state.initialized:
            return
        if all(b.options.disable_init for b in state.backends.values()):
            for backend in state.backends.values():
                if not await backend.is_initialized():
                    raise SchemaNotInitializedError(
                        f"the store at {backend.url} has no schema and disable_init=True: "
                        f"run `agent-storage init {backend.url}` (or storage.init()) first"
                    )
            state.initialized = True
            return
        await self.init()

    _ready = ready  # the name domains used before ``ready`` was public

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError("this store is closed; open_store() returns a new one")

    async def close(self) -> None:
        """Release the connections of every event loop that used the store; idempotent.

        This loop's backends are closed here; those of ended loops are abandoned; those
        of loops still running in other threads are closed on their own loop.
        """
        if self._closed:
            return
        if self._pm is not None:
            self._pm.hook.store_closing(storage=self)
        self._closed = True
        with self._lock:
            states = list(self._states.values())
            if self._unclaimed is not None:
                states.append(self._unclaimed)
            self._states.clear()
            self._unclaimed = None
        for state in states:
            await self._close_state(state)

    async def _close_state(self, state: _LoopState) -> None:
        import asyncio

        loop = state.loop
        if loop is None or loop is self._get_running_loop():
            await _close_backends(state.backends.values())
        elif loop.is_running():
            future = asyncio.run_coroutine_threadsafe(
                _close_backends(state.backends.values()), loop)
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), 30)
            except (TimeoutError, Exception):
                self._abandon(state)
        else:
            self._abandon(state)

    async def _release_this_loop(self) -> None:
        """Close and forget the running loop's backends (the next call builds new ones)."""
        loop = self._get_running_loop()
        with self._lock:
            state = self._states.pop(loop, None)
        if state is not None:
            if getattr(self._local, "state", None) is state:
                self._local.state = None
            await _close_backends(state.backends.values())

    async def __aenter__(self) -> Storage:
        try:
            await self.init()
        except BaseException:
            # a failed enter has no __aexit__: release what init opened (clients, pools)
            await self._release_this_loop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- hooks ---------------------------------------------------------------------------

    def before_save_messages(self, messages: list[Message]) -> list[Message]:
        """Run the ``before_save_messages`` plugin hooks; returns the batch to save."""
        if self._pm is None:
            return messages
        replaced = self._pm.hook.before_save_messages(storage=self, messages=messages)
        if replaced is None:
            return messages
        if not isinstance(replaced, list) or not all(isinstance(m, Message) for m in replaced):
            raise ValidationError(
                "a before_save_messages hook returned something other than list[Message]"
            )
        return replaced

    _before_save_messages = before_save_messages  # the name domains used before

    def __repr__(self) -> str:
        return f"<Storage {self.url}{' closed' if self._closed else ''}>"


async def _close_backends(backends: Any) -> None:
    """Close each backend; one failing does not keep the others open."""
    first: BaseException | None = None
    for backend in list(backends):
        try:
            await backend.close()
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first
