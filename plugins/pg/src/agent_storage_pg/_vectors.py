"""Vectors on PostgreSQL with pgvector: a ``vector(n)`` column and an HNSW index.

``init()`` with an embedder creates the extension if the server offers it (``CREATE
EXTENSION IF NOT EXISTS vector``), the vector table with ``embedding vector(n)`` and the
HNSW index ``{prefix}_vectors_hnsw_idx`` (``vector_cosine_ops``; ``m``/``ef_construction``
from :data:`HNSW_STORAGE`), all in the store's schema. Without pgvector on the server,
``init()`` raises NotSupportedError saying how to install it, unless the store was opened
with ``exact_search=True`` (then vectors are float32 ``bytea`` and search is exact, as on
SQLite).

A search is one statement on a pooled connection: ``ORDER BY embedding <=> query LIMIT
top_k`` joined to the messages for the scope and TTL, returning the winners' message rows
with their scores. ``hnsw.ef_search`` and ``hnsw.iterative_scan = relaxed_order``
(pgvector 0.8: the index scan goes on until ``top_k`` rows pass the scope filter, so an
owner's 1% of the table still gets ``top_k`` hits) are set once per connection
(:func:`session_settings`); on a user-supplied engine, or for a ``top_k`` above 25, the
search is a transaction that sets them with ``SET LOCAL`` first. Scores are ``1 - cosine
distance`` rounded to 6 decimals, re-sorted here (relaxed order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from agent_storage.errors import NotSupportedError
from agent_storage.naming import check_identifier
from agent_storage.vectors.backend import Vector, VectorConfig, best, rounded
from agent_storage.vectors.sql import MESSAGE_COLUMNS, SqlVectors
from sqlalchemy import text

if TYPE_CHECKING:
    from agent_storage.domains.memory import Ordered
    from agent_storage.sql.base import Tx

__all__ = ["HNSW_STORAGE", "PgVectors", "session_settings"]

#: HNSW build parameters (pgvector's defaults; see docs/recall.md for tuning).
HNSW_STORAGE: Final = {"m": 16, "ef_construction": 64}
#: hnsw.ef_search: candidates kept per search (at least 4 x top_k).
EF_SEARCH: Final = 100
#: Rows read beyond top_k: relaxed_order may return near-equal rows slightly out of order.
FETCH_MARGIN: Final = 10

INSTALL_HINT = (
    "semantic recall on PostgreSQL needs the pgvector extension, which this server does not "
    "offer: install it on the server (Debian/Ubuntu: apt install postgresql-<major>-pgvector; "
    "Docker: the pgvector/pgvector image; managed services: enable the 'vector' extension), "
    "or open the store with exact_search=True (exact search without an index)")


class PgVectors(SqlVectors):
    """SqlVectors with pgvector (unless ``exact_search``)."""

    def _exact(self) -> bool:
        cfg = self._vector_config()
        return cfg is None or cfg.exact

    def _embedding_type(self, cfg: VectorConfig) -> str:
        return "BYTEA" if cfg.exact else f"vector({int(cfg.dimensions)})"

    def _embedding_param(self) -> str:
        return ":emb" if self._exact() else "CAST(CAST(:emb AS text) AS vector)"

    def _embedding_value(self, vector: Vector) -> Any:
        if self._exact():
            return super()._embedding_value(vector)
        return _literal(vector)

    def _embedding_column(self) -> str:
        return "embedding" if self._exact() else "CAST(embedding AS text)"

    def _embedding_read(self, value: Any) -> Vector:
        if self._exact():
            return super()._embedding_read(value)
        return tuple(float(x) for x in str(value).strip("[]").split(","))

    def _index_name(self) -> str:
        prefix = self.t.prefix
        return check_identifier(f"{prefix}_vectors_hnsw_idx" if prefix else "vectors_hnsw_idx",
                                "vector index name")

    def _vector_ddl(self, cfg: VectorConfig) -> list[str]:
        ddl = super()._vector_ddl(cfg)
        if not cfg.exact:
            storage = ", ".join(f"{k} = {int(v)}" for k, v in HNSW_STORAGE.items())
            ddl.append(f'CREATE INDEX IF NOT EXISTS "{self._index_name()}" ON {self._vt()} '
                       f"USING hnsw (embedding vector_cosine_ops) WITH ({storage})")
        return ddl

    async def _before_vector_ddl(self, cfg: VectorConfig) -> None:
        if cfg.exact:
            return
        offered = await self.b.fetch(text(
            "SELECT installed_version FROM pg_available_extensions WHERE name = 'vector'"))
        if not offered:
            raise NotSupportedError(INSTALL_HINT)
        if offered[0][0] is None:
            await self.b.transact(
                lambda tx: tx.execute(text("CREATE EXTENSION IF NOT EXISTS vector")))

    async def _search_vectors(
        self, query: Vector, *, resource_id: str | None, thread_id: str | None, top_k: int,
        min_score: float | None,
    ) -> list[tuple[float, Ordered]]:
        if self._exact():
            return await super()._search_vectors(
                query, resource_id=resource_id, thread_id=thread_id, top_k=top_k,
                min_score=min_score)
        where, params = self._scope_sql(resource_id, thread_id)
        key = ("hnsw", resource_id is not None, thread_id is not None, "cutoff" in params)
        stmt = self._vsql(repr(key), lambda: text(
            f"SELECT {MESSAGE_COLUMNS}, "  # noqa: S608
            "1 - (v.embedding <=> CAST(CAST(:q AS text) AS vector)) "
            f"FROM {self._vt()} v JOIN {self._mt(self.t.messages)} m ON m.id = v.message_id "
            f"WHERE {where} "
            "ORDER BY v.embedding <=> CAST(CAST(:q AS text) AS vector) LIMIT :k"))
        params.update(q=_literal(query), k=top_k + FETCH_MARGIN)
        ef = max(EF_SEARCH, 4 * top_k)
        if ef == EF_SEARCH and self._pg_session_tuned():
            rows = await self.b.fetch(stmt, params)  # one statement, on asyncpg directly
        else:
            def run(tx: Tx) -> list[Any]:
                tx.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
                tx.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                return tx.rows(stmt, params)

            rows = await self.b.transact(run)
        scores = [rounded(float(r[9])) for r in rows]
        top = best(scores, top_k, min_score, key=lambda i: -rows[i][0])
        ordered = self._ordered([rows[i] for i, _ in top])  # type: ignore[attr-defined]
        return [(s, o) for (_, s), o in zip(top, ordered, strict=True)]

    def _pg_session_tuned(self) -> bool:
        """Every connection of the store's pool starts with :func:`session_settings` (our
        own engine; a user-supplied one has whatever its owner set)."""
        options = self.b.options
        return options.engine is None and bool(session_settings(options))


def session_settings(options: Any) -> dict[str, str]:
    """pgvector's search settings for every connection of a store that searches with the
    HNSW index (an embedder, no ``exact_search``), sent with the connection's startup
    (asyncpg ``server_settings``): a search is then one statement, without a transaction
    for ``SET LOCAL``. ``hnsw.iterative_scan = relaxed_order`` (pgvector 0.8) keeps the
    index scan going until ``LIMIT`` rows pass the scope filter; ``hnsw.ef_search`` is
    the candidate list (a search with ``4 * top_k`` above it sets its own, per
    transaction). Such a store needs pgvector (``init()`` says how to install it); the
    server keeps the values as placeholders until the extension's library loads."""
    if getattr(options, "embedder", None) is None or getattr(options, "exact_search", False):
        return {}
    return {"hnsw.ef_search": str(EF_SEARCH), "hnsw.iterative_scan": "relaxed_order"}


def _literal(vector: Vector) -> str:
    """pgvector's text form; float32 values print exactly with repr (shortest round trip)."""
    return "[" + ",".join(repr(x) for x in vector) + "]"
