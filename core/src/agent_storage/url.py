"""Store URLs: ``scheme://user:password@host:port/database?option=value``.

:class:`StoreURL` keeps the parts; its ``repr``/``str`` never show the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from attrs import evolve, field, frozen

from .errors import InvalidURLError

__all__ = ["StoreURL", "parse_url"]

_MASK = "***"


@frozen(kw_only=True, repr=False)
class StoreURL:
    """A parsed store URL. ``query`` holds option strings; ``path`` is the raw path."""

    scheme: str
    username: str | None = None
    password: str | None = field(default=None, eq=False)
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: Mapping[str, str] = field(factory=lambda: MappingProxyType({}))

    @property
    def database(self) -> str | None:
        """The path without its leading slash (database name, file path or table name)."""
        return self.path[1:] if self.path.startswith("/") else (self.path or None)

    def render(self, *, hide_password: bool = True) -> str:
        netloc = ""
        if self.username is not None:
            netloc = quote(self.username, safe="")
            if self.password is not None:
                secret = _MASK if hide_password else quote(self.password, safe="")
                netloc += ":" + secret
            netloc += "@"
        if self.host:
            netloc += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            netloc += f":{self.port}"
        text = f"{self.scheme}://{netloc}{self.path}"
        if self.query:
            text += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in self.query.items())
        return text

    def without_query(self) -> StoreURL:
        return evolve(self, query=MappingProxyType({}))

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StoreURL({self.render()!r})"


def parse_url(url: str | StoreURL) -> StoreURL:
    """Parse ``url``; raises :class:`InvalidURLError` naming what is wrong (never the password)."""
    if isinstance(url, StoreURL):
        return url
    if not isinstance(url, str) or not url:
        raise InvalidURLError(f"store URL must be a non-empty string, got {type(url).__name__}")
    if "://" not in url:
        raise InvalidURLError(
            "store URL has no scheme: expected e.g. 'sqlite:///agent.db', "
            "'postgresql://user@host/db' or 'memory://'"
        )
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if not scheme or not all(c.isalnum() or c in "+-." for c in scheme):
        raise InvalidURLError(f"invalid URL scheme {scheme!r}")
    try:
        parts = urlsplit("x://" + rest)
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"cannot parse {scheme}:// URL: {_scrub(str(exc), url)}") from None
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in query:
            raise InvalidURLError(f"URL option {key!r} given twice")
        query[key] = value
    return StoreURL(
        scheme=scheme,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=_host_as_written(parts.netloc),
        port=port,
        path=unquote(parts.path),
        query=MappingProxyType(query),
    )


def _host_as_written(netloc: str) -> str | None:
    """The host with its case kept (``urlsplit().hostname`` lower-cases it, but a DynamoDB
    table or a memory store name is case-sensitive)."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal
        return host[1 : host.find("]")] or None
    return unquote(host.partition(":")[0]) or None


def _scrub(message: str, url: str) -> str:
    """Remove any password-looking part of ``url`` from ``message``."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return message.replace(password, _MASK) if password else message


def redact(text: str, secrets: Any) -> str:
    """Replace every secret (str) in ``text`` by a mask; used by error and log paths."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
            text = text.replace(quote(secret, safe=""), _MASK)
    return text
