"""Driver errors -> agent-storage errors, with passwords scrubbed from every message.

A lost connection, a server that is restarting, a pool timeout, a deadlock or a
serialization failure is :class:`TransientBackendError` (safe to retry); a data exception
(SQLSTATE class 22, e.g. NUL in text) is :class:`ValidationError`; everything else is
:class:`BackendError`. The original exception is always kept as ``__cause__`` by the caller
(``raise translate(exc) from exc``).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterable, Iterator
from typing import Final

from agent_storage.errors import (
    AgentStorageError,
    BackendError,
    TransientBackendError,
    ValidationError,
)
from agent_storage.url import redact

__all__ = ["connection_lost", "is_transient", "sqlstate_of", "translate"]

#: SQLSTATE classes and codes that a retry can cure.
_TRANSIENT_CLASSES: Final = ("08", "40", "53")  # connection, rollback (deadlock), resources
_TRANSIENT_CODES: Final = frozenset({
    "57P01",  # admin_shutdown (server restarting, pg_terminate_backend)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (server starting up)
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
})
_NETWORK_ERRNOS: Final = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ENETUNREACH,
    errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.EPIPE,
})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (SQLAlchemy's ``.orig``, then causes), without loops."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for nxt in (getattr(item, "orig", None), item.__cause__, item.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def sqlstate_of(exc: BaseException) -> str | None:
    for item in _chain(exc):
        code = getattr(item, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return None


def _root(exc: BaseException) -> BaseException:
    """The innermost driver error (asyncpg's own exception when there is one)."""
    root = exc
    for item in _chain(exc):
        if type(item).__module__.startswith("asyncpg"):
            return item
        root = item
    return root


def connection_lost(exc: BaseException) -> bool:
    """The connection itself failed (closed, reset, terminated by the server, or left
    mid-protocol: asyncpg's "another operation is in progress"): the statement did not
    run to completion on it, and another connection may succeed."""
    code = sqlstate_of(exc)
    if code and (code.startswith("08") or code in {"57P01", "57P02", "57P03"}):
        return True
    for item in _chain(exc):
        if type(item).__name__ in {"ConnectionDoesNotExistError", "ConnectionFailureError",
                                   "InterfaceError", "InternalClientError"}:
            return True
        if isinstance(item, ConnectionError) or (
            isinstance(item, OSError) and item.errno in _NETWORK_ERRNOS
        ):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    import sqlalchemy.exc as sa_exc

    code = sqlstate_of(exc)
    if code and (code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES):
        return True
    chain = list(_chain(exc))
    if any(type(item).__name__ == "ClientConfigurationError" for item in chain):
        return False  # e.g. a missing root certificate: retrying cannot help
    for item in chain:
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return True
        if isinstance(item, sa_exc.TimeoutError | asyncio.TimeoutError | TimeoutError):
            return True  # pool checkout timeout or connect timeout
        if isinstance(item, ConnectionError | socket.gaierror) or (
            isinstance(item, OSError) and item.errno in _NETWORK_ERRNOS
        ):
            # refused, reset, unreachable; a server refusing SSL will refuse it again
            return "SSL" not in str(item)
        name = type(item).__name__
        if name in {"InternalClientError", "InterfaceError"} and (
            "another operation" in str(item)
        ):
            # a connection left mid-protocol by a dropped server (raised unwrapped on the
            # direct asyncpg path); the statement did not complete, another connection may
            return True
        if name in {"ConnectionDoesNotExistError", "InvalidCachedStatementError",
                    "ConnectionFailureError", "InterfaceError"} and (
            name != "InterfaceError" or "connection is closed" in str(item)
        ):
            return True
    return False


def translate(exc: BaseException, secrets: Iterable[str | None] = ()) -> AgentStorageError:
    """The agent-storage error for driver error ``exc`` (raise it ``from exc``)."""
    if isinstance(exc, AgentStorageError):
        return exc
    root = _root(exc)
    code = sqlstate_of(exc)
    detail = str(root).strip() or type(root).__name__
    text = f"{type(root).__name__}: {detail}" + (f" (SQLSTATE {code})" if code else "")
    text = redact(text, [s for s in secrets if s])
    if is_transient(exc):
        return TransientBackendError(f"PostgreSQL unavailable, safe to retry: {text}")
    if (code and code.startswith("22")) or any(
        isinstance(item, UnicodeError) for item in _chain(exc)
    ):  # NUL or a lone surrogate that slipped past validation: the value is at fault
        return ValidationError(f"PostgreSQL refused a value: {text}")
    return BackendError(f"PostgreSQL error: {text}")
