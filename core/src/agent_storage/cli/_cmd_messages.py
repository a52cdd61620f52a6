"""``agent-storage messages URL THREAD [--last N]``."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ThreadNotFoundError
from ._common import EXIT_OK, positive_int, use_store, wire
from ._output import Output, message_text
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("--last", type=positive_int, help="only the newest N (chronological)")
    p.add_argument("--resource", help="check the thread belongs to this resource")


async def _run(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        memory = storage.memory
        thread = await memory.get_thread(args.thread, resource_id=args.resource)
        if thread is None:
            owner = f" for resource {args.resource!r}" if args.resource else ""
            raise ThreadNotFoundError(f"thread {args.thread!r} not found{owner}")
        if args.last is not None:
            page = await memory.list_messages(thread.id, last=args.last)
        else:
            page = await memory.list_messages(thread.id, per_page=None)
        if args.json:
            out.json([wire(m) for m in page.items])
            return EXIT_OK
        out.table(["created", "role", "type", "id", "content"],
                  [(m.created_at, m.role, m.type, m.id, message_text(m.content))
                   for m in page.items],
                  title=f"Messages of {thread.id} ({thread.title or 'untitled'})",
                  empty="(no messages)")
        return EXIT_OK

    return await use_store(args.url, body, read_only=True)


COMMAND = Command(name="messages", help="messages of a thread", arguments=_arguments,
                  run=_run, json=True)
