"""The conformance kit as a pytest plugin (entry point ``pytest11: agent_storage``).

Loaded by every pytest run in an environment where agent-storage is installed, so it only
adds an option, a marker and fixtures; nothing here touches a store until a test asks.

Fixtures (override ``storage_factory`` in a conftest to run the kit on your own set-up):

``agent_storage_url``  (session) ``--agent-storage-url``, else ``$AGENT_STORAGE_TEST_URL``,
                       else ``memory://``.
``storage_factory``    ``await storage_factory(**options) -> Storage``: a fresh, isolated,
                       initialised store (not initialised with ``disable_init=True``); every
                       store made is closed at teardown.
``storage``            ``await storage_factory()``.
``capabilities``       ``frozenset`` of the capabilities ``storage``'s backend declares.
``reopen_store``       ``reopen_store(storage, **overrides) -> Storage``: another Storage on
                       the same target and options (not cached, closed at teardown).
``agent_storage_drop_store``
                       ``await drop(storage)``: the teardown hook. ``storage_factory`` calls it
                       for every store it made, before closing it; the default calls each
                       backend's ``Backend.drop_store()`` (its tables, or its items under its
                       ``table_prefix``), so a kit run against a real database leaves nothing
                       behind. Override it when your backend cleans up another way; the run's
                       summary counts stores that could not be dropped.
``agent_storage_unavailable``
                       ``await unavailable(storage) -> Storage``: the hook for the "database
                       locked or gone" case (``test_backend_errors.py``). Make ``storage``'s
                       database unavailable (delete its table, corrupt its file, point at a
                       port nothing listens on...) and return a NEW, not yet initialised
                       Storage on it (the kit closes it); every call on it must fail quickly
                       with a typed error. Provide it in your test config; without it the
                       case is skipped, with that reason.

Marker ``@pytest.mark.agent_storage_requires("indexes", ...)`` skips a test, with the reason,
on a backend that does not declare the capability. Only names of
:data:`agent_storage.CAPABILITIES` are accepted: required behaviour cannot be skipped.

``pytest --agent-storage-url=URL`` with no test paths runs the whole kit; so does
``pytest --pyargs agent_storage.testing.suites --agent-storage-url=URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from ..storage import Storage

# Suites and helpers are plain modules of an installed package: have pytest rewrite their
# asserts so a failing case shows the values, also when imported into a project's tests.
pytest.register_assert_rewrite("agent_storage.testing.suites", "agent_storage.testing._helpers")

F = TypeVar("F", bound=Callable[..., Any])

try:  # strict-mode projects need async fixtures marked as such
    import pytest_asyncio

    _fixture: Any = pytest_asyncio.fixture(loop_scope="function")
except ImportError:  # pragma: no cover - the kit needs agent-storage[testing]
    _fixture = pytest.fixture


def _async_fixture(fn: F) -> F:
    return cast(F, _fixture(fn))

OPTION = "--agent-storage-url"
ENV_URL = "AGENT_STORAGE_TEST_URL"
DEFAULT_URL = "memory://"
MARKER = "agent_storage_requires"
SUITES_DIR = Path(__file__).resolve().parent / "suites"

StorageFactory = Callable[..., Awaitable["Storage"]]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agent-storage", "agent-storage conformance kit")
    group.addoption(
        OPTION,
        dest="agent_storage_url",
        default=None,
        metavar="URL",
        help=f"store URL the conformance kit runs against (default ${ENV_URL} or {DEFAULT_URL}); "
        "given without test paths, runs the whole kit",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*capabilities): skip unless the backend declares every capability "
        "(names from agent_storage.CAPABILITIES)",
    )
    url = config.getoption("agent_storage_url")
    if url:
        _check_url(url)
        # `pytest --agent-storage-url=URL` alone means "run the contract against URL".
        if not config.getoption("file_or_dir"):
            config.args = [str(SUITES_DIR)]
            config.args_source = pytest.Config.ArgsSource.ARGS


def _check_url(url: str) -> None:
    """Refuse a URL no backend can open once, instead of failing every case."""
    from .._cache import plan_store
    from ..errors import ConfigurationError

    try:
        plan_store(url, {})  # parses, finds the backend, validates options; builds nothing
    except ConfigurationError as exc:
        raise pytest.UsageError(f"{OPTION}: {exc}") from None


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def agent_storage_url(pytestconfig: pytest.Config) -> str:
    """The URL under test: ``--agent-storage-url``, ``$AGENT_STORAGE_TEST_URL``, ``memory://``."""
    url = pytestconfig.getoption("agent_storage_url") or os.environ.get(ENV_URL) or DEFAULT_URL
    return str(url)


