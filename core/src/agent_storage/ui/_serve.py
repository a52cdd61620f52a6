"""Run the viewer: bind, print the address (with the token off the loopback), serve."""

from __future__ import annotations

import asyncio
import secrets
import socket
import webbrowser
from collections.abc import Callable

from ._app import create_app
from ._guard import is_loopback

__all__ = ["serve"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def address(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(url: str, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False,
          echo: Callable[[str], None] = print) -> None:
    """Serve the viewer of ``url`` until interrupted. Port 0 picks a free port; the
    address printed is the one bound. Off the loopback a fresh token is required."""
    import uvicorn

    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    sock = _bind(host, port)
    where = address(host, sock.getsockname()[1], token)
    app = create_app(url, token=token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    echo(f"agent-storage ui: {where}")
    if token:
        echo("bound off the loopback: every request needs this token (keep it private)")
    echo("read-only; Ctrl-C stops it")
    if open_browser:
        webbrowser.open(where)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
