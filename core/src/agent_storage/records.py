"""The records stored by agent-storage: attrs ``@frozen(kw_only=True)`` classes.

Change a record with :func:`attrs.evolve`. Every field is validated when the record is
built, so bad input fails before any backend sees it (rules in :mod:`agent_storage.serde`).
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Mapping
from typing import Any, Final, Generic, Literal, TypeVar

from attrs import Factory, field, frozen

from .errors import ValidationError
from .serde import (
    MAX_DATETIME,
    MAX_ID_LENGTH,
    MIN_DATETIME,
    check_id,
    check_json,
    check_text,
    to_utc,
    utcnow,
)

__all__ = [
    "UNSET",
    "AgentConfig",
    "AgentVersion",
    "Include",
    "IndexInfo",
    "IndexStats",
    "Message",
    "MessageUpdate",
    "MigrationReport",
    "Page",
    "Resource",
    "Score",
    "Span",
    "SpanUpdate",
    "StoreStatus",
    "Thread",
    "ThreadStats",
    "Trace",
    "WorkflowRun",
]

T = TypeVar("T")

ROLES: Final = frozenset({"system", "user", "assistant", "tool"})
SCORE_SOURCES: Final = frozenset({"live", "test"})
AGENT_STATUSES: Final = frozenset({"draft", "published"})


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument or update field as "not given" (``None`` is a real value).
UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


# -- field helpers: one validator per kind of field ------------------------------------


def _id(_inst: Any, attr: Any, value: Any) -> None:
    check_id(value, attr.name)


def _opt_id(_inst: Any, attr: Any, value: Any) -> None:
    if value is not None:
        check_id(value, attr.name)


def _opt_text(_inst: Any, attr: Any, value: Any) -> None:
    if value is not None:
        check_text(value, attr.name)


def _json(_inst: Any, attr: Any, value: Any) -> None:
    check_json(value, attr.name)


def _check_mapping(value: Any, name: str) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{name}: expected a JSON object (dict), got {type(value).__name__}"
        )
    check_json(value, name)


def _mapping(_inst: Any, attr: Any, value: Any) -> None:
    _check_mapping(value, attr.name)


def _to_dict(value: Any) -> Any:
    return {} if value is None else value


_UTC = _dt.UTC
_MIN, _MAX = MIN_DATETIME, MAX_DATETIME


def _utc(value: Any) -> _dt.datetime:
    if type(value) is _dt.datetime and value.tzinfo is _UTC and _MIN <= value <= _MAX:
        return value  # what to_utc returns for it, without its checks
    return to_utc(value)


def _opt_utc(value: Any) -> _dt.datetime | None:
    return None if value is None else to_utc(value)


def _now() -> Any:
    return field(factory=utcnow, converter=_utc)


def _metadata() -> Any:
    return field(factory=dict, converter=_to_dict, validator=_mapping)


def _one_of(choices: frozenset[str]) -> Any:
    def check(_inst: Any, attr: Any, value: Any) -> None:
        if value not in choices:
            raise ValidationError(f"{attr.name}: {value!r} is not one of {sorted(choices)}")

    return check


def _opt_str_of(choices: frozenset[str]) -> Any:
    check = _one_of(choices)

    def opt(inst: Any, attr: Any, value: Any) -> None:
        if value is not None:
            check(inst, attr, value)

    return opt


# -- memory --------------------------------------------------------------------------------


@frozen(kw_only=True)
class Thread:
    """A conversation, owned by ``resource_id`` (the user)."""

    id: str = field(validator=_id)
    resource_id: str = field(validator=_id)
    title: str | None = field(default=None, validator=_opt_text)
    metadata: Mapping[str, Any] = _metadata()
    agent_id: str | None = field(default=None, validator=_opt_id)
    created_at: _dt.datetime = _now()
    updated_at: _dt.datetime = _now()


def _plain_id(value: Any) -> bool:
    """True for the common id: a non-empty ASCII str without NUL, short enough. Anything
    else goes through :func:`check_id` (which accepts valid non-ASCII ids)."""
    return (type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isascii()
            and "\x00" not in value and not value.isspace())


@frozen(kw_only=True)
class Message:
    """One message of a thread. ``content`` is any JSON value."""

    # Validated in __attrs_post_init__ (one call instead of one validator per field: the
    # records are built on every save), in field order with the per-field rules above.
    id: str
    thread_id: str
    role: str
    content: Any
    type: str = "text"
    resource_id: str | None = None
    metadata: Mapping[str, Any] = field(factory=dict, converter=_to_dict)
    created_at: _dt.datetime = _now()

    def __attrs_post_init__(self) -> None:
        if not _plain_id(self.id):
            check_id(self.id, "id")
        if not _plain_id(self.thread_id):
            check_id(self.thread_id, "thread_id")
        if self.role not in ROLES:
            raise ValidationError(f"role: {self.role!r} is not one of {sorted(ROLES)}")
        check_json(self.content, "content")
        if not _plain_id(self.type):
            check_id(self.type, "type")
        if self.resource_id is not None and not _plain_id(self.resource_id):
            check_id(self.resource_id, "resource_id")
        metadata = self.metadata
        if type(metadata) is not dict or metadata:
            _check_mapping(metadata, "metadata")


@frozen(kw_only=True)
class MessageUpdate:
    """A partial update of a message; fields left UNSET are kept. ``metadata`` merges."""

    id: str = field(validator=_id)
    content: Any = UNSET
    role: Any = UNSET
    type: Any = UNSET
    metadata: Any = UNSET
    thread_id: Any = UNSET

    def __attrs_post_init__(self) -> None:
        if self.content is not UNSET:
            check_json(self.content, "content")
        if self.role is not UNSET and self.role not in ROLES:
            raise ValidationError(f"role: {self.role!r} is not one of {sorted(ROLES)}")
        if self.type is not UNSET:
            check_id(self.type, "type")
        if self.metadata is not UNSET:
            if not isinstance(self.metadata, Mapping):
                raise ValidationError("metadata: expected a JSON object (dict)")
            check_json(self.metadata, "metadata")
        if self.thread_id is not UNSET:
            check_id(self.thread_id, "thread_id")


@frozen(kw_only=True)
class Resource:
    """A user (or other owner) with its working memory."""

    id: str = field(validator=_id)
    working_memory: str | None = field(default=None, validator=_opt_text)
    metadata: Mapping[str, Any] = _metadata()
    created_at: _dt.datetime = _now()
    updated_at: _dt.datetime = _now()


@frozen(kw_only=True)
class Include:
    """Ask for message ``id`` with ``before`` earlier and ``after`` later messages of its thread."""

    id: str = field(validator=_id)
    before: int = 0
    after: int = 0

    def __attrs_post_init__(self) -> None:
        for name in ("before", "after"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationError(f"Include.{name}: expected an int >= 0, got {value!r}")


@frozen(kw_only=True)
class ThreadStats:
    """Aggregate activity of one resource (or of the whole store)."""

    thread_count: int
    message_count: int
    messages_per_thread: float
    first_activity: _dt.datetime | None = None
    last_activity: _dt.datetime | None = None


# -- workflows -----------------------------------------------------------------------------


def _snapshot(_inst: Any, attr: Any, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{attr.name}: expected a dict, got {type(value).__name__}")
    check_json(value, attr.name)


def _status_from_snapshot(run: WorkflowRun) -> str | None:
    if not isinstance(run.snapshot, Mapping):  # the snapshot validator reports it
        return None
    status = run.snapshot.get("status")
    return status if isinstance(status, str) else None


@frozen(kw_only=True)
class WorkflowRun:
    """A workflow run's snapshot; ``status`` defaults to ``snapshot["status"]``."""

    workflow_name: str = field(validator=_id)
    run_id: str = field(validator=_id)
    snapshot: Mapping[str, Any] = field(validator=_snapshot)
    resource_id: str | None = field(default=None, validator=_opt_id)
    status: str | None = field(
        default=Factory(_status_from_snapshot, takes_self=True), validator=_opt_text
    )
    created_at: _dt.datetime = _now()
    updated_at: _dt.datetime = _now()


