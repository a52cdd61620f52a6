"""The ``argparse`` parser of ``agent-storage``: one sub-parser per registered command.

Usage errors are reported by the parser of the (sub-)command they belong to, so that the
usage line shown is that command's, and an unknown option or command gets a "did you
mean" suggestion.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from ._registry import Command

__all__ = ["Parser", "build_parser", "parse"]

EPILOG = "URLs: sqlite:///file.db, postgresql://user@host/db, dynamodb://table, memory://"


def suggestion(word: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that suggests the closest option or command on a typo.

    Every parser records itself as the ``_parser`` default, so after parsing
    ``args._parser`` is the innermost (sub-)command's parser, the one to report with.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: list[str] = []  # for suggestions; set first: __init__ adds --help
        super().__init__(*args, **kwargs)
        self.set_defaults(_parser=self)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.options.extend(action.option_strings)
        return action

    def error(self, message: str) -> NoReturn:
        if "invalid choice: " in message and "choose from " in message:
            chosen = message.partition("invalid choice: ")[2].partition(" (")[0].strip("'")
            listed = message.partition("choose from ")[2].rstrip(")")
            choices = re.findall(r"'([^']*)'", listed) or listed.split(", ")
            message += suggestion(chosen, choices)
        super().error(message)

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Report arguments this (sub-)command does not take; suggest its own options."""
        hints = [suggestion(e.partition("=")[0], self.options)
                 for e in extras if e.startswith("-")]
        self.error(f"unrecognized arguments: {' '.join(extras)}"
                   + next((h for h in hints if h), ""))


def build_parser(commands: dict[str, Command]) -> Parser:
    """The top-level parser with a sub-parser for each of ``commands``."""
    from .. import __version__

    parser = Parser(
        prog="agent-storage",
        description="Persistent storage for AI agents: inspect, set up and try a store.",
        epilog=EPILOG,
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
    from ._common import json_parent

    json_flag = [json_parent()]
    for command in commands.values():
        p = sub.add_parser(command.name, help=command.help, description=command.description,
                           parents=json_flag if command.json else [])
        if command.json:
            p.options.append("--json")
        command.arguments(p)
    return parser


def parse(parser: Parser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; leftovers are reported by the sub-command they were given to."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner = getattr(args, "_parser", parser)
        owner.unrecognized(extras)
    return args
