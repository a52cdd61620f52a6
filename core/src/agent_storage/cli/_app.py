"""``main()``: parse, run the command, and turn every failure into one line and an exit code.

Exit codes: 0 success, 1 an agent-storage error (printed as one line, never a traceback,
never a password), 2 bad usage, 130 interrupted, 141 stdout closed early (``... | head``:
quiet, like other Unix tools killed by SIGPIPE).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable, Sequence

from ..errors import AgentStorageError
from ..url import redact, secrets_in_text
from ._common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from ._hints import what_to_check
from ._output import Output
from ._parser import build_parser, parse
from ._registry import load_commands

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "main", "secrets_of"]

EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


def secrets_of(argv: Sequence[str]) -> list[str]:
    """Secrets found in URL arguments and $AGENT_STORAGE_URL (passwords, secret query
    options): never printed."""
    found: list[str] = []
    for text in [*argv, os.environ.get("AGENT_STORAGE_URL", "")]:
        found += [s for s in secrets_in_text(text) if s not in found]
    return found


def _report_error(exc: AgentStorageError, secrets: list[str], argv: Sequence[str]) -> int:
    # one line, whatever the message holds (e.g. plugins that failed to load)
    message = "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    message += what_to_check(message, argv)
    print(f"agent-storage: error: {type(exc).__name__}: {redact(message, secrets)}",
          file=sys.stderr)
    return EXIT_ERROR


def _report_unexpected(exc: Exception, secrets: list[str], traceback: bool) -> int:
    if traceback:
        import traceback as tb

        print(redact("".join(tb.format_exception(exc)), secrets), file=sys.stderr, end="")
    message = redact(f"{type(exc).__name__}: {exc}", secrets)
    print(f"agent-storage: unexpected error: {message}", file=sys.stderr)
    if not traceback:
        print("  (run with --traceback for details)", file=sys.stderr)
    return EXIT_ERROR


def _stdout_gone() -> int:
    """The reader of stdout left (``| head``): no more output, no message, no flush error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = secrets_of(argv)
    commands = load_commands()
    try:
        args = parse(build_parser(commands), argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        result = commands[args.command].run(args, Output(use_rich=args.rich))
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        sys.stdout.flush()
        return int(result)
    except AgentStorageError as exc:
        return _report_error(exc, secrets, argv)
    except KeyboardInterrupt:
        print("agent-storage: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _stdout_gone()
    except Exception as exc:
        return _report_unexpected(exc, secrets, args.traceback)


async def _await(result: Awaitable[int]) -> int:
    return await result


__all__ += ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE"]