# -- scores --------------------------------------------------------------------------------


def _int_to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _score_value(_inst: Any, attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"score: expected a number, got {type(value).__name__}")
    check_json(float(value), "score")


@frozen(kw_only=True)
class Score:
    """An evaluation result of ``scorer_id`` on one run/entity."""

    id: str = field(validator=_id)
    scorer_id: str = field(validator=_id)
    run_id: str = field(validator=_id)
    score: float = field(
        converter=_int_to_float,
        validator=_score_value,
    )
    reason: str | None = field(default=None, validator=_opt_text)
    source: str = field(default="live", validator=_one_of(SCORE_SOURCES))
    entity_type: str | None = field(default=None, validator=_opt_id)
    entity_id: str | None = field(default=None, validator=_opt_id)
    trace_id: str | None = field(default=None, validator=_opt_id)
    span_id: str | None = field(default=None, validator=_opt_id)
    resource_id: str | None = field(default=None, validator=_opt_id)
    thread_id: str | None = field(default=None, validator=_opt_id)
    input: Any = field(default=None, validator=_json)
    output: Any = field(default=None, validator=_json)
    metadata: Mapping[str, Any] = _metadata()
    created_at: _dt.datetime = _now()


# -- observability -------------------------------------------------------------------------


@frozen(kw_only=True)
class Span:
    """One span of a trace. A root span (no parent) is a run; ``is_event`` marks events."""

    trace_id: str = field(validator=_id)
    span_id: str = field(validator=_id)
    name: str = field(validator=_id)
    span_type: str = field(validator=_id)
    started_at: _dt.datetime = field(converter=_utc)
    parent_span_id: str | None = field(default=None, validator=_opt_id)
    ended_at: _dt.datetime | None = field(default=None, converter=_opt_utc)
    is_event: bool = False
    status: str | None = field(default=None, validator=_opt_text)
    attributes: Mapping[str, Any] = _metadata()
    metadata: Mapping[str, Any] = _metadata()
    input: Any = field(default=None, validator=_json)
    output: Any = field(default=None, validator=_json)
    error: Any = field(default=None, validator=_json)
    entity_type: str | None = field(default=None, validator=_opt_id)
    entity_id: str | None = field(default=None, validator=_opt_id)
    agent_id: str | None = field(default=None, validator=_opt_id)
    resource_id: str | None = field(default=None, validator=_opt_id)
    thread_id: str | None = field(default=None, validator=_opt_id)
    run_id: str | None = field(default=None, validator=_opt_id)
    created_at: _dt.datetime = _now()
    updated_at: _dt.datetime = _now()


