"""Storage: the composite of the five domains, and its lifecycle.

Each domain is served by one backend; several domains may share a backend (the usual
case: one URL for everything). Domain calls initialise the store lazily, once, unless
``disable_init=True``.
"""

from __future__ import annotations

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


class Storage:
    """The store: ``storage.memory``, ``.workflows``, ``.scores``, ``.observability``,
    ``.agents``; ``init``/``close``; ``async with`` does both."""

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
        self._backends: dict[str, Backend] = {k: f() for k, f in self._factories.items()}
        self._domains: dict[str, Domain] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._init_task: asyncio.Future[None] | None = None
        self._initialized = False
        self._closed = False

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
        if loop is None:
            self._follow_running_loop()
        elif self._loop is not None and not self._closed and loop is not self._loop:
            self._rebuild(loop)
        key = self._routes.get(name)
        if key is None:
            return None
        domain = self._domains.get(name)
        if domain is None:
            domain = self._backends[key].domain(name)
            domain._attach(self)
            self._domains[name] = domain
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
        """The default backend (serving the ``default`` URL)."""
        return self._backends[self._default]

    @property
    def backends(self) -> Mapping[str, Backend]:
        """Backend per domain (disabled domains omitted)."""
        return {d: self._backends[k] for d, k in self._routes.items() if k is not None}

    @property
    def url(self) -> str:
        """The default backend's URL, password hidden."""
        return str(self.backend.url)

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
        await self._check_loop()
        return await self.backend.migrate(backup=backup, dry_run=dry_run)

    async def restore_backup(self, version: int) -> None:
        await self._check_loop()
        await self.backend.restore_backup(version)

    async def status(self) -> StoreStatus:
        await self._ready()
        return await self.backend.status()

    # -- lifecycle -----------------------------------------------------------------------

    async def init(self) -> None:
        """Create what is missing and apply migrations, once; concurrent callers share the
        run; a failed run is forgotten so the next call retries."""
        await self._check_loop()
        if self._initialized:
            return
        import asyncio

        if self._init_task is None:
            self._init_task = asyncio.ensure_future(self._run_init())
        task = self._init_task
        try:
            await asyncio.shield(task)
        except BaseException:
            if self._init_task is task and task.done():
                self._init_task = None
            raise

    async def _run_init(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.init()
            except AgentStorageError:
                raise
            except Exception as exc:
                raise BackendError(f"init failed: {type(exc).__name__}: {exc}") from exc
        await self._init_vectors()
        self._initialized = True

    async def _init_vectors(self) -> None:
        """With an embedder: create the vector tables/index and check the recorded model."""
        domain = self.get_domain("memory")
        cfg = None if domain is None else domain._vector_config()  # type: ignore[attr-defined]
        if cfg is not None:
            await domain._init_vectors(cfg)  # type: ignore[union-attr]
            domain._vectors_ok = True  # type: ignore[union-attr]

    async def _ready(self) -> None:
        """Called by every domain call: right loop, initialised (or checked) store."""
        await self._check_loop()
        if self._initialized:
            return
        if all(b.options.disable_init for b in self._backends.values()):
            for backend in self._backends.values():
                if not await backend.is_initialized():
                    raise SchemaNotInitializedError(
                        f"the store at {backend.url} has no schema and disable_init=True: "
                        f"run `agent-storage init {backend.url}` (or storage.init()) first"
                    )
            self._initialized = True
            return
        await self.init()

    async def _check_loop(self) -> None:
        if self._closed:
            raise StorageClosedError("this store is closed; open_store() returns a new one")
        loop = self._get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            # Connections belong to the loop that made them; that loop is gone or another
            # loop is running now (pytest, asyncio.run twice, notebooks): rebuild.
            self._rebuild(loop)

    def _follow_running_loop(self) -> None:
        """On domain access from another running loop, rebuild before handing out a domain
        object, so the first call on the new loop never runs on an abandoned backend."""
        if self._loop is None or self._closed:
            return
        try:
            loop = self._get_running_loop()
        except RuntimeError:  # no loop running: the next awaited call will check
            return
        if loop is not self._loop:
            self._rebuild(loop)

    def _rebuild(self, loop: asyncio.AbstractEventLoop) -> None:
        import logging

        log = logging.getLogger("agent_storage")
        log.debug("agent-storage: event loop changed, rebuilding backends for %s", self.url)
        for backend in self._backends.values():
            try:
                backend.abandon()
            except Exception:  # best effort: the old loop cannot run cleanup any more
                log.debug("abandon failed", exc_info=True)
        self._backends = {k: f() for k, f in self._factories.items()}
        self._domains.clear()
        self._init_task = None
        self._initialized = False
        self._loop = loop

    async def close(self) -> None:
        """Release every backend's connections; idempotent."""
        if self._closed:
            return
        if self._pm is not None:
            self._pm.hook.store_closing(storage=self)
        self._closed = True
        same_loop = self._loop is None or self._loop is self._get_running_loop()
        for backend in self._backends.values():
            if same_loop:
                await backend.close()
            else:
                backend.abandon()

    async def __aenter__(self) -> Storage:
        await self.init()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- hooks ---------------------------------------------------------------------------

    def _before_save_messages(self, messages: list[Message]) -> list[Message]:
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

    def __repr__(self) -> str:
        return f"<Storage {self.url}{' closed' if self._closed else ''}>"
