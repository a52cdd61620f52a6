"""The public surface: ``agent_storage.__all__`` is pinned, and importing it stays light."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import agent_storage
import pytest
from agent_storage import errors, records

PUBLIC = [
    "CAPABILITIES",
    "UNSET",
    "AgentConfig",
    "AgentNotFoundError",
    "AgentStorageError",
    "AgentVersion",
    "Backend",
    "BackendError",
    "BackupNotFoundError",
    "ConfigurationError",
    "DomainNotAvailableError",
    "DuplicateSchemeError",
    "Embedder",
    "EmbedderMismatchError",
    "EmbeddingError",
    "Include",
    "IndexInfo",
    "IndexManager",
    "IndexNotFoundError",
    "IndexSpec",
    "IndexStats",
    "InvalidIdentifierError",
    "InvalidIndexSpecError",
    "InvalidURLError",
    "Message",
    "MessageUpdate",
    "MigrationError",
    "MigrationReport",
    "NotFoundError",
    "NotJSONError",
    "NotSupportedError",
    "Page",
    "Recall",
    "RecordTooLargeError",
    "Resource",
    "Retention",
    "RunNotFoundError",
    "SchemaNotInitializedError",
    "Score",
    "ScoredMessage",
    "Span",
    "SpanUpdate",
    "Storage",
    "StorageClosedError",
    "StoreOptions",
    "StoreStatus",
    "StoreURL",
    "Thread",
    "ThreadNotFoundError",
    "ThreadStats",
    "Trace",
    "TransientBackendError",
    "UnknownBackendError",
    "ValidationError",
    "WorkflowRun",
    "__version__",
    "close_all",
    "hookimpl",
    "hookspec",
    "open_store",
    "parse_url",
]

#: Drivers and heavy libraries: a backend imports them when it is used, never before.
HEAVY = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "botocore", "aiobotocore", "boto3",
         "rich", "pytest", "hypothesis", "moto")


def test_all_is_pinned() -> None:
    assert agent_storage.__all__ == PUBLIC  # sorted, and exactly these names


def test_every_public_name_exists_and_is_from_agent_storage() -> None:
    for name in PUBLIC:
        value = getattr(agent_storage, name)
        module = getattr(value, "__module__", None)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert module is not None and module.startswith(("agent_storage", "pluggy")), name


def test_every_record_and_error_is_public() -> None:
    """DESIGN: records, options and errors are all importable from agent_storage itself."""
    assert set(records.__all__) <= set(PUBLIC)
    assert set(errors.__all__) <= set(PUBLIC)
    for name in errors.__all__:
        assert issubclass(getattr(agent_storage, name), agent_storage.AgentStorageError)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from agent_storage import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(PUBLIC)


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("code", [
    "import agent_storage",
    "from agent_storage import *",
    # discovering every installed plugin must not import a driver either
    "from agent_storage._plugins import registry; registry()",
    # opening a store (no connection yet) imports only the chosen backend's modules
    "from agent_storage import open_store; open_store('memory://')",
])
def test_import_does_not_pull_drivers(code: str) -> None:
    assert _heavy(_modules_after(code)) == []


def test_cli_help_and_backends_import_no_driver() -> None:
    loaded = _modules_after(
        "import contextlib, io\nfrom agent_storage.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--plain', 'backends'])"
    )
    assert _heavy(loaded) == []


def test_version_is_a_string() -> None:
    assert isinstance(agent_storage.__version__, str)
    assert agent_storage.__version__.count(".") >= 2
