"""A trace as a waterfall: spans in tree order, each a bar on the trace's time axis."""

from __future__ import annotations

import datetime as _dt
import zlib
from collections.abc import Iterable, Sequence

from attrs import frozen

from ..records import Span

__all__ = ["Bar", "Waterfall", "layout"]

#: A bar never gets narrower than this (percent of the axis), so instant spans stay visible.
MIN_WIDTH = 0.4
#: Span types with a colour of their own; any other type gets one of PALETTE by hash.
KNOWN_TYPES = {
    "agent": "agent", "agent_run": "agent", "llm": "llm", "model": "llm", "generation": "llm",
    "tool": "tool", "tool_call": "tool", "event": "event", "workflow": "step",
    "workflow_run": "step", "step": "step", "workflow_step": "step", "retrieval": "retrieval",
}
PALETTE = 6
ERROR_STATUSES = frozenset({"error", "failed", "failure"})


@frozen(kw_only=True)
class Bar:
    """One span's row: depth in the tree, offset and width in percent of the axis."""

    span: Span
    depth: int
    offset: float
    width: float
    duration_ms: float | None
    colour: str
    error: bool
    orphan: bool


@frozen(kw_only=True)
class Waterfall:
    bars: tuple[Bar, ...]
    total_ms: float
    started_at: _dt.datetime | None


def colour(span_type: str) -> str:
    """A CSS class suffix: the known types by name, others by a stable hash."""
    known = KNOWN_TYPES.get(span_type.lower())
    return known if known else f"p{zlib.crc32(span_type.encode()) % PALETTE}"


def is_error(span: Span) -> bool:
    return span.error is not None or (span.status or "").lower() in ERROR_STATUSES


def tree_order(spans: Iterable[Span]) -> list[tuple[Span, int, bool]]:
    """(span, depth, orphan) depth-first, siblings by (started_at, span_id). A span whose
    parent is not in the trace is a root marked orphan; a parent cycle cannot loop."""
    items = sorted(spans, key=lambda s: (s.started_at, s.span_id))
    ids = {s.span_id for s in items}
    children: dict[str | None, list[Span]] = {}
    for s in items:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    out: list[tuple[Span, int, bool]] = []
    seen: set[str] = set()
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        orphan = depth == 0 and span.parent_span_id is not None
        out.append((span, depth, orphan))
        stack.extend((c, depth + 1) for c in reversed(children.get(span.span_id, [])))
    # spans only reachable through a cycle: shown as roots rather than dropped
    out.extend((s, 0, True) for s in items if s.span_id not in seen)
    return out


def layout(spans: Sequence[Span]) -> Waterfall:
    """Place every span of a trace on one time axis (the trace's first start to its last end)."""
    if not spans:
        return Waterfall(bars=(), total_ms=0.0, started_at=None)
    t0 = min(s.started_at for s in spans)
    t1 = max(max(s.ended_at or s.started_at, s.started_at) for s in spans)
    total_ms = max((t1 - t0).total_seconds() * 1000, 1e-3)
    bars = []
    for span, depth, orphan in tree_order(spans):
        start_ms = (span.started_at - t0).total_seconds() * 1000
        end = span.ended_at if span.ended_at is not None else (
            span.started_at if span.is_event else t1)
        duration = (end - span.started_at).total_seconds() * 1000
        offset = min(100.0 * start_ms / total_ms, 100.0 - MIN_WIDTH)
        width = min(max(100.0 * duration / total_ms, MIN_WIDTH), 100.0 - offset)
        bars.append(Bar(
            span=span, depth=depth, offset=round(offset, 3), width=round(width, 3),
            duration_ms=duration if span.ended_at is not None else None,
            colour=colour(span.span_type), error=is_error(span), orphan=orphan,
        ))
    return Waterfall(bars=tuple(bars), total_ms=total_ms, started_at=t0)
