"""``agent-storage demo [URL]``: record an agent turn and recall it."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, use_store, wire
from ._output import Output
from ._registry import Command

DEMO_URL = "sqlite:///agent_storage_demo.db"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", nargs="?", metavar="URL", help=f"store URL (default {DEMO_URL})")


async def _run(args: argparse.Namespace, out: Output) -> int:
    from ._demo_records import run_demo

    async def body(storage: Any) -> int:
        if not args.json:
            await run_demo(storage, out)
            return EXIT_OK
        import io

        recalled = await run_demo(storage, Output(use_rich=False, stream=io.StringIO()))
        out.json({"url": storage.url, **{k: _as_wire(v) for k, v in recalled.items()}})
        return EXIT_OK

    return await use_store(args.url or DEMO_URL, body)


def _as_wire(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    return None if value is None else wire(value)


COMMAND = Command(name="demo", help="record an agent turn and recall it (SQLite by default)",
                  arguments=_arguments, run=_run, json=True)
