"""An OpenTelemetry ``ReadableSpan`` as agent-storage spans (pure functions).

| OpenTelemetry | Span |
|---|---|
| trace id, span id (hex, 32 and 16 digits), parent span id | trace_id, span_id, parent_span_id |
| name (cut to 255 characters) | name |
| ``gen_ai.operation.name`` (see ``_OPERATIONS``), else ``openinference.span.kind`` | span_type |
| (lower case), else the span kind (internal, server, client, producer, consumer) | |
| start/end time | started_at/ended_at |
| status OK / ERROR / unset | status "ok" / "error" / None |
| ERROR: description and the first ``exception`` event (type, message, stacktrace) | error |
| attributes (JSON-cleaned) | attributes |
| ``gen_ai.input.messages`` / ``input.value`` / ``gen_ai.prompt`` (JSON text is parsed) | input |
| ``gen_ai.output.messages`` / ``output.value`` / ``gen_ai.completion`` | output |
| ``gen_ai.agent.id`` / ``gen_ai.agent.name`` | agent_id; entity_type "agent", entity_id |
| ``gen_ai.conversation.id`` / ``session.id`` | thread_id |
| ``user.id`` / ``enduser.id`` | resource_id |
| kind, instrumentation scope, resource attributes, trace state, links | metadata["otel"] |
| each event | a child span with ``is_event=True``, span_type "event", id ``<span id>.e<n>`` |
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from ...records import Span
from .._jsonable import jsonable, opt_id, to_id

__all__ = ["to_spans"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_OPERATIONS = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm",
    "embeddings": "embedding", "execute_tool": "tool",
    "invoke_agent": "agent", "create_agent": "agent",
}
_INPUT = ("gen_ai.input.messages", "input.value", "gen_ai.prompt")
_OUTPUT = ("gen_ai.output.messages", "output.value", "gen_ai.completion")


def _time(ns: int | None) -> _dt.datetime | None:
    return None if ns is None else _EPOCH + _dt.timedelta(microseconds=ns // 1000)


def _first(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in attrs:
            return attrs[name]
    return None


def _payload(value: Any) -> Any:
    """Attribute payloads are often JSON text: store the parsed value when it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return jsonable(json.loads(value))
        except ValueError:
            pass
    return jsonable(value)


def span_type(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _OPERATIONS:
        return _OPERATIONS[operation]
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind:
        return to_id(kind.lower(), "internal")
    return span.kind.name.lower()


def _error(span: ReadableSpan) -> dict[str, Any] | None:
    if span.status.status_code is not StatusCode.ERROR:
        return None
    error: dict[str, Any] = {"message": span.status.description}
    for event in span.events:
        if event.name == "exception":
            attrs = event.attributes or {}
            error.update(type=attrs.get("exception.type"), message=attrs.get(
                "exception.message", span.status.description),
                stacktrace=attrs.get("exception.stacktrace"))
            break
    return jsonable(error)  # type: ignore[no-any-return]


def _metadata(span: ReadableSpan) -> dict[str, Any]:
    scope = span.instrumentation_scope
    otel: dict[str, Any] = {"kind": span.kind.name.lower()}
    if scope is not None:
        otel["scope"] = {"name": scope.name, "version": scope.version}
    if span.resource is not None and span.resource.attributes:
        otel["resource"] = dict(span.resource.attributes)
    if span.context is not None and span.context.trace_state:
        otel["trace_state"] = span.context.trace_state.to_header()
    if span.links:
        otel["links"] = [{"trace_id": format_trace_id(link.context.trace_id),
                          "span_id": format_span_id(link.context.span_id),
                          "attributes": dict(link.attributes or {})} for link in span.links]
    return {"otel": jsonable(otel)}


def to_spans(span: ReadableSpan) -> list[Span]:
    """The span and one event span per event."""
    ctx = span.context
    assert ctx is not None  # a finished SDK span always has its context
    trace_id, span_id = format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)
    attrs = span.attributes or {}
    agent = opt_id(attrs.get("gen_ai.agent.id")) or opt_id(attrs.get("gen_ai.agent.name"))
    status = {StatusCode.OK: "ok", StatusCode.ERROR: "error"}.get(span.status.status_code)
    started = _time(span.start_time) or _EPOCH
    main = Span(
        trace_id=trace_id, span_id=span_id, name=to_id(span.name, "span"),
        span_type=span_type(span), started_at=started, ended_at=_time(span.end_time),
        parent_span_id=None if span.parent is None else format_span_id(span.parent.span_id),
        status=status, error=_error(span), attributes=jsonable(dict(attrs)),
        metadata=_metadata(span), input=_payload(_first(attrs, _INPUT)),
        output=_payload(_first(attrs, _OUTPUT)), agent_id=agent,
        entity_type="agent" if agent else None, entity_id=agent,
        thread_id=opt_id(attrs.get("gen_ai.conversation.id") or attrs.get("session.id")),
        resource_id=opt_id(attrs.get("user.id") or attrs.get("enduser.id")),
    )
    events = [
        Span(trace_id=trace_id, span_id=f"{span_id}.e{n}", parent_span_id=span_id,
             name=to_id(event.name, "event"), span_type="event", is_event=True,
             started_at=_time(event.timestamp) or started, ended_at=_time(event.timestamp),
             attributes=jsonable(dict(event.attributes or {})))
        for n, event in enumerate(span.events)
    ]
    return [main, *events]
