"""Validated options: :class:`StoreOptions`, :class:`Retention` and :class:`IndexSpec`.

Options come from keyword arguments of :func:`~agent_storage.open_store` and from URL
query parameters (strings, coerced here); keyword arguments win. Every error names the
field it is about.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from attrs import field, frozen

from .errors import ConfigurationError, InvalidIndexSpecError
from .naming import LOGICAL_TABLES, check_identifier

__all__ = ["COMMON_OPTIONS", "TTL_ENTITIES", "IndexSpec", "Retention", "SqlOptions",
           "StoreOptions", "bool_text", "build_options", "flag", "float_text",
           "identifier_or_none", "int_text", "option", "optional_text", "port_number",
           "positive_int_or_none", "positive_number", "secret_fields", "url_options"]

#: Entities that ``Retention.ttl`` may name.
TTL_ENTITIES: Final = frozenset(
    {"threads", "messages", "resources", "workflow_runs", "scores", "spans"}
)


def _positive_or_none(_inst: Any, attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attr.name}: expected a positive int or None, got {value!r}")


def _ttl_map(value: Any) -> Mapping[str, _dt.timedelta]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"retention.ttl: expected a mapping, got {type(value).__name__}")
    result: dict[str, _dt.timedelta] = {}
    for key, ttl in value.items():
        if key not in TTL_ENTITIES:
            raise ConfigurationError(
                f"retention.ttl: unknown entity {key!r}; expected one of {sorted(TTL_ENTITIES)}"
            )
        if isinstance(ttl, int | float) and not isinstance(ttl, bool):
            ttl = _dt.timedelta(seconds=ttl)
        if not isinstance(ttl, _dt.timedelta) or ttl <= _dt.timedelta(0):
            raise ConfigurationError(f"retention.ttl[{key!r}]: expected a positive timedelta")
        result[key] = ttl
    return result


@frozen(kw_only=True)
class Retention:
    """What a store keeps.

    ``max_messages_per_thread``: after each ``save_messages`` the oldest messages beyond
    this count are deleted, inside the same transaction (opt-in; None keeps everything).
    ``ttl``: per entity (:data:`TTL_ENTITIES`), how long a record lives: messages, scores
    and spans from ``created_at``; threads, resources and workflow runs from
    ``updated_at``. Expired records are invisible to reads and count as missing for writes
    (saving messages to an expired thread raises ThreadNotFoundError) on every backend;
    DynamoDB also deletes them with its native TTL.
    """

    max_messages_per_thread: int | None = field(default=None, validator=_positive_or_none)
    ttl: Mapping[str, _dt.timedelta] = field(factory=dict, converter=_ttl_map)


def _column_tuple(value: Any) -> tuple[Any, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


_METHODS: Final = frozenset({"btree", "hash", "gin", "gist", "spgist", "brin"})


@frozen(kw_only=True)
class IndexSpec:
    """An index to create with ``storage.indexes.create``.

    ``table`` is a logical name (threads, messages, ...). A column is a column name with an
    optional ``ASC``/``DESC``, or a JSON path such as ``metadata->>'key'``. ``where`` is a
    small predicate grammar (column or JSON path, comparison, literal, AND/OR/NOT,
    IS [NOT] NULL). Everything is parsed and validated when the spec is built; an invalid
    spec raises :class:`~agent_storage.errors.InvalidIndexSpecError`.
    """

    name: str
    table: str
    columns: tuple[str, ...] = field(converter=_column_tuple)
    unique: bool = False
    where: str | None = None
    method: str = "btree"
    opclass: str | None = None
    storage: Mapping[str, Any] = field(factory=dict)
    concurrent: bool = True

    def __attrs_post_init__(self) -> None:
        self.parsed()  # validates eagerly so a bad spec never reaches a backend

    def parsed(self) -> Any:
        """The validated structure (``agent_storage._indexspec.ParsedIndex``)."""
        from . import _indexspec

        if self.table not in LOGICAL_TABLES:
            raise InvalidIndexSpecError(
                f"IndexSpec.table: unknown table {self.table!r}; "
                f"expected one of {list(LOGICAL_TABLES)}"
            )
        if self.method not in _METHODS:
            raise InvalidIndexSpecError(
                f"IndexSpec.method: {self.method!r} is not one of {sorted(_METHODS)}"
            )
        return _indexspec.parse_index(
            name=self.name,
            table=self.table,
            columns=self.columns,
            unique=self.unique,
            where=self.where,
            method=self.method,
            opclass=self.opclass,
            storage=self.storage,
        )


def _indexes(value: Any) -> tuple[IndexSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, IndexSpec):
        return (value,)
    items = tuple(value)
    for item in items:
        if not isinstance(item, IndexSpec):
            raise ConfigurationError(
                f"indexes: expected IndexSpec items, got {type(item).__name__}"
            )
    return items


def identifier_or_none(what: str) -> Any:
    """attrs validator: None or an identifier (:func:`agent_storage.naming.check_identifier`)."""
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None:
            check_identifier(value, what)

    return check


_identifier_or_none = identifier_or_none


def _retention(value: Any) -> Retention:
    if value is None:
        return Retention()
    if isinstance(value, Mapping):
        return Retention(**value)
    if not isinstance(value, Retention):
        raise ConfigurationError(f"retention: expected Retention, got {type(value).__name__}")
    return value


# -- validators and URL coercions for options classes (public: plugins use them) ----------


def positive_number(_inst: Any, attr: Any, value: Any) -> None:
    """attrs validator: None or a number > 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{attr.name}: expected a positive number, got {value!r}")


