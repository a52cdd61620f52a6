"""``AgentStorageTracingProcessor``: openai-agents traces and spans into observability.

A trace becomes a root span (``span_id`` = the trace id, span_type "workflow", name = the
workflow name, ``thread_id`` = the trace's ``group_id``, its metadata under
``metadata["openai_agents"]``); each SDK span becomes a child (top-level SDK spans hang
under the root), with span_type from the span data's type (generation/response -> llm,
function -> tool, agent -> agent, the others as named), name from the data's ``name``,
``input``/``output`` from the data, the whole exported data in ``attributes``, and the
span's error with status "error" (else "ok").
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any

from agents.tracing import Span as AgentsSpan
from agents.tracing import Trace, TracingProcessor

from ..records import Span
from ..serde import utcnow
from ..storage import Storage
from . import StoreArg, _Store
from ._jsonable import jsonable, opt_id, to_id
from ._span_writer import SpanWriter

__all__ = ["AgentStorageTracingProcessor"]

_TYPES = {"generation": "llm", "response": "llm", "function": "tool", "agent": "agent"}


def _time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    parsed = _dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


def span_record(span: AgentsSpan[Any]) -> Span:
    """The stored form of a finished SDK span."""
    data = jsonable(span.span_data.export() or {})
    kind = str(data.get("type") or span.span_data.type)
    name = to_id(data.get("name") or kind, "span")
    agent = name if kind == "agent" else None
    started = _time(span.started_at) or utcnow()
    return Span(
        trace_id=to_id(span.trace_id, "trace"), span_id=to_id(span.span_id, "span"),
        parent_span_id=to_id(span.parent_id or span.trace_id, "trace"),
        name=name, span_type=to_id(_TYPES.get(kind, kind), "custom"),
        started_at=started, ended_at=_time(span.ended_at) or started,
        status="error" if span.error else "ok", error=jsonable(span.error),
        attributes=data, input=data.get("input"), output=data.get("output"),
        agent_id=agent, entity_type="agent" if agent else None, entity_id=agent,
    )


class AgentStorageTracingProcessor(TracingProcessor):  # type: ignore[misc]
    """Stores the SDK's traces and spans; register it with
    ``agents.add_trace_processor(AgentStorageTracingProcessor(url))`` (or
    ``set_trace_processors([...])`` to replace the default OpenAI exporter).

    The SDK calls processors on the agent's own thread, so records are only queued there
    and written by a background thread through an ``agent_storage.sync`` store (``store``
    is a URL or such a store). ``force_flush()`` blocks until everything ended so far is
    stored; ``shutdown()`` flushes and stops the thread.
    """

    def __init__(self, store: StoreArg) -> None:
        self._store = _Store(store, blocking=True)
        self._store.require_blocking("AgentStorageTracingProcessor")
        self._writer = SpanWriter(self._store)
        self._starts: dict[str, _dt.datetime] = {}
        self._lock = threading.Lock()

    @property
    def storage(self) -> Storage:
        return self._store.storage

    def on_trace_start(self, trace: Trace) -> None:
        with self._lock:
            self._starts[trace.trace_id] = utcnow()

    def on_trace_end(self, trace: Trace) -> None:
        ended = utcnow()
        with self._lock:
            started = self._starts.pop(trace.trace_id, ended)
        exported = jsonable(trace.export() or {})
        root = Span(
            trace_id=to_id(trace.trace_id, "trace"), span_id=to_id(trace.trace_id, "trace"),
            name=to_id(trace.name, "workflow"), span_type="workflow", started_at=started,
            ended_at=ended, status="ok", thread_id=opt_id(exported.get("group_id")),
            metadata={"openai_agents": {"group_id": exported.get("group_id"),
                                        "metadata": exported.get("metadata")}},
        )
        self._writer.put([root])

    def on_span_start(self, span: AgentsSpan[Any]) -> None:
        return None

    def on_span_end(self, span: AgentsSpan[Any]) -> None:
        self._writer.put([span_record(span)])

    def force_flush(self) -> None:
        self._writer.flush()

    def shutdown(self) -> None:
        self._writer.close()
