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

__all__ = ["SECRET_OPTIONS", "StoreURL", "is_secret_option", "parse_url", "redact",
           "secrets_in_text"]

_MASK = "***"

#: Option names that are always secret. A backend adds its own with
#: ``Backend.secret_options``; names containing one of :data:`_SECRET_WORDS` are secret too
#: (so a URL is masked correctly even before its backend is known, e.g. in CLI errors).
SECRET_OPTIONS: frozenset[str] = frozenset({"password"})
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "api_key", "apikey",
                 "access_key", "private_key")


def is_secret_option(name: str, declared: frozenset[str] = frozenset()) -> bool:
    """Whether the option ``name`` holds a secret (its value is never shown)."""
    lowered = name.lower()
    return (lowered in SECRET_OPTIONS or name in declared
            or any(word in lowered for word in _SECRET_WORDS))


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
    #: Option names the backend declares secret, beyond :data:`SECRET_OPTIONS`.
    secret_options: frozenset[str] = field(default=frozenset(), eq=False)

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
            text += "?" + "&".join(
                f"{quote(k)}={_MASK if hide_password and self.is_secret(k) else quote(v)}"
                for k, v in self.query.items())
        return text

    def is_secret(self, option: str) -> bool:
        """Whether the query option ``option`` holds a secret for this URL's backend."""
        return is_secret_option(option, self.secret_options)

    def secrets(self) -> tuple[str, ...]:
        """Every secret this URL holds (password, secret query options): for scrubbing."""
        found = [self.password] if self.password else []
        found += [v for k, v in self.query.items() if v and self.is_secret(k)]
        return tuple(found)

    def with_secret_options(self, names: frozenset[str]) -> StoreURL:
        """This URL, also masking the query options ``names`` (a backend's secrets)."""
        return evolve(self, secret_options=self.secret_options | names)

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
    return redact(message, secrets_in_text(url))


def secrets_in_text(text: str) -> list[str]:
    """The secrets of a URL given as text, even one that does not parse: the userinfo
    password and the values of secret query options, as written and decoded."""
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
        password, query = parts.password, parts.query
    except ValueError:
        # unparsable URL: the userinfo password between '://user:' and '@' by hand
        rest = text.partition("://")[2]
        userinfo = rest.rpartition("@")[0]
        password = userinfo.partition(":")[2] if ":" in userinfo else None
        query = rest.partition("?")[2]
    found = [password] if password else []
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if v and is_secret_option(k)]
    # both as written (percent-encoded) and decoded: a driver may echo either
    return list(dict.fromkeys([s for f in found for s in (f, unquote(f)) if s]))


def redact(text: str, secrets: Any) -> str:
    """Replace every secret (str) in ``text`` by a mask; used by error and log paths."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
            text = text.replace(quote(secret, safe=""), _MASK)
    return text
