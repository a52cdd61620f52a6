"""Vectors on DynamoDB: stored with the message items, searched exactly over the scope.

A message item carries its vector as ``vec`` (float32 bytes, attribute type B) and the
digest of the embedded text as ``vdg``: the vector is written by the same Put as the
message (so in the same transaction), and leaves with it (delete, thread delete, retention,
native TTL). Search reads the scope with Query only, never Scan: one Query per thread
partition (``scope=thread``), or the owner's threads (one Query on the resource's thread
index) and then each thread's partition, concurrently. Scores are computed here.

Scope limit: a search reads every vector of the scope (about 1.6 KB per 384-dimension
message, ~2 read units per 8 messages); scopes over :data:`MAX_SCOPE` messages are refused
with ValidationError. Keep scopes per user, or use PostgreSQL for large shared scopes.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from agent_storage.domains.memory import ThreadFilter, ThreadSelect
from agent_storage.errors import ValidationError
from agent_storage.records import Message, MessageUpdate
from agent_storage.vectors.backend import (
    EmbedderMismatchError,
    Vector,
    VectorConfig,
    VectorRow,
    pack,
    top_scores,
    unpack,
)

from .client import is_condition_failed
from .expr import AV, Expr, Item, N, Projection, S
from .memory import DynamoMemory

if TYPE_CHECKING:
    from agent_storage.domains.memory import Ordered

__all__ = ["MAX_SCOPE", "VectorDynamoMemory"]

#: The most messages one search may read.
MAX_SCOPE: Final = 50_000
#: Thread partitions read at once by a resource-wide search.
CONCURRENCY: Final = 8
#: A search reads the message fields (message_row) plus the vector.
SEARCH_FIELDS = Projection("id", "osk", "resource_id", "role", "type", "content", "metadata",
                           "vec")
SCAN_FIELDS = Projection("id", "osk", "resource_id", "role", "type", "content", "metadata",
                         "vdg")

# message id -> (vector bytes, digest) for the message items the current task writes.
_WRITING: contextvars.ContextVar[dict[str, tuple[bytes, str]] | None] = (
    contextvars.ContextVar("agent_storage_dynamodb_vectors", default=None))


class VectorDynamoMemory(DynamoMemory):
    """DynamoMemory with the vector primitives, on the message items."""

    # -- the message item codec ------------------------------------------------------------

    def message_item(self, m: Message, seq: int) -> Item:
        item = super().message_item(m, seq)
        writing = _WRITING.get()
        if writing is not None:
            found = writing.get(m.id)
            if found is not None:
                item["vec"], item["vdg"] = {"B": found[0]}, S(found[1])
        return item

    def message_from(self, item: Mapping[str, Any]) -> Ordered:
        writing = _WRITING.get()
        if writing is not None and "vec" in item and item["id"]["S"] not in writing:
            writing[item["id"]["S"]] = (bytes(item["vec"]["B"]), item["vdg"]["S"])
        return super().message_from(item)

    async def _update_messages(self, updates: list[MessageUpdate], *, now: _dt.datetime,
                               resource_id: str | None = None) -> list[Ordered]:
        # An update rewrites the whole item: each keeps the vector it had (message_from
        # reads it, message_item writes it back); changed text is re-embedded after.
        token = _WRITING.set({})
        try:
            return await super()._update_messages(updates, now=now, resource_id=resource_id)
        finally:
            _WRITING.reset(token)

    # -- primitives ------------------------------------------------------------------------

    def _model_key(self) -> Item:
        return {"pk": S(f"{self.prefix}#VECTORS"), "sk": S("model")}

    async def _init_vectors(self, cfg: VectorConfig) -> None:
        table = self.table
        e = Expr()
        item: Item = {**self._model_key(), "model": S(cfg.model), "dimensions": N(cfg.dimensions)}
        try:
            await table.put(item, "vector model", ConditionExpression=(
                f"attribute_not_exists({e.n('pk')})"), **e.params())
        except Exception as exc:
            if not is_condition_failed(exc):
                raise
        stored = await table.get(self._model_key())
        if stored is None:  # pragma: no cover - written just above
            raise EmbedderMismatchError("the vector model record could not be read back")
        model, dims = stored["model"]["S"], int(stored["dimensions"]["N"])
        if (model, dims) != (cfg.model, cfg.dimensions):
            raise EmbedderMismatchError(
                f"this store holds vectors of model {model!r} ({dims} dimensions); the "
                f"embedder is {cfg.model!r} ({cfg.dimensions}): vectors of two models are "
                "never mixed (use another table_prefix, or re-embed into a new store)")

    async def _save_messages_with_vectors(
        self, messages: list[Message], rows: list[VectorRow], *, now: _dt.datetime
    ) -> list[Message]:
        token = _WRITING.set({mid: (pack(vec), dig) for mid, vec, dig in rows
                              if vec is not None and dig is not None})
        try:
            return await self._save_messages(messages, now=now)
        finally:
            _WRITING.reset(token)

    async def _set_vector(self, message_id: str, vec: AV | None, dig: str | None) -> None:
        """Set (or remove) the vector of an existing message item; a message deleted
        meanwhile is skipped (the update's condition)."""
        found = await self._lookup(message_id, Projection("pk", "sk"))
        if found is None:
            return
        e = Expr()
        if vec is None:
            expr = f"REMOVE {e.n('vec')}, {e.n('vdg')}"
        else:
            expr = f"SET {e.n('vec')} = {e.v(vec)}, {e.n('vdg')} = {e.s(dig or '')}"
        try:
            await self.table.update(
                {"pk": found["pk"], "sk": found["sk"]}, UpdateExpression=expr,
                ConditionExpression=f"attribute_exists({e.n('pk')})", **e.params())
        except Exception as exc:
            if not is_condition_failed(exc):
                raise

    async def _save_vectors(self, rows: Sequence[VectorRow]) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: VectorRow) -> None:
            mid, vec, dig = row
            async with gate:
                await self._set_vector(mid, None if vec is None else {"B": pack(vec)}, dig)

        await asyncio.gather(*(one(r) for r in rows))

    async def _copy_vectors(self, pairs: Sequence[tuple[str, str]]) -> None:
        sources = await self._lookup_many(
            [old for old, _ in pairs], Projection("vec", "vdg"))
        for (_, new), item in zip(pairs, sources, strict=True):
            if item is not None and "vec" in item:
                await self._set_vector(new, item["vec"], item["vdg"]["S"])

    async def _read_vectors(self, ids: Sequence[str]) -> list[VectorRow]:
        items = await self._lookup_many(list(ids), Projection("vec", "vdg"))
        return [(mid, tuple(unpack(bytes(i["vec"]["B"]))), i["vdg"]["S"])
                for mid, i in zip(ids, items, strict=True) if i is not None and "vec" in i]

    async def _thread_ids(self, resource_id: str | None) -> list[str]:
        threads = await self._select_threads(ThreadSelect(
            filter=ThreadFilter(resource_id=resource_id), order_by="created_at",
            direction="asc"))
        return sorted(t.id for t in threads)

    async def _thread_items(self, thread_id: str, project: Projection, *,
                            with_vector: bool) -> list[Item]:
        e = Expr()
        pk = self.thread_key(thread_id)["pk"]["S"]
        where = [self.ttl_filter(e), f"{e.n('et')} = {e.s('message')}"]
        if with_vector:
            where.append(f"attribute_exists({e.n('vec')})")
        params = {"KeyConditionExpression": f"{e.n('pk')} = {e.s(pk)}",
                  "FilterExpression": " AND ".join(f"({w})" for w in where), **e.params()}
        items: list[Item] = await self.table.query(params, project=project)
        return items

    async def _search_vectors(
        self, query: Vector, *, resource_id: str | None, thread_id: str | None, top_k: int,
        min_score: float | None,
    ) -> list[tuple[float, Ordered]]:
        tids = [thread_id] if thread_id is not None else await self._thread_ids(resource_id)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(tid: str) -> list[tuple[str, Item]]:
            async with gate:
                return [(tid, i) for i in await self._thread_items(tid, SEARCH_FIELDS,
                                                                    with_vector=True)]

        found = [pair for part in await asyncio.gather(*(one(t) for t in tids)) for pair in part]
        if resource_id is not None:
            found = [p for p in found if p[1].get("resource_id", {}).get("S") == resource_id]
        if len(found) > MAX_SCOPE:
            raise ValidationError(f"search_messages: the scope holds {len(found)} messages "
                                  f"with vectors; DynamoDB searches at most {MAX_SCOPE}")
        rows = [self.message_row(item, tid) for tid, item in found]
        top = top_scores(query, [bytes(i["vec"]["B"]) for _, i in found], top_k, min_score,
                         key=lambda n: -rows[n][0])
        return [(s, rows[n]) for n, s in top]

    async def _scan_vectors(
        self, *, cursor: Any, limit: int, resource_id: str | None
    ) -> tuple[list[tuple[Message, str | None]], Any]:
        # Whole threads per page, in thread id order; the cursor is (thread ids, next).
        tids, start = cursor if cursor is not None else (await self._thread_ids(resource_id), 0)
        page: list[tuple[Message, str | None]] = []
        while start < len(tids) and len(page) < limit:
            tid = tids[start]
            start += 1
            for item in await self._thread_items(tid, SCAN_FIELDS, with_vector=False):
                _, m = self.message_row(item, tid)
                if resource_id is None or m.resource_id == resource_id:
                    page.append((m, item["vdg"]["S"] if "vdg" in item else None))
        return page, ((tids, start) if start < len(tids) else None)
