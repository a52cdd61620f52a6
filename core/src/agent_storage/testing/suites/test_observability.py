"""Observability: spans and traces (runs, steps, timeline events), updates, deletion and
root-span listing with filters and pages."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pytest

from agent_storage import Retention, Span, SpanUpdate, ValidationError
from agent_storage.testing._helpers import ts

pytestmark = pytest.mark.asyncio


def _span(trace_id: str, span_id: str, at: float = 0, **fields: Any) -> Span:
    fields.setdefault("name", "agent.run" if fields.get("parent_span_id") is None else "step")
    fields.setdefault("span_type", "agent_run" if fields.get("parent_span_id") is None
                      else "tool_call")
    return Span(trace_id=trace_id, span_id=span_id, started_at=ts(at), **fields)


def _span_ids(spans: Any) -> list[str]:
    return [s.span_id for s in spans]


def _trace_ids(page: Any) -> list[str]:
    return [s.trace_id for s in page.items]


class TestSpans:
    async def test_create_and_get_one_span(self, storage: Any) -> None:
        span = Span(
            trace_id="tr-1", span_id="sp-1", name="agent.run", span_type="agent_run",
            started_at=ts(1), ended_at=ts(2), status="ok",
            attributes={"model": "gpt", "tokens": {"in": 10, "out": 20}},
            metadata={"env": "test"}, input={"messages": [{"role": "user", "content": "hi"}]},
            output={"text": "hello 👋"}, error=None, entity_type="agent", entity_id="agent-1",
            agent_id="agent-1", resource_id="user-1", thread_id="thread-1", run_id="run-1",
            created_at=ts(1), updated_at=ts(1),
        )
        created = await storage.observability.create_spans([span])
        assert created == [span]
        assert await storage.observability.get_span("tr-1", "sp-1") == span

    async def test_missing_span_and_trace_are_none(self, storage: Any) -> None:
        assert await storage.observability.get_span("tr-x", "sp-x") is None
        assert await storage.observability.get_trace("tr-x") is None
        await storage.observability.create_spans([_span("tr-1", "sp-1")])
        assert await storage.observability.get_span("tr-1", "sp-2") is None
        assert await storage.observability.get_span("tr-2", "sp-1") is None

    async def test_trace_orders_parent_and_children_by_started_at(self, storage: Any) -> None:
        await storage.observability.create_spans([
            _span("tr-1", "child-b", 3, parent_span_id="root"),
            _span("tr-1", "root", 0),
            _span("tr-1", "grandchild", 2, parent_span_id="child-a"),
            _span("tr-1", "child-a", 1, parent_span_id="root"),
            _span("tr-2", "other", 0),
        ])
        trace = await storage.observability.get_trace("tr-1")
        assert trace is not None
        assert trace.trace_id == "tr-1"
        assert _span_ids(trace.spans) == ["root", "child-a", "grandchild", "child-b"]
        parents = {s.span_id: s.parent_span_id for s in trace.spans}
        assert parents == {"root": None, "child-a": "root", "grandchild": "child-a",
                           "child-b": "root"}

    async def test_trace_ties_ordered_by_span_id(self, storage: Any) -> None:
        await storage.observability.create_spans([
            _span("tr-1", "c", 1, parent_span_id="a"), _span("tr-1", "a", 0),
            _span("tr-1", "b", 1, parent_span_id="a"),
        ])
        trace = await storage.observability.get_trace("tr-1")
        assert trace is not None and _span_ids(trace.spans) == ["a", "b", "c"]

    async def test_same_span_id_in_two_traces(self, storage: Any) -> None:
        await storage.observability.create_spans([
            _span("tr-1", "sp", 0, name="one"), _span("tr-2", "sp", 0, name="two")])
        one = await storage.observability.get_span("tr-1", "sp")
        two = await storage.observability.get_span("tr-2", "sp")
        assert one is not None and two is not None
        assert (one.name, two.name) == ("one", "two")

    async def test_create_again_replaces_the_span(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "sp", 0, status="running")])
        await storage.observability.create_spans([_span("tr-1", "sp", 0, status="ok",
                                                        output="done")])
        got = await storage.observability.get_span("tr-1", "sp")
        assert got is not None and (got.status, got.output) == ("ok", "done")
        trace = await storage.observability.get_trace("tr-1")
        assert trace is not None and len(trace.spans) == 1

    async def test_primitive_json_values(self, storage: Any) -> None:
        values: list[Any] = ["text", 42, -1.5, True, False, None, [1, "two", None], {}]
        spans = [_span(f"tr-{n}", "sp", n, input=v, output=v, error=v,
                       attributes={"value": v, "nested": [v]}) for n, v in enumerate(values)]
        await storage.observability.create_spans(spans)
        for n, v in enumerate(values):
            got = await storage.observability.get_span(f"tr-{n}", "sp")
            assert got is not None
            assert (got.input, got.output, got.error) == (v, v, v)
            assert got.attributes == {"value": v, "nested": [v]}
            assert type(got.input) is type(v)

    async def test_events_round_trip(self, storage: Any) -> None:
        await storage.observability.create_spans([
            _span("tr-1", "run", 0),
            _span("tr-1", "ev-1", 1, parent_span_id="run", is_event=True, name="tool.start",
                  span_type="event"),
            _span("tr-1", "step", 2, parent_span_id="run"),
        ])
        trace = await storage.observability.get_trace("tr-1")
        assert trace is not None
        assert [(s.span_id, s.is_event) for s in trace.spans] == [
            ("run", False), ("ev-1", True), ("step", False)]
        await storage.observability.update_spans([
            SpanUpdate(trace_id="tr-1", span_id="step", is_event=True)])
        got = await storage.observability.get_span("tr-1", "step")
        assert got is not None and got.is_event is True

    async def test_returned_json_is_a_copy(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "sp", attributes={"a": [1]})])
        got = await storage.observability.get_span("tr-1", "sp")
        assert got is not None
        got.attributes["a"].append(2)
        again = await storage.observability.get_span("tr-1", "sp")
        assert again is not None and again.attributes == {"a": [1]}

    async def test_duplicate_in_a_batch_is_refused(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.observability.create_spans([
                _span("tr-1", "a"), _span("tr-1", "b"), _span("tr-1", "a", 5)])
        assert await storage.observability.get_trace("tr-1") is None

    async def test_empty_batches(self, storage: Any) -> None:
        assert await storage.observability.create_spans([]) == []
        assert await storage.observability.update_spans([]) == []
        assert await storage.observability.delete_traces([]) == 0

    async def test_batch_create_many_traces(self, storage: Any) -> None:
        spans = [_span(f"tr-{t}", f"sp-{s}", s, parent_span_id=None if s == 0 else "sp-0")
                 for t in range(5) for s in range(4)]
        created = await storage.observability.create_spans(spans)
        assert len(created) == 20
        for t in range(5):
            trace = await storage.observability.get_trace(f"tr-{t}")
            assert trace is not None
            assert _span_ids(trace.spans) == ["sp-0", "sp-1", "sp-2", "sp-3"]


class TestSpanUpdates:
    async def test_update_changes_given_fields_only(self, storage: Any) -> None:
        original = _span("tr-1", "sp", 0, status="running", attributes={"a": 1},
                         metadata={"m": 1}, agent_id="agent-1", created_at=ts(0),
                         updated_at=ts(0))
        await storage.observability.create_spans([original])
        updated = await storage.observability.update_spans([SpanUpdate(
            trace_id="tr-1", span_id="sp", status="ok", ended_at=ts(9), output={"r": [1]},
            attributes={"b": 2})])
        assert len(updated) == 1
        got = await storage.observability.get_span("tr-1", "sp")
        assert got == updated[0]
        assert (got.status, got.ended_at, got.output) == ("ok", ts(9), {"r": [1]})
        assert got.attributes == {"b": 2}
        assert (got.metadata, got.agent_id, got.name, got.started_at) == (
            {"m": 1}, "agent-1", original.name, ts(0))
        assert got.created_at == ts(0)
        assert got.updated_at > ts(0)

    async def test_update_can_set_a_field_to_none(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "sp", 0, error={"e": 1},
                                                        status="error")])
        await storage.observability.update_spans([
            SpanUpdate(trace_id="tr-1", span_id="sp", error=None, status=None)])
        got = await storage.observability.get_span("tr-1", "sp")
        assert got is not None and (got.error, got.status) == (None, None)

    async def test_unknown_span_update_is_skipped(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "sp", 0)])
        updated = await storage.observability.update_spans([
            SpanUpdate(trace_id="tr-1", span_id="missing", status="ok"),
            SpanUpdate(trace_id="tr-1", span_id="sp", status="ok"),
            SpanUpdate(trace_id="tr-9", span_id="sp", status="ok"),
        ])
        assert [(s.trace_id, s.span_id, s.status) for s in updated] == [("tr-1", "sp", "ok")]
        assert await storage.observability.get_span("tr-1", "missing") is None
        assert await storage.observability.get_trace("tr-9") is None

    async def test_batch_update(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", f"sp-{n}", n) for n in range(4)])
        await storage.observability.update_spans([
            SpanUpdate(trace_id="tr-1", span_id=f"sp-{n}", status=f"done-{n}") for n in (0, 2, 3)])
        trace = await storage.observability.get_trace("tr-1")
        assert trace is not None
        assert [s.status for s in trace.spans] == ["done-0", None, "done-2", "done-3"]

    async def test_duplicate_update_in_a_batch_is_refused(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "sp", 0)])
        with pytest.raises(ValidationError):
            await storage.observability.update_spans([
                SpanUpdate(trace_id="tr-1", span_id="sp", status="a"),
                SpanUpdate(trace_id="tr-1", span_id="sp", status="b")])
        got = await storage.observability.get_span("tr-1", "sp")
        assert got is not None and got.status is None

    async def test_invalid_update_is_refused(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            SpanUpdate(trace_id="tr-1", span_id="sp", attributes=["not", "a", "dict"])
        with pytest.raises(ValidationError):
            SpanUpdate(trace_id="tr-1", span_id="sp", output={1, 2})

    async def test_delete_traces_counts_spans(self, storage: Any) -> None:
        await storage.observability.create_spans(
            [_span("tr-1", f"sp-{n}", n) for n in range(3)]
            + [_span("tr-2", f"sp-{n}", n) for n in range(2)]
            + [_span("tr-3", "sp-0", 0)])
        assert await storage.observability.delete_traces(["tr-1", "tr-2", "tr-missing"]) == 5
        assert await storage.observability.get_trace("tr-1") is None
        assert await storage.observability.get_trace("tr-2") is None
        kept = await storage.observability.get_trace("tr-3")
        assert kept is not None and _span_ids(kept.spans) == ["sp-0"]
        assert await storage.observability.delete_traces(["tr-1"]) == 0
        assert _trace_ids(await storage.observability.list_traces()) == ["tr-3"]


class TestTraceListing:
    async def _seed(self, storage: Any) -> None:
        roots = [
            _span("tr-0", "root", 0, name="chat", span_type="agent_run", entity_type="agent",
                  entity_id="a1", agent_id="a1", resource_id="u1"),
            _span("tr-1", "root", 1, name="chat", span_type="agent_run", entity_type="agent",
                  entity_id="a2", agent_id="a2", resource_id="u2"),
            _span("tr-2", "root", 2, name="plan", span_type="workflow_run",
                  entity_type="workflow", entity_id="wf", resource_id="u1"),
            _span("tr-3", "root", 3, name="chat", span_type="agent_run", entity_type="agent",
                  entity_id="a1", agent_id="a1", resource_id="u1"),
        ]
        children = [_span(f"tr-{n}", "child", n + 0.5, parent_span_id="root", name="chat",
                          agent_id="a1", resource_id="u1") for n in range(4)]
        await storage.observability.create_spans(roots + children)

    async def test_lists_root_spans_newest_first(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.observability.list_traces()
        assert _trace_ids(page) == ["tr-3", "tr-2", "tr-1", "tr-0"]
        assert all(s.parent_span_id is None and s.span_id == "root" for s in page.items)
        assert (page.total, page.has_more) == (4, False)

    async def test_empty(self, storage: Any) -> None:
        page = await storage.observability.list_traces()
        assert (page.items, page.total, page.has_more) == ((), 0, False)

    async def test_filter_by_name(self, storage: Any) -> None:
        await self._seed(storage)
        assert _trace_ids(await storage.observability.list_traces(name="chat")) == [
            "tr-3", "tr-1", "tr-0"]
        assert _trace_ids(await storage.observability.list_traces(name="plan")) == ["tr-2"]

    async def test_filter_by_span_type(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.observability.list_traces(span_type="workflow_run")
        assert _trace_ids(page) == ["tr-2"]
        assert (await storage.observability.list_traces(span_type="tool_call")).total == 0

    async def test_filter_by_entity(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.observability.list_traces(entity_type="agent", entity_id="a1")
        assert _trace_ids(page) == ["tr-3", "tr-0"]
        assert _trace_ids(await storage.observability.list_traces(entity_type="workflow")) == [
            "tr-2"]

    async def test_filter_by_agent_and_resource(self, storage: Any) -> None:
        await self._seed(storage)
        assert _trace_ids(await storage.observability.list_traces(agent_id="a2")) == ["tr-1"]
        assert _trace_ids(await storage.observability.list_traces(resource_id="u1")) == [
            "tr-3", "tr-2", "tr-0"]
        both = await storage.observability.list_traces(agent_id="a1", resource_id="u1")
        assert _trace_ids(both) == ["tr-3", "tr-0"]

    async def test_filter_by_date_range_inclusive(self, storage: Any) -> None:
        await self._seed(storage)
        page = await storage.observability.list_traces(start=ts(1), end=ts(2))
        assert _trace_ids(page) == ["tr-2", "tr-1"]
        assert _trace_ids(await storage.observability.list_traces(start=ts(2.5))) == ["tr-3"]
        assert _trace_ids(await storage.observability.list_traces(end=ts(0))) == ["tr-0"]

    async def test_pagination(self, storage: Any) -> None:
        await storage.observability.create_spans([_span(f"tr-{n}", "root", n) for n in range(5)])
        first = await storage.observability.list_traces(page=0, per_page=2)
        middle = await storage.observability.list_traces(page=1, per_page=2)
        last = await storage.observability.list_traces(page=2, per_page=2)
        assert (_trace_ids(first), first.total, first.has_more) == (["tr-4", "tr-3"], 5, True)
        assert (_trace_ids(middle), middle.total, middle.has_more) == (["tr-2", "tr-1"], 5, True)
        assert (_trace_ids(last), last.total, last.has_more) == (["tr-0"], 5, False)
        everything = await storage.observability.list_traces(per_page=None)
        assert (len(everything.items), everything.total) == (5, 5)

    async def test_ties_broken_by_trace_id(self, storage: Any) -> None:
        await storage.observability.create_spans(
            [_span(t, "root", 1) for t in ("tr-b", "tr-d", "tr-a", "tr-c")])
        pages = [await storage.observability.list_traces(page=n, per_page=2) for n in range(2)]
        assert [_trace_ids(p) for p in pages] == [["tr-d", "tr-c"], ["tr-b", "tr-a"]]

    async def test_root_made_child_leaves_the_listing(self, storage: Any) -> None:
        await storage.observability.create_spans([_span("tr-1", "a", 0), _span("tr-1", "b", 1)])
        assert (await storage.observability.list_traces()).total == 2
        await storage.observability.update_spans([
            SpanUpdate(trace_id="tr-1", span_id="b", parent_span_id="a")])
        page = await storage.observability.list_traces()
        assert [(s.trace_id, s.span_id) for s in page.items] == [("tr-1", "a")]


@pytest.mark.agent_storage_requires("ttl")
class TestSpanRetention:
    async def test_expired_spans_are_invisible(self, storage_factory: Any) -> None:
        store = await storage_factory(retention=Retention(ttl={"spans": _dt.timedelta(hours=1)}))
        now = _dt.datetime.now(_dt.UTC)
        old, new = now - _dt.timedelta(hours=2), now - _dt.timedelta(minutes=1)
        await store.observability.create_spans([
            _span("tr-old", "root", 0, created_at=old, updated_at=old),
            _span("tr-new", "root", 1, created_at=new, updated_at=new),
            _span("tr-new", "stale-child", 2, parent_span_id="root", created_at=old,
                  updated_at=old),
        ])
        assert await store.observability.get_span("tr-old", "root") is None
        assert await store.observability.get_trace("tr-old") is None
        trace = await store.observability.get_trace("tr-new")
        assert trace is not None and _span_ids(trace.spans) == ["root"]
        page = await store.observability.list_traces()
        assert (_trace_ids(page), page.total) == (["tr-new"], 1)
        updated = await store.observability.update_spans([
            SpanUpdate(trace_id="tr-old", span_id="root", status="ok")])
        assert updated == []