def port_number(_inst: Any, attr: Any, value: Any) -> None:
    """attrs validator: None or 1..65535."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536
    ):
        raise ConfigurationError(f"{attr.name}: expected 1..65535, got {value!r}")


def flag(_inst: Any, attr: Any, value: Any) -> None:
    """attrs validator: a bool."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attr.name}: expected a bool, got {value!r}")


def optional_text(_inst: Any, attr: Any, value: Any) -> None:
    """attrs validator: None or a string."""
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{attr.name}: expected a string, got {type(value).__name__}")


positive_int_or_none = _positive_or_none

_BOOL_TEXT: Final = {
    "1": True, "true": True, "yes": True, "on": True,
    "0": False, "false": False, "no": False, "off": False,
}


def bool_text(name: str, text: str) -> bool:
    """URL coercion: true/false, yes/no, on/off, 1/0."""
    if text.lower() not in _BOOL_TEXT:
        raise ConfigurationError(f"{name}: expected true/false, got {text!r}")
    return _BOOL_TEXT[text.lower()]


def int_text(name: str, text: str) -> int:
    """URL coercion: an integer."""
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(f"{name}: expected an integer, got {text!r}") from None


def float_text(name: str, text: str) -> float:
    """URL coercion: a number."""
    try:
        return float(text)
    except ValueError:
        raise ConfigurationError(f"{name}: expected a number, got {text!r}") from None


def _keyword_only(name: str, text: str) -> Any:
    raise ConfigurationError(f"{name}: cannot be given in the URL; pass it as a keyword")


Coerce = Callable[[str, str], Any]


def option(*, url: Coerce | None = None, keyword_only: bool = False, secret: bool = False,
           **kwargs: Any) -> Any:
    """An ``attrs`` field of an options class, with how a URL query string becomes its value
    (``url``: e.g. :func:`bool_text`; default: the string itself), whether it cannot be
    given in a URL at all (objects: engines, index specs), and whether it is secret
    (never shown: repr, URLs, errors)."""
    metadata = {"url": _keyword_only if keyword_only else url, "secret": secret}
    return field(metadata=metadata, **kwargs)


@frozen(kw_only=True, repr=False)
class StoreOptions:
    """The options every backend shares. A backend with options of its own declares a
    subclass as ``Backend.options_class`` (PostgreSQL: ``agent_storage_pg.options.PgOptions``,
    DynamoDB: ``agent_storage_dynamodb.options.DynamoDBOptions``); ``open_store`` builds
    that class, so ``storage.backend.options`` is typed per backend."""

    table_prefix: str = option(default="agent_storage",
                               validator=identifier_or_none("table_prefix"))
    indexes: tuple[IndexSpec, ...] = option(factory=tuple, converter=_indexes,
                                            keyword_only=True)
    skip_default_indexes: bool = option(default=False, validator=flag, url=bool_text)
    disable_init: bool = option(default=False, validator=flag, url=bool_text)
    retention: Retention = option(factory=Retention, converter=_retention, keyword_only=True)
    debug: bool = option(default=False, validator=flag, url=bool_text)
    # Semantic recall (docs/recall.md): the Embedder, the text hook, no approximate index.
    embedder: Any = option(default=None, keyword_only=True)
    embed_text: Any = option(default=None, keyword_only=True)
    exact_search: bool = option(default=False, validator=flag, url=bool_text)
    #: Options of third-party backends that still declare ``Backend.extra_options`` (kept
    #: for them; a new backend declares an ``options_class`` instead).
    extra: Mapping[str, Any] = option(factory=dict, keyword_only=True)

    def given(self) -> dict[str, Any]:
        """Options that differ from their defaults (for error messages and cache keys)."""
        defaults = type(self)()
        return {
            a.name: getattr(self, a.name)
            for a in attrs.fields(type(self))
            if getattr(self, a.name) != getattr(defaults, a.name)
        }

    def __repr__(self) -> str:
        secret = secret_fields(type(self))
        shown = {k: ("***" if k in secret else v) for k, v in self.given().items()}
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"{type(self).__name__}({args})"


