"""A local, read-only web viewer of a store: ``agent-storage ui URL`` (extra ``[ui]``).

Pages: threads (keyset-paged, by resource/agent/title) and a conversation as a chat;
workflow runs and a run's steps; scores with a distribution per scorer; traces and a
trace as a waterfall; stored agents with a diff of two versions; the store's status.
It reads through the public API only, so it works over any backend, third-party ones
included. Nothing here is imported by ``import agent_storage``, and importing this
package imports nothing of the extra until one of these names is used:

- :func:`create_app` — the Starlette application over a Storage or a URL.
- :func:`serve` — bind, print the address (and the token off the loopback), serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._serve import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # lazy: the command module lives here and `agent-storage --help` must not need Starlette
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "serve":
        from ._serve import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