#: Span fields that :class:`SpanUpdate` may change.
SPAN_UPDATABLE: Final = (
    "name",
    "span_type",
    "parent_span_id",
    "ended_at",
    "is_event",
    "status",
    "attributes",
    "metadata",
    "input",
    "output",
    "error",
    "entity_type",
    "entity_id",
    "agent_id",
    "resource_id",
    "thread_id",
    "run_id",
)


@frozen(kw_only=True)
class SpanUpdate:
    """A partial update of span (trace_id, span_id); fields left UNSET are kept."""

    trace_id: str = field(validator=_id)
    span_id: str = field(validator=_id)
    name: Any = UNSET
    span_type: Any = UNSET
    parent_span_id: Any = UNSET
    ended_at: Any = UNSET
    is_event: Any = UNSET
    status: Any = UNSET
    attributes: Any = UNSET
    metadata: Any = UNSET
    input: Any = UNSET
    output: Any = UNSET
    error: Any = UNSET
    entity_type: Any = UNSET
    entity_id: Any = UNSET
    agent_id: Any = UNSET
    resource_id: Any = UNSET
    thread_id: Any = UNSET
    run_id: Any = UNSET

    def changes(self) -> dict[str, Any]:
        """The fields this update sets."""
        return {
            name: getattr(self, name) for name in SPAN_UPDATABLE if getattr(self, name) is not UNSET
        }

    def apply(self, span: Span, now: _dt.datetime | None = None) -> Span:
        """Return ``span`` with this update applied (validated like a new Span)."""
        from attrs import evolve

        return evolve(span, **self.changes(), updated_at=now or utcnow())

    def __attrs_post_init__(self) -> None:
        # Validate by applying to a throwaway span: the same rules as Span itself.
        probe = Span(trace_id="t", span_id="s", name="n", span_type="x", started_at=utcnow())
        self.apply(probe)


@frozen(kw_only=True)
class Trace:
    """All spans of one trace, ordered by ``started_at``."""

    trace_id: str
    spans: tuple[Span, ...]


# -- agents --------------------------------------------------------------------------------


@frozen(kw_only=True)
class AgentConfig:
    """A stored agent configuration; ``version`` is the version this config is."""

    id: str = field(validator=_id)
    name: str = field(validator=_id)
    instructions: str | None = field(default=None, validator=_opt_text)
    model: Any = field(default=None, validator=_json)
    tools: tuple[Any, ...] = field(default=(), converter=tuple, validator=_json)
    metadata: Mapping[str, Any] = _metadata()
    status: str = field(default="draft", validator=_one_of(AGENT_STATUSES))
    version: int = 1
    created_at: _dt.datetime = _now()
    updated_at: _dt.datetime = _now()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ValidationError(f"version: expected an int >= 1, got {self.version!r}")


#: AgentConfig fields that ``update_agent`` may change.
AGENT_UPDATABLE: Final = ("name", "instructions", "model", "tools", "metadata", "status")


@frozen(kw_only=True)
class AgentVersion:
    """One saved version of an agent."""

    agent_id: str
    version: int
    config: AgentConfig
    change_message: str | None = None
    created_at: _dt.datetime = _now()


# -- listing and admin ---------------------------------------------------------------------


@frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing. ``per_page`` None means everything was returned."""

    items: tuple[T, ...]
    total: int | None
    page: int
    per_page: int | None
    has_more: bool

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@frozen(kw_only=True)
class IndexInfo:
    """An index as listed by ``storage.indexes.list()``."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    method: str = "btree"
    where: str | None = None
    definition: str | None = None


@frozen(kw_only=True)
class IndexStats:
    """Size and usage of one index (``storage.indexes.describe()``)."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    method: str = "btree"
    size_bytes: int | None = None
    scans: int | None = None
    tuples_read: int | None = None
    definition: str | None = None


@frozen(kw_only=True)
class MigrationReport:
    """What ``storage.migrate()`` did (or would do, with ``dry_run=True``)."""

    applied: tuple[str, ...] = ()
    backed_up: tuple[str, ...] = ()
    rows_migrated: int = 0
    dry_run: bool = False
    from_version: int = 0
    to_version: int = 0


@frozen(kw_only=True)
class StoreStatus:
    """What ``agent-storage status`` prints: schema version, tables and row counts."""

    backend: str
    url: str
    schema_version: int
    latest_version: int
    tables: Mapping[str, int] = field(factory=dict)
