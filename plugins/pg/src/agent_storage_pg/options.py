"""``PgOptions``: the options of the PostgreSQL backend (typed, validated at open_store).

Given as keyword arguments of ``open_store`` or URL query parameters (``?schema=tenant``);
``host``, ``port``, ``database``, ``user`` and ``password`` default to the URL's parts.
Importing this module imports no driver.
"""

from __future__ import annotations

from typing import Any

from agent_storage.errors import ConfigurationError
from agent_storage.options import (
    SqlOptions,
    bool_text,
    identifier_or_none,
    int_text,
    option,
    optional_text,
    port_number,
)
from attrs import frozen

__all__ = ["SSL_MODES", "PgOptions"]

#: libpq ``sslmode`` values accepted for ``ssl``.
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


def _ssl_value(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None or isinstance(value, bool) or value in SSL_MODES:
        return
    import ssl as _ssl  # only for an SSLContext (or a bad value): ssl takes ~10 ms to import

    if isinstance(value, _ssl.SSLContext):
        return
    raise ConfigurationError(f"ssl: expected a bool, an SSLContext or one of {sorted(SSL_MODES)}")


def _ssl_text(name: str, text: str) -> Any:
    """``?ssl=true`` / ``?ssl=require``: a bool when it reads as one, else the libpq mode."""
    try:
        return bool_text(name, text)
    except ConfigurationError:
        return text


@frozen(kw_only=True, repr=False)
class PgOptions(SqlOptions):
    """The common and SQL options plus PostgreSQL's connection options."""

    schema: str | None = option(default=None, validator=identifier_or_none("schema"))
    host: str | None = option(default=None, validator=optional_text)
    port: int | None = option(default=None, validator=port_number, url=int_text)
    database: str | None = option(default=None, validator=optional_text)
    user: str | None = option(default=None, validator=optional_text)
    password: str | None = option(default=None, validator=optional_text, secret=True)
    ssl: Any = option(default=None, validator=_ssl_value, url=_ssl_text)
