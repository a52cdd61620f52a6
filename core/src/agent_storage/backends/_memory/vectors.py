"""Vectors of the in-memory backend: exact search over the scope's messages.

``State.vectors`` maps a message id to (the stored Message it was made for, vector,
digest). A vector counts only while its message exists and is that same stored object, or
its text still has the digest (a metadata-only update replaces the object, not the text):
deleted, pruned and re-saved messages lose theirs without bookkeeping on every write path.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ...records import Message
from ...vectors._domain import VectorConfig, VectorMemory, VectorRow
from ...vectors._math import Vector, best, score
from ...vectors._text import digest
from ...vectors._types import EmbedderMismatchError
from ._state import clone

if TYPE_CHECKING:
    from ...domains.memory import Ordered
    from ._state import State

__all__ = ["MemoryVectors"]


class MemoryVectors(VectorMemory):
    _st: State

    async def _init_vectors(self, cfg: VectorConfig) -> None:
        with self._st.lock:
            recorded = self._st.vector_model
            if recorded is None:
                self._st.vector_model = (cfg.model, cfg.dimensions)
            elif recorded != (cfg.model, cfg.dimensions):
                raise EmbedderMismatchError(
                    f"this store holds vectors of model {recorded[0]!r} ({recorded[1]} "
                    f"dimensions); the embedder is {cfg.model!r} ({cfg.dimensions})")

    def _put_vectors(self, rows: Sequence[VectorRow]) -> None:
        messages, vectors = self._st.messages, self._st.vectors
        for mid, vector, dig in rows:
            entry = messages.get(mid)
            if vector is None or entry is None:
                vectors.pop(mid, None)
            else:
                vectors[mid] = (entry[1], vector, dig)

    async def _save_messages_with_vectors(
        self, messages: list[Message], rows: list[VectorRow], *, now: _dt.datetime
    ) -> list[Message]:
        with self._st.lock:  # the save runs without suspending: nothing sees it half-done
            stored = await self._save_messages(messages, now=now)  # type: ignore[attr-defined]
            self._put_vectors(rows)
            return stored  # type: ignore[no-any-return]

    async def _save_vectors(self, rows: Sequence[VectorRow]) -> None:
        with self._st.lock:
            self._put_vectors(rows)

    async def _copy_vectors(self, pairs: Sequence[tuple[str, str]]) -> None:
        with self._st.lock:
            for source, copy in pairs:
                found = self._live_vector(source)
                if found is not None:
                    self._put_vectors([(copy, found[1], found[2])])

    async def _read_vectors(self, ids: Sequence[str]) -> list[VectorRow]:
        with self._st.lock:
            found = [(mid, self._live_vector(mid)) for mid in ids]
            return [(mid, e[1], e[2]) for mid, e in found if e is not None]

    def _live_vector(self, mid: str) -> tuple[Message, Vector, str] | None:
        """The vector of message ``mid`` if it still matches the message (see module)."""
        entry = self._st.vectors.get(mid)
        current = self._st.messages.get(mid)
        if entry is None or current is None:
            if entry is not None:
                del self._st.vectors[mid]
            return None
        if current[1] is not entry[0]:
            cfg = self._vector_config()
            text = None if cfg is None else cfg.text(current[1])
            if not text or digest(text) != entry[2]:
                del self._st.vectors[mid]
                return None
            entry = self._st.vectors[mid] = (current[1], entry[1], entry[2])
        return entry  # type: ignore[no-any-return]

    def _scope_ids(self, resource_id: str | None, thread_id: str | None) -> Iterator[str]:
        st = self._st
        if thread_id is not None:
            thread_ids = [thread_id]
        else:
            thread_ids = [t.id for t in st.threads.values() if t.resource_id == resource_id]
        for tid in thread_ids:
            for _, _, mid in st.by_thread.get(tid, ()):
                yield mid

    async def _search_vectors(
        self, query: Vector, *, resource_id: str | None, thread_id: str | None, top_k: int,
        min_score: float | None,
    ) -> list[tuple[float, Ordered]]:
        cutoff = self._cutoff("messages")  # type: ignore[attr-defined]
        with self._st.lock:
            found: list[tuple[int, Message]] = []
            scores: list[float] = []
            for mid in list(self._scope_ids(resource_id, thread_id)):
                seq, m = self._st.messages[mid]
                if resource_id is not None and m.resource_id != resource_id:
                    continue
                if cutoff is not None and m.created_at < cutoff:
                    continue
                entry = self._live_vector(mid)
                if entry is not None:
                    found.append((seq, m))
                    scores.append(score(query, entry[1]))
            top = best(scores, top_k, min_score, key=lambda i: -found[i][0])
            return [(s, (found[i][0], clone(found[i][1]))) for i, s in top]

    async def _scan_vectors(
        self, *, cursor: Any, limit: int, resource_id: str | None
    ) -> tuple[list[tuple[Message, str | None]], Any]:
        after = cursor  # keyset on message id
        with self._st.lock:
            ids = sorted(mid for mid, (_, m) in self._st.messages.items()
                         if (after is None or mid > after)
                         and (resource_id is None or m.resource_id == resource_id))[:limit]
            out: list[tuple[Message, str | None]] = []
            for mid in ids:
                entry = self._live_vector(mid)
                out.append((clone(self._st.messages[mid][1]), None if entry is None
                            else entry[2]))
            return out, (ids[-1] if len(ids) == limit else None)

