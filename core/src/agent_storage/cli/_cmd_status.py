"""``agent-storage status URL``: schema version, tables, row counts."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, use_store, wire
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")


async def _run(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        status = await storage.status()
        if args.json:
            out.json(wire(status))
            return EXIT_OK
        pending = status.latest_version - status.schema_version
        out.fields([
            ("backend", status.backend),
            ("url", status.url),
            ("schema version", f"{status.schema_version} (latest {status.latest_version}"
                               + (f", {pending} pending: run `agent-storage migrate`)"
                                  if pending > 0 else ")")),
        ])
        out.table(["table", "rows"], sorted(status.tables.items()), title="Tables")
        return EXIT_OK

    return await use_store(args.url, body, read_only=True)


COMMAND = Command(name="status", help="schema version, tables, row counts",
                  arguments=_arguments, run=_run, json=True)
