"""Shared state and helpers of the in-memory backend.

A :class:`State` holds every table of one store as plain dicts. Primitives never await
while they touch it and take ``State.lock`` (a thread lock: one named store may be used
from several event loops in several threads), so each primitive is atomic.
"""

from __future__ import annotations

import datetime as _dt
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ..._matching import json_eq, metadata_matches
from ..._plugins import state as _process_state
from ...serde import utcnow

if TYPE_CHECKING:
    from ...records import Message, Resource, Score, Span, Thread, WorkflowRun

__all__ = ["State", "anonymous_state", "clone", "drop_named", "forget_named", "json_copy",
           "json_eq", "metadata_matches", "named_state", "ttl_cutoff"]

R = TypeVar("R")


class State:
    """Every table of one memory store."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.initialized = False
        # memory
        self.threads: dict[str, Thread] = {}
        self.resources: dict[str, Resource] = {}
        self.messages: dict[str, tuple[int, Message]] = {}      # id -> (seq, Message)
        self.by_thread: dict[str, list[tuple[_dt.datetime, int, str]]] = {}  # sorted keys
        self.seq = 0
        # semantic recall: message id -> MemoryVector; (model, dimensions) once recorded
        self.vectors: dict[str, Any] = {}
        self.vector_model: tuple[str, int] | None = None
        # workflows: (workflow_name, run_id) -> WorkflowRun; run_id -> names
        self.runs: dict[tuple[str, str], WorkflowRun] = {}
        self.run_names: dict[str, set[str]] = {}
        # scores
        self.scores: dict[str, Score] = {}
        # observability: trace_id -> span_id -> Span
        self.traces: dict[str, dict[str, Span]] = {}
        # agents: id -> AgentRow
        self.agents: dict[str, Any] = {}

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


# -- where states live ------------------------------------------------------------------
# Named stores live in the process state module (survives a reload of agent_storage);
# anonymous ones are keyed by the identity of the Backend's StoreOptions object, which the
# Storage keeps for its whole life, so rebuilding backends after an event-loop change
# keeps the data.


def _named() -> dict[tuple[str, str], State]:
    table: dict[tuple[str, str], State] = vars(_process_state()).setdefault("memory_stores", {})
    return table


_registry_lock = threading.Lock()
_anonymous: dict[int, State] = {}


def named_state(name: str, prefix: str) -> State:
    with _registry_lock:
        table = _named()
        found = table.get((name, prefix))
        if found is None:
            found = table[(name, prefix)] = State()
        return found


def forget_named(name: str | None = None) -> None:
    """Drop the data of named store ``name`` (every table prefix), or of all named stores."""
    with _registry_lock:
        table = _named()
        for key in [k for k in table if name is None or k[0] == name]:
            del table[key]


def drop_named(name: str, prefix: str) -> None:
    """Drop the data of named store ``name`` under one table prefix."""
    with _registry_lock:
        _named().pop((name, prefix), None)


def anonymous_state(owner: Any) -> State:
    with _registry_lock:
        key = id(owner)
        found = _anonymous.get(key)
        if found is None:
            found = _anonymous[key] = State()
            weakref.finalize(owner, _anonymous.pop, key, None)
        return found


def drop_anonymous(owner: Any) -> None:
    with _registry_lock:
        _anonymous.pop(id(owner), None)


# -- values ------------------------------------------------------------------------------


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value, normalised as a JSON round trip would (tuple -> list)."""
    if isinstance(value, Mapping):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_copy(v) for v in value]
    return value


#: JSON-valued fields per record class name; tuple-valued ones are kept tuples.
_JSON_FIELDS: dict[str, tuple[str, ...]] = {
    "Thread": ("metadata",),
    "Message": ("content", "metadata"),
    "Resource": ("metadata",),
    "WorkflowRun": ("snapshot",),
    "Score": ("input", "output", "metadata"),
    "Span": ("attributes", "metadata", "input", "output", "error"),
    "AgentConfig": ("model", "tools", "metadata"),
}


_FIELD_NAMES: dict[type, tuple[tuple[str, bool], ...]] = {}
_setattr = object.__setattr__


def clone(record: R) -> R:
    """``record`` with its JSON fields deep-copied, so nobody shares mutable state with
    the store (records are frozen, their dicts are not). Skips validation: the record was
    validated when built."""
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        json_fields = _JSON_FIELDS[cls.__name__]
        names = _FIELD_NAMES[cls] = tuple(
            (a.name, a.name in json_fields) for a in attrs.fields(cls))  # type: ignore[arg-type]
    new = object.__new__(cls)
    for name, is_json in names:
        value = getattr(record, name)
        if is_json and isinstance(value, Mapping | list | tuple):
            value = tuple(json_copy(v) for v in value) if name == "tools" else json_copy(value)
        _setattr(new, name, value)
    return new


def ttl_cutoff(options: Any, entity: str) -> _dt.datetime | None:
    """Records of ``entity`` stamped before this instant are expired (None: no TTL)."""
    ttl = options.retention.ttl.get(entity)
    return None if ttl is None else utcnow() - ttl
