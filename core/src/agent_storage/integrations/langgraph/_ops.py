"""The checkpointer's reads and writes against one async Storage (see ``_layout``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...errors import ThreadNotFoundError, ValidationError
from ...records import Message, Thread
from ...serde import utcnow
from ...storage import Storage
from . import _layout as L
from . import _records as R

__all__ = ["Ops", "target"]

#: Messages per save_messages call when a batch is split: DynamoDB takes at most 100 items
#: per transaction, including the thread rows a save bumps. Checkpoints go last, so a
#: checkpoint is visible only once all its blobs are stored.
CHUNK = 90
#: Checkpoints read per listing page.
PAGE = 100
#: Newest messages read to find the latest checkpoint with its writes and new blobs.
LATEST_WINDOW = 8


def target(config: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(thread_id, checkpoint_ns, checkpoint_id or None) of a RunnableConfig."""
    conf = config.get("configurable") or {}
    thread_id = conf.get("thread_id")
    if not isinstance(thread_id, str) or not thread_id:
        raise ValidationError("config['configurable']['thread_id']: expected a non-empty str")
    ns = conf.get("checkpoint_ns") or ""
    checkpoint_id = conf.get("checkpoint_id")
    return thread_id, ns, checkpoint_id if isinstance(checkpoint_id, str) else None