@frozen(kw_only=True, repr=False)
class SqlOptions(StoreOptions):
    """Options of the SQL backends (SQLite; PostgreSQL adds its connection options)."""

    pool_size: int | None = option(default=None, validator=positive_int_or_none, url=int_text)
    pool_timeout: float | None = option(default=None, validator=positive_number,
                                        url=float_text)
    #: Your own SQLAlchemy ``AsyncEngine`` (not closed by the store).
    engine: Any = option(default=None, keyword_only=True)


#: Options every backend accepts.
COMMON_OPTIONS: Final = frozenset(a.name for a in attrs.fields(StoreOptions)) - {"extra"}


def secret_fields(options_class: type[StoreOptions]) -> frozenset[str]:
    """Fields of ``options_class`` that hold secrets (shown as ``***``)."""
    from .url import is_secret_option

    return frozenset(a.name for a in attrs.fields(options_class)
                     if a.metadata.get("secret") or is_secret_option(a.name))


def url_options(options_class: type[StoreOptions]) -> frozenset[str]:
    """Fields of ``options_class`` that may be given as URL query parameters."""
    return frozenset(a.name for a in attrs.fields(options_class)
                     if a.name != "extra" and a.metadata.get("url") is not _keyword_only)


def _coerce(attribute: Any, text: str) -> Any:
    """Turn a URL query string into the option's type."""
    convert = attribute.metadata.get("url")
    return text if convert is None else convert(attribute.name, text)


def build_options(
    query: Mapping[str, str],
    keywords: Mapping[str, Any],
    *,
    backend: str,
    options_class: type[StoreOptions] = StoreOptions,
    extra_accepted: Sequence[str] = (),
) -> StoreOptions:
    """Merge URL query options and keyword options (keywords win) into ``options_class``.

    ``extra_accepted`` names options of a third-party backend kept in ``options.extra``.
    An unknown option is refused naming the accepted ones (for a URL parameter, only
    those a URL can carry).
    """
    fields = {a.name: a for a in attrs.fields(options_class) if a.name != "extra"}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    merged: list[tuple[str, Any, bool]] = [(k, v, True) for k, v in query.items()]
    merged += [(k, v, False) for k, v in keywords.items()]
    for name, value, from_url in merged:
        if name in fields:
            values[name] = _coerce(fields[name], value) if from_url else value
        elif name in extra_accepted:
            extra[name] = value
        else:
            raise _unknown(name, from_url, backend, options_class, extra_accepted)
    try:
        return options_class(**values, extra=extra)
    except TypeError as exc:  # attrs reports a wrong keyword this way
        raise ConfigurationError(str(exc)) from None


def _unknown(name: str, from_url: bool, backend: str, options_class: type[StoreOptions],
             extra_accepted: Sequence[str]) -> ConfigurationError:
    from ._plugins import did_you_mean

    names = url_options(options_class) if from_url else frozenset(
        a.name for a in attrs.fields(options_class) if a.name != "extra")
    known = sorted(names | set(extra_accepted))
    where = "URL query parameter" if from_url else "option"
    if name in _ALL_KNOWN:
        hint = " (it belongs to another backend)"
    else:
        hint = did_you_mean(name, known)
    return ConfigurationError(
        f"unknown {where} {name!r} for backend {backend!r}{hint}; accepted: {', '.join(known)}"
    )


#: Options of the backends that ship with agent-storage, for the "another backend" hint.
_ALL_KNOWN: Final = frozenset({
    *COMMON_OPTIONS, "pool_size", "pool_timeout", "engine", "schema", "host", "port",
    "database", "user", "password", "ssl", "region", "endpoint_url", "create_table",
    "ttl_attribute", "batch_mode",
})
