"""A ``Session`` for the openai-agents SDK, stored in the memory domain.

``pip install "agent-storage[openai-agents]"``::

    from agents import Agent, Runner
    from agent_storage.integrations.openai_agents import AgentStorageSession

    session = AgentStorageSession("conversation-1", "sqlite:///agent.db", resource_id="user-1")
    result = await Runner.run(agent, "Hello", session=session)

Mapping: a session is a thread (id = ``session_id``, owned by ``resource_id``); each item
is one message whose ``content`` is the item itself (a JSON object, returned unchanged),
whose ``type`` is the item's ``type`` (``"message"`` when absent) and whose ``role`` is the
item's role (``developer`` stored as ``system``), else ``tool`` for ``*_output`` items and
``assistant`` for the rest. ``get_items(limit=N)`` reads the newest N through the
index-backed recall path (``list_messages(last=N)``), never the whole thread.

:class:`AgentStorageTracingProcessor` stores the SDK's traces and spans in the
observability domain (``agents.add_trace_processor(AgentStorageTracingProcessor(url))``).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import NotJSONError, ThreadNotFoundError
from ..records import ROLES, Message, Thread
from ..serde import utcnow
from ..storage import Storage
from . import StoreArg, _Store, ensure_owned_thread

try:  # the SDK is the optional extra; fail with the install hint, not a bare ImportError
    import agents  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "agent_storage.integrations.openai_agents needs the openai-agents SDK: "
        'pip install "agent-storage[openai-agents]"'
    ) from exc

if TYPE_CHECKING:
    from agents.memory.session_settings import SessionSettings

from ._agents_tracing import AgentStorageTracingProcessor

__all__ = ["AgentStorageSession", "AgentStorageTracingProcessor", "item_role"]

#: Item types whose author is a tool (their output goes back to the model).
_TOOL_SUFFIX = "_output"


def item_role(item: Mapping[str, Any]) -> str:
    """The message role stored for an SDK item (see module docstring)."""
    role = item.get("role")
    if role == "developer":
        return "system"
    if isinstance(role, str) and role in ROLES:
        return role
    kind = item.get("type")
    if isinstance(kind, str) and kind.endswith(_TOOL_SUFFIX):
        return "tool"
    return "assistant"


def _item_type(item: Mapping[str, Any]) -> str:
    kind = item.get("type")
    return kind if isinstance(kind, str) and kind else "message"


class AgentStorageSession:
    """openai-agents ``Session`` protocol over agent-storage's memory domain.

    ``store`` is a :class:`~agent_storage.Storage`, an ``agent_storage.sync`` store, or a
    URL (opened with :func:`agent_storage.open_store`, cached). The thread is created on
    the first ``add_items`` with ``resource_id`` (default: the session id), ``title``,
    ``metadata`` and ``agent_id``. A thread owned by another resource is never read or
    written: reads return nothing and writes raise ThreadNotFoundError.
    """

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        session_id: str,
        store: StoreArg,
        *,
        resource_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.resource_id = resource_id or session_id
        # Validated now, so a bad id fails at construction rather than on the first turn.
        self._thread = Thread(id=session_id, resource_id=self.resource_id, title=title,
                              metadata=dict(metadata or {}), agent_id=agent_id)
        self._store = _Store(store, blocking=False)
        self._known = False  # the thread is known to exist and be ours
        self._last: _dt.datetime | None = None
        if session_settings is not None:
            from agents.memory.session_settings import coerce_session_settings

            self.session_settings = coerce_session_settings(dict(session_settings)
                                                            if isinstance(session_settings, Mapping)
                                                            else session_settings)

    @property
    def storage(self) -> Storage:
        return self._store.storage

    # -- Session protocol ---------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """The history in chronological order; ``limit=N``: the newest N (``0``: none)."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit == 0:
            return []

        async def read(storage: Storage) -> list[Any]:
            memory = storage.memory
            if limit is not None and limit > 0:
                page = await memory.list_messages(self.session_id, resource_id=self.resource_id,
                                                  last=limit)
            else:  # None, or negative like SQLiteSession: everything
                page = await memory.list_messages(self.session_id, resource_id=self.resource_id,
                                                  per_page=None, with_total=False)
            return [m.content for m in page.items]

        return await self._store.arun(read)

    async def add_items(self, items: list[Any]) -> None:
        """Append items (one atomic write); the thread is created on first use."""
        if not items:
            return
        now = utcnow()
        if self._last is not None and now <= self._last:
            now = self._last  # a clock step back must not reorder turns; ties keep save order
        self._last = now
        messages = []
        for item in items:
            if not isinstance(item, Mapping):
                raise NotJSONError(f"add_items: expected dict items, got {type(item).__name__}")
            messages.append(Message(
                id=uuid.uuid4().hex, thread_id=self.session_id, role=item_role(item),
                content=dict(item), type=_item_type(item),
                resource_id=self.resource_id, created_at=now,
            ))

        async def write(storage: Storage) -> None:
            await self._ensure_thread(storage)
            try:
                await storage.memory.save_messages(messages)
            except ThreadNotFoundError:
                # Cleared meanwhile (another process, another Session object): recreate.
                self._known = False
                await self._ensure_thread(storage)
                await storage.memory.save_messages(messages)

        await self._store.arun(write)

    async def pop_item(self) -> Any | None:
        """Remove and return the newest item, or None when the session is empty.

        Concurrent pops never return the same item: the delete reports whether this caller
        removed it, and the loser tries the next newest."""

        async def pop(storage: Storage) -> Any | None:
            memory = storage.memory
            while True:
                page = await memory.list_messages(self.session_id, resource_id=self.resource_id,
                                                  last=1)
                if not page.items:
                    return None
                newest = page.items[-1]
                if await memory.delete_messages([newest.id]):
                    return newest.content

        return await self._store.arun(pop)

    async def clear_session(self) -> None:
        """Delete the session's thread and every item (a later add starts afresh)."""

        async def clear(storage: Storage) -> None:
            thread = await storage.memory.get_thread(self.session_id)
            if thread is None:
                return
            if thread.resource_id != self.resource_id:
                raise ThreadNotFoundError(
                    f"thread {self.session_id!r} belongs to another resource; not cleared")
            await storage.memory.delete_thread(self.session_id)

        await self._store.arun(clear)
        self._known = False

    # -- helpers ------------------------------------------------------------------------

    async def _ensure_thread(self, storage: Storage) -> None:
        if self._known:
            return
        await ensure_owned_thread(storage, self._thread)
        self._known = True

    def __repr__(self) -> str:
        return f"<AgentStorageSession {self.session_id!r} resource={self.resource_id!r}>"
