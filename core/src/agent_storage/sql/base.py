"""SqlBackend: what the SQLite and PostgreSQL backends share.

A subclass provides the engine (:meth:`SqlBackend.create_engine`) and the dialect hooks
below; domains, indexes and migrations are written once in this package.

Hooks a dialect backend implements (no code here branches on the dialect's name; the
SQLite plugin implements them in ``agent_storage_sqlite._dialect``, the PostgreSQL plugin in
``agent_storage_pg.store``):

* ``dialect_name`` (class var) -- the SQLAlchemy dialect the engine must have.
* ``create_engine()`` -- build the AsyncEngine (only when no ``engine=`` option is given).
* ``setup_engine(engine)`` -- install connection events (pragmas, session settings).
* ``begin_write(conn)`` -- start a write transaction (SQLite: ``BEGIN IMMEDIATE``).
* ``init_lock(conn)`` -- called first inside the init/migrate transaction (PostgreSQL:
  ``pg_advisory_xact_lock``); SQLite relies on ``BEGIN IMMEDIATE`` instead.
* ``write_guard()`` / ``read_guard()`` -- in-process serialisation (SQLite: one writer;
  in-memory: one shared connection).
* ``is_transient(exc)`` -- whether a driver error is safe to retry.
* ``is_busy(exc)`` -- whether a failed write should be retried here, with backoff.
* ``insert(table)`` -- the dialect's INSERT with ``on_conflict_do_update`` (required).
* ``create_codec()`` -- value conversion for the columns (default: native datetimes/JSON).
* ``json_filter(column, flt, prefix)`` -- JSON metadata equality (required for filters).
* ``lateral_windows`` (class var) -- include windows may use LATERAL subqueries.
* ``index_catalog(conn)`` / ``index_stats(conn, info)`` -- the catalog behind
  ``storage.indexes``.
* ``migrations()`` / ``backup_table`` / ``restore_tables`` / ``restore_session`` (see
  :mod:`agent_storage.migrations`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..backend import Backend, IndexManager
from ..domains._base import Domain
from ..errors import (
    AgentStorageError,
    BackendError,
    ConfigurationError,
    NotSupportedError,
    TransientBackendError,
)
from ..naming import index_name
from ..options import IndexSpec, SqlOptions, StoreOptions
from ..records import IndexInfo, MigrationReport, StoreStatus
from ..retry import RetryPolicy
from ..url import StoreURL
from .tables import Codec, Tables, native_codec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Column, ColumnElement, Table

    from ..migrations import Migration

__all__ = ["SaTx", "SqlBackend", "Tx", "default_index_specs", "sql_log"]

T = TypeVar("T")

sql_log = logging.getLogger("agent_storage.sql")

#: Default indexes of DESIGN section 5: (suffix, logical table, columns, where).
DEFAULT_INDEXES: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    # Short suffixes leave room for a schema prefix within 63 bytes. Ties break in the
    # same direction as the sort key, so one index serves DESC/DESC forward and ASC/ASC
    # backward.
    ("threads_res_ctime", "threads", ("resource_id", "created_at DESC", "id DESC"), None),
    ("threads_res_utime", "threads", ("resource_id", "updated_at DESC", "id DESC"), None),
    ("messages_thread_ts", "messages", ("thread_id", "created_at", "seq"), None),
    ("runs_name_ctime", "workflow_runs",
     ("workflow_name", "created_at DESC", "run_id DESC"), None),
    ("runs_ctime", "workflow_runs", ("created_at DESC", "run_id DESC"), None),
    ("runs_resource", "workflow_runs", ("resource_id",), None),
    ("scores_scorer_ts", "scores", ("scorer_id", "created_at"), None),
    ("scores_ctime", "scores", ("created_at DESC", "id DESC"), None),
    ("scores_run", "scores", ("run_id",), None),
    ("scores_entity", "scores", ("entity_type", "entity_id"), None),
    ("scores_trace", "scores", ("trace_id", "span_id"), None),
    ("spans_trace_ts", "spans", ("trace_id", "started_at"), None),
    ("spans_root_ts", "spans", ("started_at DESC", "trace_id DESC", "span_id DESC"),
     "parent_span_id IS NULL"),
    ("agents_status", "agents", ("status",), None),
    ("agents_ctime", "agents", ("created_at DESC", "id DESC"), None),
)


def default_index_specs(table_prefix: str) -> list[IndexSpec]:
    """The default indexes as IndexSpecs named ``{table_prefix}_{suffix}_idx``."""
    return [
        IndexSpec(name=f"{table_prefix}_{suffix}_idx" if table_prefix else f"{suffix}_idx",
                  table=table, columns=columns, where=where)
        for suffix, table, columns, where in DEFAULT_INDEXES
    ]


class SqlBackend(Backend):
    """Base of the SQL backends (see the module docstring for the hooks)."""

    dialect_name: ClassVar[str] = "postgresql"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"indexes", "migrations", "persistent", "multi_process", "engine", "ttl", "vectors"}
    )
    #: Retries of a write that hit a busy/locked database (``is_busy``).
    busy_retries: ClassVar[int] = 8
    options_class: ClassVar[type[StoreOptions]] = SqlOptions
    options: SqlOptions

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        super().__init__(url, options)
        self.schema: str | None = self.physical_schema()
        # Building names validates them (length after prefixing): bad names fail here,
        # at open_store, before any connection.
        self.tables = Tables(options.table_prefix, self.schema)
        self.codec: Codec = self.create_codec()
        self.retention = options.retention
        self.default_indexes = [] if options.skip_default_indexes else default_index_specs(
            options.table_prefix)
        for spec in [*self.default_indexes, *options.indexes]:
            index_name(spec.name, self.schema)
        self._engine: AsyncEngine | None = None
        self._owns_engine = self.options.engine is None
        self._domains: dict[str, Domain] = {}
        self._init_lock: asyncio.Lock | None = None
        self._initialized = False
        self._index_manager: IndexManager | None = None

    # -- hooks -----------------------------------------------------------------------------

    def physical_schema(self) -> str | None:
        """The SQL schema tables live in (None: the connection's default)."""
        return None

    def create_engine(self) -> AsyncEngine:
        raise NotImplementedError

    def setup_engine(self, engine: AsyncEngine) -> None:
        """Install connection events; called once per engine (also a user-supplied one)."""

    def scores_in_sql(self) -> bool:
        """Every connection :meth:`fetch` uses has the ``TopScores`` aggregate of
        :mod:`agent_storage.vectors.backend` (as ``TopScores.name``): an exact vector
        search is then one statement (SQLite's own connections)."""
        return False

    async def begin_write(self, conn: AsyncConnection) -> None:
        await conn.begin()

    async def init_lock(self, conn: AsyncConnection) -> None:
        """Serialise init/migrate across processes; runs inside the init transaction."""

    def write_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def read_guard(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, sa_exc.TimeoutError):
            return True  # pool checkout timed out
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        return isinstance(exc, ConnectionError | TimeoutError)

    def is_busy(self, exc: BaseException) -> bool:
        return False

    def insert(self, table: Table) -> Any:
        """The dialect's INSERT for ``table``, with ``on_conflict_do_update`` /
        ``on_conflict_do_nothing`` (upserts; SQLAlchemy's postgresql and sqlite ``insert``)."""
        raise NotSupportedError(f"{self.backend_name or self.dialect_name}: no upsert")

    def create_codec(self) -> Codec:
        """How values are converted for the columns (see :mod:`agent_storage.sql.tables`);
        the default passes datetimes and JSON values to the driver as they are."""
        return native_codec()

    def json_filter(self, column: Column[Any], flt: Mapping[str, Any],
                    prefix: str) -> ColumnElement[bool]:
        """A predicate: for every item of ``flt``, ``column``'s top-level key holds that
        JSON scalar -- strict JSON equality (``true`` never equals ``1``, 1 equals 1.0,
        ``None`` matches JSON null). Keys and values are bound parameters whose names
        start with ``prefix``, never SQL text."""
        raise NotSupportedError(f"{self.backend_name or self.dialect_name}: no JSON filters")

    #: Whether include windows may use ``LATERAL`` subqueries (each side of a window is
    #: then a LIMITed index walk from the anchor row).
    lateral_windows: ClassVar[bool] = False

    async def index_catalog(self, conn: AsyncConnection) -> list[IndexInfo]:
        """Every index on the store's tables that does not back a constraint."""
        raise NotSupportedError(f"{self.backend_name or self.dialect_name}: no index catalog")

    async def index_stats(self, conn: AsyncConnection, info: IndexInfo) -> dict[str, Any]:
        """Extra IndexStats fields for ``info`` (size_bytes, scans, ...), as known."""
        return {}

    def migrations(self) -> list[Migration]:
        """The append-only migration list; a backend may append its own versions."""
        from ..migrations import base_migrations

        return base_migrations()

    async def backup_table(self, conn: AsyncConnection, table: Table, backup: str,
                           renames: dict[str, str]) -> int:
        """Copy ``table`` (definition, constraints, indexes, rows) to ``backup``; return
        the rows copied. ``renames`` maps every table backed up in this run to its copy.
        Runs inside the migration's transaction. A dialect must implement it to support
        ``migrate(backup=True)``."""
        raise NotSupportedError(f"{self.backend_name or self.dialect_name}: no migration backups")

    async def restore_tables(self, conn: AsyncConnection, found: list[tuple[Table, str]],
                             version: int) -> None:
        """Replace each live table by its backup ``(table, backup_name)``, with every row
        of the backup, and drop the backups; tables not in ``found`` keep their rows (see
        :func:`agent_storage.migrations.delete_orphans`). Runs inside the restore's
        transaction, within :meth:`restore_session`."""
        raise NotSupportedError(f"{self.backend_name or self.dialect_name}: no migration backups")

    def restore_session(self, conn: AsyncConnection) -> contextlib.AbstractAsyncContextManager[Any]:
        """Wraps the restore's whole transaction on ``conn`` (entered before
        :meth:`begin_write`, left after commit or rollback): connection settings a restore
        needs (SQLite: foreign keys off, so replacing a parent table cascades nothing)."""
        return contextlib.nullcontext()

    # -- engine ----------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """The AsyncEngine (built on first use; a user-supplied one is never disposed)."""
        if self._engine is None:
            engine = self.options.engine
            if engine is None:
                engine = self.create_engine()
            if not isinstance(engine, AsyncEngine):
                raise ConfigurationError(
                    f"engine: expected a sqlalchemy AsyncEngine, got {type(engine).__name__}")
            if engine.dialect.name != self.dialect_name:
                raise ConfigurationError(
                    f"engine: a {engine.dialect.name} engine was given to the "
                    f"{self.dialect_name} backend")
            self.setup_engine(engine)
            if self.options.debug:
                _install_debug_logging(engine)
            self._engine = engine
        return self._engine

    # -- connections and transactions ------------------------------------------------------

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no explicit transaction on SQLite)."""
        async with self.read_guard():
            async with self.engine.connect() as conn:
                yield conn

    async def write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in one write transaction; commit, or roll back on any error.

        ``fn`` may run more than once: a write that found the database busy is retried
        from the start with backoff (its transaction was rolled back).
        """

        async def attempt() -> T:
            async with self.write_guard(), self.engine.connect() as conn:
                await self.begin_write(conn)
                try:
                    result = await fn(conn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await conn.rollback()
                    raise
                await conn.commit()
                return result

        return await self.busy_retry.run(attempt, retry_if=self.retry_busy,
                                         on_retry=_log_retry)

    @functools.cached_property
    def busy_retry(self) -> RetryPolicy:
        """How a write that found the database busy is retried: ``busy_retries`` more
        tries, 20 ms doubling up to 2 s, equal jitter."""
        return RetryPolicy(attempts=self.busy_retries + 1, base=0.02, cap=2.0,
                           jitter="equal")

    def retry_busy(self, exc: Exception) -> bool:
        """``retry_if`` of :attr:`busy_retry`: a driver error that :meth:`is_busy` names
        (never one of our own errors, which are answers, not accidents)."""
        return not isinstance(exc, AgentStorageError) and self.is_busy(exc)

    # -- what the domains call ---------------------------------------------------------------
    # Domain code is written once against these two calls: ``fetch`` for a read statement
    # and ``transact`` for a write transaction whose body is a *synchronous* function of a
    # :class:`Tx`. The defaults run on SQLAlchemy (``run_sync`` inside ``write``); SQLite
    # runs the whole body in the driver's thread in one hop.

    def prepared(self, stmt: Any) -> Any:
        """Called once for each statement a domain builds and reuses (bound parameters
        only, constant literals): a backend may precompile it. Returns the statement."""
        return stmt

    async def fetch(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """Rows (tuples) of one read statement."""
        async with self.read() as conn:
            return list((await conn.execute(stmt, params or {})).all())

    async def transact(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in one write transaction (see :meth:`write`)."""

        async def run(conn: AsyncConnection) -> T:
            return await conn.run_sync(lambda sync_conn: fn(SaTx(sync_conn)))

        return await self.write(run)

    # -- errors ----------------------------------------------------------------------------

    def translate_error(self, exc: BaseException) -> AgentStorageError:
        """Driver error -> BackendError/TransientBackendError (caller keeps the cause)."""
        if isinstance(exc, AgentStorageError):
            return exc
        orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
        text = f"{type(orig).__name__}: {orig}"
        if self.is_transient(exc) or self.is_busy(exc):
            return TransientBackendError(f"{self.backend_name or self.dialect_name}: {text}")
        return BackendError(f"{self.backend_name or self.dialect_name}: {text}")

    # -- domains ---------------------------------------------------------------------------

    def domain(self, name: str) -> Domain:
        domain = self._domains.get(name)
        if domain is None:
            from . import agents, memory, observability, scores, workflows

            classes: dict[str, Any] = {
                "memory": memory.SqlMemory,
                "workflows": workflows.SqlWorkflows,
                "scores": scores.SqlScores,
                "observability": observability.SqlObservability,
                "agents": agents.SqlAgents,
            }
            if name not in classes:
                raise ValueError(f"unknown domain {name!r}")
            domain = classes[name](self)
            self._domains[name] = domain
        return domain

    # -- lifecycle -------------------------------------------------------------------------

    async def ensure_ready(self) -> None:
        """Make sure the store is initialised (or checked, with ``disable_init``) the way
        every domain call does, before index management touches the tables."""
        # Our own Domain's readiness hook (Storage's loop check and init); no public one
        # yet.
        await self.domain("memory")._ready()  # noqa: SLF001

    def reset_initialized(self) -> None:
        """Forget that init ran: the next call runs it (and pending migrations) again."""
        self._initialized = False

    def _lock(self) -> asyncio.Lock:
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        return self._init_lock

    async def init(self) -> None:
        async with self._lock():
            if self._initialized:
                return
            await self._run_migrations(backup=True, dry_run=False)
            self._initialized = True

    async def migrate(self, *, backup: bool = True, dry_run: bool = False) -> MigrationReport:
        async with self._lock():
            try:
                report = await self._run_migrations(backup=backup, dry_run=dry_run)
            except AgentStorageError:
                raise
            except Exception as exc:
                raise self.translate_error(exc) from exc
            if not dry_run:
                self._initialized = True
            return report

    async def _run_migrations(self, *, backup: bool, dry_run: bool) -> MigrationReport:
        from ..migrations import MigrationRunner

        runner = MigrationRunner(self)
        try:
            return await runner.run(backup=backup, dry_run=dry_run)
        except AgentStorageError:
            raise
        except Exception as exc:
            raise self.explain_init_error(exc) from exc

    def explain_init_error(self, exc: BaseException) -> AgentStorageError:
        """A clearer error for init failures (missing directory, read-only file...)."""
        return self.translate_error(exc)

    async def restore_backup(self, version: int) -> None:
        from ..migrations import MigrationRunner

        async with self._lock():
            try:
                await MigrationRunner(self).restore(version)
            except AgentStorageError:
                raise
            except Exception as exc:
                raise self.translate_error(exc) from exc

    async def is_initialized(self) -> bool:
        from ..migrations import MigrationRunner

        try:
            return await MigrationRunner(self).current_version() > 0
        except Exception as exc:
            raise self.translate_error(exc) from exc

    async def status(self) -> StoreStatus:
        from ..migrations import MigrationRunner

        runner = MigrationRunner(self)
        try:
            version = await runner.current_version()
            counts: dict[str, int] = {}
            async with self.read() as conn:
                for logical, table in self.tables.by_logical.items():
                    counts[logical] = int(
                        (await conn.execute(select(func.count()).select_from(table))).scalar_one())
        except Exception as exc:
            raise self.translate_error(exc) from exc
        return StoreStatus(backend=self.backend_name or self.dialect_name, url=str(self.url),
                           schema_version=version, latest_version=runner.latest_version,
                           tables=counts)

    async def drop_store(self) -> None:
        """Drop this store's tables (data, migrations, and migration backups), nothing
        else; the conformance kit's clean-up (see Backend.drop_store)."""
        from sqlalchemy import MetaData, Table, inspect
        from sqlalchemy.schema import DropTable

        names = {t.name for t in self.tables.metadata.sorted_tables}

        def drop(conn: Any) -> None:
            found = inspect(conn).get_table_names(schema=self.schema)
            backups = [n for n in found if n.partition("_bak_v")[0] in names and n not in names]
            self.tables.metadata.drop_all(conn, checkfirst=True)
            for name in backups:
                conn.execute(DropTable(Table(name, MetaData(schema=self.schema))))

        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(drop)
        except Exception as exc:
            raise self.translate_error(exc) from exc

    @property
    def indexes(self) -> IndexManager:
        if self._index_manager is None:
            from .indexes import SqlIndexManager

            self._index_manager = SqlIndexManager(self)
        return self._index_manager

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        self._initialized = False
        if engine is not None and self._owns_engine:
            await engine.dispose()

    def abandon(self) -> None:
        engine, self._engine = self._engine, None
        self._initialized = False
        if engine is not None and self._owns_engine:
            # The loop that owned the connections is gone: forget them without awaiting.
            with contextlib.suppress(Exception):
                engine.sync_engine.dispose(close=False)


class Tx:
    """The synchronous statement API a write transaction body gets."""

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        raise NotImplementedError

    def first(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        rows = self.rows(stmt, params)
        return rows[0] if rows else None

    def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> int:
        """Run a statement; return its rowcount."""
        raise NotImplementedError

    def executemany(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def insert_many(self, stmt: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
                    *, plain: Any = None) -> None:
        """executemany of the INSERT ``stmt`` with positional rows giving ``columns``.

        A backend that binds positionally skips the dict per row (the save_messages path).
        ``plain``: ``stmt`` without its ON CONFLICT clause. A backend may run the rows
        through it first and, from the first row that fails, through ``stmt``: the result
        is the same (until a conflict both insert the same rows), and a plain INSERT can be
        cheaper (SQLite: ~1 us a row)."""
        self.executemany(stmt, [dict(zip(columns, row, strict=True)) for row in rows])


class SaTx(Tx):
    """Tx over a synchronous SQLAlchemy Connection (inside ``AsyncConnection.run_sync``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        return list(self.conn.execute(stmt, params or {}).all())

    def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> int:
        return int(self.conn.execute(stmt, params or {}).rowcount)

    def executemany(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(stmt, rows)


def _log_retry(exc: Exception, attempt: int, delay: float) -> None:
    sql_log.debug("database busy (%s), retrying write in %.3fs", type(exc).__name__, delay)


def _install_debug_logging(engine: AsyncEngine) -> None:
    """Log every statement with its duration to ``agent_storage.sql`` (never parameters,
    which may hold user data; the URL and its password are never part of a statement).
    Installed once per engine (module-level listeners: ``event.contains`` finds them)."""
    sync = engine.sync_engine
    if event.contains(sync, "before_cursor_execute", _debug_before):
        return
    event.listen(sync, "before_cursor_execute", _debug_before)
    event.listen(sync, "after_cursor_execute", _debug_after)
    event.listen(sync, "handle_error", _debug_error)


def _debug_before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                  executemany: bool) -> None:
    conn.info.setdefault("agent_storage_t0", []).append(time.perf_counter())


def _debug_after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                 executemany: bool) -> None:
    stack = conn.info.get("agent_storage_t0")
    start = stack.pop() if stack else time.perf_counter()
    rows = len(params) if executemany and isinstance(params, list | tuple) else 1
    sql_log.debug("%.3f ms (%d row(s)): %s", (time.perf_counter() - start) * 1000, rows,
                  " ".join(statement.split()))


def _debug_error(context: Any) -> None:
    stack = context.connection.info.get("agent_storage_t0") if context.connection else None
    if stack:
        stack.pop()
    sql_log.debug("failed: %s: %s", type(context.original_exception).__name__,
                  " ".join((context.statement or "").split()))
