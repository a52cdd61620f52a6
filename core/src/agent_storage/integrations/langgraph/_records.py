"""Checkpoints, blobs and writes as memory-domain messages, and back (pure functions)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ...records import Message
from . import _layout as L

__all__ = ["blob_messages", "blob_needs", "checkpoint_message", "config_of", "inline",
           "run_ref_message", "to_tuple", "write_messages"]

_ROLE = "system"
#: Longest string channel value stored inline in its checkpoint.
INLINE_TEXT = 256


def config_of(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                             "checkpoint_id": checkpoint_id}}


def checkpoint_message(
    serde: SerializerProtocol, thread_id: str, ns: str, checkpoint: Checkpoint,
    metadata: CheckpointMetadata, parent_id: str | None, at: _dt.datetime,
) -> Message:
    """The checkpoint with its primitive channel values inline (see :func:`inline`); the
    other values are blobs."""
    bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    bare["channel_values"] = inline(checkpoint)
    run_id = metadata.get("run_id")
    return Message(
        id=L.checkpoint_id_key(thread_id, ns, checkpoint["id"]),
        thread_id=L.ns_thread(thread_id, ns), role=_ROLE, type=L.CHECKPOINT, created_at=at,
        content={
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": parent_id,
            "run_id": run_id if isinstance(run_id, str) else None,
            "checkpoint": L.pack(serde.dumps_typed(bare)),
            "metadata": L.pack(serde.dumps_typed(dict(metadata))),
        },
    )


def inline(checkpoint: Checkpoint) -> dict[str, Any]:
    """Values kept in the checkpoint itself, as LangGraph's PostgreSQL saver does: None,
    bools, numbers and strings up to ``INLINE_TEXT`` characters. Reading them needs no
    blob, and a copy in every checkpoint costs little."""
    versions = checkpoint.get("channel_versions", {})
    return {k: v for k, v in checkpoint.get("channel_values", {}).items()
            if k in versions and (v is None or isinstance(v, (bool, int, float))
                                  or (isinstance(v, str) and len(v) <= INLINE_TEXT))}


def blob_messages(
    serde: SerializerProtocol, thread_id: str, ns: str, values: Mapping[str, Any],
    versions: ChannelVersions, at: _dt.datetime, skip: Collection[str] = (),
) -> list[Message]:
    """One message per new channel version (inline values excepted); a channel without a
    value is "empty"."""
    out = []
    for channel, version in versions.items():
        if channel in skip:
            continue
        typed = serde.dumps_typed(values[channel]) if channel in values else ("empty", None)
        out.append(Message(
            id=L.blob_id(thread_id, ns, channel, version), thread_id=L.ns_thread(thread_id, ns),
            role=_ROLE, type=L.BLOB, created_at=at,
            content={"channel": channel, "version": version, "value": L.pack(typed)},
        ))
    return out


def write_messages(
    serde: SerializerProtocol, thread_id: str, ns: str, checkpoint_id: str,
    writes: Sequence[tuple[str, Any]], task_id: str, task_path: str, at: _dt.datetime,
) -> list[Message]:
    """Pending writes; a special channel (ERROR, INTERRUPT, ...) has its fixed index, so
    writing it again replaces it, and a regular (task, index) saved twice stays one."""
    out = []
    for idx, (channel, value) in enumerate(writes):
        index = WRITES_IDX_MAP.get(channel, idx)
        out.append(Message(
            id=L.write_id(thread_id, ns, checkpoint_id, task_id, index),
            thread_id=L.ns_thread(thread_id, ns), role=_ROLE, type=L.WRITE, created_at=at,
            content={"checkpoint_id": checkpoint_id, "task_id": task_id, "idx": index,
                     "task_path": task_path, "channel": channel,
                     "value": L.pack(serde.dumps_typed(value))},
        ))
    return out


def run_ref_message(thread_id: str, ns: str, checkpoint_id: str, run_id: str,
                    at: _dt.datetime) -> Message:
    return Message(
        id=L.run_ref_id(thread_id, ns, checkpoint_id), thread_id=L.run_thread(run_id),
        role=_ROLE, type=L.RUN_REF, created_at=at,
        content={"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id},
    )


def decode_checkpoint(serde: SerializerProtocol, message: Message) -> Checkpoint:
    checkpoint: Checkpoint = serde.loads_typed(L.unpack(message.content["checkpoint"]))
    return checkpoint


def decode_metadata(serde: SerializerProtocol, message: Message) -> CheckpointMetadata:
    metadata: CheckpointMetadata = serde.loads_typed(L.unpack(message.content["metadata"]))
    return metadata


def to_tuple(
    serde: SerializerProtocol, thread_id: str, ns: str, message: Message,
    checkpoint: Checkpoint, metadata: CheckpointMetadata,
    blobs: Mapping[str, Message], writes: Iterable[Message],
) -> CheckpointTuple:
    """A stored checkpoint with its channel values and pending writes."""
    values = dict(checkpoint.get("channel_values") or {})
    for channel, version in checkpoint.get("channel_versions", {}).items():
        if channel in values:
            continue
        blob = blobs.get(L.blob_id(thread_id, ns, channel, version))
        if blob is None:
            continue
        typed = L.unpack(blob.content["value"])
        if typed[0] != "empty":
            values[channel] = serde.loads_typed(typed)
    ordered = sorted(writes, key=lambda w: (w.content["task_id"], w.content["idx"]))
    content = message.content
    parent = content["parent_checkpoint_id"]
    return CheckpointTuple(
        config=config_of(thread_id, ns, content["checkpoint_id"]),
        checkpoint={**checkpoint, "channel_values": values},
        metadata=metadata,
        parent_config=None if parent is None else config_of(thread_id, ns, parent),
        pending_writes=[(w.content["task_id"], w.content["channel"],
                         serde.loads_typed(L.unpack(w.content["value"]))) for w in ordered],
    )


def blob_needs(thread_id: str, ns: str, checkpoint: Checkpoint) -> set[str]:
    """Ids of the blobs a stored checkpoint's values are read from (not inline)."""
    values = checkpoint.get("channel_values") or {}
    return {L.blob_id(thread_id, ns, ch, ver)
            for ch, ver in checkpoint.get("channel_versions", {}).items() if ch not in values}
