"""The ``agent-storage`` command.

    agent-storage demo [URL]                 record a conversation, workflow run, scores and a
                                             trace, recall them and print them
    agent-storage backends                   installed plugins, schemes, load errors
    agent-storage init URL                   create schema, tables, indexes; apply migrations
    agent-storage migrate URL [--no-backup] [--dry-run]
    agent-storage status URL                 schema version, tables, row counts
    agent-storage indexes URL list|describe NAME|create ...|drop NAME
    agent-storage threads URL [--resource R] [--limit N]
    agent-storage messages URL THREAD [--last N]
    agent-storage check URL                  run the conformance kit against URL
    agent-storage copy SRC DST [--domains D1,D2] [--batch-size N] [--no-verify]
    agent-storage dynamodb-table-spec [TABLE] [--format all|create-table|cloudformation]

Exit codes: 0 success, 1 an agent-storage error (printed as one line, never a traceback,
never a password), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from . import _cli_more
from ._cli_output import Output, message_text
from .errors import AgentStorageError, ThreadNotFoundError
from .url import redact

__all__ = ["main"]

DEMO_URL = "sqlite:///agent_storage_demo.db"
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace, Output], "Awaitable[int] | int"]


# -- helpers -----------------------------------------------------------------------------


def _secrets(argv: Sequence[str]) -> list[str]:
    """Passwords found in URL arguments and $AGENT_STORAGE_URL: never printed."""
    found: list[str] = []
    for text in [*argv, os.environ.get("AGENT_STORAGE_URL", "")]:
        if "://" not in text:
            continue
        try:
            password = urlsplit(text).password
        except ValueError:
            # unparsable URL: mask everything between '://user:' and '@' by hand
            rest = text.partition("://")[2]
            userinfo = rest.rpartition("@")[0]
            password = userinfo.partition(":")[2] if ":" in userinfo else None
        # both as written (percent-encoded) and decoded: a driver may echo either
        for secret in (password, unquote(password or "")):
            if secret and secret not in found:
                found.append(secret)
    return found


def _open(url: str, *, read_only: bool = False, **options: Any) -> Any:
    """Open the store at ``url``; read-only commands never create a schema."""
    from . import open_store
    from .url import parse_url

    if read_only and "disable_init" not in parse_url(url).query:
        options.setdefault("disable_init", True)
    return open_store(url, **options)


async def _with_store(url: str, body: Callable[[Any], Awaitable[int]], *,
                      read_only: bool = False) -> int:
    storage = _open(url, read_only=read_only)
    try:
        return await body(storage)
    finally:
        await storage.close()


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parsed: Any = value
    for convert in (int, float):
        try:
            parsed = convert(value)
            break
        except ValueError:
            continue
    if value.lower() in {"true", "false"}:
        parsed = value.lower() == "true"
    return key, parsed


def _wire(record: Any) -> Any:
    from .serde import to_wire

    return to_wire(record)


# -- commands ----------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    from ._cli_demo import run_demo

    url = args.url or DEMO_URL

    async def body(storage: Any) -> int:
        await run_demo(storage, out)
        return EXIT_OK

    return await _with_store(url, body)


def _inspect_backend(reg: Any, info: Any) -> dict[str, Any]:
    """Import a backend's class (``backends --check``): capabilities, options, or the error."""
    try:
        _, cls = reg.backend_class(info.schemes[0])
    except AgentStorageError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "capabilities": sorted(cls.capabilities),
            "options": sorted({*cls.accepted_options, *cls.extra_options})}


async def cmd_backends(args: argparse.Namespace, out: Output) -> int:
    from ._plugins import KNOWN_DISTRIBUTIONS, registry

    reg = registry()
    seen: dict[tuple[str, str], Any] = {}
    for info in reg.backends.values():
        seen.setdefault((info.plugin, info.name), info)
    infos = sorted(seen.values(), key=lambda i: (i.name, i.plugin))
    checks = {i.name: _inspect_backend(reg, i) for i in infos} if args.check else {}
    if args.json:
        out.json({
            "backends": [{"name": i.name, "schemes": list(i.schemes), "plugin": i.plugin,
                          "version": i.version, "target": i.target,
                          **({"check": checks[i.name]} if args.check else {})}
                         for i in infos],
            "errors": [{"plugin": e.plugin, "error": e.error} for e in reg.errors],
        })
        return EXIT_OK
    out.table(["backend", "schemes", "plugin", "version", "class"],
              [(i.name, ", ".join(i.schemes), i.plugin, i.version or "built-in", i.target)
               for i in infos], title="Installed backends")
    if args.check:
        out.table(["backend", "imports", "capabilities", "options beyond the common ones"],
                  [(name, "ok" if c["ok"] else c["error"],
                    ", ".join(c.get("capabilities", ())) or "-",
                    ", ".join(c.get("options", ())) or "-")
                   for name, c in checks.items()], title="Backend classes")
    if reg.errors:
        out.table(["plugin", "error"], [(e.plugin, e.error) for e in reg.errors],
                  title="Plugins that failed to load")
    missing = sorted({dist for scheme, dist in KNOWN_DISTRIBUTIONS.items()
                      if scheme not in reg.backends})
    if missing:
        out.line("")
        out.line("Not installed: " + ", ".join(missing) + " (pip install <name>)")
    return EXIT_OK


