"""The backend SPI (``agent_storage.spi``): its names are pinned, every primitive of every
domain is documented (docstring and docs/backends.md), and importing it stays light."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import agent_storage.spi as spi

ROOT = Path(__file__).resolve().parents[2]

PINNED = [
    "CAPABILITIES", "COLLECTIONS", "DOMAIN_NAMES", "THREAD_ORDER_FIELDS", "TOP", "TTL_CLOCK",
    "TTL_ENTITIES", "Delete", "Item", "Put", "RecordBackend",
    "AgentNotFoundError", "AgentStorageError", "AgentsDomain", "Backend", "BackendError",
    "CloneRequest", "ConfigurationError", "Domain", "ErrorRule", "IndexColumn",
    "IndexManager", "IndexNotFoundError", "IndexSpec", "InvalidIdentifierError",
    "InvalidIndexSpecError", "Jitter", "MemoryDomain", "MessageSelect", "NotSupportedError",
    "ObservabilityDomain", "Ordered", "ParsedIndex", "Predicate", "RecordTooLargeError",
    "RegisterBackend", "Retention", "RetryPolicy", "RunFilter", "RunNotFoundError",
    "SchemaNotInitializedError", "ScoreFilter", "ScoresDomain", "StorageClosedError",
    "StoreOptions", "StoreURL", "ThreadFilter", "ThreadNotFoundError", "ThreadQuery",
    "ThreadSelect", "TraceFilter", "TransientBackendError", "ValidationError",
    "WorkflowsDomain", "check_choice", "check_direction", "check_id", "check_identifier",
    "check_json", "check_page", "check_text", "dumps", "fetch_page", "format_datetime",
    "from_wire", "hookimpl", "id_list", "index_name", "is_expired", "json_eq", "loads",
    "make_page", "metadata_filter", "metadata_matches", "opt_id", "opt_time",
    "parse_datetime", "parse_index", "parse_where", "public", "quote_ident",
    "render_create", "render_drop", "render_predicate", "str_set", "table_name", "to_utc",
    "to_wire", "translate_error", "trusted", "ttl_cutoff", "utcnow",
]

DOMAINS = (spi.MemoryDomain, spi.WorkflowsDomain, spi.ScoresDomain, spi.ObservabilityDomain,
           spi.AgentsDomain)

#: Primitives with a default a backend may override for speed (not abstract).
OVERRIDABLE = {"MemoryDomain": ("_last_messages", "_bulk_save_threads")}


def primitives(cls: type) -> list[str]:
    names = [n for n, f in vars(cls).items() if getattr(f, "__isabstractmethod__", False)]
    return sorted([*names, *OVERRIDABLE.get(cls.__name__, ())])


def test_all_is_pinned() -> None:
    assert sorted(spi.__all__) == sorted(PINNED)
    assert len(set(spi.__all__)) == len(spi.__all__)
    for name in spi.__all__:
        assert getattr(spi, name) is not None, name


def test_every_primitive_has_a_docstring() -> None:
    missing = [f"{cls.__name__}.{name}" for cls in DOMAINS for name in primitives(cls)
               if not inspect.getdoc(getattr(cls, name))]
    assert missing == []
    assert sum(len(primitives(cls)) for cls in DOMAINS) > 40


def test_backends_page_documents_every_primitive() -> None:
    page = (ROOT / "docs" / "backends.md").read_text()
    missing = [f"{cls.__name__}.{name}" for cls in DOMAINS for name in primitives(cls)
               if f"`{name}(" not in page]
    assert missing == []


def test_readme_backend_guide_points_to_the_page() -> None:
    assert "docs/backends.md" in (ROOT / "README.md").read_text()


def test_metadata_matching_compares_as_a_database_does() -> None:
    assert spi.metadata_matches({"a": 1}, {"a": 1.0})
    assert not spi.metadata_matches({"a": True}, {"a": 1})
    assert not spi.metadata_matches({"a": "1"}, {"a": 1})
    assert not spi.metadata_matches({}, {"a": None})
    assert spi.metadata_matches({"x": 1}, None)


def test_translate_error_keeps_typed_errors_and_hides_secrets() -> None:
    typed = spi.ValidationError("bad")
    assert spi.translate_error(typed) is typed
    rules = [(TimeoutError, spi.TransientBackendError)]
    err = spi.translate_error(TimeoutError("pw S3cret"), rules, secrets=["S3cret", None])
    assert type(err) is spi.TransientBackendError
    assert str(err) == "TimeoutError: pw ***"
    assert type(spi.translate_error(KeyError("k"))) is spi.BackendError


def test_importing_the_spi_loads_no_driver() -> None:
    code = ("import sys, json, agent_storage.spi; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                           capture_output=True, text=True).stdout))
    heavy = {"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "aiobotocore", "botocore"}
    assert not heavy & loaded
