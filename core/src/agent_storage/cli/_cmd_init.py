"""``agent-storage init URL``: create schema, tables, indexes; apply migrations."""

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
        await storage.init()
        status = await storage.status()
        if args.json:
            out.json({"initialised": True, **wire(status)})
        else:
            out.line(f"initialised {storage.url} (schema version {status.schema_version})")
        return EXIT_OK

    return await use_store(args.url, body)


COMMAND = Command(name="init", help="create schema, tables and indexes; apply migrations",
                  arguments=_arguments, run=_run, json=True)
