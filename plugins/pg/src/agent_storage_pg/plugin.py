"""Registers the PostgreSQL backend; the driver is imported only when a URL selects it."""

from __future__ import annotations

from agent_storage.hookspecs import RegisterBackend, hookimpl

from . import __version__

SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


@hookimpl
def register_backends(register: RegisterBackend) -> None:
    register("pg", "agent_storage_pg.store:PgBackend", schemes=SCHEMES, version=__version__)
