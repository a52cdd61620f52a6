"""PostgreSQL backend for agent-storage: SQLAlchemy asyncio + asyncpg.

Selected by the URL schemes ``postgresql``, ``postgres`` and ``postgresql+asyncpg``::

    store = open_store("postgresql://user:pw@db:5432/app", schema="tenant_a", pool_size=10)

Importing this package imports no driver; :mod:`agent_storage_pg.store` does.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
