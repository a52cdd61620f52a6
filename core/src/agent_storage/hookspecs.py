"""Hook specifications: how a plugin provides a backend and observes stores.

A plugin is a module with ``@hookimpl`` functions, named by an entry point in group
``agent_storage``::

    # pyproject.toml
    [project.entry-points.agent_storage]
    mystore = "agent_storage_mystore.plugin"

    # agent_storage_mystore/plugin.py
    from agent_storage import hookimpl

    @hookimpl
    def register_backends(register):
        register("mystore", "agent_storage_mystore.store:MyBackend", schemes=("mystore",))

Data operations are methods of domain objects, never hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from .records import Message
    from .storage import Storage

__all__ = ["RegisterBackend", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("agent_storage")
hookimpl = pluggy.HookimplMarker("agent_storage")


class RegisterBackend(Protocol):
    """The ``register`` callback given to :func:`register_backends`."""

    def __call__(
        self, name: str, target: str, *, schemes: tuple[str, ...] = (), version: str | None = None
    ) -> None: ...


@hookspec
def register_backends(register: RegisterBackend) -> None:
    """Register backends by calling ``register(name, "pkg.module:Class", schemes=(...),
    version=...)`` once per backend.

    ``target`` is a dotted path, imported only when a URL selects the backend, so a driver
    is never imported by plugin discovery. ``schemes`` defaults to ``(name,)``. A scheme
    already registered by another plugin is refused with an error naming both.
    """


@hookspec
def store_opened(storage: Storage) -> None:
    """Called when ``open_store`` builds a new Storage (not on a cache hit)."""


@hookspec
def store_closing(storage: Storage) -> None:
    """Called when a Storage starts closing, before its connections are released."""


@hookspec(firstresult=True)
def before_save_messages(storage: Storage, messages: list[Message]) -> list[Message] | None:
    """Called before ``save_messages`` writes. Return a replacement list (e.g. with secrets
    redacted) or None to keep the batch; the first plugin that returns a list wins."""
