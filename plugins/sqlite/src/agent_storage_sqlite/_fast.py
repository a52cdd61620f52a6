"""One driver hop per call: SQLAlchemy statements run directly on the sqlite3 connection.

aiosqlite runs every sqlite3 call in the connection's own thread and hands the result back
to the event loop; each hand-off costs tens of microseconds, and SQLAlchemy's adapter
makes several per statement (cursor, execute, fetch, close, reset on return). Here a whole
domain call -- ``BEGIN IMMEDIATE``, every statement, ``COMMIT`` -- is one function run in
that thread, so a call costs one hand-off.

Statements are still SQLAlchemy Core objects: :class:`Preparer` compiles each for the
SQLite dialect once (prebuilt statements by identity, others by SQLAlchemy's cache key)
and binds parameters positionally, expanding ``IN`` lists itself.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import time
from typing import Any

from agent_storage.sql.base import Tx

__all__ = ["Preparer", "RawTx", "run_read", "run_write"]

log = logging.getLogger("agent_storage.sql")

_MAX_CACHED = 2000


class Prepared:
    """A statement compiled for SQLite: SQL text and how to bind its parameters."""

    __slots__ = ("by_key", "defaults", "expanding", "extracted", "names", "sql", "stmt")

    def __init__(self, stmt: Any, dialect: Any, extracted: Any = None,
                 column_keys: list[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        self.stmt = stmt
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # DML may compile clones of the cache key's parameters; their .key still matches.
        self.by_key: dict[str, list[str]] = {}
        for bp, name in compiled.bind_names.items():
            self.by_key.setdefault(bp.key, []).append(name)
        self.defaults = {name: bp.effective_value for bp, name in compiled.bind_names.items()}
        self.expanding = frozenset(compiled.bind_names[bp] for bp in compiled.post_compile_params)
        literal = {compiled.bind_names[bp] for bp in compiled.literal_execute_params}
        if literal:
            raise NotImplementedError(f"literal_execute parameters {sorted(literal)}")
        self.extracted = extracted

    def bind(self, params: dict[str, Any], extra: dict[str, Any] | None) -> tuple[str, list[Any]]:
        values = self.defaults if extra is None else {**self.defaults, **extra}
        if not self.expanding:
            return self.sql, [params[n] if n in params else values[n] for n in self.names]
        sql = self.sql
        args: list[Any] = []
        for n in self.names:
            value = params[n] if n in params else values[n]
            if n in self.expanding:
                items = list(value)
                marks = ", ".join("?" * len(items)) if items else "SELECT NULL WHERE 0"
                sql = sql.replace(f"__[POSTCOMPILE_{n}]", marks, 1)
                args.extend(items)
            else:
                args.append(value)
        return sql, args


class Preparer:
    """Compiled statements of one store (safe to use from the loop and driver threads)."""

    def __init__(self, dialect: Any, debug: bool = False) -> None:
        self.dialect = dialect
        self.debug = debug
        self._by_id: dict[int, Prepared] = {}
        self._by_key: dict[Any, Prepared] = {}
        # executemany of a prebuilt INSERT: compiled for the columns its rows give (an
        # INSERT compiled without parameters lists every column, e.g. messages.seq)
        self._many: dict[tuple[int, tuple[str, ...]], Prepared] = {}

    def register(self, stmt: Any) -> None:
        """Compile a prebuilt statement (constant structure and literals) once."""
        self._by_id[id(stmt)] = Prepared(stmt, self.dialect)

    def for_columns(self, stmt: Any, columns: tuple[str, ...]) -> Prepared | None:
        """A prebuilt INSERT compiled for exactly ``columns`` (its ``names``: the same
        columns, in table order), as SQLAlchemy would for rows giving them (compiled without
        parameters it would list every column, e.g. messages.seq); None when that does not
        apply."""
        key = (id(stmt), columns)
        prepared = self._many.get(key)
        if prepared is not None and prepared.stmt is stmt:
            return prepared
        base = self._by_id.get(id(stmt))
        if base is None or base.stmt is not stmt or base.expanding:
            return None
        if not getattr(stmt, "is_insert", False) or len(columns) < 2:
            return None  # (itemgetter of one name returns a value, not a tuple)
        try:
            prepared = Prepared(stmt, self.dialect, column_keys=list(columns))
        except Exception:  # e.g. a key that is no column: let the general path decide
            return None
        if prepared.expanding or sorted(prepared.names) != sorted(columns):
            return None
        if len(self._many) >= _MAX_CACHED:
            self._many.clear()
        self._many[key] = prepared
        return prepared

    def many(self, stmt: Any, rows: list[dict[str, Any]]) -> tuple[str, list[Any]] | None:
        """SQL and argument tuples for an executemany of a prebuilt INSERT whose rows all
        give the same columns; None when that does not apply."""
        prepared = self.for_columns(stmt, tuple(rows[0]))
        if prepared is None:
            return None
        width = len(prepared.names)
        getter = operator.itemgetter(*prepared.names)
        try:
            args = [getter(row) for row in rows if len(row) == width]
        except KeyError:
            return None
        if len(args) != len(rows):
            return None
        return prepared.sql, args

    def bind(self, stmt: Any, params: dict[str, Any] | None) -> tuple[str, list[Any]]:
        params = params or {}
        prepared = self._by_id.get(id(stmt))
        if prepared is not None and prepared.stmt is stmt:
            return prepared.bind(params, None)
        key = stmt._generate_cache_key()
        if key is None:  # pragma: no cover - every statement we build is cacheable
            return Prepared(stmt, self.dialect).bind(params, None)
        prepared = self._by_key.get(key.key)
        if prepared is None:
            if len(self._by_key) >= _MAX_CACHED:
                self._by_key.clear()
            prepared = self._by_key[key.key] = Prepared(stmt, self.dialect, key.bindparams)
        extra: dict[str, Any] = {}
        for orig, new in zip(prepared.extracted, key.bindparams, strict=True):
            for name in prepared.by_key.get(orig.key, ()):
                extra[name] = new.effective_value
        return prepared.bind(params, extra)


def _logged(sql: str, started: float, rows: int = 1) -> None:
    log.debug("%.3f ms (%d row(s)): %s", (time.perf_counter() - started) * 1000, rows,
              " ".join(sql.split()))


class RawTx(Tx):
    """Tx on a sqlite3 connection, inside the driver thread."""

    def __init__(self, conn: sqlite3.Connection, preparer: Preparer) -> None:
        self.conn = conn
        self.preparer = preparer

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        sql, args = self.preparer.bind(stmt, params)
        started = time.perf_counter()
        result = self.conn.execute(sql, args).fetchall()
        if self.preparer.debug:
            _logged(sql, started)
        return result

    def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> int:
        sql, args = self.preparer.bind(stmt, params)
        started = time.perf_counter()
        cursor = self.conn.execute(sql, args)
        count = cursor.rowcount
        cursor.close()
        if self.preparer.debug:
            _logged(sql, started)
        return int(count)

    def insert_many(self, stmt: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
                    *, plain: Any = None) -> None:
        if not rows:
            return
        prepared = self.preparer.for_columns(stmt, columns)
        if prepared is None or prepared.names != columns:
            super().insert_many(stmt, columns, rows)
            return
        started, count = time.perf_counter(), len(rows)
        first = None if plain is None else self.preparer.for_columns(plain, columns)
        if first is not None and first.names == columns:
            # SQLite's upsert costs ~1 us a row more than an INSERT (save_messages: ~18 us a
            # call): the rows go in as a plain INSERT, and if one fails (its statement is
            # undone, the transaction goes on) all of them again through ``stmt``, which
            # re-upserts the ones already inserted unchanged. (Counting the inserted rows
            # with total_changes would also count rows a user's trigger wrote.)
            try:
                self.conn.executemany(first.sql, rows)
                rows = []
            except sqlite3.IntegrityError:
                pass
        if rows:
            self.conn.executemany(prepared.sql, rows)
        if self.preparer.debug:
            _logged(prepared.sql, started, count)

    def executemany(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        started = time.perf_counter()
        fast = self.preparer.many(stmt, rows)
        if fast is not None:
            self.conn.executemany(*fast)
            if self.preparer.debug:
                _logged(fast[0], started, len(rows))
            return
        bound = [self.preparer.bind(stmt, row) for row in rows]
        sql = bound[0][0]
        if all(b[0] == sql for b in bound):
            self.conn.executemany(sql, [b[1] for b in bound])
        else:  # IN lists of different lengths: one by one, still in order
            for one_sql, args in bound:
                self.conn.execute(one_sql, args)
        if self.preparer.debug:
            _logged(sql, started, len(bound))


def run_read(conn: sqlite3.Connection, sql: str, args: list[Any], debug: bool) -> list[Any]:
    """Body of a read hop (autocommit: no transaction needed for one statement)."""
    started = time.perf_counter()
    rows = conn.execute(sql, args).fetchall()
    if debug:
        _logged(sql, started)
    return rows


def run_write(conn: sqlite3.Connection, preparer: Preparer, fn: Any) -> Any:
    """Body of a write hop: one IMMEDIATE transaction around ``fn(tx)``."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(RawTx(conn, preparer))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
