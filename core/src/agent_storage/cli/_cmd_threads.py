"""``agent-storage threads URL [--resource R] [--limit N]``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, positive_int, use_store, wire
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("--resource", help="only threads of this resource (user)")
    p.add_argument("--agent", help="only threads of this agent")
    p.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")
    p.add_argument("--order-by", default="updated_at",
                   choices=("created_at", "updated_at", "title"))
    p.add_argument("--direction", default="desc", choices=("asc", "desc"))


async def _run(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        page = await storage.memory.list_threads(
            resource_id=args.resource, agent_id=args.agent, order_by=args.order_by,
            direction=args.direction, per_page=args.limit,
        )
        if args.json:
            out.json([wire(t) for t in page.items])
            return EXIT_OK
        out.table(["id", "resource", "agent", "title", "created", "updated"],
                  [(t.id, t.resource_id, t.agent_id, t.title, t.created_at, t.updated_at)
                   for t in page.items], title="Threads", empty="(no threads)")
        if page.has_more:
            out.line(f"showing the first {len(page.items)}; use --limit to see more")
        return EXIT_OK

    return await use_store(args.url, body, read_only=True)


COMMAND = Command(name="threads", help="list threads", arguments=_arguments, run=_run,
                  json=True)
