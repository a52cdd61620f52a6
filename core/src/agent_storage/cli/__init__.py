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
    agent-storage ui URL [--host H] [--port P] [--open]   a local, read-only web viewer

Exit codes: 0 success, 1 an agent-storage error (printed as one line, never a traceback,
never a password), 2 bad usage, 130 interrupted, 141 stdout closed early (``| head``).

Adding a sub-command: write a module that defines ``COMMAND = Command(name=..., help=...,
arguments=..., run=...)`` and list it in :data:`COMMAND_MODULES` (``_registry.py``).
"""

from __future__ import annotations

import argparse

from ._app import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main, secrets_of
from ._output import Output
from ._registry import COMMAND_MODULES, Command, load_commands

__all__ = ["COMMANDS", "COMMAND_MODULES", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "Command",
           "Output", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``agent-storage`` parser with every registered command."""
    from ._parser import build_parser as build

    return build(load_commands())


_secrets = secrets_of  # the name the CLI tests use


def __getattr__(name: str) -> object:
    # ``COMMANDS`` is loaded on first use, not at import: a command module may import
    # ``agent_storage.cli`` (for :class:`Command`) without a circular import
    if name == "COMMANDS":
        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
