"""Adapters that plug agent-storage into agent frameworks (each an optional extra).

* :mod:`agent_storage.integrations.openai_agents`: a ``Session`` for the openai-agents SDK
  (``pip install "agent-storage[openai-agents]"``).
* :mod:`agent_storage.integrations.langchain`: a ``BaseChatMessageHistory`` for
  langchain-core (``pip install "agent-storage[langchain]"``).
* :mod:`agent_storage.integrations.langgraph`: a LangGraph ``BaseCheckpointSaver``
  (``pip install "agent-storage[langgraph]"``).
* :mod:`agent_storage.integrations.otel`: an OpenTelemetry SDK ``SpanExporter``
  (``pip install "agent-storage[otel]"``); openai-agents tracing is
  ``openai_agents.AgentStorageTracingProcessor``.

Importing this package imports no framework; each submodule imports its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from attrs import evolve

from ..errors import ConfigurationError, ThreadNotFoundError
from ..records import Thread
from ..serde import utcnow
from ..storage import Storage

__all__: list[str] = []

T = TypeVar("T")


async def ensure_owned_thread(storage: Storage, thread: Thread) -> None:
    """Create ``thread`` (stamped now) if missing; refuse a thread of another resource."""
    existing = await storage.memory.get_thread(thread.id)
    if existing is None:
        now = utcnow()
        await storage.memory.save_thread(evolve(thread, created_at=now, updated_at=now))
    elif existing.resource_id != thread.resource_id:
        raise ThreadNotFoundError(
            f"thread {thread.id!r} belongs to another resource; refusing to write")

def require_extra(module: str, user: str, extra: str, what: str) -> None:
    """Import ``module`` or fail with the install hint of the optional ``extra``."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f'{user} needs {what}: pip install "agent-storage[{extra}]"') from exc


StoreArg = Any  # Storage | agent_storage.sync.SyncStorage | str (URL)


class _Store:
    """One way to reach a store from either async or blocking code.

    * an async :class:`~agent_storage.Storage`: awaited on the caller's loop (async only);
    * a :class:`~agent_storage.sync.SyncStorage`: every call runs on the facade's private
      loop, awaited without blocking from async code, or blocking from plain code;
    * a URL: opened with ``agent_storage.open_store`` (``blocking=False``) or
      ``agent_storage.sync.open_store`` (``blocking=True``).
    """

    def __init__(self, store: StoreArg, *, blocking: bool) -> None:
        from ..sync import SyncStorage

        if isinstance(store, str):
            if blocking:
                from ..sync import open_store as open_sync

                store = open_sync(store)
            else:
                from .._cache import open_store

                store = open_store(store)
        if isinstance(store, SyncStorage):
            self.sync: SyncStorage | None = store
            self.storage = store.wrapped
        elif isinstance(store, Storage):
            self.sync = None
            self.storage = store
        else:
            raise ConfigurationError(
                "store: expected a Storage, an agent_storage.sync.SyncStorage or a URL, "
                f"got {type(store).__name__}"
            )

    def require_blocking(self, who: str) -> None:
        """Refuse an async Storage where ``who`` runs off the caller's event loop."""
        if self.sync is None:
            raise ConfigurationError(
                f"{who} writes from another thread: pass a URL or an "
                "agent_storage.sync.open_store(...) store, not an async Storage")

    async def arun(self, fn: Callable[[Storage], Awaitable[T]]) -> T:
        if self.sync is not None:
            return await self.sync.arun(fn)
        return await fn(self.storage)

    def run(self, fn: Callable[[Storage], Awaitable[T]]) -> T:
        if self.sync is None:
            raise ConfigurationError(
                "this adapter was given an async Storage, which belongs to the caller's "
                "event loop: use the async methods, or pass a URL or an "
                "agent_storage.sync.open_store(...) store to use the blocking ones"
            )
        return self.sync.run(fn)
