"""The memory domain's semantic-recall methods (a mixin of MemoryDomain).

Public methods validate, embed (outside any transaction) and call the backend's vector
primitives below. A backend without vectors inherits the defaults, which raise
NotSupportedError.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from attrs import frozen

from ..domains._base import public
from ..errors import ConfigurationError, NotSupportedError, ThreadNotFoundError, ValidationError
from ..records import Include, Message
from ..serde import check_id, utcnow
from ._math import Vector, check_vector
from ._text import digest, message_text
from ._types import EmbeddingError, Recall, ScoredMessage

if TYPE_CHECKING:
    from ..domains.memory import Ordered

__all__ = ["VectorConfig", "VectorMemory", "VectorRow"]

#: (message id, its vector or None to drop any, digest of the embedded text or None).
VectorRow = tuple[str, "Vector | None", "str | None"]

MAX_TOP_K: Final = 1000
SCOPES: Final = ("resource", "thread")


@frozen(kw_only=True)
class VectorConfig:
    """The store's embedder and how vectors are kept."""

    embedder: Any
    model: str
    dimensions: int
    text: Callable[[Message], str | None]
    exact: bool

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors for ``texts``, checked (EmbeddingError names the bad one)."""
        if not texts:
            return []
        raw = await self.embedder.embed(list(texts))
        if raw is None or len(raw) != len(texts):
            got = "None" if raw is None else len(raw)
            raise EmbeddingError(f"embedder {self.model!r} returned {got} vectors for "
                                 f"{len(texts)} texts")
        return [check_vector(v, self.dimensions, f"embedding of text {i}")
                for i, v in enumerate(raw)]


def vector_config(options: Any) -> VectorConfig | None:
    """The VectorConfig of a backend's StoreOptions (None without an embedder)."""
    embedder = getattr(options, "embedder", None)
    if embedder is None:
        return None
    model, dims = getattr(embedder, "model", None), getattr(embedder, "dimensions", None)
    if not isinstance(model, str) or not model or not callable(getattr(embedder, "embed", None)):
        raise ConfigurationError("embedder: expected an object with model (str), dimensions "
                                 "(int) and async embed(texts) (agent_storage.Embedder)")
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 16000:
        raise ConfigurationError(f"embedder.dimensions: expected an int in 1..16000, got {dims!r}")
    text = getattr(options, "embed_text", None) or message_text
    if not callable(text):
        raise ConfigurationError("embed_text: expected a function of a Message")
    return VectorConfig(embedder=embedder, model=model, dimensions=dims, text=text,
                        exact=bool(getattr(options, "exact_search", False)))


def _sort_key(item: Ordered) -> tuple[_dt.datetime, int]:
    return item[1].created_at, item[0]


