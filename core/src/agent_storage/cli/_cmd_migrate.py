"""``agent-storage migrate URL [--no-backup] [--dry-run]``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, use_store, wire
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("--backup", action=argparse.BooleanOptionalAction, default=True,
                   help="back up tables a migration changes (default: yes)")
    p.add_argument("--dry-run", action="store_true", help="report what would be applied")


async def _run(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        report = await storage.migrate(backup=args.backup, dry_run=args.dry_run)
        if args.json:
            out.json(wire(report))
            return EXIT_OK
        verb = "would apply" if report.dry_run else "applied"
        out.fields([
            ("store", storage.url),
            ("version", f"{report.from_version} -> {report.to_version}"),
            (verb, ", ".join(report.applied) or "nothing (up to date)"),
            ("backed up", ", ".join(report.backed_up) or "-"),
            ("rows migrated", report.rows_migrated),
        ])
        return EXIT_OK

    return await use_store(args.url, body)


COMMAND = Command(name="migrate", help="apply pending schema migrations",
                  arguments=_arguments, run=_run, json=True)