class Ops:
    """Every operation takes the Storage to use, so the saver can run it on any loop."""

    def __init__(self, serde: SerializerProtocol) -> None:
        self.serde = serde

    # -- writes -------------------------------------------------------------------------

    async def put(
        self, storage: Storage, config: Mapping[str, Any], checkpoint: Checkpoint,
        metadata: CheckpointMetadata, new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id, ns, parent = target(config)
        at = L.checkpoint_time(checkpoint["id"]) or utcnow()
        md = get_checkpoint_metadata(config, metadata)  # type: ignore[arg-type]
        values = checkpoint.get("channel_values", {})
        batch = R.blob_messages(self.serde, thread_id, ns, values, new_versions, at,
                                skip=R.inline(checkpoint))
        batch.append(R.checkpoint_message(self.serde, thread_id, ns, checkpoint, md, parent, at))
        threads = {L.ns_thread(thread_id, ns): self._ns_thread(thread_id, ns)}
        run_id = md.get("run_id")
        if isinstance(run_id, str) and run_id:
            batch.append(R.run_ref_message(thread_id, ns, checkpoint["id"], run_id, at))
            threads[L.run_thread(run_id)] = _run_thread(run_id)
        await self._save(storage, batch, threads)
        return R.config_of(thread_id, ns, checkpoint["id"])

    async def put_writes(
        self, storage: Storage, config: Mapping[str, Any], writes: Sequence[tuple[str, Any]],
        task_id: str, task_path: str,
    ) -> None:
        thread_id, ns, checkpoint_id = target(config)
        if checkpoint_id is None:
            raise ValidationError("put_writes: config has no checkpoint_id")
        if not writes:
            return
        at = L.checkpoint_time(checkpoint_id)
        if at is None:  # not a UUIDv6 id: file the writes at their checkpoint's time
            found = await storage.memory.get_messages(
                [L.checkpoint_id_key(thread_id, ns, checkpoint_id)])
            at = found[0].created_at if found else utcnow()
        batch = R.write_messages(self.serde, thread_id, ns, checkpoint_id, writes, task_id,
                                 task_path, at)
        await self._save(storage, batch,
                         {L.ns_thread(thread_id, ns): self._ns_thread(thread_id, ns)})

    async def _save(self, storage: Storage, batch: list[Message],
                    threads: Mapping[str, Thread]) -> None:
        """save_messages, creating the threads on first use (one round trip after that)."""
        chunks = [batch[i:i + CHUNK] for i in range(0, len(batch), CHUNK)] or [[]]
        for chunk in chunks:
            if not chunk:
                continue
            try:
                await storage.memory.save_messages(chunk)
            except ThreadNotFoundError:
                # First checkpoint of this thread or run (or deleted meanwhile): create, retry.
                for thread in threads.values():
                    await storage.memory.save_thread(thread)
                await storage.memory.save_messages(chunk)

    @staticmethod
    def _ns_thread(thread_id: str, ns: str) -> Thread:
        return Thread(id=L.ns_thread(thread_id, ns), resource_id=L.owner(thread_id),
                      agent_id=L.AGENT_ID,
                      metadata={"langgraph": {"thread_id": thread_id, "checkpoint_ns": ns}})

    # -- reads --------------------------------------------------------------------------

    async def get_tuple(self, storage: Storage,
                        config: Mapping[str, Any]) -> CheckpointTuple | None:
        thread_id, ns, checkpoint_id = target(config)
        memory = storage.memory
        if checkpoint_id is None:
            return await self._latest(storage, thread_id, ns)
        found = await memory.get_messages([L.checkpoint_id_key(thread_id, ns, checkpoint_id)])
        if not found:
            return None
        return (await self.load(storage, thread_id, ns, [self._decode(found[0])]))[0]

    async def _latest(self, storage: Storage, thread_id: str, ns: str) -> CheckpointTuple | None:
        """The newest checkpoint through the recall path (``last=8``, the cheapest read on
        every backend): the page usually holds the checkpoint, its writes (same timestamp,
        saved after it) and the blobs it added; only older blobs are read after."""
        thread = L.ns_thread(thread_id, ns)
        page = await storage.memory.list_messages(thread, last=LATEST_WINDOW)
        checkpoints = [m for m in page.items if m.type == L.CHECKPOINT]
        if not checkpoints:
            if not page.has_more:
                return None
            fallback = await storage.memory.list_messages(thread, types=[L.CHECKPOINT], last=1)
            checkpoints = list(fallback.items)
        latest = checkpoints[-1]
        # Every message of the checkpoint's timestamp is on the page when an older one is
        # (or nothing is older): then its writes need no second read.
        complete = not page.has_more or page.items[0].created_at < latest.created_at
        return (await self.load(storage, thread_id, ns, [self._decode(latest)],
                                known=page.items if complete else ()))[0]

    def _decode(self, m: Message) -> tuple[Message, Checkpoint, CheckpointMetadata]:
        return m, R.decode_checkpoint(self.serde, m), R.decode_metadata(self.serde, m)

    async def load(
        self, storage: Storage, thread_id: str, ns: str,
        decoded: list[tuple[Message, Checkpoint, CheckpointMetadata]],
        known: Sequence[Message] = (),
    ) -> list[CheckpointTuple]:
        """Tuples for checkpoints of one namespace thread: blobs in one batch read and
        writes in one range read, both at once. ``known``: messages already read that hold
        every write of these checkpoints (and maybe some blobs)."""
        if not decoded:
            return []
        memory = storage.memory
        by_id = {m.id: m for m in known if m.type == L.BLOB}
        needed = set().union(*(R.blob_needs(thread_id, ns, cp) for _, cp, _ in decoded))
        blob_ids = sorted(needed - set(by_id))
        times = [m.created_at for m, _, _ in decoded]

        async def blobs() -> list[Message]:
            return await memory.get_messages(blob_ids) if blob_ids else []

        async def writes_read() -> Sequence[Message]:
            if known:
                return [m for m in known if m.type == L.WRITE]
            page = await memory.list_messages(
                L.ns_thread(thread_id, ns), types=[L.WRITE], start=min(times),
                end=max(times), per_page=None, with_total=False)
            return page.items

        got_blobs, got_writes = await asyncio.gather(blobs(), writes_read())
        by_id.update((b.id, b) for b in got_blobs)
        writes: dict[str, list[Message]] = {}
        for w in got_writes:
            writes.setdefault(w.content["checkpoint_id"], []).append(w)
        return [R.to_tuple(self.serde, thread_id, ns, m, cp, md, by_id,
                           writes.get(m.content["checkpoint_id"], ()))
                for m, cp, md in decoded]

    async def scope(self, storage: Storage,
                    config: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        """The (thread_id, ns) pairs a listing covers."""
        if config is not None:
            thread_id, ns, _ = target(config)
            if "checkpoint_ns" in (config.get("configurable") or {}):
                return [(thread_id, ns)]
            threads = await storage.memory.list_threads(resource_id=L.owner(thread_id),
                                                        per_page=None)
        else:
            threads = await storage.memory.list_threads(agent_id=L.AGENT_ID, per_page=None)
        pairs = []
        for t in threads.items:
            info = t.metadata.get("langgraph")
            if isinstance(info, dict) and "checkpoint_ns" in info:
                pairs.append((info["thread_id"], info["checkpoint_ns"]))
        return sorted(pairs)

    # -- deletes, copies, pruning -------------------------------------------------------

    async def delete_thread(self, storage: Storage, thread_id: str) -> None:
        threads = await storage.memory.list_threads(resource_id=L.owner(thread_id), per_page=None)
        for t in threads.items:
            await storage.memory.delete_thread(t.id)

    async def delete_for_runs(self, storage: Storage, run_ids: Iterable[str]) -> None:
        memory = storage.memory
        for run_id in dict.fromkeys(run_ids):
            refs = await memory.list_messages(L.run_thread(run_id), per_page=None,
                                              with_total=False)
            groups: dict[tuple[str, str], list[Message]] = {}
            for ref in refs.items:
                c = ref.content
                groups.setdefault((c["thread_id"], c["checkpoint_ns"]), []).append(ref)
            doomed = [ref.id for ref in refs.items]
            for (thread_id, ns), group in groups.items():
                doomed += await self._checkpoints_and_writes(storage, thread_id, ns, group)
            if doomed:
                await memory.delete_messages(doomed)
            await memory.delete_thread(L.run_thread(run_id))

    async def _checkpoints_and_writes(self, storage: Storage, thread_id: str, ns: str,
                                      refs: list[Message]) -> list[str]:
        cids = {r.content["checkpoint_id"] for r in refs}
        times = [r.created_at for r in refs]
        writes = await storage.memory.list_messages(
            L.ns_thread(thread_id, ns), types=[L.WRITE], start=min(times), end=max(times),
            per_page=None, with_total=False)
        return ([L.checkpoint_id_key(thread_id, ns, c) for c in sorted(cids)]
                + [w.id for w in writes.items if w.content["checkpoint_id"] in cids])

    async def copy_thread(self, storage: Storage, source: str, target_id: str) -> None:
        for thread_id, ns in await self.scope(storage, {"configurable": {"thread_id": source}}):
            page = await storage.memory.list_messages(L.ns_thread(thread_id, ns), per_page=None,
                                                      with_total=False)
            first: list[Message] = []
            checkpoints: list[Message] = []
            threads = {L.ns_thread(target_id, ns): self._ns_thread(target_id, ns)}
            for m in page.items:
                copied = _rekey(m, target_id, ns)
                if copied is None:
                    continue
                (checkpoints if m.type == L.CHECKPOINT else first).append(copied)
                run_id = m.content.get("run_id") if m.type == L.CHECKPOINT else None
                if run_id:
                    first.append(R.run_ref_message(target_id, ns, m.content["checkpoint_id"],
                                                   run_id, m.created_at))
                    threads[L.run_thread(run_id)] = _run_thread(run_id)
            for i in range(0, len(first), CHUNK):  # blobs, writes, refs; then checkpoints
                await self._save(storage, first[i:i + CHUNK], threads)
            await self._save(storage, checkpoints, threads)

    async def prune(self, storage: Storage, thread_ids: Iterable[str], strategy: str) -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValidationError(
                f"prune: strategy must be 'keep_latest' or 'delete', got {strategy!r}")
        for thread_id in dict.fromkeys(thread_ids):
            if strategy == "delete":
                await self.delete_thread(storage, thread_id)
                continue
            for tid, ns in await self.scope(storage, {"configurable": {"thread_id": thread_id}}):
                await self._keep_latest(storage, tid, ns)

    async def _keep_latest(self, storage: Storage, thread_id: str, ns: str) -> None:
        """Delete every checkpoint but the newest, their writes and run references, and the
        blobs the newest does not use."""
        page = await storage.memory.list_messages(L.ns_thread(thread_id, ns), per_page=None,
                                                  with_total=False)
        checkpoints = [m for m in page.items if m.type == L.CHECKPOINT]
        if not checkpoints:
            return
        latest = checkpoints[-1]
        keep_cid = latest.content["checkpoint_id"]
        keep_blobs = R.blob_needs(thread_id, ns, R.decode_checkpoint(self.serde, latest))
        doomed = []
        for m in page.items:
            if m.type == L.CHECKPOINT and m.id != latest.id:
                doomed.append(m.id)
                if m.content.get("run_id"):
                    doomed.append(L.run_ref_id(thread_id, ns, m.content["checkpoint_id"]))
            elif m.type == L.WRITE and m.content["checkpoint_id"] != keep_cid:
                doomed.append(m.id)
            elif m.type == L.BLOB and m.id not in keep_blobs:
                doomed.append(m.id)
        if doomed:
            await storage.memory.delete_messages(doomed)


def _run_thread(run_id: str) -> Thread:
    return Thread(id=L.run_thread(run_id), resource_id=L.RUNS_OWNER, agent_id=L.AGENT_ID,
                  metadata={"langgraph": {"run_id": run_id}})


def _rekey(m: Message, thread_id: str, ns: str) -> Message | None:
    """A copy of a checkpoint, blob or write message for another LangGraph thread."""
    c = m.content
    if m.type == L.CHECKPOINT:
        new_id = L.checkpoint_id_key(thread_id, ns, c["checkpoint_id"])
    elif m.type == L.BLOB:
        new_id = L.blob_id(thread_id, ns, c["channel"], c["version"])
    elif m.type == L.WRITE:
        new_id = L.write_id(thread_id, ns, c["checkpoint_id"], c["task_id"], c["idx"])
    else:
        return None
    return Message(id=new_id, thread_id=L.ns_thread(thread_id, ns), role=m.role, type=m.type,
                   content=c, created_at=m.created_at)

