"""Vectors on the SQL backends (a mixin of SqlMemory).

Two tables beside the messages, created by ``_init_vectors`` (``CREATE ... IF NOT
EXISTS``, in one transaction):

* ``{prefix}_vectors``: ``message_id`` (primary key, foreign key to the message's id with
  ``ON DELETE CASCADE``: a deleted, pruned or thread-deleted message takes its vector with
  it), ``digest`` (of the embedded text) and ``embedding`` (float32 blob here; PostgreSQL
  overrides the column and the search).
* ``{prefix}_vector_model``: the one row recording the model and dimensions.

Search here is exact: the scope's (message seq, blob) pairs are read through the messages'
thread index, scored in Python (numpy when installed), and only the winners' messages are
read. The scope and TTL always come from the message row itself, so a moved message is
found where it is now.

Statements are text with quoted, checked identifiers (``noqa: S608``); every value is a
bound parameter.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import LargeBinary, bindparam, select, text

from ..naming import check_identifier, qualified_name
from ..records import Message
from ..sql._common import SqlDomain
from ._domain import VectorConfig, VectorMemory, VectorRow
from ._math import TopScores, Vector, pack, top_scores, unpack
from ._types import EmbedderMismatchError

if TYPE_CHECKING:
    from ..domains.memory import Ordered
    from ..sql.base import Tx

__all__ = ["MESSAGE_COLUMNS", "SqlVectors"]

#: The message columns of ``m`` in the order ``SqlMemory._ordered`` reads them.
MESSAGE_COLUMNS = ("m.seq, m.id, m.thread_id, m.resource_id, m.role, m.type, m.content, "
                   "m.metadata, m.created_at")


class SqlVectors(SqlDomain, VectorMemory):
    """Vector primitives over the SQL tables (exact search; PostgreSQL refines it)."""

    # -- names and statements --------------------------------------------------------------

    def _vt(self, suffix: str = "vectors") -> str:
        """The quoted, schema-qualified name of a vector table."""
        ms = self.t.messages
        name = check_identifier(f"{self.t.prefix}_{suffix}" if self.t.prefix else suffix,
                                "vector table name")
        return qualified_name(name, ms.schema)

    def _mt(self, table: Any) -> str:
        return qualified_name(table.name, table.schema)

    def _vsql(self, key: str, build: Any) -> Any:
        return self._stmt(("vectors", key), build)

    def _embedding_type(self, cfg: VectorConfig) -> str:
        """The dialect's binary column type (BLOB, BYTEA, ...), named by SQLAlchemy."""
        return str(LargeBinary().compile(dialect=self.b.engine.dialect))

    def _embedding_param(self) -> str:
        """SQL for the bound embedding ``:emb`` (PostgreSQL casts to vector)."""
        return ":emb"

    def _embedding_value(self, vector: Vector) -> Any:
        return pack(vector)

    def _embedding_column(self) -> str:
        """SQL reading the stored embedding (PostgreSQL reads pgvector's text form)."""
        return "embedding"

    def _embedding_read(self, value: Any) -> Vector:
        """A vector from what :meth:`_embedding_column` returned."""
        return tuple(unpack(bytes(value)))

    def _vector_ddl(self, cfg: VectorConfig) -> list[str]:
        ms = self.t.messages
        return [
            f"CREATE TABLE IF NOT EXISTS {self._vt()} ("
            f"message_id TEXT PRIMARY KEY REFERENCES {self._mt(ms)} (id) ON DELETE CASCADE, "
            f"digest TEXT NOT NULL, embedding {self._embedding_type(cfg)} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._vt('vector_model')} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), model TEXT NOT NULL, "
            "dimensions INTEGER NOT NULL)",
        ]

    # -- primitives ------------------------------------------------------------------------

    async def _init_vectors(self, cfg: VectorConfig) -> None:
        await self._before_vector_ddl(cfg)
        ddl = self._vector_ddl(cfg)
        model_t = self._vt("vector_model")
        record = text(f"INSERT INTO {model_t} (id, model, dimensions) "  # noqa: S608
                      "VALUES (1, :model, :dims) ON CONFLICT (id) DO NOTHING")
        read = text(f"SELECT model, dimensions FROM {model_t} WHERE id = 1")  # noqa: S608

        def run(tx: Tx) -> tuple[str, int]:
            for statement in ddl:
                tx.execute(text(statement))
            tx.execute(record, {"model": cfg.model, "dims": cfg.dimensions})
            row = tx.first(read)
            return str(row[0]), int(row[1])

        model, dims = await self.b.transact(run)
        if (model, dims) != (cfg.model, cfg.dimensions):
            raise EmbedderMismatchError(
                f"this store holds vectors of model {model!r} ({dims} dimensions); the "
                f"embedder is {cfg.model!r} ({cfg.dimensions}): vectors of two models are "
                "never mixed (use another table_prefix, or re-embed into a new store)")

    async def _before_vector_ddl(self, cfg: VectorConfig) -> None:
        """PostgreSQL checks for the pgvector extension here."""

    def _write_vectors(self, tx: Tx, rows: Sequence[VectorRow]) -> None:
        ms = self.t.messages
        upsert = self._vsql("upsert", lambda: text(
            f"INSERT INTO {self._vt()} (message_id, digest, embedding) "  # noqa: S608
            f"SELECT :mid, :digest, {self._embedding_param()} "
            f"WHERE EXISTS (SELECT 1 FROM {self._mt(ms)} WHERE id = :mid) "
            "ON CONFLICT (message_id) DO UPDATE SET digest = excluded.digest, "
            "embedding = excluded.embedding"))
        puts = [{"mid": mid, "digest": dig, "emb": self._embedding_value(vec)}
                for mid, vec, dig in rows if vec is not None]
        drops = [mid for mid, vec, _ in rows if vec is None]
        if puts:
            tx.executemany(upsert, puts)
        if drops:
            tx.execute(self._vsql("drop", lambda: text(
                f"DELETE FROM {self._vt()} WHERE message_id IN :ids").bindparams(  # noqa: S608
                    bindparam("ids", expanding=True))), {"ids": drops})

    async def _save_messages_with_vectors(
        self, messages: list[Message], rows: list[VectorRow], *, now: _dt.datetime
    ) -> list[Message]:
        def run(tx: Tx) -> list[Message]:
            stored = self._write_messages(tx, messages, now)  # type: ignore[attr-defined]
            self._write_vectors(tx, rows)
            return stored  # type: ignore[no-any-return]

        return await self.b.transact(run)  # type: ignore[no-any-return]

    async def _save_vectors(self, rows: Sequence[VectorRow]) -> None:
        await self.b.transact(lambda tx: self._write_vectors(tx, rows))

    async def _copy_vectors(self, pairs: Sequence[tuple[str, str]]) -> None:
        copy = self._vsql("copy", lambda: text(
            f"INSERT INTO {self._vt()} (message_id, digest, embedding) "  # noqa: S608
            f"SELECT :new, digest, embedding FROM {self._vt()} WHERE message_id = :old"))
        params = [{"old": old, "new": new} for old, new in pairs]
        await self.b.transact(lambda tx: tx.executemany(copy, params))

    async def _read_vectors(self, ids: Sequence[str]) -> list[VectorRow]:
        if not ids:
            return []
        stmt = self._vsql("read", lambda: text(
            f"SELECT message_id, digest, {self._embedding_column()} "  # noqa: S608
            f"FROM {self._vt()} WHERE message_id IN :ids").bindparams(
                bindparam("ids", expanding=True)))
        rows = await self.b.fetch(stmt, {"ids": list(ids)})
        return [(str(r[0]), self._embedding_read(r[2]), str(r[1])) for r in rows]

    def _scope_sql(self, resource_id: str | None, thread_id: str | None
                   ) -> tuple[str, dict[str, Any]]:
        """WHERE conditions on messages ``m`` for a search scope, TTL included: through
        the (thread_id, created_at, seq) index, also for an owner (via its threads)."""
        where, params = [], {}
        if thread_id is not None:
            where.append("m.thread_id = :tid")
            params["tid"] = thread_id
        if resource_id is not None:
            if thread_id is None:
                where.append(f"m.thread_id IN (SELECT t.id FROM {self._mt(self.t.threads)} t "  # noqa: S608
                             "WHERE t.resource_id = :rid)")
            where.append("m.resource_id = :rid")
            params["rid"] = resource_id
        cutoff = self._cutoff("messages")
        if cutoff is not None:
            where.append("m.created_at > :cutoff")
            params["cutoff"] = cutoff
        return " AND ".join(where), params

    async def _search_vectors(
        self, query: Vector, *, resource_id: str | None, thread_id: str | None, top_k: int,
        min_score: float | None,
    ) -> list[tuple[float, Ordered]]:
        where, params = self._scope_sql(resource_id, thread_id)
        if self.b.scores_in_sql():
            return await self._search_in_sql(query, where, params, top_k, min_score)
        key = ("scan", resource_id is not None, thread_id is not None, "cutoff" in params)
        stmt = self._vsql(repr(key), lambda: text(
            f"SELECT m.seq, v.embedding FROM {self._mt(self.t.messages)} m "  # noqa: S608
            f"JOIN {self._vt()} v ON v.message_id = m.id WHERE {where}"))
        rows = await self.b.fetch(stmt, params)
        top = top_scores(query, [bytes(r[1]) for r in rows], top_k, min_score,
                         key=lambda i: -rows[i][0])
        return await self._hits([(s, rows[i][0]) for i, s in top])

    async def _search_in_sql(self, query: Vector, where: str, params: dict[str, Any],
                             top_k: int, min_score: float | None
                             ) -> list[tuple[float, Ordered]]:
        """One statement: the TopScores aggregate ranks the scope where its blobs are
        read (in the driver's thread) and the winners' message rows come back with their
        scores, best first."""
        ms = self._mt(self.t.messages)
        stmt = self._vsql(repr(("top", where)), lambda: text(
            f"WITH top(j) AS (SELECT {TopScores.name}(m.seq, v.embedding, :q, :k, :min) "  # noqa: S608
            f"FROM {ms} m JOIN {self._vt()} v ON v.message_id = m.id WHERE {where}) "
            f"SELECT {MESSAGE_COLUMNS}, json_extract(h.value, '$[1]') "
            f"FROM top, json_each(top.j) h JOIN {ms} m ON m.seq = json_extract(h.value, '$[0]') "
            "ORDER BY h.key"))
        rows = await self.b.fetch(stmt, {**params, "q": pack(query), "k": top_k,
                                         "min": min_score})
        ordered = self._ordered(rows)  # type: ignore[attr-defined]
        return [(float(r[9]), o) for r, o in zip(rows, ordered, strict=True)]

    async def _hits(self, scored: list[tuple[float, int]]) -> list[tuple[float, Ordered]]:
        """The messages of ``(score, seq)`` pairs, in that order."""
        if not scored:
            return []
        ms = self.t.messages
        stmt = self._vsql("hits", lambda: select(*self.msg_cols).where(  # type: ignore[attr-defined]
            ms.c.seq.in_(bindparam("seqs", expanding=True))))
        got = self._ordered(await self.b.fetch(  # type: ignore[attr-defined]
            stmt, {"seqs": [seq for _, seq in scored]}))
        by_seq = {seq: (seq, m) for seq, m in got}
        return [(s, by_seq[seq]) for s, seq in scored if seq in by_seq]

    async def _scan_vectors(
        self, *, cursor: Any, limit: int, resource_id: str | None
    ) -> tuple[list[tuple[Message, str | None]], Any]:
        after = cursor  # keyset on the messages' unique id
        where = ["m.id > :after"] if after is not None else []
        if resource_id is not None:
            where.append("m.resource_id = :rid")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        cols = MESSAGE_COLUMNS
        stmt = self._vsql(f"scan:{after is not None}:{resource_id is not None}", lambda: text(
            f"SELECT {cols}, v.digest FROM {self._mt(self.t.messages)} m "  # noqa: S608
            f"LEFT JOIN {self._vt()} v ON v.message_id = m.id {clause}"
            "ORDER BY m.id LIMIT :limit"))
        rows = await self.b.fetch(stmt, {"after": after, "rid": resource_id, "limit": limit})
        messages = self._ordered([r[:9] for r in rows])  # type: ignore[attr-defined]
        page = [(m, r[9]) for (_, m), r in zip(messages, rows, strict=True)]
        return page, (page[-1][0].id if len(page) == limit else None)
