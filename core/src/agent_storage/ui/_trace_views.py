"""Traces by time and name, and one trace as a waterfall shown a page of spans at a time."""

from __future__ import annotations

import datetime as _dt

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFoundError, ValidationError
from ._params import opt, page_number, required
from ._render import render
from ._waterfall import layout

__all__ = ["trace", "traces"]

TRACES_PER_PAGE = 50
SPANS_PER_PAGE = 200


def _time(request: Request, name: str) -> _dt.datetime | None:
    raw = opt(request, name)
    if raw is None:
        return None
    try:
        value = _dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name}: expected an ISO date or time, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


async def traces(request: Request) -> Response:
    """Root spans newest first, by name and a started-at range."""
    number = page_number(request)
    page = await request.app.state.storage.observability.list_traces(
        name=opt(request, "name"), start=_time(request, "start"), end=_time(request, "end"),
        page=number, per_page=TRACES_PER_PAGE)
    return render(request, "traces.html", title="Traces", page=page)


async def trace(request: Request) -> Response:
    """The waterfall: every bar on the whole trace's time axis, in tree order, one page of
    rows at a time. The public API reads a trace whole (``get_trace``); the page keeps
    what the browser receives bounded."""
    trace_id = required(request, "id")
    found = await request.app.state.storage.observability.get_trace(trace_id)
    if found is None:
        raise NotFoundError(f"trace {trace_id!r} not found")
    waterfall = layout(found.spans)
    number = page_number(request)
    pages = max(1, -(-len(waterfall.bars) // SPANS_PER_PAGE))
    if number >= pages:
        raise NotFoundError(f"trace {trace_id!r} has {pages} page(s) of spans")
    shown = waterfall.bars[number * SPANS_PER_PAGE:(number + 1) * SPANS_PER_PAGE]
    return render(request, "trace.html", title=f"Trace {trace_id}", trace=found,
                  waterfall=waterfall, bars=shown, number=number, pages=pages)
