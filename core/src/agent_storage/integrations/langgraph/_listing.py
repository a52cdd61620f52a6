"""``list``/``alist``: checkpoints newest first, one page of at most ``PAGE`` at a time.

Pages are read by keyset on the messages index (thread_id, created_at, seq), descending:
the next page ends at the last page's timestamp (inclusive) and skips the ids already
returned at that timestamp, so ties never repeat or vanish. ``before`` bounds the first
page by its checkpoint's time and then compares ids as strings, as LangGraph's own
savers do; the metadata ``filter`` is applied before blobs and writes are read.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple

from ...storage import Storage
from . import _layout as L
from . import _records as R
from ._ops import PAGE, Ops, target


class Listing:
    """State of one listing; ``next_batch`` is called until it returns None."""

    def __init__(self, ops: Ops, config: Mapping[str, Any] | None, *,
                 filter: Mapping[str, Any] | None, before: Mapping[str, Any] | None,
                 limit: int | None) -> None:
        self.ops = ops
        self.config = config
        self.filter = dict(filter or {})
        self.before = None if before is None else target(before)[2]
        self.left = limit
        self.pairs: list[tuple[str, str]] | None = None
        self._reset()

    def _reset(self) -> None:
        self.end: _dt.datetime | None = (None if self.before is None
                                         else L.checkpoint_time(self.before))
        self.seen: set[str] = set()
        self.exclusive = False

    async def next_batch(self, storage: Storage) -> list[CheckpointTuple] | None:
        if self.pairs is None:
            self.pairs = await self.ops.scope(storage, self.config)
        while self.pairs and (self.left is None or self.left > 0):
            thread_id, ns = self.pairs[0]
            batch, done = await self._page(storage, thread_id, ns)
            if done:
                self.pairs.pop(0)
                self._reset()
            if batch:
                return batch
        return None

    async def _page(self, storage: Storage, thread_id: str,
                    ns: str) -> tuple[list[CheckpointTuple], bool]:
        size = PAGE if self.filter or self.left is None else min(PAGE, self.left)
        page = await storage.memory.list_messages(
            L.ns_thread(thread_id, ns), types=[L.CHECKPOINT], order="desc", end=self.end,
            end_exclusive=self.exclusive, per_page=size, with_total=False)
        fresh = [m for m in page.items if m.id not in self.seen]
        if not fresh and page.has_more:  # a whole page of one timestamp: step past it
            self.exclusive, self.seen = True, set()
            return [], False
        if page.items:
            last = page.items[-1].created_at
            if last != self.end:
                self.seen = set()
            self.seen |= {m.id for m in page.items if m.created_at == last}
            self.end, self.exclusive = last, False
        chosen = []
        for m in fresh:
            if self.before is not None and not m.content["checkpoint_id"] < self.before:
                continue
            md = R.decode_metadata(self.ops.serde, m)
            if any(k not in md or md[k] != v for k, v in self.filter.items()):  # type: ignore[literal-required]
                continue
            chosen.append((m, R.decode_checkpoint(self.ops.serde, m), md))  # decoded once
            if self.left is not None and len(chosen) >= self.left:
                break
        if self.left is not None:
            self.left -= len(chosen)
        tuples = await self.ops.load(storage, thread_id, ns, chosen)
        return tuples, not page.has_more
