"""``agent-storage ui URL [--host H] [--port P] [--open]``: serve the read-only viewer.

Listed in :data:`agent_storage.cli._registry.COMMAND_MODULES`. It imports nothing of the
``[ui]`` extra at module level (``agent-storage --help`` imports every command module):
without the extra, only running ``ui`` says what to install.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli._registry import Command
from ..errors import ConfigurationError

__all__ = ["COMMAND"]

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


def _port(text: str) -> int:
    """argparse type: a TCP port; 0 picks a free one (the address printed is the real one)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}; others need the token)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the viewer in a web browser")


def _run(args: argparse.Namespace, out: Any) -> int:
    try:
        from ._serve import serve
    except ImportError as exc:
        raise ConfigurationError(
            f"agent-storage ui needs its extra ({exc.name} is missing): "
            "pip install 'agent-storage[ui]'") from None
    try:
        serve(args.url, host=args.host, port=args.port, open_browser=args.open,
              echo=lambda text: print(text, flush=True))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


COMMAND = Command(
    name="ui", help="a local, read-only web viewer of a store (needs agent-storage[ui])",
    description="Serve a read-only web viewer of URL: threads, conversations, workflow runs, "
                "scores, traces (waterfall), agents and status. It binds the loopback by "
                "default; any other address requires the token it prints.",
    arguments=_arguments, run=_run)
