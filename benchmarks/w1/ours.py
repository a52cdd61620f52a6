"""The W1 phases through agent-storage's public API (the system under test)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .data import W1Message, W1Thread


class Ours:
    """Adapter from the phase protocol to `agent_storage` (imported on open: it may be absent)."""

    def __init__(self, url: str) -> None:
        self.name = "agent-storage"
        self.url = url
        self.store: Any = None
        # DynamoDB only: requests sent, by operation (botocore event hook), read per phase
        self.requests: Counter[str] | None = None

    async def open(self) -> None:
        import agent_storage as _as

        self._as = _as
        self.store = _as.open_store(self.url, fresh=True)
        await self.store.init()
        if self.url.startswith("dynamodb:"):
            self.requests = count_requests(self.store.client)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    async def create_thread(self, t: W1Thread) -> None:
        thread = self._as.Thread(
            id=t.id,
            resource_id=t.resource_id,
            title=t.title,
            metadata={"n": t.n},
            created_at=t.created_at,
        )
        await self.store.memory.save_thread(thread)

    async def write(self, msgs: Sequence[W1Message]) -> None:
        # Building the records is part of the call: an application does it on every save.
        message = self._as.Message
        batch = [
            message(
                id=m.id,
                thread_id=m.thread_id,
                role=m.role,
                content=m.content,
                resource_id=m.resource_id,
                created_at=m.created_at,
            )
            for m in msgs
        ]
        await self.store.memory.save_messages(batch)

    async def last(self, thread_id: str, n: int) -> Sequence[Any]:
        page = await self.store.memory.list_messages(thread_id, last=n)
        return page.items  # type: ignore[no-any-return]

    async def list_threads(self, resource_id: str, n: int) -> Sequence[Any]:
        page = await self.store.memory.list_threads(
            resource_id=resource_id, order_by="updated_at", direction="desc", per_page=n
        )
        return page.items  # type: ignore[no-any-return]

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> Sequence[Any]:
        include = [self._as.Include(id=message_id, before=before, after=after)]
        page = await self.store.memory.list_messages(thread_id, include=include, per_page=0)
        return page.items  # type: ignore[no-any-return]


def count_requests(client: Any) -> Counter[str]:
    """Count every request a botocore/aiobotocore client sends, by operation name.

    `before-send` fires once per HTTP request actually sent (a retry counts again)."""
    counts: Counter[str] = Counter()

    def hook(request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, bytes):
            target = target.decode()
        counts[target.rsplit(".", 1)[-1] or "?"] += 1

    client.meta.events.register("before-send.dynamodb", hook)
    return counts


class OursSync(Ours):
    """The same phases through the blocking facade ``agent_storage.sync`` (issue 16 item 6).

    The harness's own loop calls it and blocks for each call, as a script or a web view in a
    plain thread would; the facade runs the store on its private loop thread."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.name = "sync"

    async def open(self) -> None:
        import agent_storage as _as
        from agent_storage import sync

        self._as = _as
        self.sync_store: Any = sync.open_store(self.url, fresh=True)
        self.sync_store.init()

    async def close(self) -> None:
        self.sync_store.close()

    async def create_thread(self, t: W1Thread) -> None:
        self.sync_store.memory.save_thread(
            self._as.Thread(
                id=t.id, resource_id=t.resource_id, title=t.title, metadata={"n": t.n},
                created_at=t.created_at,
            )
        )

    async def write(self, msgs: Sequence[W1Message]) -> None:
        message = self._as.Message
        self.sync_store.memory.save_messages(
            [
                message(
                    id=m.id, thread_id=m.thread_id, role=m.role, content=m.content,
                    resource_id=m.resource_id, created_at=m.created_at,
                )
                for m in msgs
            ]
        )

    async def last(self, thread_id: str, n: int) -> Sequence[Any]:
        return self.sync_store.memory.list_messages(thread_id, last=n).items  # type: ignore[no-any-return]

    async def list_threads(self, resource_id: str, n: int) -> Sequence[Any]:
        page = self.sync_store.memory.list_threads(
            resource_id=resource_id, order_by="updated_at", direction="desc", per_page=n
        )
        return page.items  # type: ignore[no-any-return]

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> Sequence[Any]:
        include = [self._as.Include(id=message_id, before=before, after=after)]
        return self.sync_store.memory.list_messages(  # type: ignore[no-any-return]
            thread_id, include=include, per_page=0
        ).items