class VectorMemory:
    """search_messages, recall and embed_missing, and the vector primitives."""

    _vcfg: Any = ()        # () = not looked up yet; None = no embedder
    _vectors_ok = False    # _init_vectors ran for this domain object

    # -- configuration ---------------------------------------------------------------------

    def _vector_config(self) -> VectorConfig | None:
        cfg = self._vcfg
        if cfg == ():
            storage = getattr(self, "_storage", None)
            backend = None if storage is None else storage.backends.get("memory")
            cfg = self._vcfg = None if backend is None else vector_config(backend.options)
        return cfg  # type: ignore[no-any-return]

    def _need_vectors(self) -> VectorConfig:
        cfg = self._vector_config()
        if cfg is None:
            raise ConfigurationError(
                "semantic recall needs an embedder: open_store(url, embedder=...)")
        return cfg

    def vector_config(self) -> VectorConfig | None:
        """The embedder settings of this domain's store (None: opened without an embedder)."""
        return self._vector_config()

    async def create_vectors(self, cfg: VectorConfig) -> None:
        """Create the vector tables/index and check the recorded model (Storage.init calls
        this under its init; idempotent)."""
        await self._init_vectors(cfg)
        self._vectors_ok = True

    async def vectors_ready(self, cfg: VectorConfig) -> None:
        """Wait until the store and its vector tables are ready (copy_store calls this)."""
        await self._vectors_ready(cfg)

    async def _vectors_ready(self, cfg: VectorConfig) -> None:
        await self._ready()  # type: ignore[attr-defined]
        if not self._vectors_ok:
            await self._init_vectors(cfg)
            self._vectors_ok = True

    async def _vector_rows(self, cfg: VectorConfig, messages: Sequence[Message]
                           ) -> list[VectorRow]:
        """Embed the text of each message (one embed call); a message without text gets a
        row that drops any vector it had."""
        texts = [cfg.text(m) for m in messages]
        for t in texts:
            if t is not None and not isinstance(t, str):
                raise ValidationError(f"embed_text: expected str or None, got {type(t).__name__}")
        wanted = [t for t in texts if t]
        vectors = iter(await cfg.embed(wanted))
        return [(m.id, next(vectors), digest(t)) if t else (m.id, None, None)
                for m, t in zip(messages, texts, strict=True)]

    # -- hooks called by MemoryDomain ------------------------------------------------------

    async def _save_embedded(self, cfg: VectorConfig, batch: list[Message]) -> list[Message]:
        rows = await self._vector_rows(cfg, batch)
        await self._vectors_ready(cfg)
        return await self._save_messages_with_vectors(batch, rows, now=utcnow())

    async def _reembed(self, cfg: VectorConfig, updated: Sequence[Message]) -> None:
        if updated:
            await self._save_vectors(await self._vector_rows(cfg, updated))

    # -- public ----------------------------------------------------------------------------

    @public
    async def search_messages(
        self,
        query: str | Sequence[float],
        *,
        resource_id: str | None = None,
        thread_id: str | None = None,
        top_k: int = 5,
        min_score: float | None = None,
    ) -> list[ScoredMessage]:
        """The ``top_k`` messages most similar to ``query`` (text, embedded with the store's
        embedder, or a vector), best first, as ScoredMessage (``.message``, ``.score`` =
        cosine similarity). A scope is required: ``resource_id`` (an owner's messages),
        ``thread_id`` (one thread's), or both; results never cross it. ``min_score`` drops
        weaker hits. Equal scores: the later-saved message first."""
        cfg = self._need_vectors()
        owner = None if resource_id is None else check_id(resource_id, "resource_id")
        thread = None if thread_id is None else check_id(thread_id, "thread_id")
        if owner is None and thread is None:
            raise ValidationError("search_messages: give resource_id or thread_id (a scope)")
        top_k, min_score = _check_top_k(top_k), _check_min_score(min_score)
        vector = await self._query_vector(cfg, query)
        await self._vectors_ready(cfg)
        found = await self._search_vectors(vector, resource_id=owner, thread_id=thread,
                                           top_k=top_k, min_score=min_score)
        return [ScoredMessage(message=m, score=s) for s, (_, m) in found]

    @public
    async def recall(
        self,
        thread_id: str,
        query: str | Sequence[float],
        *,
        resource_id: str | None = None,
        last: int = 10,
        top_k: int = 3,
        message_range: int = 2,
        scope: str = "resource",
        min_score: float | None = None,
    ) -> Recall:
        """The context for an agent's next turn: the thread's ``last`` messages plus the
        ``top_k`` messages most similar to ``query`` (other than those ``last`` ones) with
        ``message_range`` neighbours on each side in their own threads, de-duplicated and
        chronological (``.messages``), and the hits, best first (``.hits``).
        ``scope="resource"`` searches every thread of the thread's owner; ``"thread"`` only
        this thread. With ``resource_id``, a thread of another owner is not found
        (ThreadNotFoundError)."""
        cfg = self._need_vectors()
        check_id(thread_id, "thread_id")
        owner = None if resource_id is None else check_id(resource_id, "resource_id")
        if scope not in SCOPES:
            raise ValidationError(f"scope: expected one of {list(SCOPES)}, got {scope!r}")
        for name, value in (("last", last), ("message_range", message_range)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name}: expected an int >= 0, got {value!r}")
        top_k, min_score = _check_top_k(top_k, allow_zero=True), _check_min_score(min_score)
        vector = await self._query_vector(cfg, query) if top_k else None
        await self._vectors_ready(cfg)
        thread = await self._get_thread(thread_id)  # type: ignore[attr-defined]
        if thread is None or (owner is not None and thread.resource_id != owner):
            raise ThreadNotFoundError(f"thread {thread_id!r} not found")
        rows: dict[str, Ordered] = {}
        if last:
            for seq, m in await self._last_messages(thread_id, last):  # type: ignore[attr-defined]
                rows[m.id] = (seq, m)
        found: list[tuple[float, Ordered]] = []
        if vector is not None:  # hits are earlier messages: not those already in `last`
            found = await self._search_vectors(
                vector, resource_id=thread.resource_id,
                thread_id=thread_id if scope == "thread" else None,
                top_k=min(top_k + len(rows), MAX_TOP_K + len(rows)), min_score=min_score)
            found = [hit for hit in found if hit[1][1].id not in rows][:top_k]
        if found and message_range:
            includes = [Include(id=m.id, before=message_range, after=message_range)
                        for _, (_, m) in found]
            for seq, m in await self._select_windows(  # type: ignore[attr-defined]
                    includes, resource_id=thread.resource_id):
                rows.setdefault(m.id, (seq, m))
        for _, (seq, m) in found:
            rows.setdefault(m.id, (seq, m))
        ordered = sorted(rows.values(), key=_sort_key)
        return Recall(messages=tuple(m for _, m in ordered),
                      hits=tuple(ScoredMessage(message=m, score=s) for s, (_, m) in found))

    @public
    async def embed_missing(
        self,
        *,
        resource_id: str | None = None,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Embed every message (of ``resource_id``, or all) that has no vector, or whose
        vector was made from other text (its content changed since), ``batch_size`` texts
        per embed call. Resumable: an interrupted run leaves what it stored, and the next
        run continues with what is still missing. ``progress(scanned, embedded)`` is
        called after each batch. Returns how many messages were embedded."""
        cfg = self._need_vectors()
        owner = None if resource_id is None else check_id(resource_id, "resource_id")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        await self._vectors_ready(cfg)
        cursor: Any = None
        scanned = embedded = 0
        while True:
            page, cursor = await self._scan_vectors(cursor=cursor, limit=batch_size,
                                                    resource_id=owner)
            scanned += len(page)
            stale = []
            for message, stored in page:
                text = cfg.text(message)
                if (digest(text) if text else None) != stored:
                    stale.append(message)
            for i in range(0, len(stale), batch_size):
                chunk = stale[i:i + batch_size]
                await self._save_vectors(await self._vector_rows(cfg, chunk))
                embedded += len(chunk)
            if progress is not None:
                progress(scanned, embedded)
            if cursor is None:
                return embedded

    async def _query_vector(self, cfg: VectorConfig, query: Any) -> Vector:
        if isinstance(query, str):
            if not query.strip():
                raise ValidationError("query: expected non-empty text or a vector")
            return (await cfg.embed([query]))[0]
        if isinstance(query, bytes | Mapping) or query is None:
            raise ValidationError(f"query: expected text or a vector, got {type(query).__name__}")
        return check_vector(query, cfg.dimensions, "query")

    # -- primitives: what a backend with vectors implements --------------------------------

    async def _init_vectors(self, cfg: VectorConfig) -> None:
        """Create what vectors need (idempotent) and record ``cfg.model`` and
        ``cfg.dimensions`` in the store; raise EmbedderMismatchError when the store
        already records another model or size. ``cfg.exact``: no approximate index."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _save_messages_with_vectors(
        self, messages: list[Message], rows: list[VectorRow], *, now: _dt.datetime
    ) -> list[Message]:
        """``_save_messages`` plus, in the same transaction, each message's row of ``rows``
        (same order): store its vector and digest, replacing any, or drop its vector when
        the row's vector is None. A message pruned by retention in the call keeps none."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _save_vectors(self, rows: Sequence[VectorRow]) -> None:
        """Store (or, for a None vector, drop) the vectors of existing messages, atomically;
        ids of messages that do not exist are skipped."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _copy_vectors(self, pairs: Sequence[tuple[str, str]]) -> None:
        """For each (source id, copy id): give the copy the source's vector, if it has one
        (clone_thread)."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _read_vectors(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored vector and digest of each message id that has one (any order; ids
        without a vector are left out): ``copy_store`` carries them without embedding."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _search_vectors(
        self, query: Vector, *, resource_id: str | None, thread_id: str | None, top_k: int,
        min_score: float | None,
    ) -> list[tuple[float, Ordered]]:
        """(score, (seq, message)) of the ``top_k`` visible messages (TTL applies) of the
        scope (owned by ``resource_id`` and/or in ``thread_id``) most similar to the unit
        vector ``query``, best first; score = cosine similarity rounded to 6 decimals
        (see ``_math.best``); equal scores: higher seq first; below ``min_score`` left
        out."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")

    async def _scan_vectors(
        self, *, cursor: Any, limit: int, resource_id: str | None
    ) -> tuple[list[tuple[Message, str | None]], Any]:
        """A page of about ``limit`` messages (of ``resource_id`` if given), each with the
        digest of its stored vector (None: no vector), and the cursor of the next page
        (None: this was the last). ``cursor`` is None for the first page, else a value
        this method returned; every message is visited once."""
        raise NotSupportedError(f"the {type(self).__name__} backend does not store vectors")


def _check_top_k(value: Any, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_TOP_K:
        raise ValidationError(f"top_k: expected an int in {low}..{MAX_TOP_K}, got {value!r}")
    return value


def _check_min_score(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1 <= value <= 1:
        raise ValidationError(f"min_score: expected a number in -1..1 or None, got {value!r}")
    return float(value)
