"""A LangChain ``BaseChatMessageHistory`` stored in agent-storage's memory domain.

``pip install "agent-storage[langchain]"``::

    from agent_storage.integrations.langchain import AgentStorageChatMessageHistory

    history = AgentStorageChatMessageHistory("conversation-1", "sqlite:///agent.db",
                                             resource_id="user-1")
    history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    history.messages            # [HumanMessage("hi"), AIMessage("hello")]

Mapping: a history is a thread (id = ``session_id``, owned by ``resource_id``); each
LangChain message is one agent-storage message whose ``content`` is
``langchain_core.messages.message_to_dict(message)`` (read back with
``messages_from_dict``, so every field, tool call and additional kwarg survives), whose
``role`` follows the message class (human -> user, ai -> assistant, system -> system,
tool/function -> tool; a ``ChatMessage`` with another role -> user) and whose ``type`` is
the LangChain type (``human``, ``ai``...).

``store`` may be a URL or an ``agent_storage.sync`` store (both the blocking and the async
methods work), or an async :class:`~agent_storage.Storage` (async methods only, on the
caller's loop).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ThreadNotFoundError
from ..records import ROLES, Message, Thread
from ..serde import utcnow
from ..storage import Storage
from . import StoreArg, _Store, ensure_owned_thread

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "agent_storage.integrations.langchain needs langchain-core: "
        'pip install "agent-storage[langchain]"'
    ) from exc

__all__ = ["AgentStorageChatMessageHistory", "message_role"]

_ROLE_BY_TYPE = {
    "human": "user", "ai": "assistant", "system": "system", "tool": "tool",
    "function": "tool", "AIMessageChunk": "assistant", "HumanMessageChunk": "user",
    "SystemMessageChunk": "system", "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "tool",
}


def message_role(message: BaseMessage) -> str:
    """The agent-storage role for a LangChain message."""
    role = _ROLE_BY_TYPE.get(message.type)
    if role is not None:
        return role
    chat_role = getattr(message, "role", None)  # ChatMessage carries a free-form role
    if chat_role == "developer":
        return "system"
    if isinstance(chat_role, str) and chat_role in ROLES:
        return chat_role
    return "user"


# (the ignore is for type-checking without langchain-core installed: the base is then Any)
class AgentStorageChatMessageHistory(BaseChatMessageHistory):  # type: ignore[misc]
    """Chat history of one conversation, kept as an agent-storage thread.

    ``limit``: read only the newest N messages (index-backed; None = all). The thread is
    created on the first write with ``resource_id`` (default: the session id), ``title``,
    ``metadata`` and ``agent_id``. A thread owned by another resource reads as empty and
    refuses writes (ThreadNotFoundError).
    """

    def __init__(
        self,
        session_id: str,
        store: StoreArg,
        *,
        resource_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
    ) -> None:
        self.session_id = session_id
        self.resource_id = resource_id or session_id
        self.limit = limit
        self._thread = Thread(id=session_id, resource_id=self.resource_id, title=title,
                              metadata=dict(metadata or {}), agent_id=agent_id)
        self._store = _Store(store, blocking=True)
        self._last: _dt.datetime | None = None

    @property
    def storage(self) -> Storage:
        return self._store.storage

    # -- reads ---------------------------------------------------------------------------

    async def _read(self, storage: Storage) -> list[BaseMessage]:
        memory = storage.memory
        if self.limit is not None:
            page = await memory.list_messages(self.session_id, resource_id=self.resource_id,
                                              last=self.limit)
        else:
            page = await memory.list_messages(self.session_id, resource_id=self.resource_id,
                                              per_page=None, with_total=False)
        restored: list[BaseMessage] = messages_from_dict([m.content for m in page.items])
        return restored

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Every stored message (or the newest ``limit``), oldest first."""
        return self._store.run(self._read)

    async def aget_messages(self) -> list[BaseMessage]:
        return await self._store.arun(self._read)

    # -- writes --------------------------------------------------------------------------

    def _records(self, messages: Sequence[BaseMessage]) -> list[Message]:
        now = utcnow()
        if self._last is not None and now <= self._last:
            now = self._last  # ties keep save order; a clock step back must not reorder
        self._last = now
        return [
            Message(id=uuid.uuid4().hex, thread_id=self.session_id, role=message_role(m),
                    content=message_to_dict(m), type=m.type, resource_id=self.resource_id,
                    created_at=now)
            for m in messages
        ]

    async def _write(self, storage: Storage, records: list[Message]) -> None:
        await ensure_owned_thread(storage, self._thread)
        await storage.memory.save_messages(records)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one atomic write."""
        if not messages:
            return
        records = self._records(messages)
        self._store.run(lambda s: self._write(s, records))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        if not messages:
            return
        records = self._records(messages)
        await self._store.arun(lambda s: self._write(s, records))

    async def _clear(self, storage: Storage) -> None:
        thread = await storage.memory.get_thread(self.session_id)
        if thread is None:
            return
        if thread.resource_id != self.resource_id:
            raise ThreadNotFoundError(
                f"thread {self.session_id!r} belongs to another resource; not cleared")
        await storage.memory.delete_thread(self.session_id)

    def clear(self) -> None:
        """Delete the conversation (its thread and messages)."""
        self._store.run(self._clear)

    async def aclear(self) -> None:
        await self._store.arun(self._clear)

    def __repr__(self) -> str:
        return f"<AgentStorageChatMessageHistory {self.session_id!r} resource={self.resource_id!r}>"
