"""Records validate themselves: bad input fails at construction, before any backend."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from agent_storage import (
    UNSET,
    AgentConfig,
    Include,
    Message,
    MessageUpdate,
    Score,
    Span,
    SpanUpdate,
    Thread,
    ValidationError,
    WorkflowRun,
)

UTC = dt.UTC
NOW = dt.datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_thread_defaults_and_evolve() -> None:
    t = Thread(id="t1", resource_id="u1")
    assert t.title is None and t.metadata == {} and t.agent_id is None
    assert t.created_at.tzinfo is UTC and t.updated_at.tzinfo is UTC
    t2 = attrs.evolve(t, title="hello")
    assert t2.title == "hello" and t.title is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.title = "x"  # type: ignore[misc]


def test_aware_non_utc_datetimes_are_normalised_to_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    t = Thread(id="t", resource_id="u", created_at=dt.datetime(2025, 1, 1, 13, 0, tzinfo=paris))
    assert t.created_at == NOW.replace(hour=12) and t.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    "build",
    [
        lambda: Thread(id="t", resource_id="u", created_at=dt.datetime(2025, 1, 1)),
        lambda: Thread(id="", resource_id="u"),
        lambda: Thread(id="t", resource_id="u", title="a\x00b"),
        lambda: Thread(id="t", resource_id="u", metadata={"k": object()}),
        lambda: Thread(id="t", resource_id="u", metadata={1: "x"}),
        lambda: Thread(id="t", resource_id="u", metadata=[1, 2]),
        lambda: Thread(id="x" * 256, resource_id="u"),
        lambda: Message(id="m", thread_id="t", role="robot", content="hi"),
        lambda: Message(id="m", thread_id="t", role="user", content={"x": float("nan")}),
        lambda: Message(id="m", thread_id="t", role="user", content="\ud800"),
        lambda: Message(id="m", thread_id="t", role="user", content={"n": 2**64}),
        lambda: Message(id="m", thread_id="t", role="user", content={"s": {1, 2}}),
        lambda: Score(id="s", scorer_id="x", run_id="r", score="high"),
        lambda: Score(id="s", scorer_id="x", run_id="r", score=True),
        lambda: Score(id="s", scorer_id="x", run_id="r", score=1.0, source="prod"),
        lambda: Span(
            trace_id="t", span_id="s", name="n", span_type="x", started_at=dt.datetime(2025, 1, 1)
        ),
        lambda: AgentConfig(id="a", name="n", status="live"),
        lambda: AgentConfig(id="a", name="n", version=0),
        lambda: WorkflowRun(workflow_name="w", run_id="r", snapshot=["not", "a", "dict"]),
        lambda: Include(id="m", before=-1),
        lambda: MessageUpdate(id="m", role="nobody"),
        lambda: MessageUpdate(id="m", metadata="x"),
        lambda: SpanUpdate(trace_id="t", span_id="s", ended_at=dt.datetime(2025, 1, 1)),
    ],
)
def test_bad_records_raise_validation_error(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        build()


def test_json_nesting_limit() -> None:
    from agent_storage.serde import MAX_JSON_DEPTH

    ok: object = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        ok = [ok]
    Message(id="m", thread_id="t", role="user", content=ok)
    with pytest.raises(ValidationError, match="nested deeper"):
        Message(id="m", thread_id="t", role="user", content=[ok])


def test_workflow_status_defaults_from_snapshot() -> None:
    assert (
        WorkflowRun(workflow_name="w", run_id="r", snapshot={"status": "suspended"}).status
        == "suspended"
    )
    assert WorkflowRun(workflow_name="w", run_id="r", snapshot={}).status is None
    assert (
        WorkflowRun(workflow_name="w", run_id="r", snapshot={"status": "a"}, status="b").status
        == "b"
    )


def test_score_int_becomes_float() -> None:
    s = Score(id="s", scorer_id="x", run_id="r", score=1)
    assert s.score == 1.0 and isinstance(s.score, float)


def test_updates_track_only_given_fields() -> None:
    u = SpanUpdate(trace_id="t", span_id="s", status="ok", output={"x": 1})
    assert u.changes() == {"status": "ok", "output": {"x": 1}}
    assert MessageUpdate(id="m").content is UNSET
    span = Span(trace_id="t", span_id="s", name="n", span_type="agent", started_at=NOW)
    assert u.apply(span).status == "ok" and u.apply(span).name == "n"


def test_agent_tools_become_tuple() -> None:
    assert AgentConfig(id="a", name="n", tools=["search", {"name": "calc"}]).tools == (
        "search",
        {"name": "calc"},
    )


_PLUS5 = dt.timezone(dt.timedelta(hours=5))
_MINUS5 = dt.timezone(dt.timedelta(hours=-5))


@pytest.mark.parametrize("when", [
    dt.datetime.min.replace(tzinfo=_PLUS5),   # before year 1 in UTC: OverflowError before
    dt.datetime.max.replace(tzinfo=_MINUS5),  # after year 9999 in UTC
    dt.datetime.min.replace(tzinfo=dt.UTC),   # outside the supported range
    dt.datetime.max.replace(tzinfo=dt.UTC),
])
def test_datetimes_outside_the_supported_range_are_validation_errors(when: dt.datetime) -> None:
    from agent_storage import Message, Span, ValidationError
    from agent_storage.serde import to_utc

    with pytest.raises(ValidationError, match="supported range"):
        Thread(id="t", resource_id="u", created_at=when)
    with pytest.raises(ValidationError, match="supported range"):
        Message(id="m", thread_id="t", role="user", content="x", created_at=when)
    with pytest.raises(ValidationError, match="supported range"):
        Span(trace_id="t", span_id="s", name="n", span_type="x", started_at=when)
    with pytest.raises(ValidationError, match="supported range"):
        to_utc(when, "start")


def test_the_supported_range_bounds_are_accepted_in_any_zone() -> None:
    from agent_storage.serde import MAX_DATETIME, MIN_DATETIME

    low = Thread(id="t", resource_id="u", created_at=MIN_DATETIME.astimezone(_PLUS5))
    high = Thread(id="t", resource_id="u", created_at=MAX_DATETIME.astimezone(_MINUS5))
    assert (low.created_at, high.created_at) == (MIN_DATETIME, MAX_DATETIME)


@pytest.mark.parametrize("blank", [" ", "   ", "\t", "\n", "\u00a0", "\u2003\u3000"])
def test_whitespace_only_ids_are_refused_like_the_empty_id(blank: str) -> None:
    from agent_storage import Message, ValidationError

    with pytest.raises(ValidationError, match="whitespace"):
        Thread(id=blank, resource_id="u")
    with pytest.raises(ValidationError, match="whitespace"):
        Message(id=blank, thread_id="t", role="user", content="x")
    with pytest.raises(ValidationError, match="whitespace"):
        Message(id="m", thread_id="t", role="user", content="x", resource_id=blank)
    assert Thread(id=" t ", resource_id="u").id == " t "  # padding is part of an id
