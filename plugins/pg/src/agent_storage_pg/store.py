"""The PostgreSQL backend: :class:`PgBackend` (``postgresql://``, ``postgres://``,
``postgresql+asyncpg://``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from agent_storage import naming
from agent_storage.backend import Backend
from agent_storage.domains._base import Domain
from agent_storage.errors import AgentStorageError, NotSupportedError
from agent_storage.options import StoreOptions
from agent_storage.url import StoreURL

from . import _connect, _errors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["PgBackend"]


class PgBackend(Backend):
    """PostgreSQL through SQLAlchemy asyncio and asyncpg."""

    accepted_options: ClassVar[frozenset[str]] = frozenset({
        "schema", "host", "port", "database", "user", "password", "ssl",
        "pool_size", "pool_timeout", "engine",
    })
    capabilities: ClassVar[frozenset[str]] = frozenset({
        "indexes", "migrations", "persistent", "multi_process", "engine", "ttl",
    })

    @classmethod
    def option_defaults(cls, url: StoreURL) -> dict[str, Any]:
        return _connect.url_defaults(url)

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        super().__init__(url, options)
        self.schema = options.schema or "public"
        naming.check_identifier(self.schema, "schema")
        for spec in options.indexes:  # over-long names fail at open_store, not at init
            naming.index_name(spec.name, self.schema)
        self._owns_engine = options.engine is None
        self._engine: AsyncEngine | None = (
            None if options.engine is None else _connect.check_user_engine(options.engine)
        )

    # -- connections ---------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy AsyncEngine (created on first use unless the user gave one)."""
        if self._engine is None:
            self._engine = _connect.create_engine(self.options)
        return self._engine

    def secrets(self) -> tuple[str, ...]:
        """Strings never to show in an error or a log line."""
        return tuple(s for s in (self.options.password, self.url.password) if s)

    def translate_error(self, exc: BaseException) -> AgentStorageError:
        return _errors.translate(exc, self.secrets())

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self._owns_engine:
            await engine.dispose()

    def abandon(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self._owns_engine:
            # The pool's loop is gone: forget its connections without awaiting them.
            engine.sync_engine.dispose(close=False)

    # -- domains (built on agent_storage.sql) --------------------------------------------

    def domain(self, name: str) -> Domain:
        raise NotSupportedError("the pg domains are not built yet")

    async def init(self) -> None:
        raise NotSupportedError("the pg backend cannot initialise yet")

    def __repr__(self) -> str:
        return f"<PgBackend {self.url} schema={self.schema}>"
