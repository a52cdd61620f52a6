"""The backend contract: what a plugin's class provides to :class:`~agent_storage.Storage`.

A plugin registers a :class:`Backend` subclass by dotted path (see
:mod:`agent_storage.hookspecs`). ``open_store`` builds it from a parsed URL and validated
options without connecting; ``init`` creates what is missing; domain objects implement the
primitives of :mod:`agent_storage.domains`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from .errors import NotSupportedError
from .options import COMMON_OPTIONS, IndexSpec, StoreOptions, secret_fields
from .records import IndexInfo, IndexStats, MigrationReport, StoreStatus
from .url import StoreURL

if TYPE_CHECKING:  # the domain contracts load with the first backend, not on import
    from .domains._base import Domain

__all__ = ["CAPABILITIES", "Backend", "IndexManager"]

#: Optional capabilities a backend may declare; the conformance kit skips the cases of a
#: capability the backend does not declare, with the reason.
CAPABILITIES: Final = frozenset(
    {
        "indexes",  # storage.indexes (create/list/describe/drop)
        "migrations",  # migrate() / restore_backup()
        "persistent",  # data survives close() and reopening the same URL
        "multi_process",  # several processes may share the store
        "engine",  # storage.engine (SQLAlchemy AsyncEngine)
        "client",  # storage.client (aiobotocore client)
        "ttl",  # Retention.ttl honoured
        "vectors",  # open_store(embedder=...): search_messages, recall, embed_missing
    }
)


class IndexManager(ABC):
    """``storage.indexes``: index management on backends that have indexes.

    ``IndexInfo.table`` is the logical table name or the physical ``{prefix}_{logical}``
    one. Default index names contain the store's table prefix (two stores sharing a schema
    never collide). A write that violates a unique index raises an AgentStorageError and
    writes nothing. A backend without the ``indexes`` capability may list its indexes
    (DynamoDB: its GSIs) but refuses create/drop with NotSupportedError.
    """

    @abstractmethod
    async def create(self, spec: IndexSpec) -> IndexInfo:
        """Create the index; an existing index of that name is a no-op (returns its info)."""

    @abstractmethod
    async def list(self, table: str | None = None) -> list[IndexInfo]:
        """Indexes of this store's tables (one logical table if given)."""

    @abstractmethod
    async def describe(self, name: str) -> IndexStats:
        """Size and usage; IndexNotFoundError if missing."""

    @abstractmethod
    async def drop(self, name: str) -> bool:
        """Drop the index; returns False if it did not exist."""


class Backend(ABC):
    """One store implementation bound to one URL and its options."""

    #: The backend's options: :class:`StoreOptions` (what every backend shares) or a
    #: subclass adding the backend's own typed, validated fields (see
    #: :func:`agent_storage.options.option`). ``open_store`` builds it from keyword
    #: arguments and URL query parameters; ``self.options`` is an instance of it.
    options_class: ClassVar[type[StoreOptions]] = StoreOptions
    #: Options this backend takes beyond COMMON_OPTIONS: derived from ``options_class``.
    #: (A backend written before ``options_class`` may still declare it, naming fields of
    #: :class:`~agent_storage.options.SqlOptions`.)
    accepted_options: ClassVar[frozenset[str]] = frozenset()
    #: Deprecated: names of untyped options kept in ``options.extra``; declare an
    #: ``options_class`` instead.
    extra_options: ClassVar[tuple[str, ...]] = ()
    #: Option names whose values are secrets (credentials, tokens): masked wherever the
    #: store's URL or options are shown, like a password (which is always secret).
    secret_options: ClassVar[frozenset[str]] = frozenset()
    #: Optional capabilities, from :data:`CAPABILITIES`.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The name the backend was registered under (set on each instance by open_store;
    #: one class may be registered under several names).
    backend_name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "options_class" not in cls.__dict__ and cls.options_class is StoreOptions \
                and cls.accepted_options:
            from .options import SqlOptions

            legacy = cls.accepted_options - COMMON_OPTIONS
            if legacy <= {a.name for a in attrs.fields(SqlOptions)}:
                cls.options_class = SqlOptions
        if "accepted_options" not in cls.__dict__ or "options_class" in cls.__dict__:
            cls.accepted_options = frozenset(
                a.name for a in attrs.fields(cls.options_class) if a.name != "extra"
            ) - COMMON_OPTIONS
        cls.secret_options = cls.secret_options | secret_fields(cls.options_class)

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        self.url = url
        self.options = options

    @classmethod
    def option_defaults(cls, url: StoreURL) -> dict[str, Any]:
        """Options implied by the URL itself (e.g. host/database parts); override."""
        return {}

    @abstractmethod
    def domain(self, name: str) -> Domain:
        """The domain object for ``name`` (memory, workflows, scores, observability, agents)."""

    @abstractmethod
    async def init(self) -> None:
        """Create schema, tables, default and configured indexes; apply migrations.
        Idempotent and safe when several processes call it at once."""

    async def exists(self) -> bool:
        """Whether the database this backend points at exists, checked without creating
        or connecting to anything (read-only tools say "no database at ..." instead of
        creating an empty one). The default, for databases that are never created
        implicitly, is True; a file-based backend checks its file."""
        return True

    def location(self) -> str:
        """Where the data lives, for messages: a file path, else the URL (password hidden)."""
        return str(self.url)

    async def is_initialized(self) -> bool:
        """Whether the schema exists (used when ``disable_init=True``)."""
        return True

    @abstractmethod
    async def close(self) -> None:
        """Release connections (never a user-supplied engine or client)."""

    def abandon(self) -> None:
        """Drop resources without awaiting: their event loop is closed or gone."""

    @property
    def indexes(self) -> IndexManager:
        raise NotSupportedError(f"the {self.backend_name} backend has no index management")

    @property
    def engine(self) -> Any:
        raise NotSupportedError(f"the {self.backend_name} backend has no SQLAlchemy engine")

    @property
    def client(self) -> Any:
        raise NotSupportedError(f"the {self.backend_name} backend has no DynamoDB client")

    async def migrate(self, *, backup: bool = True, dry_run: bool = False) -> MigrationReport:
        raise NotSupportedError(f"the {self.backend_name} backend has no migrations")

    async def restore_backup(self, version: int) -> None:
        raise NotSupportedError(f"the {self.backend_name} backend has no migration backups")

    async def status(self) -> StoreStatus:
        return StoreStatus(
            backend=self.backend_name, url=str(self.url), schema_version=0, latest_version=0
        )

    async def drop_store(self) -> None:
        """Remove everything this store created (its tables, or its items under its
        ``table_prefix``), irreversibly; other stores sharing the database stay. The
        conformance kit calls it for every store it made (a kit run against a real
        database leaves nothing behind). NotSupportedError when the backend cannot."""
        raise NotSupportedError(f"the {self.backend_name} backend cannot drop a store")
