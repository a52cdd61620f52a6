"""The backend SPI: everything a backend author needs, in one public module.

A backend is a :class:`Backend` subclass registered by a plugin (:func:`hookimpl` on
``register_backends``) whose :meth:`Backend.domain` returns one object per domain. A
domain object subclasses the domain contract (:class:`MemoryDomain`,
:class:`WorkflowsDomain`, :class:`ScoresDomain`, :class:`ObservabilityDomain`,
:class:`AgentsDomain`) and implements its primitives: the ``_``-prefixed abstract methods.
The public methods around them live in core: they validate arguments, wait for
``init()``, call the primitives and wrap driver errors (``_translate_error``, see
:func:`translate_error`). ``docs/backends.md`` documents every primitive.

Import from here, never from ``agent_storage._*`` or ``agent_storage.*._*`` modules: those
are private and change without notice; the names below are kept stable (extended, never
broken) and ``__all__`` is pinned by a test.

Groups of names:

* backend and plugin: :class:`Backend`, :class:`IndexManager`, :data:`CAPABILITIES`,
  :func:`hookimpl`, :class:`RegisterBackend`, :class:`StoreURL`, :class:`StoreOptions`,
  :class:`Retention`, :class:`IndexSpec`;
* domain contracts and their argument objects (``ThreadSelect``, ``MessageSelect``,
  ``ThreadFilter``, ``RunFilter``, ``ScoreFilter``, ``TraceFilter``, ``CloneRequest``,
  ``Ordered``) and the argument checks and paging helpers the contracts use;
* records: :func:`trusted` builds a record from stored values without re-validating;
* serde: :func:`dumps`/:func:`loads` (the one JSON encoding), :func:`to_wire`/
  :func:`from_wire` (records as plain data), datetime helpers;
* rules every backend applies identically: :func:`metadata_matches`/:func:`json_eq`
  (metadata filters), :func:`ttl_cutoff`/:func:`is_expired`/:data:`TTL_CLOCK`
  (Retention.ttl);
* errors: every error class, and :func:`translate_error` (driver error -> typed error);
  :class:`RetryPolicy` (retry with backoff: the one policy every backend uses for
  :class:`TransientBackendError`-class failures);
* the generic record store: subclass :class:`RecordBackend` and implement ``get``,
  ``scan`` and ``write`` over :class:`Item`/:class:`Put`/:class:`Delete` (order keys for
  the :data:`COLLECTIONS`; :data:`TOP` is above every key) instead of the domains;
* index specs: :func:`parse_index`, :func:`render_create`, :func:`render_drop`,
  :func:`quote_ident` (user index specs rendered safely), naming helpers.
"""

from .._indexspec import (
    IndexColumn,
    ParsedIndex,
    Predicate,
    parse_index,
    parse_where,
    quote_ident,
    render_create,
    render_drop,
    render_predicate,
)
from .._matching import json_eq, metadata_matches
from .._translate import ErrorRule, translate_error
from .._trusted import trusted
from .._ttl import TTL_CLOCK, is_expired, ttl_cutoff
from ..backend import CAPABILITIES, Backend, IndexManager
from ..domains import (
    AgentsDomain,
    MemoryDomain,
    MessageSelect,
    ObservabilityDomain,
    RunFilter,
    ScoreFilter,
    ScoresDomain,
    ThreadFilter,
    ThreadQuery,
    ThreadSelect,
    TraceFilter,
    WorkflowsDomain,
)
from ..domains._base import (
    Domain,
    check_choice,
    check_direction,
    check_page,
    fetch_page,
    id_list,
    make_page,
    metadata_filter,
    opt_id,
    opt_time,
    public,
    str_set,
)
from ..domains.memory import THREAD_ORDER_FIELDS, CloneRequest, Ordered
from ..errors import (
    AgentNotFoundError,
    AgentStorageError,
    BackendError,
    ConfigurationError,
    IndexNotFoundError,
    InvalidIdentifierError,
    InvalidIndexSpecError,
    NotSupportedError,
    RecordTooLargeError,
    RunNotFoundError,
    SchemaNotInitializedError,
    StorageClosedError,
    ThreadNotFoundError,
    TransientBackendError,
    ValidationError,
)
from ..generic import COLLECTIONS, TOP, Delete, Item, Put, RecordBackend
from ..hookspecs import RegisterBackend, hookimpl
from ..naming import DOMAIN_NAMES, check_identifier, index_name, table_name
from ..options import TTL_ENTITIES, IndexSpec, Retention, StoreOptions
from ..retry import Jitter, RetryPolicy
from ..serde import (
    check_id,
    check_json,
    check_text,
    dumps,
    format_datetime,
    from_wire,
    loads,
    parse_datetime,
    to_utc,
    to_wire,
    utcnow,
)
from ..url import StoreURL

__all__ = [
    "CAPABILITIES",
    "COLLECTIONS",
    "DOMAIN_NAMES",
    "THREAD_ORDER_FIELDS",
    "TOP",
    "TTL_CLOCK",
    "TTL_ENTITIES",
    "AgentNotFoundError",
    "AgentStorageError",
    "AgentsDomain",
    "Backend",
    "BackendError",
    "CloneRequest",
    "ConfigurationError",
    "Delete",
    "Domain",
    "ErrorRule",
    "IndexColumn",
    "IndexManager",
    "IndexNotFoundError",
    "IndexSpec",
    "InvalidIdentifierError",
    "InvalidIndexSpecError",
    "Item",
    "Jitter",
    "MemoryDomain",
    "MessageSelect",
    "NotSupportedError",
    "ObservabilityDomain",
    "Ordered",
    "ParsedIndex",
    "Predicate",
    "Put",
    "RecordBackend",
    "RecordTooLargeError",
    "RegisterBackend",
    "Retention",
    "RetryPolicy",
    "RunFilter",
    "RunNotFoundError",
    "SchemaNotInitializedError",
    "ScoreFilter",
    "ScoresDomain",
    "StorageClosedError",
    "StoreOptions",
    "StoreURL",
    "ThreadFilter",
    "ThreadNotFoundError",
    "ThreadQuery",
    "ThreadSelect",
    "TraceFilter",
    "TransientBackendError",
    "ValidationError",
    "WorkflowsDomain",
    "check_choice",
    "check_direction",
    "check_id",
    "check_identifier",
    "check_json",
    "check_page",
    "check_text",
    "dumps",
    "fetch_page",
    "format_datetime",
    "from_wire",
    "hookimpl",
    "id_list",
    "index_name",
    "is_expired",
    "json_eq",
    "loads",
    "make_page",
    "metadata_filter",
    "metadata_matches",
    "opt_id",
    "opt_time",
    "parse_datetime",
    "parse_index",
    "parse_where",
    "public",
    "quote_ident",
    "render_create",
    "render_drop",
    "render_predicate",
    "str_set",
    "table_name",
    "to_utc",
    "to_wire",
    "translate_error",
    "trusted",
    "ttl_cutoff",
    "utcnow",
]
