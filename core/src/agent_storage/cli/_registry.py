"""How a sub-command of ``agent-storage`` is declared and found.

Each sub-command lives in its own module, which defines one module-level ``COMMAND``
(a :class:`Command`). :data:`COMMAND_MODULES` lists those modules, in the order the help
shows them; a new sub-command is a new module plus one line there. A module outside
this package (e.g. ``agent_storage.ui._command``) is listed by its absolute name.

Command modules must import nothing heavy at module level (no driver, no ``rich``):
``agent-storage --help`` imports all of them.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable

from attrs import frozen

from ._output import Output

__all__ = ["COMMAND_MODULES", "Command", "Run", "load_commands"]

#: Runs a parsed command; returns the exit code (a coroutine is run in a fresh loop).
Run = Callable[[argparse.Namespace, Output], "Awaitable[int] | int"]

#: The modules that define the sub-commands, in the order of ``agent-storage --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "agent_storage.cli._cmd_demo",
    "agent_storage.cli._cmd_backends",
    "agent_storage.cli._cmd_init",
    "agent_storage.cli._cmd_migrate",
    "agent_storage.cli._cmd_status",
    "agent_storage.cli._cmd_indexes",
    "agent_storage.cli._cmd_threads",
    "agent_storage.cli._cmd_messages",
    "agent_storage.cli._cmd_check",
    "agent_storage.cli._cmd_copy",
    "agent_storage.cli._cmd_dynamodb_table_spec",
    "agent_storage.cli._cmd_embed",
    "agent_storage.ui._command",
)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """The default ``arguments``: a command that takes none."""


@frozen(kw_only=True)
class Command:
    """One sub-command: its name, its one-line help, its arguments and what it runs.

    ``arguments(parser)`` adds the command's arguments to its own ``argparse`` parser;
    ``json`` adds the common ``--json`` flag (``args.json``). ``run(args, out)`` prints
    through ``out`` and returns the exit code; it may be a coroutine function.
    """

    name: str
    help: str
    run: Run
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    description: str | None = None
    json: bool = False


def load_commands(modules: tuple[str, ...] | None = None) -> dict[str, Command]:
    """Import each command module (default :data:`COMMAND_MODULES`) and return its
    ``COMMAND`` by name, in order."""
    commands: dict[str, Command] = {}
    for name in COMMAND_MODULES if modules is None else modules:
        command = importlib.import_module(name).COMMAND
        if not isinstance(command, Command):
            raise TypeError(f"{name}.COMMAND is not an agent_storage.cli.Command")
        if command.name in commands:
            raise ValueError(f"two modules define the command {command.name!r}")
        commands[command.name] = command
    return commands
