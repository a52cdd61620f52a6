"""Registers the SQLite backend; the store module (and SQLAlchemy) load only when used."""

from __future__ import annotations

from agent_storage import hookimpl


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register("sqlite", "agent_storage_sqlite.store:SqliteBackend",
             schemes=("sqlite", "sqlite+aiosqlite"))
