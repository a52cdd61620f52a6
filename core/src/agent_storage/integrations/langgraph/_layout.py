"""Where a LangGraph checkpoint lives in the memory domain (no LangGraph import here).

One memory *thread* per (LangGraph thread, checkpoint namespace), owned by the resource
``owner(thread_id)`` so every namespace of a LangGraph thread is one index-backed
``list_threads(resource_id=...)`` away. Its *messages* are the checkpoints, the channel
blobs (one per channel version) and the pending writes, told apart by ``type``. A message's
``created_at`` is the time inside the checkpoint's UUIDv6 id, so the messages index
(thread_id, created_at, seq) lists checkpoints newest first and the writes of one
checkpoint share its timestamp. One more thread per LangGraph ``run_id`` holds a small
reference per checkpoint of that run: ``delete_for_runs`` reads it instead of every thread.

Ids are ``lg-`` + a SHA-256 of the parts (JSON), so any thread id, namespace, channel or
task id fits the 255-character id limit and no two keys collide.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import uuid
from typing import Any

__all__ = [
    "AGENT_ID",
    "BLOB",
    "CHECKPOINT",
    "RUNS_OWNER",
    "RUN_REF",
    "WRITE",
    "blob_id",
    "checkpoint_id_key",
    "checkpoint_time",
    "key",
    "ns_thread",
    "owner",
    "pack",
    "run_ref_id",
    "run_thread",
    "unpack",
    "write_id",
]

#: Message types of the four kinds of record.
CHECKPOINT = "langgraph.checkpoint"
BLOB = "langgraph.blob"
WRITE = "langgraph.write"
RUN_REF = "langgraph.run"
#: ``agent_id`` of every thread the checkpointer creates; owner of the run-index threads.
AGENT_ID = "langgraph"
RUNS_OWNER = "langgraph:runs"

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
_UNIX_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def key(*parts: Any) -> str:
    """A fixed-length id for a tuple of parts (ASCII JSON, so any text hashes)."""
    digest = hashlib.sha256(json.dumps(parts).encode("ascii")).hexdigest()
    return f"lg-{digest}"


def owner(thread_id: str) -> str:
    return key("thread", thread_id)


def ns_thread(thread_id: str, ns: str) -> str:
    return key("ns", thread_id, ns)


def run_thread(run_id: str) -> str:
    return key("run", run_id)


def checkpoint_id_key(thread_id: str, ns: str, checkpoint_id: str) -> str:
    return key("cp", thread_id, ns, checkpoint_id)


def blob_id(thread_id: str, ns: str, channel: str, version: Any) -> str:
    return key("blob", thread_id, ns, channel, version)


def write_id(thread_id: str, ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    return key("write", thread_id, ns, checkpoint_id, task_id, idx)


def run_ref_id(thread_id: str, ns: str, checkpoint_id: str) -> str:
    return key("runref", thread_id, ns, checkpoint_id)


def checkpoint_time(checkpoint_id: str) -> _dt.datetime | None:
    """The timestamp of a UUIDv6 checkpoint id (what LangGraph generates), else None.

    UUIDv6 ids sort as strings in time order, so ordering by this time is LangGraph's
    "newest first" (ties within one microsecond keep save order)."""
    try:
        value = uuid.UUID(checkpoint_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if value.version != 6:
        return None
    ticks = ((value.int >> 80) << 12) | ((value.int >> 64) & 0x0FFF)
    micros = (ticks - _UUID_EPOCH_OFFSET) // 10
    try:
        return _UNIX_EPOCH + _dt.timedelta(microseconds=micros)
    except OverflowError:
        return None


def pack(typed: tuple[str, bytes | None]) -> dict[str, Any]:
    """A serializer's ``(type, bytes)`` as JSON (bytes base64-encoded)."""
    kind, data = typed
    return {"t": kind, "d": None if data is None else base64.b64encode(data).decode("ascii")}


def unpack(value: dict[str, Any]) -> tuple[str, bytes]:
    """The ``(type, bytes)`` of :func:`pack` (no bytes: ``b""``, as for an "empty" blob)."""
    data = value["d"]
    return value["t"], b"" if data is None else base64.b64decode(data)
