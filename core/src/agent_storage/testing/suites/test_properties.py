"""Property-based round trips (hypothesis), identical on every backend.

Any record whose JSON content, metadata, ids and titles hold arbitrary unicode (emoji,
RTL, combining marks, NUL, lone surrogates), nesting up to ``serde.MAX_JSON_DEPTH`` and
beyond, 64-bit integers and beyond, and any finite float, either round-trips EXACTLY
(same types: a float stays a float, ``-0.0`` keeps its sign, ``True`` is not ``1``) or is
refused up front with :class:`~agent_storage.ValidationError` before anything is written.

The oracle is written independently of ``serde`` (see :func:`refusal`), so a change of
the rules in one place and not the other shows up here.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent_storage import Message, Resource, Thread, ValidationError, WorkflowRun
from agent_storage.serde import MAX_JSON_DEPTH
from agent_storage.testing._helpers import T0, uid

pytestmark = pytest.mark.asyncio

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    # The suite classes are imported into one test module per backend: the same method
    # then runs on several instances, which is what differing_executors is about.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
    database=None,  # the kit runs in users' projects: leave no .hypothesis directory
)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_counter = itertools.count()

#: Text that databases and JSON paths tend to get wrong.
TRICKY = (
    "😀",
    "👩‍👩‍👧‍👦",  # ZWJ sequence
    "مرحبا بالعالم",  # RTL
    "שָׁלוֹם",  # RTL with combining marks
    "e\u0301",  # combining acute
    "\u202eRTL override",
    "\ufeffBOM",
    "\U0010ffff",
    "line\u2028sep",
    "tab\tnew\nline\r",
    "\\",
    '"quoted"',
    "'single'",
    "%_*?[]{}",
    "$.a.b[0]",
    "#pk",
    ":v",
    "a\x00b",  # NUL: refused
    "\ud800",  # lone high surrogate: refused
    "x\udfffy",  # lone low surrogate: refused
    "",
)

any_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=24),  # includes NUL and Cs
    st.sampled_from(TRICKY),
)
big_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([INT_MIN, INT_MAX, INT_MIN - 1, INT_MAX + 1, 2**53 + 1, -(2**53) - 1]),
)
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [0.0, -0.0, 0.1, 1e16, 1e300, -1.7976931348623157e308, 5e-324, 2.0**53 + 2, 1.5e-7]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), big_ints, finite_floats, any_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(any_text, inner, max_size=4),
    ),
    max_leaves=12,
)


def _bad(text: str) -> bool:
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def refusal(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` must be refused as JSON (None: it must round-trip)."""
    if depth > MAX_JSON_DEPTH:
        return "too deep"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return "bad text" if _bad(value) else None
    if isinstance(value, int):
        return None if INT_MIN <= value <= INT_MAX else "int out of range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "not finite"
    if isinstance(value, dict):
        for key, item in value.items():
            if _bad(key):
                return "bad key"
            why = refusal(item, depth + 1)
            if why:
                return why
        return None
    if isinstance(value, list | tuple):
        for item in value:
            why = refusal(item, depth + 1)
            if why:
                return why
        return None
    return "not JSON"


