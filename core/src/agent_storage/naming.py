"""Physical names: schema, table prefix, table and index names, identifier checks.

Every identifier that reaches SQL passes :func:`check_identifier` and is quoted by the
SQL layer. Names are checked after prefixing: PostgreSQL silently truncates identifiers
longer than 63 bytes, which would make two long names collide.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidIdentifierError

__all__ = [
    "DOMAIN_NAMES",
    "LOGICAL_TABLES",
    "MAX_IDENTIFIER_BYTES",
    "check_identifier",
    "index_name",
    "qualified_name",
    "quote_identifier",
    "quote_name",
    "table_name",
]

MAX_IDENTIFIER_BYTES: Final = 63
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: The five domains of a Storage (re-exported by :mod:`agent_storage.domains`; defined here
#: so that Storage and open_store need not import the domain contracts).
DOMAIN_NAMES = ("memory", "workflows", "scores", "observability", "agents")

#: Logical table names, as used by IndexSpec.table and the CLI.
LOGICAL_TABLES: Final = (
    "threads",
    "messages",
    "resources",
    "workflow_runs",
    "scores",
    "spans",
    "agents",
    "agent_versions",
)


def check_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise InvalidIdentifierError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidIdentifierError(
            f"{what} {name!r} is not a valid identifier: use letters, digits and '_', "
            "starting with a letter or '_'"
        )
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifierError(
            f"{what} {name!r} is {len(name.encode())} bytes; at most {MAX_IDENTIFIER_BYTES} "
            "are allowed (PostgreSQL would silently truncate it)"
        )
    return name


def table_name(table_prefix: str, logical: str) -> str:
    """``{table_prefix}_{logical}``, checked."""
    return check_identifier(f"{table_prefix}_{logical}" if table_prefix else logical, "table name")


def index_name(name: str, schema: str | None = None) -> str:
    """Physical index name: ``{schema}_{name}`` when the schema is not ``public``."""
    check_identifier(name, "index name")
    if schema and schema != "public":
        return check_identifier(f"{schema}_{name}", "index name")
    return name


def quote_name(name: str) -> str:
    """Double-quote an SQL identifier, doubling any embedded quote: the one quoting
    function of agent-storage (every other quoting helper calls it)."""
    if not name or "\x00" in name:
        raise InvalidIdentifierError(f"cannot quote identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_identifier(name: str) -> str:
    """``name`` checked and quoted (:func:`quote_name`) for hand-written statements. Only
    the alphabet of :func:`check_identifier` is accepted (InvalidIdentifierError
    otherwise); the length is checked where names are built (PostgreSQL's limit is no
    concern of SQLite's backup names)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        check_identifier(name, "identifier")  # raises with the usual message
    return quote_name(name)


def qualified_name(name: str, schema: str | None = None) -> str:
    """``"schema"."name"`` (or ``"name"`` without a schema), each part quoted."""
    table = quote_identifier(name)
    return f"{quote_identifier(schema)}.{table}" if schema else table