def new_table_prefix() -> str:
    """A short unique table prefix: long names would pass PostgreSQL's 63-byte limit."""
    return f"k{uuid.uuid4().hex[:12]}"


DropStore = Callable[["Storage"], Awaitable[None]]
#: Stores the default teardown hook could not drop, by backend class (the run's summary).
_not_dropped: dict[str, int] = {}


@pytest.fixture
def agent_storage_drop_store() -> DropStore:
    """The teardown hook: drop what a store created (default: ``Backend.drop_store()`` of
    each of its backends; a backend that cannot is counted in the run's summary)."""
    from ..errors import AgentStorageError, NotSupportedError

    async def drop(store: Storage) -> None:
        for backend in store.backends.values():
            try:
                await backend.drop_store()
            except (NotSupportedError, AgentStorageError):  # e.g. a test broke its store
                name = type(backend).__name__
                _not_dropped[name] = _not_dropped.get(name, 0) + 1

    return drop


@pytest.fixture
def agent_storage_unavailable() -> Callable[[Storage], Awaitable[Storage]]:
    """Override in your test config: ``await unavailable(storage)`` returns a store on
    the same target whose database is locked or gone (see the module docstring)."""
    pytest.skip("the backend's test config provides no agent_storage_unavailable fixture "
                "(a store whose database is locked or gone)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _not_dropped:
        which = ", ".join(f"{n} of {name}" for name, n in sorted(_not_dropped.items()))
        terminalreporter.write_line(
            f"agent-storage kit: could not drop {which} stores it made (drop_store() not "
            "supported or failed): implement Backend.drop_store or override the "
            "agent_storage_drop_store fixture")


@_async_fixture
async def storage_factory(
    agent_storage_url: str, agent_storage_drop_store: DropStore
) -> AsyncIterator[StorageFactory]:
    """``await storage_factory(**options)``: a fresh isolated store, initialised unless
    ``disable_init=True``; every store it made is dropped (``agent_storage_drop_store``)
    and closed at teardown."""
    from .. import open_store

    made: list[Storage] = []

    async def factory(**options: Any) -> Storage:
        options.setdefault("table_prefix", new_table_prefix())
        store = open_store(agent_storage_url, fresh=True, **options)
        made.append(store)
        if not options.get("disable_init", False):
            await store.init()
        return store

    yield factory
    await _close_all(made, agent_storage_drop_store)


@_async_fixture
async def storage(storage_factory: StorageFactory) -> Storage:
    """A fresh, initialised store from ``storage_factory``."""
    return await storage_factory()


@pytest.fixture
def capabilities(storage: Storage) -> frozenset[str]:
    """Capabilities declared by the backend serving ``storage``."""
    return frozenset(storage.backend.capabilities)


@_async_fixture
async def reopen_store() -> AsyncIterator[Callable[..., Storage]]:
    """``reopen_store(storage, **overrides)``: a second Storage on the same target."""
    made: list[Storage] = []

    def reopen(store: Storage, **overrides: Any) -> Storage:
        from ._helpers import reopen as _reopen

        other = _reopen(store, **overrides)
        made.append(other)
        return other

    yield reopen
    await _close_all(made)


async def _close_all(stores: list[Storage], drop: DropStore | None = None) -> None:
    """Drop (if asked) and close every store; report the first error after trying all."""
    errors: list[BaseException] = []
    for store in reversed(stores):
        try:
            if drop is not None and not store.closed:
                await drop(store)
        except Exception as exc:  # a test may have broken its store: still close it
            errors.append(exc)
        try:
            await store.close()
        except Exception as exc:  # close the others, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture(autouse=True)
def _agent_storage_requires(request: pytest.FixtureRequest) -> Iterator[None]:
    """Skip a test marked ``agent_storage_requires`` when a capability is not declared."""
    wanted: list[str] = []
    for mark in request.node.iter_markers(MARKER):
        wanted.extend(mark.args)
    if wanted:
        from ..backend import CAPABILITIES

        unknown = sorted(set(wanted) - CAPABILITIES)
        if unknown:
            raise pytest.UsageError(
                f"{MARKER}: unknown capabilities {unknown}; expected names from "
                f"{sorted(CAPABILITIES)} (required behaviour cannot be skipped)"
            )
        declared = request.getfixturevalue("capabilities")
        for name in wanted:
            if name not in declared:
                pytest.skip(f"backend does not declare capability {name}")
    yield
