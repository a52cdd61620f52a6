"""``agent-storage dynamodb-table-spec [TABLE] [--format all|create-table|cloudformation]``."""

from __future__ import annotations

import argparse

from ..errors import AgentStorageError
from ._common import EXIT_OK
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", nargs="?", default="agent_storage", metavar="TABLE",
                   help="table name (default agent_storage)")
    p.add_argument("--ttl-attribute", default="ttl", help="TTL attribute name (default ttl)")
    p.add_argument("--format", choices=("all", "create-table", "cloudformation"),
                   default="all", help="what to print (default all)")


def _run(args: argparse.Namespace, out: Output) -> int:
    try:
        from agent_storage_dynamodb import spec
    except ImportError as exc:
        from .._plugins import install_hint

        raise AgentStorageError(f"the DynamoDB backend is not installed ({exc}): "
                                f"{install_hint('agent-storage-dynamodb')}") from None
    from ..naming import check_identifier

    check_identifier(args.ttl_attribute, "ttl attribute")
    if args.json:
        out.json({"table": args.table, "create_table": spec.table_spec(args.table),
                  "time_to_live": spec.ttl_spec(args.table, args.ttl_attribute),
                  "cloudformation": spec.cloudformation(args.table, args.ttl_attribute)})
    elif args.format == "create-table":
        import json

        out.write(json.dumps(spec.table_spec(args.table), indent=2) + "\n")
    elif args.format == "cloudformation":
        out.write(spec.cloudformation(args.table, args.ttl_attribute) + "\n")
    else:
        out.write(spec.main(args.table, args.ttl_attribute))
    return EXIT_OK


COMMAND = Command(
    name="dynamodb-table-spec",
    help="print the DynamoDB CreateTable definition, TTL setting and CloudFormation",
    arguments=_arguments, run=_run, json=True,
)
