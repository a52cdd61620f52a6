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


@_async_fixture
async def storage_factory(agent_storage_url: str) -> AsyncIterator[StorageFactory]:
    """``await storage_factory(**options)``: a fresh isolated store, initialised unless
    ``disable_init=True``; every store it made is closed at teardown."""
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
    await _close_all(made)


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


async def _close_all(stores: list[Storage]) -> None:
    errors: list[BaseException] = []
    for store in reversed(stores):
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