def exactly(a: Any, b: Any) -> bool:
    """JSON equality that also compares types: 1 != 1.0 != True, and floats bit for bit
    (except the sign of zero: PostgreSQL's numeric has no -0.0, and -0.0 == 0.0)."""
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(b, tuple):
        b = list(b)
    if type(a) is not type(b):
        if isinstance(a, dict) and isinstance(b, dict):
            pass  # mapping types may differ (dict vs MappingProxy); compare contents
        else:
            return False
    if isinstance(a, float):
        return bool(a == b == 0.0 or a.hex() == b.hex())
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(exactly(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(exactly(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _next(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uid('p')[-6:]}"


async def _thread(storage: Any) -> Thread:
    thread: Thread = await storage.memory.save_thread(
        Thread(id=_next("prop-t"), resource_id="prop-owner")
    )
    return thread


def _nest(depth: int, leaf: Any, kinds: list[bool]) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value} if kinds[i % len(kinds)] else [value]
    return value


class TestJsonProperties:
    @SETTINGS
    @given(content=json_values, metadata=st.dictionaries(any_text, json_values, max_size=3))
    async def test_message_content_and_metadata(
        self, storage: Any, content: Any, metadata: dict[str, Any]
    ) -> None:
        thread = await _thread(storage)
        why = refusal(content) or refusal(metadata)
        mid = _next("prop-m")
        if why:
            with pytest.raises(ValidationError):
                Message(
                    id=mid, thread_id=thread.id, role="user", content=content, metadata=metadata
                )
            return
        msg = Message(
            id=mid,
            thread_id=thread.id,
            role="user",
            content=content,
            metadata=metadata,
            created_at=T0,
        )
        await storage.memory.save_messages([msg])
        (got,) = await storage.memory.get_messages([mid])
        assert exactly(got.content, content), (got.content, content)
        assert exactly(dict(got.metadata), metadata), (got.metadata, metadata)
        (listed,) = (await storage.memory.list_messages(thread.id)).items
        assert exactly(listed.content, content)
        recent = (await storage.memory.list_messages(thread.id, last=1)).items
        assert exactly(recent[0].content, content)

    @SETTINGS
    @given(snapshot=st.dictionaries(any_text, json_values, max_size=4), result=json_values)
    async def test_workflow_snapshot_and_step_result(
        self, storage: Any, snapshot: dict[str, Any], result: Any
    ) -> None:
        run_id = _next("prop-run")
        snapshot.pop("context", None)
        snapshot.pop("status", None)
        why = refusal(snapshot)
        if why:
            with pytest.raises(ValidationError):
                await storage.workflows.persist_snapshot("prop-flow", run_id, snapshot)
            assert await storage.workflows.get_run(run_id) is None
            return
        await storage.workflows.persist_snapshot("prop-flow", run_id, snapshot)
        loaded = await storage.workflows.load_snapshot("prop-flow", run_id)
        assert exactly(loaded, snapshot)
        if refusal(result):
            with pytest.raises(ValidationError):
                await storage.workflows.update_step_result("prop-flow", run_id, "s", result)
            assert exactly(await storage.workflows.load_snapshot("prop-flow", run_id), snapshot)
            return
        await storage.workflows.update_step_result("prop-flow", run_id, "s", result)
        loaded = await storage.workflows.load_snapshot("prop-flow", run_id)
        assert exactly(loaded["context"]["s"], result)

    @SETTINGS
    @given(
        depth=st.integers(min_value=1, max_value=MAX_JSON_DEPTH + 6),
        kinds=st.lists(st.booleans(), min_size=1, max_size=4),
    )
    async def test_nesting_up_to_the_limit(
        self, storage: Any, depth: int, kinds: list[bool]
    ) -> None:
        thread = await _thread(storage)
        value = _nest(depth, "leaf", kinds)
        mid = _next("prop-deep")
        if depth > MAX_JSON_DEPTH:
            with pytest.raises(ValidationError):
                Message(id=mid, thread_id=thread.id, role="user", content=value)
            with pytest.raises(ValidationError):
                await storage.memory.update_resource(_next("prop-r"), metadata={"d": value})
            return
        await storage.memory.save_messages(
            [Message(id=mid, thread_id=thread.id, role="tool", content=value)]
        )
        (got,) = await storage.memory.get_messages([mid])
        assert exactly(got.content, value)
        if depth < MAX_JSON_DEPTH:  # metadata's own dict is one level
            rid = _next("prop-r")
            await storage.memory.update_resource(rid, metadata={"d": value})
            res = await storage.memory.get_resource(rid)
            assert exactly(res.metadata["d"], value)

    async def test_nesting_boundaries_exactly(self, storage: Any) -> None:
        thread = await _thread(storage)
        at_limit = _nest(MAX_JSON_DEPTH, 1, [True, False])
        await storage.memory.save_messages(
            [Message(id=_next("prop-edge"), thread_id=thread.id, role="user", content=at_limit)]
        )
        with pytest.raises(ValidationError):
            Message(
                id="x",
                thread_id=thread.id,
                role="user",
                content=_nest(MAX_JSON_DEPTH + 1, 1, [True]),
            )

    @SETTINGS
    @given(number=st.one_of(big_ints, finite_floats))
    async def test_numbers(self, storage: Any, number: int | float) -> None:
        thread = await _thread(storage)
        mid = _next("prop-num")
        value = {"n": number, "list": [number], "nested": {"n": number}}
        if refusal(value):
            with pytest.raises(ValidationError):
                Message(id=mid, thread_id=thread.id, role="user", content=value)
            with pytest.raises(ValidationError):
                await storage.workflows.persist_snapshot("prop-flow", mid, {"n": number})
            return
        await storage.memory.save_messages(
            [Message(id=mid, thread_id=thread.id, role="user", content=value, metadata=value)]
        )
        (got,) = await storage.memory.get_messages([mid])
        assert exactly(got.content, value), (got.content, value)
        assert exactly(dict(got.metadata), value)
        await storage.workflows.persist_snapshot("prop-flow", mid, {"n": number})
        assert exactly(await storage.workflows.load_snapshot("prop-flow", mid), {"n": number})

    @SETTINGS
    @given(thread_id=any_text, title=any_text, key=any_text, value=any_text, owner=any_text)
    async def test_ids_titles_and_metadata_filters(
        self, storage: Any, thread_id: str, title: str, key: str, value: str, owner: str
    ) -> None:
        assume(thread_id and owner and key)
        suffix = _next("")
        tid, rid = (thread_id + suffix)[-255:], (owner + suffix)[-255:]
        key = key[:200]
        if _bad(tid) or _bad(rid) or _bad(title) or _bad(key) or _bad(value):
            with pytest.raises(ValidationError):
                Thread(id=tid, resource_id=rid, title=title, metadata={key: value})
            return
        thread = Thread(id=tid, resource_id=rid, title=title, metadata={key: value})
        await storage.memory.save_thread(thread)
        got = await storage.memory.get_thread(tid, resource_id=rid)
        assert got is not None
        assert (got.id, got.resource_id, got.title) == (tid, rid, title)
        assert exactly(dict(got.metadata), {key: value})
        page = await storage.memory.list_threads(resource_id=rid, metadata={key: value})
        assert [t.id for t in page.items] == [tid]
        await storage.memory.save_messages(
            [Message(id=tid, thread_id=tid, role="user", content=title, type="text")]
        )
        msgs = await storage.memory.list_messages(tid, resource_id=rid)
        assert [(m.id, m.content, m.resource_id) for m in msgs.items] == [(tid, title, rid)]

    @SETTINGS
    @given(working_memory=any_text, metadata=st.dictionaries(any_text, json_values, max_size=3))
    async def test_resource_working_memory(
        self, storage: Any, working_memory: str, metadata: dict[str, Any]
    ) -> None:
        rid = _next("prop-res")
        if _bad(working_memory) or refusal(metadata):
            with pytest.raises(ValidationError):
                Resource(id=rid, working_memory=working_memory, metadata=metadata)
            with pytest.raises(ValidationError):
                await storage.memory.update_resource(
                    rid, working_memory=working_memory, metadata=metadata
                )
            assert await storage.memory.get_resource(rid) is None
            return
        await storage.memory.update_resource(rid, working_memory=working_memory, metadata=metadata)
        got = await storage.memory.get_resource(rid)
        assert got.working_memory == working_memory
        assert exactly(dict(got.metadata), metadata)

    async def test_float_edge_values_round_trip_as_floats(self, storage: Any) -> None:
        """Whole, huge and tiny floats stay floats with the same value (a JSON codec that
        prints 1e16 as 10000000000000000 hands back an int; 1e300 an int != 1e300)."""
        values = [1.0, 1e16, 1e300, -1.7976931348623157e308, 5e-324, 2.0**53 + 2, 1.5e-7, 0.1]
        thread = await _thread(storage)
        mid = _next("prop-floats")
        content = {"values": values, "one": 1e16}
        await storage.memory.save_messages(
            [Message(id=mid, thread_id=thread.id, role="user", content=content, metadata=content)]
        )
        (got,) = await storage.memory.get_messages([mid])
        for name, value in (("content", got.content), ("metadata", dict(got.metadata))):
            wrong = [
                (want, back)
                for want, back in zip(values, value["values"], strict=True)
                if not exactly(back, want)
            ]
            assert not wrong, f"{name}: (sent, read back) {wrong}"
            assert exactly(value["one"], 1e16), f"{name}: {value['one']!r}"
        await storage.workflows.persist_snapshot("prop-flow", mid, {"values": values})
        snap = await storage.workflows.load_snapshot("prop-flow", mid)
        assert exactly(snap["values"], values), snap["values"]

    async def test_refusal_is_the_same_as_the_records(self) -> None:
        """The oracle above agrees with the records on a few hand-picked values."""
        for value, bad in [
            ({"a": [1, 2.5, None, True, "x"]}, False),
            ({"a": "\x00"}, True),
            ({"\ud801": 1}, True),
            ([2**63], True),
            ([INT_MIN], False),
            (_nest(MAX_JSON_DEPTH, 0, [False]), False),
            (_nest(MAX_JSON_DEPTH + 1, 0, [False]), True),
        ]:
            assert (refusal(value) is not None) is bad
            if bad:
                with pytest.raises(ValidationError):
                    Message(id="m", thread_id="t", role="user", content=value)
            else:
                Message(id="m", thread_id="t", role="user", content=value)
            wrapped = {"v": value}  # one level deeper
            if refusal(wrapped):
                with pytest.raises(ValidationError):
                    WorkflowRun(workflow_name="f", run_id="r", snapshot=wrapped)
            else:
                WorkflowRun(workflow_name="f", run_id="r", snapshot=wrapped)
