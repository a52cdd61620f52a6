"""``AgentStorageSaver``: LangGraph's BaseCheckpointSaver over agent-storage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...errors import ConfigurationError
from ...storage import Storage
from .. import StoreArg, _Store
from ._listing import Listing
from ._ops import Ops

__all__ = ["AgentStorageSaver"]

T = TypeVar("T")


class AgentStorageSaver(BaseCheckpointSaver[int]):
    """A LangGraph checkpointer storing checkpoints, channel blobs and pending writes in an
    agent-storage store (any backend, through the memory domain's public API).

    ``store``: a URL (opened with :func:`agent_storage.sync.open_store`, so both the sync
    and the async methods work), an ``agent_storage.sync`` store (both), or an async
    :class:`~agent_storage.Storage` (async methods only: it belongs to the caller's event
    loop). The store's messages must not be pruned: a store whose
    ``Retention.max_messages_per_thread`` is set is refused.
    """

    def __init__(self, store: StoreArg, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self._store = _Store(store, blocking=True)
        memory = self._store.storage.backends.get("memory")
        if memory is None:
            raise ConfigurationError("AgentStorageSaver: the store's memory domain is disabled")
        if memory.options.retention.max_messages_per_thread is not None:
            raise ConfigurationError(
                "AgentStorageSaver: this store prunes messages (Retention.max_messages_per_"
                "thread) and would delete checkpoints; use a store without that limit")
        self._ops = Ops(self.serde)

    @classmethod
    def from_url(cls, url: str, *, serde: SerializerProtocol | None = None,
                 **options: Any) -> AgentStorageSaver:
        """A saver over ``agent_storage.sync.open_store(url, **options)``."""
        from ...sync import open_store

        return cls(open_store(url, **options), serde=serde)

    @property
    def storage(self) -> Storage:
        return self._store.storage

    # -- async API ----------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._store.arun(lambda s: self._ops.get_tuple(s, config))

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None,
                    limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        listing = Listing(self._ops, config, filter=filter, before=before, limit=limit)
        while (batch := await self._store.arun(listing.next_batch)) is not None:
            for item in batch:
                yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint,
                   metadata: CheckpointMetadata, new_versions: ChannelVersions) -> RunnableConfig:
        return await self._store.arun(
            lambda s: self._ops.put(s, config, checkpoint, metadata, new_versions))

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                          task_id: str, task_path: str = "") -> None:
        await self._store.arun(
            lambda s: self._ops.put_writes(s, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._store.arun(lambda s: self._ops.delete_thread(s, thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._store.arun(lambda s: self._ops.delete_for_runs(s, run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._store.arun(
            lambda s: self._ops.copy_thread(s, source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._store.arun(lambda s: self._ops.prune(s, thread_ids, strategy))

    # -- sync API (the same operations, run on the sync store's loop) -------------------

    def _run(self, fn: Callable[[Storage], Awaitable[T]]) -> T:
        return self._store.run(fn)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(lambda s: self._ops.get_tuple(s, config))

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None,
             limit: int | None = None) -> Iterator[CheckpointTuple]:
        listing = Listing(self._ops, config, filter=filter, before=before, limit=limit)
        while (batch := self._run(listing.next_batch)) is not None:
            yield from batch

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        return self._run(lambda s: self._ops.put(s, config, checkpoint, metadata, new_versions))

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                   task_id: str, task_path: str = "") -> None:
        self._run(lambda s: self._ops.put_writes(s, config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(lambda s: self._ops.delete_thread(s, thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(lambda s: self._ops.delete_for_runs(s, run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(lambda s: self._ops.copy_thread(s, source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(lambda s: self._ops.prune(s, thread_ids, strategy))
