"""``agent-storage copy`` and ``agent-storage dynamodb-table-spec``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_output import Output
from .errors import AgentStorageError

__all__ = ["add_parsers", "cmd_copy", "cmd_dynamodb_table_spec"]


def _domains(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "copy", help="copy every record from SRC to DST (resumable, verified)",
        description="Stream every record of every domain from SRC to DST in bounded memory. "
        "Writes are upserts, so an interrupted copy resumes by running it again; at the end "
        "per-domain counts and content checksums are compared (exit 1 on any difference).",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("--domains", type=_domains, metavar="D1,D2",
                   help="only these domains (memory, workflows, scores, observability, agents)")
    p.add_argument("--batch-size", type=positive_int, default=500, metavar="N",
                   help="records per read and write (default 500)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="compare counts and checksums at the end (default: yes)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")

    p = sub.add_parser(
        "dynamodb-table-spec",
        help="print the DynamoDB CreateTable definition, TTL setting and CloudFormation",
    )
    p.add_argument("table", nargs="?", default="agent_storage", metavar="TABLE",
                   help="table name (default agent_storage)")
    p.add_argument("--ttl-attribute", default="ttl", help="TTL attribute name (default ttl)")
    p.add_argument("--format", choices=("all", "create-table", "cloudformation"),
                   default="all", help="what to print (default all)")


async def cmd_copy(args: argparse.Namespace, out: Output) -> int:
    from .copy import CopyVerificationError, copy_store

    show = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        report = await copy_store(
            args.src, args.dst, domains=args.domains, batch_size=args.batch_size,
            progress="rich" if show else None, verify=args.verify,
        )
    except CopyVerificationError as exc:
        print(exc.report.summary())
        raise
    print(report.summary())
    return 0


def cmd_dynamodb_table_spec(args: argparse.Namespace, out: Output) -> int:
    try:
        from agent_storage_dynamodb import spec
    except ImportError as exc:
        raise AgentStorageError(
            f"the DynamoDB backend is not installed ({exc}): pip install agent-storage-dynamodb"
        ) from None
    from .naming import check_identifier

    check_identifier(args.ttl_attribute, "ttl attribute")
    if args.format == "create-table":
        import json

        print(json.dumps(spec.table_spec(args.table), indent=2))
    elif args.format == "cloudformation":
        print(spec.cloudformation(args.table, args.ttl_attribute))
    else:
        print(spec.main(args.table, args.ttl_attribute), end="")
    return 0
