"""Threads (keyset-paged, filtered) and a conversation (offset-paged, or a context window)."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFoundError, ValidationError
from ..records import Include, Thread
from ._params import opt, page_number, required
from ._render import render

__all__ = ["conversation", "threads"]

THREADS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50
#: A title filter is applied to threads streamed in order; one request reads at most
#: this many before it stops and offers "next" from where it stopped.
TITLE_SCAN_LIMIT = 2000
#: Messages shown on each side of a deep-linked message.
WINDOW = 10
ORDERS = ("updated_at", "created_at")


async def _cursor(memory: Any, after: str | None) -> Thread | None:
    if after is None:
        return None
    thread = await memory.get_thread(after)
    if thread is None:
        raise NotFoundError(f"thread {after!r} (the page cursor) no longer exists")
    return thread  # type: ignore[no-any-return]


async def _scan_titles(query: Any, title: str, per_page: int) -> tuple[list[Thread], str | None,
                                                                        int]:
    """Matching threads of one page, the cursor of the next one and how many were read."""
    needle = title.casefold()
    found: list[Thread] = []
    scanned = 0
    last: Thread | None = None
    async with aclosing(query.limit(TITLE_SCAN_LIMIT).__aiter__()) as rows:
        async for thread in rows:
            scanned += 1
            last = thread
            if needle in (thread.title or "").casefold():
                if len(found) == per_page:
                    return found, found[-1].id, scanned
                found.append(thread)
    more = scanned == TITLE_SCAN_LIMIT and last is not None
    return found, last.id if more and last is not None else None, scanned


async def threads(request: Request) -> Response:
    """Threads newest first (by last update, or creation), filtered by resource, agent and
    title; keyset-paged with ``?after=<thread id>``; stats of the resource (or the store)."""
    memory = request.app.state.storage.memory
    resource, agent, title = opt(request, "resource"), opt(request, "agent"), opt(request, "title")
    order = opt(request, "order") or ORDERS[0]
    if order not in ORDERS:
        raise ValidationError(f"order: expected one of {list(ORDERS)}")
    query = memory.threads().where(resource_id=resource, agent_id=agent).order_by(order, "desc")
    query = query.after(await _cursor(memory, opt(request, "after")))
    scanned = None
    if title:
        rows, next_after, scanned = await _scan_titles(query, title, THREADS_PER_PAGE)
    else:
        rows = await query.limit(THREADS_PER_PAGE + 1).all()
        next_after = rows[THREADS_PER_PAGE - 1].id if len(rows) > THREADS_PER_PAGE else None
        rows = rows[:THREADS_PER_PAGE]
    stats = await memory.stats(resource_id=resource)
    working = await memory.get_resource(resource) if resource else None
    return render(request, "threads.html", title="Threads", threads=rows, next_after=next_after,
                  stats=stats, resource=working, scanned=scanned, order=order, orders=ORDERS,
                  first_page=opt(request, "after") is None)


async def conversation(request: Request) -> Response:
    """A thread as a chat: ``?page=N`` pages of messages, or ``?around=<id>`` the window
    around one message (what a ``#id`` deep link opens)."""
    memory = request.app.state.storage.memory
    thread = await memory.get_thread(required(request, "id"))
    if thread is None:
        raise NotFoundError(f"thread {request.query_params['id']!r} not found")
    around = opt(request, "around")
    if around:
        page = await memory.list_messages(
            thread.id, include=[Include(id=around, before=WINDOW, after=WINDOW)], per_page=0)
        if not any(m.id == around for m in page.items):
            raise NotFoundError(f"message {around!r} is not in thread {thread.id!r}")
        pages = None
    else:
        number = page_number(request)
        page = await memory.list_messages(thread.id, page=number, per_page=MESSAGES_PER_PAGE,
                                          with_total=True)
        pages = max(1, -(-(page.total or 0) // MESSAGES_PER_PAGE))
    resource = await memory.get_resource(thread.resource_id)
    return render(request, "conversation.html", title=thread.title or thread.id, thread=thread,
                  page=page, pages=pages, around=around, resource=resource)
