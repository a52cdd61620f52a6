"""What several sub-commands share: exit codes, opening a store, argument types."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "json_parent", "key_value", "open_url",
           "positive_int", "use_store", "wire"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def open_url(url: str, *, read_only: bool = False, **options: Any) -> Any:
    """Open the store at ``url``; read-only commands never create a schema."""
    from .. import open_store
    from ..url import parse_url

    if read_only and "disable_init" not in parse_url(url).query:
        options.setdefault("disable_init", True)
    return open_store(url, **options)


async def use_store(url: str, body: Callable[[Any], Awaitable[int]], *,
                    read_only: bool = False) -> int:
    """Open the store at ``url``, run ``body(storage)``, close the store whatever happens.

    A read-only command never creates anything: a database that does not exist (a
    mistyped SQLite path) is "no database at PATH", and one without our schema says so
    in the user's terms (they never set ``disable_init``)."""
    from ..errors import SchemaNotInitializedError

    storage = open_url(url, read_only=read_only)
    try:
        if read_only and not await storage.backend.exists():
            raise SchemaNotInitializedError(
                f"no database at {storage.backend.location()} (nothing was created): check "
                f"the path, or create it with `agent-storage init {storage.url}`")
        try:
            return await body(storage)
        except SchemaNotInitializedError:
            if not read_only or "disable_init" in open_url_query(url):
                raise
            raise SchemaNotInitializedError(
                f"no agent-storage tables in {storage.backend.location()} (this command "
                f"only reads, so nothing was created): run `agent-storage init {storage.url}` "
                "first") from None
    finally:
        await storage.close()


def open_url_query(url: str) -> Any:
    """The query options of ``url`` (empty when it does not parse: opening reports that)."""
    from ..errors import AgentStorageError
    from ..url import parse_url

    try:
        return parse_url(url).query
    except AgentStorageError:
        return {}


def json_parent() -> Any:
    """A parent parser with the common ``--json`` flag (for nested actions)."""
    from ._parser import Parser

    parent = Parser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON")
    return parent


def key_value(text: str) -> tuple[str, Any]:
    """argparse type: ``KEY=VALUE``, the value read as int, float or bool when it is one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parsed: Any = value
    for convert in (int, float):
        try:
            parsed = convert(value)
            break
        except ValueError:
            continue
    if value.lower() in {"true", "false"}:
        parsed = value.lower() == "true"
    return key, parsed


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def wire(record: Any) -> Any:
    """A record as JSON-able data (the wire form of :mod:`agent_storage.serde`)."""
    from ..serde import to_wire

    return to_wire(record)
