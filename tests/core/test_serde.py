"""The wire format: one converter, exact round trips."""

from __future__ import annotations

import datetime as dt

import pytest
from agent_storage import AgentConfig, Message, Retention, Span, Thread, ValidationError
from agent_storage.serde import (
    check_json,
    dumps,
    format_datetime,
    from_wire,
    loads,
    parse_datetime,
    to_utc,
    to_wire,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = dt.datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_valid_json_round_trips_exactly(value: object) -> None:
    assert check_json(value) is value
    assert loads(dumps(value)) == value


def test_datetime_wire_form_keeps_microseconds() -> None:
    text = format_datetime(NOW)
    assert text == "2025-03-04T05:06:07.891011+00:00"
    assert parse_datetime(text) == NOW


def test_to_utc_refuses_naive() -> None:
    with pytest.raises(ValidationError, match="naive"):
        to_utc(dt.datetime(2025, 1, 1), "start")


@pytest.mark.parametrize(
    "record",
    [
        Thread(
            id="t",
            resource_id="u",
            title="Ünïcode ✓ עברית",
            metadata={"a": [1, 2.5, None]},
            created_at=NOW,
            updated_at=NOW,
        ),
        Message(
            id="m",
            thread_id="t",
            role="tool",
            content=[{"type": "text", "text": "hi"}],
            created_at=NOW,
        ),
        Span(
            trace_id="t",
            span_id="s",
            name="n",
            span_type="agent",
            started_at=NOW,
            ended_at=NOW,
            input={"q": 1},
        ),
        AgentConfig(
            id="a", name="n", tools=("x",), model={"provider": "p"}, created_at=NOW, updated_at=NOW
        ),
    ],
)
def test_records_round_trip_through_wire(record: object) -> None:
    wire = to_wire(record)
    assert loads(dumps(wire)) == wire  # the wire form is plain JSON
    assert from_wire(wire, type(record)) == record


def test_retention_ttl_round_trips() -> None:
    r = Retention(max_messages_per_thread=10, ttl={"messages": dt.timedelta(days=1)})
    assert from_wire(to_wire(r), Retention) == r


def test_a_cycle_is_a_value_error_even_with_a_raised_limit_on_a_small_stack() -> None:
    """The C encoder runs without cycle markers; with a raised recursion limit a cycle
    could exhaust a small thread stack (a crash) before RecursionError. Run in a child
    process so that a crash fails this test instead of the whole run."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys, threading
        from agent_storage import serde
        sys.setrecursionlimit(19000)
        threading.stack_size(1024 * 1024)
        c = {}
        c["x"] = [c]
        def run():
            try:
                serde.dumps(c)
            except ValueError as exc:
                print("ValueError", exc)
        t = threading.Thread(target=run)
        t.start()
        t.join()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.startswith("ValueError Circular reference"), done.stdout
