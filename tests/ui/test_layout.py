"""The waterfall layout and score histogram, without a browser."""

from __future__ import annotations

import datetime as dt

from agent_storage import Span
from agent_storage.ui._charts import histogram
from agent_storage.ui._waterfall import layout, tree_order

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _span(sid: str, parent: str | None, start: int, end: int | None, **kw: object) -> Span:
    return Span(trace_id="t", span_id=sid, parent_span_id=parent, name=sid, span_type="x",
                started_at=T0 + dt.timedelta(milliseconds=start),
                ended_at=None if end is None else T0 + dt.timedelta(milliseconds=end), **kw)


def test_tree_order_is_depth_first_and_survives_orphans_and_cycles() -> None:
    spans = [_span("b", "a", 5, 6), _span("a", None, 0, 10), _span("c", "a", 1, 2),
             _span("lost", "nobody", 3, 4), _span("x", "y", 7, 8), _span("y", "x", 7, 8)]
    order = [(s.span_id, depth, orphan) for s, depth, orphan in tree_order(spans)]
    assert order[:4] == [("a", 0, False), ("c", 1, False), ("b", 1, False),
                         ("lost", 0, True)]
    assert sorted(sid for sid, _, _ in order[4:]) == ["x", "y"]  # a cycle: shown, not lost
    assert len(order) == len(spans)


def test_layout_places_bars_on_the_trace_axis() -> None:
    wf = layout([_span("a", None, 0, 200), _span("b", "a", 50, 150),
                 _span("e", "a", 100, None, is_event=True), _span("open", "a", 150, None),
                 _span("bad", "a", 10, 20, error={"message": "boom"})])
    bars = {b.span.span_id: b for b in wf.bars}
    assert wf.total_ms == 200
    assert (bars["a"].offset, bars["a"].width) == (0.0, 100.0)
    assert (bars["b"].offset, bars["b"].width) == (25.0, 50.0)
    assert bars["e"].width == 0.4 and bars["e"].duration_ms is None  # an instant, visible
    assert bars["open"].offset + bars["open"].width == 100.0  # unfinished: to the end
    assert bars["bad"].error and not bars["a"].error


def test_histogram_bins_scores() -> None:
    h = histogram([0.0, 0.05, 0.5, 0.95, 1.0])
    assert (h.low, h.high, h.n) == (0.0, 1.0, 5)
    assert h.counts == (2, 0, 0, 0, 0, 1, 0, 0, 0, 2)
    wide = histogram([3.0, 3.0])
    assert wide.low < 3.0 < wide.high and sum(wide.counts) == 2