async def cmd_init(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        await storage.init()
        status = await storage.status()
        out.line(f"initialised {storage.url} (schema version {status.schema_version})")
        return EXIT_OK

    return await _with_store(args.url, body)


async def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        report = await storage.migrate(backup=args.backup, dry_run=args.dry_run)
        if args.json:
            out.json(_wire(report))
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

    return await _with_store(args.url, body)


async def cmd_status(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        status = await storage.status()
        if args.json:
            out.json(_wire(status))
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

    return await _with_store(args.url, body, read_only=True)


async def cmd_indexes(args: argparse.Namespace, out: Output) -> int:
    spec = None
    if args.action == "create":
        from .options import IndexSpec

        # built (and validated) before connecting: a bad spec never reaches the database
        spec = IndexSpec(name=args.name, table=args.table, columns=tuple(args.columns),
                         unique=args.unique, where=args.where, method=args.method,
                         opclass=args.opclass, storage=dict(args.storage or ()),
                         concurrent=args.concurrent)

    async def body(storage: Any) -> int:
        indexes = storage.indexes
        if args.action == "list":
            infos = await indexes.list(args.table)
            if args.json:
                out.json([_wire(i) for i in infos])
            else:
                out.table(["name", "table", "columns", "unique", "method", "where"],
                          [(i.name, i.table, ", ".join(i.columns), i.unique, i.method, i.where)
                           for i in infos], title=f"Indexes of {storage.url}")
        elif args.action == "describe":
            stats = await indexes.describe(args.index)
            if args.json:
                out.json(_wire(stats))
            else:
                out.fields([("name", stats.name), ("table", stats.table),
                            ("columns", ", ".join(stats.columns)), ("unique", stats.unique),
                            ("method", stats.method), ("size (bytes)", stats.size_bytes),
                            ("scans", stats.scans), ("tuples read", stats.tuples_read),
                            ("definition", stats.definition)])
        elif args.action == "create":
            info = await indexes.create(spec)
            out.line(f"index {info.name} on {info.table} ({', '.join(info.columns)}) is in place")
        else:
            if await indexes.drop(args.index):
                out.line(f"dropped index {args.index}")
            else:
                out.line(f"index {args.index} does not exist; nothing dropped")
        return EXIT_OK

    return await _with_store(args.url, body, read_only=args.action in {"list", "describe"})


async def cmd_threads(args: argparse.Namespace, out: Output) -> int:
    async def body(storage: Any) -> int:
        page = await storage.memory.list_threads(
            resource_id=args.resource, agent_id=args.agent, order_by=args.order_by,
            direction=args.direction, per_page=args.limit,
        )
        if args.json:
            out.json([_wire(t) for t in page.items])
            return EXIT_OK
        out.table(["id", "resource", "agent", "title", "created", "updated"],
                  [(t.id, t.resource_id, t.agent_id, t.title, t.created_at, t.updated_at)
                   for t in page.items], title="Threads", empty="(no threads)")
        if page.has_more:
            out.line(f"showing the first {len(page.items)}; use --limit to see more")
        return EXIT_OK

    return await _with_store(args.url, body, read_only=True)


async def cmd_messages(args: argparse.Namespace, out: Output) -> int:
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
            out.json([_wire(m) for m in page.items])
            return EXIT_OK
        out.table(["created", "role", "type", "id", "content"],
                  [(m.created_at, m.role, m.type, m.id, message_text(m.content))
                   for m in page.items],
                  title=f"Messages of {thread.id} ({thread.title or 'untitled'})",
                  empty="(no messages)")
        return EXIT_OK

    return await _with_store(args.url, body, read_only=True)


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    # synchronous: pytest runs its own event loops, so it must not run inside ours
    import importlib.util

    from ._plugins import registry
    from .url import parse_url

    # a bad URL or a missing backend is a clean error, not a failing pytest session
    registry().backend_class(parse_url(args.url).scheme)
    missing = [m for m in ("pytest", "pytest_asyncio") if importlib.util.find_spec(m) is None]
    if missing:
        raise AgentStorageError(
            f"the conformance kit needs {' and '.join(missing)}: "
            "pip install 'agent-storage[testing]'"
        )
    from .testing import run_conformance

    return int(run_conformance(args.url, list(args.pytest_args or ())))


COMMANDS: dict[str, Command] = {
    "demo": cmd_demo, "backends": cmd_backends, "init": cmd_init, "migrate": cmd_migrate,
    "status": cmd_status, "indexes": cmd_indexes, "threads": cmd_threads,
    "messages": cmd_messages, "check": cmd_check, "copy": _cli_more.cmd_copy,
    "dynamodb-table-spec": _cli_more.cmd_dynamodb_table_spec,
}


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="agent-storage",
        description="Persistent storage for AI agents: inspect, set up and try a store.",
        epilog="URLs: sqlite:///file.db, postgresql://user@host/db, dynamodb://table, memory://",
    )
    parser.add_argument("--version", action="version", version=f"agent-storage {__version__}")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--rich", dest="rich", action="store_true", default=None,
                       help="rich tables even when not on a terminal (needs rich)")
    style.add_argument("--plain", dest="rich", action="store_false",
                       help="plain text output")
    parser.add_argument("--traceback", action="store_true",
                        help="show the traceback of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("demo", help="record an agent turn and recall it (SQLite by default)")
    p.add_argument("url", nargs="?", metavar="URL", help=f"store URL (default {DEMO_URL})")

    p = sub.add_parser("backends", parents=[json_flag],
                       help="installed backends, their schemes and plugin load errors")
    p.add_argument("--check", action="store_true",
                   help="also import each backend (and its driver): capabilities, options")

    p = sub.add_parser("init", help="create schema, tables and indexes; apply migrations")
    p.add_argument("url", metavar="URL")

    p = sub.add_parser("migrate", parents=[json_flag], help="apply pending schema migrations")
    p.add_argument("url", metavar="URL")
    p.add_argument("--backup", action=argparse.BooleanOptionalAction, default=True,
                   help="back up tables a migration changes (default: yes)")
    p.add_argument("--dry-run", action="store_true", help="report what would be applied")

    p = sub.add_parser("status", parents=[json_flag], help="schema version, tables, row counts")
    p.add_argument("url", metavar="URL")

    p = sub.add_parser("indexes", help="list, describe, create or drop indexes")
    p.add_argument("url", metavar="URL")
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
    a.add_argument("--storage", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="storage parameter, e.g. fillfactor=90 (repeatable)")
    a.add_argument("--concurrent", action=argparse.BooleanOptionalAction, default=True,
                   help="CREATE INDEX CONCURRENTLY where supported (default: yes)")
    a = actions.add_parser("drop", help="drop an index")
    a.add_argument("index", metavar="NAME")

    p = sub.add_parser("threads", parents=[json_flag], help="list threads")
    p.add_argument("url", metavar="URL")
    p.add_argument("--resource", help="only threads of this resource (user)")
    p.add_argument("--agent", help="only threads of this agent")
    p.add_argument("--limit", type=_cli_more.positive_int, default=20, help="how many (default 20)")
    p.add_argument("--order-by", default="updated_at",
                   choices=("created_at", "updated_at", "title"))
    p.add_argument("--direction", default="desc", choices=("asc", "desc"))

    p = sub.add_parser("messages", parents=[json_flag], help="messages of a thread")
    p.add_argument("url", metavar="URL")
    p.add_argument("thread", metavar="THREAD")
    p.add_argument("--last", type=_cli_more.positive_int, help="only the newest N (chronological)")
    p.add_argument("--resource", help="check the thread belongs to this resource")

    p = sub.add_parser("check", help="run the conformance kit against URL")
    p.add_argument("url", metavar="URL")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                   help="extra pytest arguments after --, e.g. -- -x -k threads")

    _cli_more.add_parsers(sub)
    return parser


# -- entry point -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = _secrets(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "check" and args.pytest_args and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    out = Output(use_rich=args.rich)
    command = COMMANDS[args.command]
    try:
        result = command(args, out)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return int(result)
    except AgentStorageError as exc:
        # one line, whatever the message holds (e.g. plugins that failed to load)
        message = "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"agent-storage: error: {type(exc).__name__}: {redact(message, secrets)}",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("agent-storage: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            import traceback

            text = "".join(traceback.format_exception(exc))
            print(redact(text, secrets), file=sys.stderr, end="")
        message = redact(f"{type(exc).__name__}: {exc}", secrets)
        print(f"agent-storage: unexpected error: {message}", file=sys.stderr)
        if not args.traceback:
            print("  (run with --traceback for details)", file=sys.stderr)
        return EXIT_ERROR


async def _await(result: Awaitable[int]) -> int:
    return await result


if __name__ == "__main__":
    sys.exit(main())
