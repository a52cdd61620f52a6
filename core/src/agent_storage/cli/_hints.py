"""What to check next, appended to an error the user can fix on their side (a server that
is not running, a database that does not exist)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["what_to_check"]

_REFUSED = ("connection refused", "connect call failed", "could not connect",
            "cannot connect", "errno 111", "name or service not known")
_NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def _pg_target(argv: Sequence[str]) -> tuple[str, int] | None:
    """Host and port of the first PostgreSQL URL among the arguments."""
    from ..errors import AgentStorageError
    from ..url import parse_url

    for arg in argv:
        if arg.split("://", 1)[0].startswith("postgres"):
            try:
                url = parse_url(arg)
            except AgentStorageError:
                return None
            return url.host or "localhost", url.port or 5432
    return None


def what_to_check(message: str, argv: Sequence[str]) -> str:
    """``"; <what to check>"`` for errors with a known cause, else ``""``."""
    target = _pg_target(argv)
    if target is None:
        return ""
    host, port = target
    missing = _NO_DATABASE.search(message)
    if missing:
        return (f"; create the database with `createdb -h {host} -p {port} {missing.group(1)}`"
                " (or CREATE DATABASE), then run the command again")
    if any(words in message.lower() for words in _REFUSED):
        return (f"; is PostgreSQL running and reachable at {host}:{port}? "
                f"check with `pg_isready -h {host} -p {port}`")
    return ""
