"""Reads on the asyncpg connection itself, for statements the domains build once.

A prebuilt statement (``SqlBackend.prepared``) is compiled once for the asyncpg dialect with
SQLAlchemy's public compile API: SQL text with ``$n`` placeholders, and per parameter the
bind processor of its type (``TypeEngine.bind_processor``: JSON -> text, ...). Compiled
forms are cached by our own key (the prebuilt statement's identity). A read
then checks out a pooled connection and calls ``asyncpg.Connection.fetch`` directly, which
keeps a server-side prepared statement per SQL text. SQLAlchemy's per-execution work (cache
key, execution context, result wrapping) was most of the CPU of a recall call: W1 phase B,
897 us/call against 157 for raw asyncpg.

Rows are asyncpg Records (indexable like SQLAlchemy rows); JSON/JSONB columns are decoded by
the codecs SQLAlchemy's dialect installs on every connection, so values match the
SQLAlchemy path. Statements SQLAlchemy must rewrite per execution (expanding IN lists,
literal-execute parameters) are not compiled here: they take the normal path.
"""

from __future__ import annotations

from typing import Any

from . import _json

__all__ = ["PgPrepared", "compile_read"]


class PgPrepared:
    """One statement compiled for asyncpg: SQL text and how to order its parameters."""

    __slots__ = ("defaults", "names", "procs", "sql", "stmt")

    def __init__(self, stmt: Any, compiled: Any) -> None:
        self.stmt = stmt
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        dialect = compiled.dialect
        self.procs = tuple(_processor(compiled.binds[n].type, dialect) for n in self.names)
        self.defaults = {name: bp.effective_value for bp, name in compiled.bind_names.items()}

    def args(self, params: dict[str, Any]) -> list[Any]:
        defaults = self.defaults
        out = []
        for name, proc in zip(self.names, self.procs, strict=True):
            value = params[name] if name in params else defaults[name]
            out.append(value if proc is None or value is None else proc(value))
        return out


def _processor(type_: Any, dialect: Any) -> Any:
    """What SQLAlchemy applies to a value bound as ``type_`` (the type's public
    ``bind_processor`` for the dialect), or None. JSON is serialised by our own ``dumps``
    whatever the engine's serializer (floats keep reading back as floats, see ``_json``)."""
    from sqlalchemy.types import JSON

    if isinstance(type_, JSON):
        return _json.dumps
    if _plain_array(type_, dialect):
        return None
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _plain_array(type_: Any, dialect: Any) -> bool:
    """An ARRAY of a type asyncpg takes as is: SQLAlchemy's processor would only copy the
    list element by element (eight arrays per save_messages call)."""
    from sqlalchemy.types import ARRAY

    if not isinstance(type_, ARRAY) or type_.dimensions not in (None, 1):
        return False
    return type_.item_type.dialect_impl(dialect).bind_processor(dialect) is None


def compile_read(stmt: Any, dialect: Any) -> PgPrepared | None:
    """The compiled form of ``stmt``, or None when it must go through SQLAlchemy."""
    if dialect.driver != "asyncpg":
        return None  # a user-supplied engine on another driver
    compiled = stmt.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None
    if not getattr(compiled, "positional", False):
        return None
    return PgPrepared(stmt, compiled)
