"""Validated options: :class:`StoreOptions`, :class:`Retention` and :class:`IndexSpec`.

Options come from keyword arguments of :func:`~agent_storage.open_store` and from URL
query parameters (strings, coerced here); keyword arguments win. Every error names the
field it is about.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from attrs import field, frozen

from .errors import ConfigurationError, InvalidIndexSpecError
from .naming import LOGICAL_TABLES, check_identifier

__all__ = ["TTL_ENTITIES", "IndexSpec", "Retention", "StoreOptions", "build_options"]

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


def _identifier_or_none(what: str) -> Any:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None:
            check_identifier(value, what)

    return check


def _retention(value: Any) -> Retention:
    if value is None:
        return Retention()
    if isinstance(value, Mapping):
        return Retention(**value)
    if not isinstance(value, Retention):
        raise ConfigurationError(f"retention: expected Retention, got {type(value).__name__}")
    return value


def _ssl_value(_inst: Any, _attr: Any, value: Any) -> None:
    modes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
    if value is None or isinstance(value, bool) or value in modes:
        return
    import ssl as _ssl  # only for an SSLContext (or a bad value): ssl takes ~10 ms to import

    if isinstance(value, _ssl.SSLContext):
        return
    raise ConfigurationError(f"ssl: expected a bool, an SSLContext or one of {sorted(modes)}")


def _positive_number(_inst: Any, attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{attr.name}: expected a positive number, got {value!r}")


def _port(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536
    ):
        raise ConfigurationError(f"port: expected 1..65535, got {value!r}")


def _bool(_inst: Any, attr: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attr.name}: expected a bool, got {value!r}")


def _opt_str(_inst: Any, attr: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{attr.name}: expected a string, got {type(value).__name__}")


@frozen(kw_only=True, repr=False)
class StoreOptions:
    """Every option a store accepts; a backend refuses the ones it does not use."""

    table_prefix: str = field(
        default="agent_storage", validator=_identifier_or_none("table_prefix")
    )
    schema: str | None = field(default=None, validator=_identifier_or_none("schema"))
    indexes: tuple[IndexSpec, ...] = field(factory=tuple, converter=_indexes)
    skip_default_indexes: bool = field(default=False, validator=_bool)
    disable_init: bool = field(default=False, validator=_bool)
    retention: Retention = field(factory=Retention, converter=_retention)
    debug: bool = field(default=False, validator=_bool)
    # SQL connection (pg; sqlite uses pool_size/pool_timeout too)
    host: str | None = field(default=None, validator=_opt_str)
    port: int | None = field(default=None, validator=_port)
    database: str | None = field(default=None, validator=_opt_str)
    user: str | None = field(default=None, validator=_opt_str)
    password: str | None = field(default=None, validator=_opt_str)
    ssl: Any = field(default=None, validator=_ssl_value)
    pool_size: int | None = field(default=None, validator=_positive_or_none)
    pool_timeout: float | None = field(default=None, validator=_positive_number)
    engine: Any = None
    # DynamoDB
    region: str | None = field(default=None, validator=_opt_str)
    endpoint_url: str | None = field(default=None, validator=_opt_str)
    create_table: bool = field(default=False, validator=_bool)
    ttl_attribute: str = field(default="ttl", validator=_identifier_or_none("ttl_attribute"))
    # Semantic recall (docs/recall.md): the Embedder, the text hook, no approximate index.
    embedder: Any = None
    embed_text: Any = None
    exact_search: bool = field(default=False, validator=_bool)
    # Backend-specific options of third-party plugins, checked by the plugin.
    extra: Mapping[str, Any] = field(factory=dict)

    def given(self) -> dict[str, Any]:
        """Options that differ from their defaults (for error messages and cache keys)."""
        defaults = StoreOptions()
        return {
            a.name: getattr(self, a.name)
            for a in attrs.fields(StoreOptions)
            if getattr(self, a.name) != getattr(defaults, a.name)
        }

    def __repr__(self) -> str:
        from .url import is_secret_option

        shown = {k: ("***" if is_secret_option(k) else v) for k, v in self.given().items()}
        return "StoreOptions(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


#: Options every backend accepts.
COMMON_OPTIONS: Final = frozenset(
    {"table_prefix", "indexes", "skip_default_indexes", "disable_init", "retention", "debug",
     "embedder", "embed_text", "exact_search"}
)
_FIELDS: Final = {a.name: a for a in attrs.fields(StoreOptions)}
_BOOL_TEXT: Final = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _coerce(name: str, text: str) -> Any:
    """Turn a URL query string into the option's type."""
    if name in {"skip_default_indexes", "disable_init", "debug", "create_table", "exact_search"}:
        if text.lower() not in _BOOL_TEXT:
            raise ConfigurationError(f"{name}: expected true/false, got {text!r}")
        return _BOOL_TEXT[text.lower()]
    if name in {"port", "pool_size"}:
        try:
            return int(text)
        except ValueError:
            raise ConfigurationError(f"{name}: expected an integer, got {text!r}") from None
    if name == "pool_timeout":
        try:
            return float(text)
        except ValueError:
            raise ConfigurationError(f"{name}: expected a number, got {text!r}") from None
    if name == "ssl":
        return _BOOL_TEXT.get(text.lower(), text)
    if name in {"indexes", "retention", "engine", "extra", "embedder", "embed_text"}:
        raise ConfigurationError(f"{name}: cannot be given in the URL; pass it as a keyword")
    return text


def build_options(
    query: Mapping[str, str],
    keywords: Mapping[str, Any],
    *,
    backend: str,
    accepted: frozenset[str],
    extra_accepted: Sequence[str] = (),
) -> StoreOptions:
    """Merge URL query options and keyword options (keywords win) into StoreOptions.

    ``accepted`` lists the StoreOptions fields the backend uses beyond COMMON_OPTIONS;
    ``extra_accepted`` names backend-specific options kept in ``StoreOptions.extra``.
    """
    allowed = COMMON_OPTIONS | accepted
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    merged: list[tuple[str, Any, bool]] = [(k, v, True) for k, v in query.items()]
    merged += [(k, v, False) for k, v in keywords.items()]
    for name, value, from_url in merged:
        if name in allowed:
            values[name] = _coerce(name, value) if from_url else value
        elif name in extra_accepted:
            extra[name] = value
        else:
            known = sorted(allowed | set(extra_accepted))
            where = "URL query parameter" if from_url else "option"
            hint = " (it belongs to another backend)" if name in _FIELDS else ""
            raise ConfigurationError(
                f"unknown {where} {name!r} for backend {backend!r}{hint}; "
                f"accepted: {', '.join(known)}"
            )
    try:
        return StoreOptions(**values, extra=extra)
    except TypeError as exc:  # attrs reports a wrong keyword this way
        raise ConfigurationError(str(exc)) from None
