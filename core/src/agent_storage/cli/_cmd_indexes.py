"""``agent-storage indexes URL list|describe NAME|create ...|drop NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, json_parent, key_value, use_store, wire
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    json_flag = json_parent()
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("list", parents=[json_flag], help="indexes of the store's tables")
    a.add_argument("--table", help="only this logical table (threads, messages, ...)")
    a = actions.add_parser("describe", parents=[json_flag], help="size and usage of an index")
    a.add_argument("index", metavar="NAME")
    a = actions.add_parser("create", help="create an index (validated before connecting)")
    a.add_argument("--name", required=True)
    a.add_argument("--table", required=True, help="logical table: threads, messages, ...")
    a.add_argument("--columns", required=True, nargs="+", metavar="COLUMN",
                   help="column [ASC|DESC] or JSON path metadata->>'key'")
    a.add_argument("--unique", action="store_true")
    a.add_argument("--where", help="partial index predicate, e.g. \"status = 'active'\"")
    a.add_argument("--method", default="btree", help="btree (default), hash, gin, gist, ...")
    a.add_argument("--opclass")
    a.add_argument("--storage", type=key_value, action="append", metavar="KEY=VALUE",
                   help="storage parameter, e.g. fillfactor=90 (repeatable)")
    a.add_argument("--concurrent", action=argparse.BooleanOptionalAction, default=True,
                   help="CREATE INDEX CONCURRENTLY where supported (default: yes)")
    a = actions.add_parser("drop", help="drop an index")
    a.add_argument("index", metavar="NAME")


async def _list(args: argparse.Namespace, out: Output, storage: Any) -> None:
    infos = await storage.indexes.list(args.table)
    if args.json:
        out.json([wire(i) for i in infos])
        return
    out.table(["name", "table", "columns", "unique", "method", "where"],
              [(i.name, i.table, ", ".join(i.columns), i.unique, i.method, i.where)
               for i in infos], title=f"Indexes of {storage.url}")


async def _describe(args: argparse.Namespace, out: Output, storage: Any) -> None:
    stats = await storage.indexes.describe(args.index)
    if args.json:
        out.json(wire(stats))
        return
    out.fields([("name", stats.name), ("table", stats.table),
                ("columns", ", ".join(stats.columns)), ("unique", stats.unique),
                ("method", stats.method), ("size (bytes)", stats.size_bytes),
                ("scans", stats.scans), ("tuples read", stats.tuples_read),
                ("definition", stats.definition)])


async def _drop(args: argparse.Namespace, out: Output, storage: Any) -> None:
    if await storage.indexes.drop(args.index):
        out.line(f"dropped index {args.index}")
    else:
        out.line(f"index {args.index} does not exist; nothing dropped")


async def _run(args: argparse.Namespace, out: Output) -> int:
    spec = None
    if args.action == "create":
        from ..options import IndexSpec

        # built (and validated) before connecting: a bad spec never reaches the database
        spec = IndexSpec(name=args.name, table=args.table, columns=tuple(args.columns),
                         unique=args.unique, where=args.where, method=args.method,
                         opclass=args.opclass, storage=dict(args.storage or ()),
                         concurrent=args.concurrent)

    async def body(storage: Any) -> int:
        if spec is not None:
            info = await storage.indexes.create(spec)
            out.line(f"index {info.name} on {info.table} ({', '.join(info.columns)}) is in place")
        else:
            await {"list": _list, "describe": _describe, "drop": _drop}[args.action](
                args, out, storage)
        return EXIT_OK

    return await use_store(args.url, body, read_only=args.action in {"list", "describe"})


COMMAND = Command(name="indexes", help="list, describe, create or drop indexes",
                  arguments=_arguments, run=_run)
